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
use std::path::{Path, PathBuf};

/// File type bits of a regular file (`S_IFREG`).
pub const S_IFREG: u32 = 0o100_000;
const S_IFMT: u32 = 0o170_000;

/// One file as sync compares it: content hash and size, mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// 64-bit FNV-1a of the content (see [`crate::names::Fnv`]).
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
    let mut p = Planner {
        plan: Plan::default(),
        source_wins: policy == ConflictPolicy::Source,
    };
    for (path, s) in src {
        p.in_source(path, s, dst.get(path), state.get(path));
    }
    for (path, t) in state {
        if !src.contains_key(path) {
            p.gone_from_source(path, t, dst.get(path));
        }
    }
    p.plan
}

/// Builds one [`Plan`], path by path.
struct Planner {
    plan: Plan,
    source_wins: bool,
}

impl Planner {
    fn conflict(&mut self, path: &Path, kind: ConflictKind) {
        self.plan.conflicts.push(Conflict {
            path: path.to_path_buf(),
            kind,
            source_won: self.source_wins,
        });
    }

    /// A conflict: the source's version written (`--conflict source`), or
    /// the app's kept and this source version adopted.
    fn conflict_write_or_adopt(&mut self, path: &Path, s: &Entry, kind: ConflictKind) {
        self.conflict(path, kind);
        self.plan.actions.push(if self.source_wins {
            write(path, s, WriteKind::Overwrite)
        } else {
            adopt(path, s)
        });
    }

    /// A path the source has (`s`), given DST (`d`) and the state (`t`).
    fn in_source(&mut self, path: &Path, s: &Entry, d: Option<&Entry>, t: Option<&Entry>) {
        let chmod = || Action::Chmod {
            path: path.to_path_buf(),
            entry: *s,
        };
        match (t, d) {
            // New to sync, absent from DST: add.
            (None, None) => self.plan.actions.push(write(path, s, WriteKind::Add)),
            // New to sync, DST has it already.
            (None, Some(d)) if d.same_content(s) => {
                self.plan.actions.push(if d.perm() != s.perm() {
                    chmod()
                } else {
                    adopt(path, s)
                })
            }
            (None, Some(_)) => self.conflict_write_or_adopt(path, s, ConflictKind::AppCreated),
            (Some(t), d) => {
                let content_changed = !s.same_content(t);
                let mode_changed = s.mode != t.mode;
                match d {
                    // The app deleted it.
                    None if content_changed || mode_changed => {
                        self.conflict_write_or_adopt(path, s, ConflictKind::AppDeleted)
                    }
                    None => {}
                    // Untouched by the app.
                    Some(d) if d.same_content(t) => {
                        if content_changed {
                            self.plan.actions.push(write(path, s, WriteKind::Change));
                        } else if mode_changed {
                            self.plan.actions.push(chmod());
                        }
                    }
                    // Edited by the app, and equal to the new source: converged.
                    Some(d) if d.same_content(s) && s != t => {
                        self.plan.actions.push(adopt(path, s));
                    }
                    // Edited by the app.
                    Some(_) if content_changed => {
                        self.conflict_write_or_adopt(path, s, ConflictKind::BothChanged)
                    }
                    // Only the mode changed in the source: not worth a
                    // conflict; the app's content stays.
                    Some(_) if mode_changed => self.plan.actions.push(adopt(path, s)),
                    Some(_) => {}
                }
            }
        }
    }

    /// A path sync knew (`t`) that the source no longer has.
    fn gone_from_source(&mut self, path: &Path, t: &Entry, d: Option<&Entry>) {
        let forget = Action::Forget {
            path: path.to_path_buf(),
        };
        let remove = Action::Remove {
            path: path.to_path_buf(),
        };
        match d {
            None => self.plan.actions.push(forget),
            Some(d) if d.same_content(t) => self.plan.actions.push(remove),
            Some(_) => {
                self.conflict(path, ConflictKind::SourceDeleted);
                self.plan
                    .actions
                    .push(if self.source_wins { remove } else { forget });
            }
        }
    }
}

fn write(path: &Path, s: &Entry, kind: WriteKind) -> Action {
    Action::Write {
        path: path.to_path_buf(),
        entry: *s,
        kind,
    }
}

fn adopt(path: &Path, s: &Entry) -> Action {
    Action::Adopt {
        path: path.to_path_buf(),
        entry: *s,
    }
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
