//! The file side of `sync`: read the source (AtomicWriter-aware) and DST
//! into snapshots, carry out the plan's actions, keep the state file.
//!
//! - `read`: snapshots of the source and of DST;
//! - `write`: the actions on DST;
//! - `state`: the state file.

mod read;
mod state;
mod write;

pub use crate::names::{Fnv, fnv};
pub use read::{IN_DST_STATE, KEPT_BYTES, Source, TMP_SUFFIX, read_dst, read_source};
pub use state::{
    format_state, format_state_file, load_state, parse_state, parse_state_file, save_state,
    state_path,
};
pub use write::{
    DstRoot, Expect, Identity, Make, Replaced, Stale, Temp, chmod, copy_to_temp, recover_temps,
    remove_file, replace,
};
