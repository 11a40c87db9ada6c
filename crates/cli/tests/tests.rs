mod frontends;
