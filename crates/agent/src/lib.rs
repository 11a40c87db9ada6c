//! The in-pod agent of rofs: a lean library behind the static `rofs-agent`
//! binary, also linked into the main `rofs` CLI so both behave identically.
//!
//! - [`seed::run`]: copy image trees into the writable volumes, exactly like
//!   `cp -a` as root, degrading cleanly when not root, safe to re-run, fast.
//! - [`install::run`]: the agent copies itself into a shared volume.
//! - [`sync::run`]: keep writable copies of ConfigMap/Secret volumes in sync
//!   with their source (inotify, the kubelet's `..data` layout).
//! - [`main_with_args`]: the command line of all (`seed`, `install`, `sync`).
//!
//! No async runtime, no TLS, no DNS: raw syscalls through `rustix`.

mod args;
mod cli;
mod copy;
mod error;
pub mod install;
mod meta;
mod names;
mod pool;
mod safefile;
pub mod seed;
pub mod sync;
mod tree;
mod wipe;

pub use cli::main_with_args;
pub use error::AgentError;
pub use seed::{SeedOptions, SeedReport};
