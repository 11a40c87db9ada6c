//! The pure decision core of `sync`: three snapshots in, actions out.
//!
//! - `src`: what the source volume holds now (through `..data` when the
//!   kubelet's AtomicWriter layout is there).
//! - `dst`: what DST holds now, for the paths of `src` and `state` only
//!   (files only the app knows about are never looked at).
//! - `state`: what sync last reconciled for each path: the source version it
//!   wrote, or saw and deliberately did not write (a conflict kept the app's
//!   version). A DST file whose content differs from its state entry was
//!   edited by the app.
//!
//! No I/O here: the table of cases below is tested with plain values.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// File type bits of a regular file (`S_IFREG`).
pub const S_IFREG: u32 = 0o100_000;
const S_IFMT: u32 = 0o170_000;

/// One file as sync compares it: content hash and size, mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// 64-bit FNV-1a of the content (see [`crate::sync::fsio::Fnv`]).
    pub hash: u64,
    pub size: u64,
    /// `st_mode`: type bits and permission bits.
    pub mode: u32,
}

impl Entry {
    /// A regular file with this content and permission bits.
    pub fn file(hash: u64, size: u64, perm: u32) -> Self {
        Entry {
            hash,
            size,
            mode: S_IFREG | (perm & 0o7777),
        }
    }

    pub fn is_file(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }

    pub fn perm(&self) -> u32 {
        self.mode & 0o7777
    }

    /// Same bytes (and both regular files).
    pub fn same_content(&self, other: &Entry) -> bool {
        self.is_file() && other.is_file() && self.hash == other.hash && self.size == other.size
    }
}

/// Relative path (inside SRC, DST) → entry.
pub type Snapshot = BTreeMap<PathBuf, Entry>;

/// Relative path → the source version sync last reconciled.
pub type State = BTreeMap<PathBuf, Entry>;

/// Who wins when the app edited a DST file and the source changed it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConflictPolicy {
    /// Keep the app's version; log the conflict (default).
    #[default]
    App,
    /// Write the source's version over the app's edit; log it.
    Source,
}

/// Why a file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    Add,
    Change,
    /// The source won a conflict (`--conflict source`).
    Overwrite,
}

/// What kind of conflict was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictKind {
    /// Both the app and the source changed the file.
    BothChanged,
    /// The app deleted the file, the source changed it.
    AppDeleted,
    /// The source deleted the file, the app had edited it.
    SourceDeleted,
    /// The source added a file where the app had created its own.
    AppCreated,
}

impl ConflictKind {
    pub fn describe(self) -> &'static str {
        match self {
            ConflictKind::BothChanged => "changed by the app and in the source",
            ConflictKind::AppDeleted => "deleted by the app, changed in the source",
            ConflictKind::SourceDeleted => "edited by the app, deleted in the source",
            ConflictKind::AppCreated => "created by the app, added in the source",
        }
    }
}

/// One step for the I/O shell. Each also says how the state changes once it
/// succeeded (a failed step leaves the state as it was, so the next sync
/// tries again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Copy the source file to DST atomically; state[path] = what was written.
    Write {
        path: PathBuf,
        entry: Entry,
        kind: WriteKind,
    },
    /// Only the mode changed in the source; state[path] = entry.
    Chmod { path: PathBuf, entry: Entry },
    /// Delete the DST file; forget the path.
    Remove { path: PathBuf },
    /// No I/O: state[path] = entry (DST already matches, or a conflict kept
    /// the app's version and this source version is now seen).
    Adopt { path: PathBuf, entry: Entry },
    /// No I/O: forget the path (the file is the app's now, or gone).
    Forget { path: PathBuf },
}

/// A conflict, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub path: PathBuf,
    pub kind: ConflictKind,
    /// The policy made the source win.
    pub source_won: bool,
}

/// The decision for one sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub conflicts: Vec<Conflict>,
}

impl Plan {
    /// True when nothing touches DST (state-only updates do not count).
    pub fn is_noop(&self) -> bool {
        self.actions
            .iter()
            .all(|a| matches!(a, Action::Adopt { .. } | Action::Forget { .. }))
    }
}

/// Decides what one sync does. Paths in order; every path of `src` and
/// `state` is considered, a DST path in neither is the app's own and never
/// appears in the plan.
pub fn plan(src: &Snapshot, dst: &Snapshot, state: &State, policy: ConflictPolicy) -> Plan {
    let mut p = Plan::default();
    let conflict = |p: &mut Plan, path: &PathBuf, kind| {
        p.conflicts.push(Conflict {
            path: path.clone(),
            kind,
            source_won: policy == ConflictPolicy::Source,
        });
    };
    let source_wins = policy == ConflictPolicy::Source;

    for (path, s) in src {
        let d = dst.get(path);
        let t = state.get(path);
        let write = |kind| Action::Write {
            path: path.clone(),
            entry: *s,
            kind,
        };
        let adopt = || Action::Adopt {
            path: path.clone(),
            entry: *s,
        };
        match (t, d) {
            // New to sync, absent from DST: add.
            (None, None) => p.actions.push(write(WriteKind::Add)),
            // New to sync, DST has it already.
            (None, Some(d)) => {
                if d.same_content(s) {
                    if d.perm() != s.perm() {
                        p.actions.push(Action::Chmod {
                            path: path.clone(),
                            entry: *s,
                        });
                    } else {
                        p.actions.push(adopt());
                    }
                } else {
                    conflict(&mut p, path, ConflictKind::AppCreated);
                    p.actions.push(if source_wins {
                        write(WriteKind::Overwrite)
                    } else {
                        adopt()
                    });
                }
            }
            (Some(t), d) => {
                let content_changed = !s.same_content(t);
                let mode_changed = s.mode != t.mode;
                match d {
                    // The app deleted it.
                    None => {
                        if content_changed || mode_changed {
                            conflict(&mut p, path, ConflictKind::AppDeleted);
                            p.actions.push(if source_wins {
                                write(WriteKind::Overwrite)
                            } else {
                                adopt()
                            });
                        }
                    }
                    // Untouched by the app.
                    Some(d) if d.same_content(t) => {
                        if content_changed {
                            p.actions.push(write(WriteKind::Change));
                        } else if mode_changed {
                            p.actions.push(Action::Chmod {
                                path: path.clone(),
                                entry: *s,
                            });
                        }
                    }
                    // Edited by the app, and equal to the new source: converged.
                    Some(d) if d.same_content(s) => {
                        if s != t {
                            p.actions.push(adopt());
                        }
                    }
                    // Edited by the app.
                    Some(_) => {
                        if content_changed {
                            conflict(&mut p, path, ConflictKind::BothChanged);
                            p.actions.push(if source_wins {
                                write(WriteKind::Overwrite)
                            } else {
                                adopt()
                            });
                        } else if mode_changed {
                            // Only the mode changed in the source: not worth
                            // a conflict; the app's content stays.
                            p.actions.push(adopt());
                        }
                    }
                }
            }
        }
    }

    for (path, t) in state {
        if src.contains_key(path) {
            continue;
        }
        let forget = Action::Forget { path: path.clone() };
        let remove = Action::Remove { path: path.clone() };
        match dst.get(path) {
            None => p.actions.push(forget),
            Some(d) if d.same_content(t) => p.actions.push(remove),
            Some(_) => {
                conflict(&mut p, path, ConflictKind::SourceDeleted);
                p.actions.push(if source_wins { remove } else { forget });
            }
        }
    }
    p
}

/// Applies the state change of a successful action.
pub fn apply_to_state(state: &mut State, action: &Action) {
    match action {
        Action::Write { path, entry, .. }
        | Action::Chmod { path, entry }
        | Action::Adopt { path, entry } => {
            state.insert(path.clone(), *entry);
        }
        Action::Remove { path } | Action::Forget { path } => {
            state.remove(path);
        }
    }
}
