//! One integration-test binary (ripgrep style): it links once.
//! Tests that need root fail in CI (CI=true) when not root, and skip with a
//! message when run by hand without root.

mod cli;
mod crash;
mod fidelity;
mod nonroot;
mod restart;
mod seed_safety;
mod sync;
mod util;
mod volume;
