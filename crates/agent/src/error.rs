//! The agent's one error type: an OS error with the operation and the path,
//! or one of the few refusals of `seed`. Used by seed, its copy, scan and
//! wipe, and by install (no module depends on `seed` for its errors).

use std::io;
use std::path::PathBuf;

use rustix::io::Errno;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("{}: {op}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "not enough space in {}: copying {} needs about {} ({} entries) but only {} ({} inodes) are free; raise the volume's sizeLimit (or the memory limit for medium: Memory), or seed less",
        dst.display(), src.display(), human(*need_bytes), need_inodes, human(*free_bytes), free_inodes
    )]
    NoSpace {
        src: PathBuf,
        dst: PathBuf,
        need_bytes: u64,
        need_inodes: u64,
        free_bytes: u64,
        free_inodes: u64,
    },
    #[error("{}: the source is not a directory", .0.display())]
    SourceNotDir(PathBuf),
    #[error("{}: not a directory (DST must be the mounted volume)", .0.display())]
    DstNotDir(PathBuf),
    #[error(
        "{}: not empty and not seeded by rofs (no marker {}); refusing to delete what rofs did not write: use --force to replace its contents",
        dst.display(), marker.display()
    )]
    DstNotEmpty { dst: PathBuf, marker: PathBuf },
}

impl AgentError {
    pub(crate) fn io(op: &'static str, path: PathBuf, source: io::Error) -> Self {
        AgentError::Io { op, path, source }
    }
}

/// Attaches the operation and the path to an OS error.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: impl FnOnce() -> PathBuf) -> Result<T, AgentError>;
}

impl<T> IoContext<T> for Result<T, io::Error> {
    fn ctx(self, op: &'static str, path: impl FnOnce() -> PathBuf) -> Result<T, AgentError> {
        self.map_err(|source| AgentError::Io {
            op,
            path: path(),
            source,
        })
    }
}

impl<T> IoContext<T> for Result<T, Errno> {
    fn ctx(self, op: &'static str, path: impl FnOnce() -> PathBuf) -> Result<T, AgentError> {
        self.map_err(io::Error::from).ctx(op, path)
    }
}

/// Bytes for people: `12.3 MiB`.
pub(crate) fn human(bytes: u64) -> String {
    const K: f64 = 1024.0;
    let b = bytes as f64;
    if b >= K * K * K {
        format!("{:.1} GiB", b / (K * K * K))
    } else if b >= K * K {
        format!("{:.1} MiB", b / (K * K))
    } else if b >= K {
        format!("{:.1} KiB", b / K)
    } else {
        format!("{bytes} B")
    }
}
