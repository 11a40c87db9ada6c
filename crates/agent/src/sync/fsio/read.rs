//! Snapshots: the source (AtomicWriter-aware, symlinks kept inside the
//! volume, unreadable files recorded) and DST (the given paths only).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, CWD, Dir, FileType, Mode, OFlags, openat, statat};

use crate::sync::debounce::DATA_LINK;
use crate::sync::plan::{Entry, Snapshot};

/// Suffix of the temporary files written next to their target in DST.
pub const TMP_SUFFIX: &str = ".rofs-sync-tmp";
/// Name of the state file inside DST when no `--state-dir` is given.
pub const IN_DST_STATE: &str = ".rofs-sync.state";
const MAX_DEPTH: usize = 32;

/// What the source holds now.
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub files: Snapshot,
    /// The directory the files were read from: the timestamped data
    /// directory (through `..data`) or SRC itself.
    pub root: PathBuf,
    /// The AtomicWriter layout (`..data`) is there.
    pub atomic: bool,
    /// Directories of a plain source (to watch), SRC included.
    pub dirs: Vec<PathBuf>,
    /// Files and directories that could not be read (relative path, the
    /// error): left out of this pass, retried.
    pub unreadable: Vec<(PathBuf, String)>,
    /// Symlinks that lead out of the source volume (relative path, where
    /// they lead): not followed.
    pub refused: Vec<(PathBuf, PathBuf)>,
    /// What the small files held when they were hashed (up to
    /// [`KEPT_BYTES`] in all): copied from here, not read a second time.
    pub contents: BTreeMap<PathBuf, Vec<u8>>,
}

/// Contents of the source kept from the read to the copy, at most: the
/// files of a typical ConfigMap (a swap of ten small files then costs no
/// second open and read of each), and little memory.
pub const KEPT_BYTES: u64 = 64 * 1024;

impl Source {
    /// Paths this pass must leave alone (a directory covers its contents).
    pub fn excluded(&self) -> impl Iterator<Item = &Path> {
        self.unreadable
            .iter()
            .map(|(p, _)| p.as_path())
            .chain(self.refused.iter().map(|(p, _)| p.as_path()))
    }
}

pub(super) fn not_found(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::NotFound)
        || e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error())
}

/// Reads SRC. With `..data`, reads the data directory it points to (the
/// kubelet never changes one once linked) and checks the link did not move
/// meanwhile, retrying if it did or if the directory vanished under us.
///
/// `volume`: SRC resolved (`canonicalize`), kept from one pass to the next
/// (SRC is a mount point: it does not move); `None` is filled in.
pub fn read_source(src: &Path, volume: &mut Option<PathBuf>, buf: &mut [u8]) -> io::Result<Source> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let vol = match volume {
            Some(v) => v.clone(),
            None => volume.insert(fs::canonicalize(src)?).clone(),
        };
        match read_source_once(src, vol, buf) {
            Ok(Some(s)) => return Ok(s),
            Ok(None) if attempts < 20 => continue,
            Ok(None) => {
                return Err(io::Error::other(
                    "the ..data link kept changing while reading it",
                ));
            }
            Err(e) => return Err(e),
        }
    }
}

fn read_source_once(src: &Path, volume: PathBuf, buf: &mut [u8]) -> io::Result<Option<Source>> {
    let link = src.join(DATA_LINK);
    let target = match fs::read_link(&link) {
        Ok(t) => Some(t),
        Err(e) if not_found(&e) || e.kind() == io::ErrorKind::InvalidInput => None,
        Err(e) => return Err(e),
    };
    let out = Source {
        atomic: target.is_some(),
        root: match &target {
            Some(t) => src.join(t),
            None => src.to_path_buf(),
        },
        ..Source::default()
    };
    // What the kubelet links is a directory of SRC itself: a plain name
    // that is a real directory (not a symlink) is inside the volume without
    // resolving every component of its path again (one lstat, not a
    // readlink per component).
    let inside =
        |t: &Path| plain_name(t) && fs::symlink_metadata(src.join(t)).is_ok_and(|m| m.is_dir());
    if target.as_deref().is_some_and(|t| !inside(t)) {
        match fs::canonicalize(&out.root) {
            Ok(real) if real.starts_with(&volume) => {}
            Ok(real) => {
                return Err(io::Error::other(format!(
                    "{} leads to {}, out of the source volume: not followed",
                    link.display(),
                    real.display()
                )));
            }
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    let mut walk = Walk { volume, out, buf };
    let root = walk.out.root.clone();
    let opened = openat(CWD, &root, dir_flags(), Mode::empty()).map_err(io::Error::from);
    match opened.and_then(|fd| walk.dir(fd, &root, Path::new(""), 0)) {
        Ok(()) => {}
        // The data dir was removed by the next swap: read again.
        Err(e) if walk.out.atomic && not_found(&e) => return Ok(None),
        Err(e) => return Err(e),
    }
    if let Some(t) = target {
        match fs::read_link(&link) {
            Ok(now) if now == t => {}
            _ => return Ok(None),
        }
    }
    Ok(Some(walk.out))
}

/// A single plain component (no `/`, not `.` or `..`).
fn plain_name(p: &Path) -> bool {
    let mut c = p.components();
    matches!(
        (c.next(), c.next()),
        (Some(std::path::Component::Normal(_)), None)
    )
}

/// One read of the source tree: each directory read from its descriptor,
/// its entries stat'ed and opened relative to it (no path walked again).
struct Walk<'b> {
    /// SRC, resolved: symlinks must stay under it.
    volume: PathBuf,
    out: Source,
    buf: &'b mut [u8],
}

/// Opening a source directory (following a symlink: checked before).
fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC
}

impl Walk<'_> {
    /// Reads the directory `fd` (at `dir`, relative path `rel`). An error
    /// is returned only when it cannot be listed, or when the data
    /// directory vanished (atomic layout: the whole read starts again); a
    /// file or directory below that cannot be read is recorded in
    /// [`Source::unreadable`].
    fn dir(&mut self, fd: OwnedFd, dir: &Path, rel: &Path, depth: usize) -> io::Result<()> {
        if !self.out.atomic {
            self.out.dirs.push(dir.to_path_buf());
        }
        let mut entries = Dir::new(fd)?;
        while let Some(ent) = entries.read() {
            let ent = ent?;
            let name = OsStr::from_bytes(ent.file_name().to_bytes());
            let b = name.as_bytes();
            if b == b"."
                || b.starts_with(b"..")
                || (depth == 0 && (b == IN_DST_STATE.as_bytes()))
                || b.ends_with(TMP_SUFFIX.as_bytes())
            {
                continue;
            }
            let at = entries.fd()?;
            let rel_path = rel.join(name);
            let symlink = match ent.file_type() {
                FileType::Symlink => true,
                FileType::Unknown => statat(at, name, AtFlags::SYMLINK_NOFOLLOW)
                    .map(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink)?,
                _ => false,
            };
            if symlink && !self.link_stays_inside(&dir.join(name), &rel_path)? {
                continue;
            }
            // Follow symlinks: the visible names of a projected volume are
            // symlinks, and the mode that counts is the file's.
            let st = match statat(at, name, AtFlags::empty()).map_err(io::Error::from) {
                Ok(st) => st,
                Err(e) if not_found(&e) && !self.out.atomic => continue, // dangling
                Err(e) => return Err(e),
            };
            let result = match FileType::from_raw_mode(st.st_mode) {
                FileType::Directory if depth + 1 < MAX_DEPTH => {
                    openat(at, name, dir_flags(), Mode::empty())
                        .map_err(io::Error::from)
                        .and_then(|sub| self.dir(sub, &dir.join(name), &rel_path, depth + 1))
                }
                FileType::RegularFile => {
                    self.file(at, name, &rel_path, st.st_size as u64, st.st_mode)
                }
                _ => Ok(()),
            };
            match result {
                Ok(()) => {}
                Err(e) if self.out.atomic && not_found(&e) => return Err(e),
                Err(e) => self.out.unreadable.push((rel_path, e.to_string())),
            }
        }
        Ok(())
    }

    /// Hashes the file `name` of `dir` (`len` bytes, says its stat); keeps
    /// its content while the budget allows.
    fn file(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        rel: &Path,
        len: u64,
        mode: u32,
    ) -> io::Result<()> {
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let f = File::from(openat(dir, name, flags, Mode::empty())?);
        let kept: u64 = self.out.contents.values().map(|c| c.len() as u64).sum();
        let (hash, size) = if kept + len <= KEPT_BYTES {
            let content = read_known(f, len)?;
            let mut h = crate::names::Fnv::default();
            h.update(&content);
            let size = content.len() as u64;
            if kept + size <= KEPT_BYTES {
                self.out.contents.insert(rel.to_path_buf(), content);
            }
            (h.finish(), size)
        } else {
            super::write::hash_reader(f, self.buf, Some(len))?
        };
        self.out
            .files
            .insert(rel.to_path_buf(), Entry::file(hash, size, mode));
        Ok(())
    }

    /// A symlink in the source is followed only when it leads to a place
    /// inside the source volume (the kubelet's own links always do); one
    /// that leaves it is recorded in [`Source::refused`]. A dangling link
    /// is no file (plain directory) or a sign of a swap (atomic layout).
    fn link_stays_inside(&mut self, path: &Path, rel: &Path) -> io::Result<bool> {
        match fs::canonicalize(path) {
            Ok(real) if real.starts_with(&self.volume) => Ok(true),
            Ok(real) => {
                self.out.refused.push((rel.to_path_buf(), real));
                Ok(false)
            }
            Err(e) if not_found(&e) && !self.out.atomic => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Reads a whole regular file whose stat said `len` bytes: one read when it
/// still has them (a read shorter than asked that reaches `len` is the
/// end: a regular file's read is short only there); a file that grew
/// since is read to its end.
fn read_known(mut f: File, len: u64) -> io::Result<Vec<u8>> {
    let mut content = vec![0u8; len as usize + 1];
    let mut got = 0;
    loop {
        if got == content.len() {
            content.resize(got * 2, 0);
        }
        let n = match f.read(&mut content[got..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        got += n;
        if got < content.len() && got as u64 >= len {
            break;
        }
    }
    content.truncate(got);
    Ok(content)
}

/// Reads DST for the given relative paths only (each once, however often
/// given), never through a symlink (see [`super::write::read_dst_entry`]),
/// from one descriptor of DST. A regular file gets its content hash;
/// anything else (a directory, a symlink the app put there, a file under a
/// directory the app replaced with a symlink) an entry that matches no file.
///
/// `known`: for a path, the file sync put there and what it holds (see
/// [`super::write::Identity`]): while DST's file is still that one, it is
/// not read.
///
/// Returns the snapshot and the paths sync may not read (see
/// [`super::write::denied`]), with the error: left out of the snapshot.
#[allow(clippy::type_complexity)]
pub fn read_dst<'a>(
    dst: &Path,
    paths: impl Iterator<Item = &'a PathBuf>,
    buf: &mut [u8],
    known: impl Fn(&Path) -> Option<(super::write::Identity, Entry)>,
) -> io::Result<(Snapshot, Vec<(PathBuf, String)>)> {
    let mut out = Snapshot::new();
    let mut denied = Vec::new();
    let root = super::write::open_dst(dst)?;
    let paths: BTreeSet<&PathBuf> = paths.collect();
    for rel in paths {
        match super::write::read_dst_entry(root.as_fd(), rel, buf, known(rel)) {
            Ok(Some(entry)) => {
                out.insert(rel.clone(), entry);
            }
            Ok(None) => {}
            Err(e) if super::write::denied(&e) => denied.push((rel.clone(), e.to_string())),
            Err(e) => return Err(e),
        }
    }
    Ok((out, denied))
}
