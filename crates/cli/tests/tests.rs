mod errors;
mod frontends;
