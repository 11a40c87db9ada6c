//! What `sync` is given and what it reports (no logic).

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use super::plan::ConflictPolicy;
use super::reload::{SignalHook, UrlHook};

/// Default `--debounce-ms`.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(100);
/// Default `--resync-seconds`.
pub const DEFAULT_RESYNC: Duration = Duration::from_secs(300);
/// Timeout of each step (connect, send, receive) of `--reload-url`.
pub const RELOAD_URL_TIMEOUT: Duration = Duration::from_secs(2);

/// Everything `sync` needs.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// (SRC, DST) pairs.
    pub pairs: Vec<(PathBuf, PathBuf)>,
    /// Where the per-DST state files live; `None`: inside DST.
    pub state_dir: Option<PathBuf>,
    /// One pass, then return.
    pub once: bool,
    pub policy: ConflictPolicy,
    pub signal_hooks: Vec<SignalHook>,
    pub url_hooks: Vec<UrlHook>,
    /// Quiet time for changes in a plain directory, and for the reload.
    pub debounce: Duration,
    /// Periodic full resync; `None`: never (zero wakeups when idle).
    pub resync: Option<Duration>,
    pub log: bool,
    pub json: bool,
    /// `/proc` (tests point it elsewhere).
    pub proc_root: PathBuf,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            pairs: Vec::new(),
            state_dir: None,
            once: false,
            policy: ConflictPolicy::App,
            signal_hooks: Vec::new(),
            url_hooks: Vec::new(),
            debounce: DEFAULT_DEBOUNCE,
            resync: Some(DEFAULT_RESYNC),
            log: true,
            json: false,
            proc_root: PathBuf::from("/proc"),
        }
    }
}

/// A failure that stops `sync` (errors during the loop are logged and
/// retried instead).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("source {}: {source}", path.display())]
    Source { path: PathBuf, source: io::Error },
    #[error("{}: {source}", path.display())]
    Dst { path: PathBuf, source: io::Error },
    #[error("state file {}: {source}", path.display())]
    State { path: PathBuf, source: io::Error },
    #[error("inotify: {0}")]
    Watch(io::Error),
    #[error("{count} file(s) could not be synced (see the log)")]
    Incomplete { count: usize },
}

/// What one sync of one pair did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
    pub modes: usize,
    pub conflicts: usize,
    pub errors: usize,
}

impl PassReport {
    /// DST was modified.
    pub fn touched(&self) -> bool {
        self.added + self.changed + self.removed + self.modes > 0
    }
}

/// Counters of a whole run (returned when the loop stops).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Sync passes (all pairs).
    pub syncs: u64,
    /// Passes that modified DST.
    pub changed_syncs: u64,
    /// Overflows seen (real or injected).
    pub overflows: u64,
    pub conflicts: u64,
    pub reloads: u64,
    pub errors: u64,
}

/// Test hooks of the loop, written as single bytes to the control socket
/// given to [`run`].
pub mod control {
    /// Stop the loop (like SIGTERM).
    pub const STOP: u8 = b'q';
    /// Read and discard every inotify event from now on, as the kernel does
    /// when its queue overflows.
    pub const DROP_EVENTS: u8 = b'd';
    /// Behave as if an `IN_Q_OVERFLOW` had arrived (and stop dropping).
    pub const OVERFLOW: u8 = b'o';
    /// Nothing; acknowledged like every byte but [`STOP`]: the loop writes
    /// each byte back once it has handled it (and read inotify before).
    pub const PING: u8 = b'p';
}
