//! The correctness suite of the rewrite, as one test binary: fixtures in `../fixtures/`,
//! reviewed snapshots in `snapshots/`, and checks that every output must pass.

mod harness;
mod known_bugs;
mod nulls;
mod pod_security;
mod schema;
mod snapshots;
