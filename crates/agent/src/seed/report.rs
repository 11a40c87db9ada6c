//! What `seed` reports: per pair, what happened, the counts, and what
//! could not be kept (running as non-root).

use std::path::PathBuf;
use std::time::Duration;

/// What happened to one pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Copied,
    AlreadySeeded,
    SourceMissing,
}

/// Counts for one pair.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PairStats {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    pub fifos: u64,
    pub bytes: u64,
    pub skipped: u64,
}

/// What could not be kept (non-root, or root without capabilities).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotKept {
    /// Entries whose owner or group differs from the source.
    pub ownership: u64,
    /// Files and directories whose setuid/setgid bits were stripped.
    pub setid_stripped: u64,
    /// Extended attributes that could not be written.
    pub xattrs: u64,
    /// Some of their names.
    pub xattr_names: Vec<String>,
    /// The mode or times of DST itself (the volume root) could not be set.
    pub root_attrs: bool,
}

impl NotKept {
    pub fn is_empty(&self) -> bool {
        *self == NotKept::default()
    }
}

#[derive(Debug, Clone)]
pub struct PairReport {
    pub src: PathBuf,
    pub dst: PathBuf,
    pub outcome: Outcome,
    pub stats: PairStats,
    pub not_kept: NotKept,
    pub warnings: Vec<String>,
    pub elapsed: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct SeedReport {
    pub pairs: Vec<PairReport>,
}

/// One line for the log: what could not be kept.
pub(crate) fn describe_not_kept(nk: &NotKept) -> String {
    let mut parts = Vec::new();
    if nk.ownership > 0 {
        parts.push(format!(
            "ownership of {} entries (they belong to the running user)",
            nk.ownership
        ));
    }
    if nk.setid_stripped > 0 {
        parts.push(format!(
            "setuid/setgid bits of {} entries (stripped)",
            nk.setid_stripped
        ));
    }
    if nk.xattrs > 0 {
        parts.push(format!(
            "{} extended attributes ({})",
            nk.xattrs,
            nk.xattr_names.join(", ")
        ));
    }
    if nk.root_attrs {
        parts.push("the mode/times of the volume root".to_string());
    }
    parts.join("; ")
}

impl PairReport {
    pub(crate) fn new(src: &std::path::Path, dst: &std::path::Path) -> Self {
        PairReport {
            src: src.to_path_buf(),
            dst: dst.to_path_buf(),
            outcome: Outcome::Copied,
            stats: PairStats::default(),
            not_kept: NotKept::default(),
            warnings: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }
}

impl PairStats {
    pub(crate) fn from_totals(t: &crate::tree::Totals, bytes: u64) -> Self {
        PairStats {
            files: t.files,
            dirs: t.dirs,
            symlinks: t.symlinks,
            hardlinks: t.hardlinks,
            fifos: t.fifos,
            bytes,
            skipped: t.skipped,
        }
    }
}

impl NotKept {
    pub(crate) fn from_counters(nk: &crate::meta::NotKeptCounters) -> Self {
        use std::sync::atomic::Ordering::Relaxed;
        NotKept {
            ownership: nk.ownership.load(Relaxed),
            setid_stripped: nk.setid_stripped.load(Relaxed),
            xattrs: nk.xattrs.load(Relaxed),
            xattr_names: nk
                .xattr_names
                .lock()
                .map(|n| n.iter().cloned().collect())
                .unwrap_or_default(),
            root_attrs: nk.root_mode.load(Relaxed),
        }
    }
}
