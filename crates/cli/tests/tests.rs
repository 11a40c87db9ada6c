mod audit;
mod audit_cluster;
mod audit_sarif;
mod errors;
mod frontends;
mod large;
mod run;
mod webhook;
