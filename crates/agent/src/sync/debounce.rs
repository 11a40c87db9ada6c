//! When to sync and when to reload: pure state machines over mocked time.
//!
//! - [`classify`] turns one inotify event on a SRC directory into a
//!   [`Trigger`] (or nothing).
//! - [`Debouncer`] turns triggers into one deadline: a commit (the kubelet
//!   renamed `..data`, an overflow, the periodic resync) is due at once;
//!   other changes (a plain directory being written) wait until `quiet` has
//!   passed without a new one, but never longer than `max_wait` after the
//!   first, so constant churn cannot starve the sync.
//!
//! The I/O shell polls with the earliest deadline as timeout (none: block
//! forever, zero wakeups) and calls [`Debouncer::on_tick`] when it wakes.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

/// The kubelet's AtomicWriter symlink to the current data directory.
pub const DATA_LINK: &str = "..data";

/// inotify mask bits the classifier looks at (values from `<sys/inotify.h>`,
/// so the pure code and its tests need no inotify types).
pub mod mask {
    pub const MODIFY: u32 = 0x0000_0002;
    pub const ATTRIB: u32 = 0x0000_0004;
    pub const CLOSE_WRITE: u32 = 0x0000_0008;
    pub const MOVED_FROM: u32 = 0x0000_0040;
    pub const MOVED_TO: u32 = 0x0000_0080;
    pub const CREATE: u32 = 0x0000_0100;
    pub const DELETE: u32 = 0x0000_0200;
    pub const DELETE_SELF: u32 = 0x0000_0400;
    pub const MOVE_SELF: u32 = 0x0000_0800;
    pub const Q_OVERFLOW: u32 = 0x0000_4000;
    pub const IGNORED: u32 = 0x0000_8000;
    pub const ISDIR: u32 = 0x4000_0000;
}

/// What an event asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Sync now: the source is complete (`..data` swapped), or events were
    /// lost (overflow), or the periodic resync is due.
    Commit,
    /// Something changed in a plain directory: sync once it is quiet.
    Change,
}

/// Classifies one event of a watched SRC directory. `atomic`: the source
/// has the AtomicWriter layout (`..data` exists), where only the rename of
/// `..data` matters: the visible symlinks point through it, the timestamped
/// directories are written before it and removed after it.
pub fn classify(mask: u32, name: Option<&OsStr>, atomic: bool) -> Option<Trigger> {
    if mask & mask::Q_OVERFLOW != 0 {
        return Some(Trigger::Commit);
    }
    if mask & (mask::DELETE_SELF | mask::MOVE_SELF) != 0 {
        // The directory itself went away (a volume is never removed while
        // the pod lives; a test or a hostPath may): resync, which reports it.
        return Some(Trigger::Commit);
    }
    if mask & mask::IGNORED != 0 {
        return None;
    }
    let name = name.map(OsStr::as_bytes).unwrap_or_default();
    if name == DATA_LINK.as_bytes() {
        // First layout (create) or swap (rename over it).
        return (mask & (mask::MOVED_TO | mask::CREATE) != 0).then_some(Trigger::Commit);
    }
    if name.starts_with(b"..") {
        // `..data_tmp`, `..2026_11_27_02_15_39.123456789`: the writer's
        // internals, not the volume's contents.
        return None;
    }
    if atomic {
        return None;
    }
    Some(Trigger::Change)
}

/// Debounces triggers into sync (or reload) times.
#[derive(Debug, Clone)]
pub struct Debouncer {
    quiet: Duration,
    max_wait: Duration,
    first: Option<Instant>,
    deadline: Option<Instant>,
}

impl Debouncer {
    /// `quiet`: how long a [`Trigger::Change`] waits for the next one;
    /// `max_wait`: the longest a pending sync is put off by churn.
    pub fn new(quiet: Duration, max_wait: Duration) -> Self {
        Debouncer {
            quiet,
            max_wait: max_wait.max(quiet),
            first: None,
            deadline: None,
        }
    }

    /// Records a trigger at `now`; returns the deadline to wake at.
    pub fn on_event(&mut self, trigger: Trigger, now: Instant) -> Option<Instant> {
        let first = *self.first.get_or_insert(now);
        let due = match trigger {
            Trigger::Commit => now,
            Trigger::Change => (now + self.quiet).min(first + self.max_wait),
        };
        self.deadline = Some(match self.deadline {
            // A commit never waits for an earlier pending change; a change
            // pushes a pending change's deadline out (trailing debounce).
            Some(d) if trigger == Trigger::Commit => d.min(due),
            // A change never delays a commit that is already due.
            Some(d) if d <= now => d,
            Some(_) | None => due,
        });
        self.deadline
    }

    /// Returns true (and resets) when the deadline has come at `now`.
    pub fn on_tick(&mut self, now: Instant) -> bool {
        match self.deadline {
            Some(d) if d <= now => {
                self.deadline = None;
                self.first = None;
                true
            }
            _ => false,
        }
    }

    /// The pending deadline, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// When the first trigger of the pending batch came (for the latency
    /// from event to done). Read it before [`Debouncer::on_tick`] fires.
    pub fn pending_since(&self) -> Option<Instant> {
        self.first
    }
}
