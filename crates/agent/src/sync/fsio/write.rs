//! Carrying out the plan in DST: copies to temporary files, replaces that
//! never lose an app edit, chmod, removals.
//!
//! DST is shared with the app, which may replace any directory in it with a
//! symlink (to the sidecar's own files, say). So nothing here resolves a path
//! through DST: each directory is opened from a descriptor of DST, one
//! component at a time, with `O_NOFOLLOW|O_DIRECTORY`, and every create,
//! rename, removal and chmod is done relative to the descriptor of its
//! directory. A component that is not a real directory is the app's: it is
//! never written through.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use rustix::fs::{
    AtFlags, CWD, FileType, Mode, OFlags, RenameFlags, fstat, mkdirat, openat, renameat_with,
    statat, unlinkat,
};
use rustix::io::Errno;

use super::read::{Source, TMP_SUFFIX};
use crate::names::Fnv;
use crate::sync::plan::{ConflictKind, Entry};

/// What [`open_parent`] found on the way to a file's directory.
pub enum Parent {
    /// The directory, opened without following any symlink.
    Dir(OwnedFd),
    /// A component does not exist (and was not to be created).
    Missing,
    /// A component is a symlink or anything else but a directory: the app's.
    NotADir,
}

/// What [`open_parent`] does with a component that is missing or is not a
/// real directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Make {
    /// Nothing: reports it.
    Open,
    /// Creates a missing directory (0755); reports a non-directory.
    Create,
    /// Also replaces a non-directory (the app's symlink or file) with a
    /// new directory (`--conflict source`).
    Replace,
}

/// A file sync put at a DST path, as `stat` shows it. While the path still
/// shows the same (regular file, inode, size, modification time, mode), it is
/// that file, untouched: what sync wrote, not read again. An edit in place
/// changes the modification time, a replace the inode; one that keeps both
/// (same size, within one tick of a coarse clock) is still caught by the
/// check of what a replace swaps out before any content of it is replaced;
/// a removal always reads the file first (a mode-only change of the source
/// may still chmod it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    mode: u32,
}

impl Identity {
    /// Sync may read this file (what a replace checks it by): its owner may,
    /// or sync runs as root. A file it may not read is always read first
    /// (and fails alone), never replaced unchecked.
    pub fn readable(&self) -> bool {
        static ROOT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        self.mode & 0o400 != 0 || *ROOT.get_or_init(|| rustix::process::geteuid().is_root())
    }

    // `Stat`'s field types differ between targets.
    #[allow(clippy::unnecessary_cast)]
    fn of(st: &rustix::fs::Stat) -> Self {
        Identity {
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
            size: st.st_size as u64,
            mtime: (st.st_mtime as i64, st.st_mtime_nsec as i64),
            mode: st.st_mode as u32,
        }
    }
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

pub(super) fn open_dst(dst: &Path) -> io::Result<OwnedFd> {
    Ok(openat(
        CWD,
        dst,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// The components of a relative path in DST (only plain names).
fn components(rel: &Path) -> io::Result<Vec<&OsStr>> {
    rel.components()
        .map(|c| match c {
            Component::Normal(n) => Ok(n),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: not a plain relative path", rel.display()),
            )),
        })
        .collect()
}

/// Opens `name` in `dir` as a real directory (see [`Make`]).
fn open_child(dir: BorrowedFd<'_>, name: &OsStr, make: Make) -> io::Result<Parent> {
    for _ in 0..8 {
        match openat(dir, name, dir_flags(), Mode::empty()) {
            Ok(fd) => return Ok(Parent::Dir(fd)),
            Err(Errno::NOENT) if make == Make::Open => return Ok(Parent::Missing),
            Err(Errno::NOENT) => match mkdirat(dir, name, Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            },
            Err(Errno::LOOP | Errno::NOTDIR) if make != Make::Replace => {
                return Ok(Parent::NotADir);
            }
            Err(Errno::LOOP | Errno::NOTDIR) => match unlinkat(dir, name, AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => {}
                Err(e) => return Err(e.into()),
            },
            Err(e) => return Err(e.into()),
        }
    }
    Err(io::Error::other(format!(
        "{}: kept changing while opening it",
        Path::new(name).display()
    )))
}

/// Opens the directory of `dst/rel` from a descriptor of DST, one component
/// at a time, never following a symlink (see [`Make`]).
pub fn open_parent(dst: &Path, rel: &Path, make: Make) -> io::Result<Parent> {
    let comps = components(rel)?;
    let root = open_dst(dst)?;
    let parents = &comps[..comps.len().saturating_sub(1)];
    Ok(open_parent_in(root.as_fd(), parents, make)?.unwrap_or(Parent::Dir(root)))
}

/// [`open_parent`] from an open DST, through the directories `comps`:
/// `None` when there are none (the file is at the top of DST: its directory
/// is `root` itself).
fn open_parent_in(
    root: BorrowedFd<'_>,
    comps: &[&OsStr],
    make: Make,
) -> io::Result<Option<Parent>> {
    let Some((first, rest)) = comps.split_first() else {
        return Ok(None);
    };
    let mut fd = match open_child(root, first, make)? {
        Parent::Dir(fd) => fd,
        other => return Ok(Some(other)),
    };
    for name in rest {
        match open_child(fd.as_fd(), name, make)? {
            Parent::Dir(next) => fd = next,
            other => return Ok(Some(other)),
        }
    }
    Ok(Some(Parent::Dir(fd)))
}

fn file_name(rel: &Path) -> io::Result<&OsStr> {
    components(rel)?
        .last()
        .copied()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty path"))
}

/// Opens `name` in `dir` for reading if it is a regular file (not through
/// a symlink): the file, its mode and its size; `None` for anything else or
/// nothing.
fn open_file(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Option<(File, u32, u64)>> {
    let fd = match openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT | Errno::LOOP | Errno::NOTDIR) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let st = fstat(&fd)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Ok(None);
    }
    Ok(Some((File::from(fd), st.st_mode, st.st_size as u64)))
}

/// Hashes what `f` holds: (hash, size). `known`: the size `fstat` gave for
/// a regular file: a read shorter than the buffer that reaches it is the
/// end of the file (a regular file's read is short only there), without
/// one more read to see 0.
pub(super) fn hash_reader(
    mut f: impl Read,
    buf: &mut [u8],
    known: Option<u64>,
) -> io::Result<(u64, u64)> {
    let mut h = Fnv::default();
    let mut size = 0u64;
    loop {
        let n = match f.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
        size += n as u64;
        if n < buf.len() && known.is_some_and(|k| size >= k) {
            break;
        }
    }
    Ok((h.finish(), size))
}

/// What DST holds at `rel`, without following symlinks: a regular file's
/// entry; for anything else (a directory, a symlink the app put there, a
/// parent directory the app replaced with a symlink or a file) an entry that
/// matches no file; `None` for nothing.
pub fn read_dst_entry(
    root: BorrowedFd<'_>,
    rel: &Path,
    buf: &mut [u8],
    known: Option<(Identity, Entry)>,
) -> io::Result<Option<Entry>> {
    let other = |mode: u32| Entry {
        hash: 0,
        size: 0,
        mode,
    };
    let comps = components(rel)?;
    let Some((name, parents)) = comps.split_last() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty path"));
    };
    let opened = match open_parent_in(root, parents, Make::Open)? {
        None => None,
        Some(Parent::Dir(d)) => Some(d),
        Some(Parent::Missing) => return Ok(None),
        Some(Parent::NotADir) => return Ok(Some(other(0o120777))),
    };
    let dir = opened.as_ref().map_or(root, OwnedFd::as_fd);
    let st = match statat(dir, *name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Ok(Some(other(st.st_mode)));
    }
    if let Some((id, entry)) = known
        && id == Identity::of(&st)
    {
        return Ok(Some(entry));
    }
    match open_file(dir, name)? {
        Some((f, mode, len)) => {
            let (hash, size) = hash_reader(f, buf, Some(len))?;
            Ok(Some(Entry::file(hash, size, mode)))
        }
        None => Ok(None),
    }
}

/// A read of a DST path that sync may not do (`EACCES`, `EPERM`: a file or
/// directory whose mode keeps sync out, the app's or its own): that path
/// fails alone, left out of the pass and retried, like an unreadable source
/// file. Any other error fails the pass.
pub(super) fn denied(e: &io::Error) -> bool {
    e.raw_os_error()
        .is_some_and(|c| c == Errno::ACCESS.raw_os_error() || c == Errno::PERM.raw_os_error())
}

/// A temporary file sync wrote next to its target, in the target's
/// directory (held open: the names below are relative to it; DST's own
/// descriptor is shared by the files at its top).
pub struct Temp {
    dir: Rc<OwnedFd>,
    name: OsString,
    target: OsString,
}

impl Temp {
    /// Removes the temporary file (best effort: after a failure).
    pub fn discard(&self) {
        let _ = unlinkat(&self.dir, &self.name, AtFlags::empty());
    }

    /// Removes what [`replace`] swapped out to the temporary name
    /// ([`Replaced::Swapped`]); gone already is fine.
    pub fn remove(&self) -> io::Result<()> {
        match remove_if_exists(self.dir.as_fd(), &self.name) {
            // The app put a directory there since: not sync's, left alone.
            Err(e) if e.raw_os_error() == Some(Errno::ISDIR.raw_os_error()) => Ok(()),
            r => r,
        }
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot remove the previous version of {} (at {}): {e}",
                    Path::new(&self.target).display(),
                    Path::new(&self.name).display()
                ),
            )
        })
    }
}

/// DST for the writes of one pass: opened at the first write, its
/// descriptor shared by the temporary files at its top. DST itself is the
/// volume's mount point: the app cannot move it away during a pass.
pub struct DstRoot<'a> {
    path: &'a Path,
    fd: Option<Rc<OwnedFd>>,
}

impl<'a> DstRoot<'a> {
    pub fn new(path: &'a Path) -> Self {
        DstRoot { path, fd: None }
    }

    /// The directory of `rel` for a write ([`open_parent`] from the shared
    /// descriptor); `None` when a directory on the way is missing or not a
    /// real one (and `make` does not replace it).
    fn parent_of(&mut self, rel: &Path, make: Make) -> io::Result<Option<Rc<OwnedFd>>> {
        let comps = components(rel)?;
        let root = match &self.fd {
            Some(fd) => fd.clone(),
            None => self.fd.insert(Rc::new(open_dst(self.path)?)).clone(),
        };
        let parents = &comps[..comps.len().saturating_sub(1)];
        Ok(match open_parent_in(root.as_fd(), parents, make)? {
            None => Some(root),
            Some(Parent::Dir(fd)) => Some(Rc::new(fd)),
            Some(Parent::Missing | Parent::NotADir) => None,
        })
    }
}

/// Copies the source's `rel` (the content the source read kept, else the
/// file) into a new temporary file next to `dst/rel` (random
/// name, created exclusively, the source's permission bits), creating the
/// missing directories on the way. Returns the file and what it holds;
/// [`replace`] puts it in place. `None` when a directory on the way is not a
/// real one (the app replaced it with a symlink or a file) and `make` is not
/// [`Make::Replace`]: nothing is written through it. No fsync: readers
/// never see a partial file either way, and an emptyDir does not outlive the
/// pod (a restarted sidecar rewrites what it had not recorded).
pub fn copy_to_temp(
    source: &Source,
    dst: &mut DstRoot<'_>,
    rel: &Path,
    perm: u32,
    make: Make,
    buf: &mut [u8],
) -> io::Result<Option<(Temp, Entry, Identity)>> {
    let Some(dir) = dst.parent_of(rel, make)? else {
        return Ok(None);
    };
    let target = file_name(rel)?.to_os_string();
    // What the source read kept (the content it hashed: its hash is known),
    // else the file.
    let (mut from, known): (Box<dyn Read + '_>, _) = match source.contents.get(rel) {
        Some(content) => (
            Box::new(content.as_slice()),
            source.files.get(rel).map(|e| e.hash),
        ),
        None => (Box::new(File::open(source.root.join(rel))?), None),
    };
    // Created with its final permission bits when the umask leaves them
    // as they are: no fchmod (else 0600, then fchmod).
    let exact = umask().is_some_and(|m| perm & (m | 0o7000) == 0);
    let mode = if exact { perm & 0o777 } else { 0o600 };
    let (mut to, name) = create_temp(dir.as_fd(), &target, mode)?;
    let tmp = Temp { dir, name, target };
    let result = (|| {
        let mut h = Fnv::default();
        let mut size = 0u64;
        loop {
            let n = match from.read(buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            to.write_all(&buf[..n])?;
            if known.is_none() {
                h.update(&buf[..n]);
            }
            size += n as u64;
        }
        if !exact {
            rustix::fs::fchmod(&to, Mode::from_raw_mode(perm & 0o7777))?;
        }
        let id = Identity::of(&fstat(&to)?);
        Ok((
            Entry::file(known.unwrap_or_else(|| h.finish()), size, perm),
            id,
        ))
    })();
    match result {
        Ok((e, id)) => Ok(Some((tmp, e, id))),
        Err(e) => {
            tmp.discard();
            Err(e)
        }
    }
}

/// The process's umask, read once from `/proc/self/status` (reading it
/// with umask(2) would change it for a moment, under other threads);
/// `None` without /proc.
fn umask() -> Option<u32> {
    static UMASK: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
        u32::from_str_radix(line.trim(), 8).ok()
    })
}

/// A new file `.<tag>-<random>.rofs-sync-tmp` in `dir` for the file `target`
/// of `dir` (`O_CREAT|O_EXCL|O_NOFOLLOW`, `mode`). The tag names the target
/// (see [`target_tag`]): a restart that finds an app's version swapped out to
/// it knows which file it came from.
fn create_temp(dir: BorrowedFd<'_>, target: &OsStr, mode: u32) -> io::Result<(File, OsString)> {
    for _ in 0..16 {
        let random = crate::safefile::random_hex();
        let name = OsString::from(format!(
            ".{}-{}{TMP_SUFFIX}",
            target_tag(target),
            &random[..8]
        ));
        match openat(
            dir,
            &name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        ) {
            Ok(fd) => return Ok((File::from(fd), name)),
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Errno::EXIST.into())
}

/// 8 hex digits naming a file of a directory in its temporary names.
fn target_tag(target: &OsStr) -> String {
    format!("{:08x}", crate::names::fnv(target.as_bytes()) as u32)
}

/// Whether `name` is a temporary name sync makes: `Some(Some(tag))` for
/// this version's (`.<8 hex tag>-<8 hex>.rofs-sync-tmp`), `Some(None)` for
/// earlier versions' (`.<16 hex>.rofs-sync-tmp`), `None` for any other name
/// (the app's, whatever it ends with).
fn temp_name(name: &OsStr) -> Option<Option<&str>> {
    let stem = name
        .as_bytes()
        .strip_prefix(b".")?
        .strip_suffix(TMP_SUFFIX.as_bytes())?;
    let hex = |b: &[u8]| !b.is_empty() && b.iter().all(u8::is_ascii_hexdigit);
    match stem {
        [tag @ .., b'-', _, _, _, _, _, _, _, _]
            if tag.len() == 8 && hex(tag) && hex(&stem[9..]) =>
        {
            Some(std::str::from_utf8(tag).ok())
        }
        _ if stem.len() == 16 && hex(stem) => Some(None),
        _ => None,
    }
}

/// What the plan saw at the target when it decided to write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No file: the write adds it.
    Absent,
    /// This content (untouched by the app since sync wrote it).
    File(Entry),
    /// Anything: the source wins whatever is there (a conflict already
    /// decided by `--conflict source`).
    Any,
}

/// What [`replace`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replaced {
    /// The new version is in place.
    Done,
    /// The new version is in place, and the previous one (sync's own,
    /// checked) is at the temporary name: the caller removes it with
    /// [`Temp::remove`] once the latency-critical work is done, and always
    /// before it saves a state that no longer records that version (a
    /// restart then takes it for the app's swapped-out edit).
    Swapped,
    /// The app changed the target after the plan saw it: a conflict,
    /// decided by the policy (`source_won`: the new version is in place;
    /// else the app's version is, and the new one was dropped).
    Conflict {
        kind: ConflictKind,
        source_won: bool,
    },
}

fn unsupported(e: Errno) -> bool {
    matches!(e, Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP)
}

/// Puts the temporary file `tmp` (holding `written`) at its target, unless
/// the target is no longer what the plan saw (`expect`): the app edited it
/// while the file was copied. Atomic, so no app edit slips in between the
/// check and the replace: a new file is linked with `RENAME_NOREPLACE`; an
/// existing one is swapped with `RENAME_EXCHANGE` and what was swapped out is
/// checked (and swapped back when the app's version must stay). On a file
/// system without these, the target is checked just before a plain rename.
pub fn replace(
    tmp: &Temp,
    expect: Expect,
    written: &Entry,
    source_wins: bool,
    buf: &mut [u8],
) -> io::Result<Replaced> {
    let dir = tmp.dir.as_fd();
    let (from, to) = (tmp.name.as_os_str(), tmp.target.as_os_str());
    let rename = |flags: RenameFlags| renameat_with(dir, from, dir, to, flags);
    // Before anything is swapped: the temporary file holds the new version
    // only, removed on an error.
    let ours = |r: io::Result<Replaced>| r.inspect_err(|_| tmp.discard());
    let conflict = |kind: ConflictKind| -> io::Result<Replaced> {
        if source_wins {
            rename(RenameFlags::empty())?;
        } else {
            remove_if_exists(dir, from)?;
        }
        Ok(Replaced::Conflict {
            kind,
            source_won: source_wins,
        })
    };
    let exp = match expect {
        Expect::Any => {
            return ours(
                rename(RenameFlags::empty())
                    .map(|()| Replaced::Done)
                    .map_err(Into::into),
            );
        }
        Expect::Absent => {
            return ours(match rename(RenameFlags::NOREPLACE) {
                Ok(()) => Ok(Replaced::Done),
                Err(Errno::EXIST) => conflict(ConflictKind::AppCreated),
                Err(e) if unsupported(e) => {
                    if statat(dir, to, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
                        conflict(ConflictKind::AppCreated)
                    } else {
                        rename(RenameFlags::empty())?;
                        Ok(Replaced::Done)
                    }
                }
                Err(e) => Err(e.into()),
            });
        }
        Expect::File(e) => e,
    };
    match rename(RenameFlags::EXCHANGE) {
        // `tmp` now holds what was at the target: the app's, unless the
        // check says it is what sync wrote. From here on it is never
        // removed without that check: an error puts it back.
        Ok(()) => {
            crate::sync::fault::point(crate::sync::fault::Point::AfterExchange);
            // What sync wrote before, or the app's edit that holds the
            // same bytes as the new version (nothing of the app's is lost).
            let checked = holds(dir, from, &exp, buf)
                .and_then(|same| Ok(same || holds(dir, from, written, buf)?));
            let keep_apps = match checked {
                Ok(true) => return Ok(Replaced::Swapped),
                Ok(false) if source_wins => match remove_if_exists(dir, from) {
                    Ok(()) => {
                        return Ok(Replaced::Conflict {
                            kind: ConflictKind::BothChanged,
                            source_won: true,
                        });
                    }
                    // A directory of the app's: sync never removes one.
                    Err(e) if e.raw_os_error().is_some_and(is_a_directory) => Ok(()),
                    Err(e) => Err(e),
                },
                Ok(false) => Ok(()),
                Err(e) => Err(e),
            };
            swap_back(tmp, written, buf)?;
            keep_apps.map(|()| Replaced::Conflict {
                kind: ConflictKind::BothChanged,
                source_won: false,
            })
        }
        // ENOENT: the target is gone (the app deleted it), or the temporary
        // file is (something removed it meanwhile: an error, retried).
        Err(Errno::NOENT) => {
            if matches!(
                statat(dir, from, AtFlags::SYMLINK_NOFOLLOW),
                Err(Errno::NOENT)
            ) {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "the temporary file {} was removed while sync wrote it",
                        Path::new(from).display()
                    ),
                ));
            }
            ours(conflict(ConflictKind::AppDeleted))
        }
        Err(e) if unsupported(e) => ours((|| {
            if holds(dir, to, &exp, buf)? || holds(dir, to, written, buf)? {
                rename(RenameFlags::empty())?;
                Ok(Replaced::Done)
            } else if matches!(
                statat(dir, to, AtFlags::SYMLINK_NOFOLLOW),
                Err(Errno::NOENT)
            ) {
                conflict(ConflictKind::AppDeleted)
            } else {
                conflict(ConflictKind::BothChanged)
            }
        })()),
        Err(e) => ours(Err(e.into())),
    }
}

/// `unlinkat` of a directory: `EISDIR` (Linux), `EPERM` (POSIX).
fn is_a_directory(errno: i32) -> bool {
    errno == Errno::ISDIR.raw_os_error() || errno == Errno::PERM.raw_os_error()
}

/// Puts the app's version (swapped out to the temporary name) back at the
/// target and drops the new one. Should the app have replaced the target
/// once more in between, its newest version is what ends up at the target.
/// What is left at the temporary name is removed only when it is the new
/// version (checked): on an error it stays (a restart settles it).
fn swap_back(tmp: &Temp, written: &Entry, buf: &mut [u8]) -> io::Result<()> {
    let dir = tmp.dir.as_fd();
    match renameat_with(dir, &tmp.name, dir, &tmp.target, RenameFlags::EXCHANGE) {
        Ok(()) => {}
        // The app removed the target (sync's new version) meanwhile: its
        // own version goes back there, unless it made another one since.
        Err(Errno::NOENT) => {
            return match renameat_with(dir, &tmp.name, dir, &tmp.target, RenameFlags::NOREPLACE) {
                Ok(()) | Err(Errno::EXIST) => Ok(()),
                Err(e) => Err(e.into()),
            };
        }
        Err(e) => return Err(e.into()),
    }
    if holds(dir, &tmp.name, written, buf)? {
        remove_if_exists(dir, &tmp.name)
    } else {
        Ok(renameat_with(
            dir,
            &tmp.name,
            dir,
            &tmp.target,
            RenameFlags::empty(),
        )?)
    }
}

/// `name` in `dir` is a regular file with the content of `e`.
fn holds(dir: BorrowedFd<'_>, name: &OsStr, e: &Entry, buf: &mut [u8]) -> io::Result<bool> {
    match open_file(dir, name)? {
        // Another size: another content, nothing to read.
        Some((_, _, len)) if len != e.size => Ok(false),
        Some((f, _, len)) => {
            let (hash, size) = hash_reader(f, buf, Some(len))?;
            Ok(hash == e.hash && size == e.size)
        }
        None => Ok(false),
    }
}

fn remove_if_exists(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    match unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The names of sync's temporary files in `dir`.
fn temps_in(dir: BorrowedFd<'_>) -> Vec<OsString> {
    let Ok(rd) = rustix::fs::Dir::read_from(dir) else {
        return Vec::new();
    };
    rd.flatten()
        .map(|ent| OsStr::from_bytes(ent.file_name().to_bytes()).to_os_string())
        .filter(|n| {
            let b = n.as_bytes();
            b.starts_with(b".") && b.ends_with(TMP_SUFFIX.as_bytes())
        })
        .collect()
}

/// What [`recover_temps`] did with a temporary file that held no version
/// sync wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stale {
    /// The app's version of this file, swapped out by a replace that was
    /// cut short, is back in place (`--conflict app`).
    Restored(PathBuf),
    /// The source's version stays at this file (`--conflict source`); the
    /// app's is kept as the second path.
    KeptAs(PathBuf, PathBuf),
    /// A temporary file that belongs to no write in flight: left as it is
    /// (it may be the app's).
    Left(PathBuf),
}

/// Settles the temporary files a killed predecessor left next to the files
/// sync manages (in DST and the directories of `paths`, never through a
/// symlink). A temporary file that holds a version sync wrote (in flight
/// or recorded in the state, of a file in its directory) is removed. Any
/// other one next to a write in flight whose new version is in place is the
/// app's version that `RENAME_EXCHANGE` swapped out before the kill: it is
/// put back (`source_wins` false) or kept next to the file as
/// `NAME.rofs-conflict` (true). Best effort: errors leave files as they are.
pub fn recover_temps<'a>(
    dst: &Path,
    paths: impl Iterator<Item = &'a PathBuf>,
    state: &crate::sync::plan::State,
    pending: &'a crate::sync::plan::State,
    source_wins: bool,
    buf: &mut [u8],
) -> Vec<Stale> {
    let mut out = Vec::new();
    let mut dirs: std::collections::BTreeSet<PathBuf> = paths
        .chain(pending.keys())
        .filter_map(|p| p.parent().map(Path::to_path_buf))
        .collect();
    dirs.insert(PathBuf::new());
    for rel_dir in dirs {
        let Ok(Parent::Dir(dir)) = open_parent(dst, &rel_dir.join("x"), Make::Open) else {
            continue;
        };
        let in_dir = |p: &&PathBuf| p.parent() == Some(rel_dir.as_path());
        // The versions sync wrote of the files a temporary name may have
        // been made for: the file its tag names, or (untagged names of
        // earlier versions) any file of the directory.
        let ours = |tag: Option<&str>| -> Vec<Entry> {
            state
                .iter()
                .chain(pending.iter())
                .filter(|(p, _)| in_dir(p))
                .filter(|(p, _)| {
                    tag.is_none_or(|tag| p.file_name().is_some_and(|t| target_tag(t) == tag))
                })
                .map(|(_, e)| *e)
                .collect()
        };
        for name in temps_in(dir.as_fd()) {
            // A name sync never makes is the app's: left alone, unreported.
            let Some(tag) = temp_name(&name) else {
                continue;
            };
            let content = match open_file(dir.as_fd(), &name) {
                Ok(Some((f, _, len))) => match hash_reader(f, buf, Some(len)) {
                    Ok(h) => Some(h),
                    Err(_) => continue,
                },
                // Not a regular file: never a version of sync's (below).
                Ok(None) => None,
                Err(_) => continue,
            };
            // Sync's own versions are removed; anything else (a symlink, a
            // FIFO, a directory the app had at the target: sync writes
            // regular files only) is the app's.
            if let Some((hash, size)) = content
                && ours(tag).iter().any(|e| e.hash == hash && e.size == size)
            {
                let _ = unlinkat(&dir, &name, AtFlags::empty());
                continue;
            }
            // The app's version: which write in flight swapped it out? One
            // whose new version is in place, and for which the temporary
            // name was made (its tag); a name of an earlier version has no
            // tag: then only a single such write is taken. Anything else is
            // left as it is.
            let in_place: Vec<&PathBuf> = pending
                .iter()
                .filter(|(p, _)| in_dir(p))
                .filter(|(p, e)| {
                    p.file_name()
                        .is_some_and(|t| holds(dir.as_fd(), t, e, buf).unwrap_or(false))
                })
                .map(|(p, _)| p)
                .collect();
            let swapped = match tag {
                Some(tag) => {
                    let mut made_for = in_place
                        .iter()
                        .filter(|p| p.file_name().is_some_and(|t| target_tag(t) == tag));
                    match (made_for.next(), made_for.next()) {
                        (Some(p), None) => Some(*p),
                        _ => None,
                    }
                }
                None if in_place.len() == 1 => Some(in_place[0]),
                None => None,
            };
            let Some(path) = swapped else {
                out.push(Stale::Left(rel_dir.join(&name)));
                continue;
            };
            let target = path.file_name().expect("a file name");
            if !source_wins {
                if renameat_with(&dir, &name, &dir, target, RenameFlags::empty()).is_ok() {
                    out.push(Stale::Restored(path.clone()));
                }
                continue;
            }
            let mut keep = target.to_os_string();
            keep.push(".rofs-conflict");
            for attempt in 0..8 {
                if attempt > 0 {
                    keep = target.to_os_string();
                    keep.push(format!(".rofs-conflict-{}", crate::safefile::random_hex()));
                }
                match renameat_with(&dir, &name, &dir, &keep, RenameFlags::NOREPLACE) {
                    Ok(()) => {
                        out.push(Stale::KeptAs(path.clone(), rel_dir.join(&keep)));
                        break;
                    }
                    Err(Errno::EXIST) => continue,
                    Err(_) => break,
                }
            }
        }
    }
    out
}

/// Sets the permission bits of `dst/rel` (a regular file, never through a
/// symlink).
pub fn chmod(dst: &Path, rel: &Path, perm: u32) -> io::Result<()> {
    let gone = || {
        io::Error::new(
            io::ErrorKind::NotFound,
            "no longer a regular file in DST (changed by the app)",
        )
    };
    let Parent::Dir(dir) = open_parent(dst, rel, Make::Open)? else {
        return Err(gone());
    };
    // An O_PATH descriptor of the file itself (not of a symlink's target),
    // then a chmod of that very inode through /proc (fchmod refuses O_PATH).
    let fd = openat(
        &dir,
        file_name(rel)?,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        Errno::NOENT => gone(),
        e => e.into(),
    })?;
    if FileType::from_raw_mode(fstat(&fd)?.st_mode) != FileType::RegularFile {
        return Err(gone());
    }
    let proc = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
    Ok(rustix::fs::chmod(
        proc.as_str(),
        Mode::from_raw_mode(perm & 0o7777),
    )?)
}

/// Removes `dst/rel`, then its parent directories up to DST while they are
/// empty (a directory the app put files in stays). Nothing is done through
/// a directory the app replaced with a symlink: the file is not in DST.
pub fn remove_file(dst: &Path, rel: &Path) -> io::Result<()> {
    let comps = components(rel)?;
    let Some((name, parents)) = comps.split_last() else {
        return Ok(());
    };
    let mut dirs = vec![open_dst(dst)?];
    for p in parents {
        let last = dirs.last().expect("DST").as_fd();
        match open_child(last, p, Make::Open)? {
            Parent::Dir(fd) => dirs.push(fd),
            Parent::Missing | Parent::NotADir => return Ok(()),
        }
    }
    remove_if_exists(dirs.last().expect("DST").as_fd(), name)?;
    for (i, p) in parents.iter().enumerate().rev() {
        if unlinkat(&dirs[i], *p, AtFlags::REMOVEDIR).is_err() {
            break;
        }
    }
    Ok(())
}
