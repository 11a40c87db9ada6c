//! DST's two markers (started, done), where they live, and the lock that
//! makes one seed of a DST run at a time.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, Mode};
use rustix::io::Errno;

use crate::error::{AgentError, IoContext};
use crate::tree::DIR_FLAGS;

/// Name of the done marker inside DST when no `--state-dir` is given.
pub const DEFAULT_DONE_MARKER: &str = ".rofs-seeded";
/// Name of the started marker inside DST when no `--state-dir` is given.
pub const DEFAULT_STARTED_MARKER: &str = ".rofs-seeding";

pub(super) const TMPFS_MAGIC: u64 = 0x0102_1994;
const RAMFS_MAGIC: u64 = 0x8584_58f6;

/// The markers of one DST.
pub(super) struct Markers {
    pub done: PathBuf,
    pub started: PathBuf,
    /// They live inside DST (no state directory): ignored when deciding
    /// whether DST is empty, and DST is fsynced after them.
    pub inside_dst: bool,
    /// Where an older agent (no `--durable-state-dir`) put the markers of
    /// this DST: honoured, and removed once the new ones are written.
    legacy: Option<(PathBuf, PathBuf)>,
}

/// DST's markers' name: its path as a file name (see
/// [`crate::names::path_as_file_name`]).
pub fn marker_id(dst: &Path) -> String {
    crate::names::path_as_file_name(dst)
}

fn in_dir(dir: &Path, dst: &Path) -> (PathBuf, PathBuf) {
    let id = marker_id(dst);
    (
        dir.join(format!("{id}.done")),
        dir.join(format!("{id}.started")),
    )
}

fn inside(dst: &Path) -> (PathBuf, PathBuf) {
    (
        dst.join(DEFAULT_DONE_MARKER),
        dst.join(DEFAULT_STARTED_MARKER),
    )
}

impl Markers {
    /// Where DST's markers live: with the data they describe. A
    /// memory-backed DST (or no `durable_dir`): `state_dir` (or inside DST
    /// without one); a disk-backed DST: `durable_dir`.
    pub fn locate(
        state_dir: Option<&Path>,
        durable_dir: Option<&Path>,
        dst: &Path,
        memory_backed: bool,
    ) -> Markers {
        let old = match state_dir {
            Some(dir) => in_dir(dir, dst),
            None => inside(dst),
        };
        let (place, legacy) = match durable_dir {
            Some(durable) if !memory_backed => (in_dir(durable, dst), Some(old)),
            _ => (old, None),
        };
        Markers {
            done: place.0,
            started: place.1,
            inside_dst: state_dir.is_none() && legacy.is_none(),
            legacy,
        }
    }

    pub fn done_exists(&self) -> Result<bool, AgentError> {
        Ok(exists(&self.done)? || self.legacy.as_ref().map_or(Ok(false), |l| exists(&l.0))?)
    }

    pub fn started_exists(&self) -> Result<bool, AgentError> {
        Ok(exists(&self.started)? || self.legacy.as_ref().map_or(Ok(false), |l| exists(&l.1))?)
    }

    /// Names inside DST that do not make it non-empty.
    pub fn ignored_in_dst(&self) -> &'static [&'static [u8]] {
        const INSIDE: &[&[u8]] = &[
            DEFAULT_DONE_MARKER.as_bytes(),
            DEFAULT_STARTED_MARKER.as_bytes(),
        ];
        if self.inside_dst { INSIDE } else { &[] }
    }

    /// Removes the done markers (a forced re-seed), before DST changes, so
    /// that a crash from there on never leaves one over a partial copy.
    pub fn remove_done(&self) -> Result<(), AgentError> {
        remove_file(&self.done)?;
        match &self.legacy {
            Some((done, _)) => remove_file(done),
            None => Ok(()),
        }
    }

    /// From now on DST may hold partial data: says so durably.
    pub fn write_started(&self) -> Result<(), AgentError> {
        write_marker(&self.started, b"rofs seed started\n")
    }

    /// Writes the done marker durably, then removes the started marker
    /// (and the markers of an older agent).
    pub fn finish(&self, dst_fd: &OwnedFd, dst: &Path, content: &[u8]) -> Result<(), AgentError> {
        write_marker(&self.done, content)?;
        remove_file(&self.started)?;
        if let Some((done, started)) = &self.legacy {
            remove_file(done)?;
            remove_file(started)?;
        }
        if self.inside_dst {
            rustix::fs::fsync(dst_fd).ctx("sync", || dst.to_path_buf())?;
        }
        Ok(())
    }
}

/// True when `fd` is on a memory file system (tmpfs, ramfs: emptyDir
/// `medium: Memory`): its contents do not survive a node reboot.
pub(super) fn memory_backed(fd: &OwnedFd) -> bool {
    rustix::fs::fstatfs(fd)
        .map(|s| matches!(s.f_type as u64, TMPFS_MAGIC | RAMFS_MAGIC))
        .unwrap_or(false)
}

/// Opens DST (created when missing: handy outside a pod) and takes an
/// exclusive `flock` on it, held until the returned fd is closed: a second
/// seed of the same DST waits, then finds the done marker. `say` gets a line
/// for the log when it waits, or when DST's file system has no `flock`
/// (the seed then runs unlocked, as before).
pub(super) fn open_and_lock(dst: &Path, say: impl Fn(&str)) -> Result<OwnedFd, AgentError> {
    create_dirs(dst).ctx("create destination", || dst.to_path_buf())?;
    let dst_fd = rustix::fs::open(dst, DIR_FLAGS, Mode::empty()).map_err(|e| {
        if e == Errno::NOTDIR || e == Errno::LOOP {
            AgentError::DstNotDir(dst.to_path_buf())
        } else {
            AgentError::io("open destination", dst.to_path_buf(), e.into())
        }
    })?;
    let unsupported = |e: Errno| matches!(e, Errno::OPNOTSUPP | Errno::NOLCK | Errno::NOSYS);
    match rustix::fs::flock(&dst_fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => return Ok(dst_fd),
        Err(Errno::WOULDBLOCK) => say("another seed of it is running: waiting for it"),
        Err(e) if unsupported(e) => {
            say(&format!("cannot lock it ({e}): seeding without the lock"));
            return Ok(dst_fd);
        }
        Err(e) => return Err(AgentError::io("lock", dst.to_path_buf(), e.into())),
    }
    rustix::fs::flock(&dst_fd, FlockOperation::LockExclusive).ctx("lock", || dst.to_path_buf())?;
    Ok(dst_fd)
}

/// `mkdir -p` with mode 0755 (the process umask is 0 while seeding).
pub(super) fn create_dirs(p: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(p)
}

fn exists(p: &Path) -> Result<bool, AgentError> {
    match std::fs::symlink_metadata(p) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(AgentError::io("stat", p.to_path_buf(), e)),
    }
}

fn remove_file(p: &Path) -> Result<(), AgentError> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(AgentError::io("remove", p.to_path_buf(), e)),
    }
}

/// A temporary file with a random name, created exclusively (the state
/// directory and DST are shared with the app's users), fsync, rename, fsync
/// of the directory.
fn write_marker(path: &Path, content: &[u8]) -> Result<(), AgentError> {
    crate::safefile::write_atomic(path, content, 0o644, crate::safefile::Durability::Durable)
        .ctx("write marker", || path.to_path_buf())
}
