mod errors;
mod frontends;
mod webhook;
