mod audit;
mod audit_cluster;
mod errors;
mod frontends;
mod large;
mod run;
mod webhook;
