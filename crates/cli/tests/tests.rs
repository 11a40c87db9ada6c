mod audit;
mod errors;
mod frontends;
mod large;
mod profiles;
mod run;
mod webhook;
