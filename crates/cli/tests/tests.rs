mod errors;
mod frontends;
mod large;
mod webhook;
