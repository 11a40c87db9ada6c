mod errors;
mod frontends;
mod large;
