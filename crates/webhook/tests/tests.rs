//! rofs-webhook integration tests: one binary (see Cargo.toml), real HTTPS on 127.0.0.1.

mod bad_input;
mod fixtures;
mod fuzz;
mod lifecycle;
mod limits;
mod manifests;
mod rotation;
mod util;
