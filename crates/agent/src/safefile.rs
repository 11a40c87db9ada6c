//! Files the agent creates in directories other users of the pod can write
//! (emptyDirs are mode 0777 without the sticky bit, and the agent may run as
//! root): never at a predictable name, never through a symlink.
//!
//! A temporary file gets a random name and is opened with
//! `O_CREAT|O_EXCL|O_NOFOLLOW`: whatever another user planted (a symlink, a
//! hard link, a file) makes the open fail with `EEXIST` and a new name is
//! drawn; nothing is followed or truncated. It is then renamed over the final
//! name, which replaces a planted symlink itself, never its target.
//!
//! Why not `O_TMPFILE` + `linkat`: `linkat` cannot replace an existing name
//! (the markers, the state file and the installed binary are replaced), so a
//! named temporary file and a rename are needed anyway, and linking an
//! `O_TMPFILE` without `CAP_DAC_READ_SEARCH` needs `/proc`.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

/// 64 unpredictable bits as 16 hex digits: SipHash, keyed once per process
/// from the OS's random source (std's `RandomState`), of a counter. Names
/// that never repeat in a process and cannot be told in advance from the
/// ones an app sees in its directory, without a system call per name (a
/// sync pass names one temporary file per file it writes). `O_EXCL` keeps
/// a guessed name harmless anyway: a planted one costs a retry.
pub(crate) fn random_hex() -> String {
    use std::hash::BuildHasher;
    static KEY: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{:016x}", KEY.get_or_init(Default::default).hash_one(n))
}

/// Creates a new file `DIR/<prefix><random><suffix>` with `mode`, opened for
/// writing, never following or reusing what is at that name.
pub(crate) fn create_new(
    dir: &Path,
    prefix: &str,
    suffix: &str,
    mode: u32,
) -> io::Result<(File, PathBuf)> {
    let mut last = Errno::EXIST;
    for _ in 0..16 {
        let path = dir.join(format!("{prefix}{}{suffix}", random_hex()));
        match create_exclusive(&path, mode) {
            Ok(f) => return Ok((f, path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Errno::EXIST,
            Err(e) => return Err(e),
        }
    }
    Err(last.into())
}

/// Opens `path` as a new file: `O_CREAT|O_EXCL|O_NOFOLLOW`.
pub(crate) fn create_exclusive(path: &Path, mode: u32) -> io::Result<File> {
    let fd = rustix::fs::open(
        path,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    )?;
    Ok(File::from(fd))
}

/// How [`write_atomic`] makes the result survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// Atomic for readers and for a killed process (a memory volume, or a
    /// file that is rewritten anyway after a restart).
    Atomic,
    /// Also survives a power loss: fsync of the file and the directory.
    Durable,
}

/// Replaces `path` with `content` atomically: a new temporary file in the
/// same directory (see [`create_new`]), then a rename over `path`.
pub(crate) fn write_atomic(
    path: &Path,
    content: &[u8],
    mode: u32,
    durability: Durability,
) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let (mut f, tmp) = create_new(dir, &format!(".{name}."), ".tmp", mode)?;
    let result = (|| {
        f.write_all(content)?;
        if durability == Durability::Durable {
            f.sync_all()?;
        }
        drop(f);
        std::fs::rename(&tmp, path)?;
        if durability == Durability::Durable {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planted_symlink_is_never_opened() {
        let dir = tempfile::tempdir().expect("tempdir");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"victim").expect("victim");
        let planted = dir.path().join("planted");
        std::os::unix::fs::symlink(&victim, &planted).expect("plant");
        let err = create_exclusive(&planted, 0o644).expect_err("must not open");
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        std::fs::write(dir.path().join("file"), b"old").expect("file");
        assert!(create_exclusive(&dir.path().join("file"), 0o644).is_err());
        assert_eq!(std::fs::read(&victim).expect("victim"), b"victim");
    }

    #[test]
    fn write_atomic_replaces_a_symlink_not_its_target() {
        let dir = tempfile::tempdir().expect("tempdir");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"victim").expect("victim");
        let path = dir.path().join("state");
        std::os::unix::fs::symlink(&victim, &path).expect("plant");
        write_atomic(&path, b"new", 0o644, Durability::Durable).expect("write");
        assert_eq!(std::fs::read(&victim).expect("victim"), b"victim");
        assert!(std::fs::symlink_metadata(&path).expect("state").is_file());
        assert_eq!(std::fs::read(&path).expect("state"), b"new");
    }

    #[test]
    fn names_differ() {
        let names: std::collections::HashSet<String> = (0..10_000).map(|_| random_hex()).collect();
        assert_eq!(names.len(), 10_000);
        assert!(names.iter().all(|n| n.len() == 16));
    }
}
