mod audit;
mod errors;
mod frontends;
mod large;
mod run;
mod webhook;
