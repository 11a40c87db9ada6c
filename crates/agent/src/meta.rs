//! Metadata of one entry (what `stat` said in the scan) and how it is applied
//! to the copy: owner, mode, xattrs, times — in the order `cp -a` uses
//! (uutils `copy_attributes()`): chown first (it clears setuid/setgid and
//! `security.capability`), then chmod, then xattrs, then times last.
//!
//! When ownership cannot be kept (not root, or root without CAP_CHOWN), the
//! copy is owned by the running user, setuid/setgid are stripped, and the
//! counters in [`NotKept`] feed the one summary line the seed prints.

use std::collections::BTreeSet;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use rustix::fs::{AtFlags, Gid, Mode, Timespec, Timestamps, Uid};
use rustix::io::Errno;

pub(crate) const S_ISUID: u32 = 0o4000;
pub(crate) const S_ISGID: u32 = 0o2000;

/// The part of `stat` the copy needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub blocks: u64,
    pub atime: (i64, i64),
    pub mtime: (i64, i64),
}

impl Meta {
    pub fn from_stat(st: &rustix::fs::Stat) -> Self {
        Meta {
            mode: st.st_mode,
            uid: st.st_uid,
            gid: st.st_gid,
            size: st.st_size.max(0) as u64,
            blocks: st.st_blocks.max(0) as u64,
            atime: (st.st_atime, st.st_atime_nsec as i64),
            mtime: (st.st_mtime, st.st_mtime_nsec as i64),
        }
    }

    pub fn perm(&self) -> u32 {
        self.mode & 0o7777
    }

    pub fn timestamps(&self) -> Timestamps {
        Timestamps {
            last_access: Timespec {
                tv_sec: self.atime.0,
                tv_nsec: self.atime.1,
            },
            last_modification: Timespec {
                tv_sec: self.mtime.0,
                tv_nsec: self.mtime.1,
            },
        }
    }
}

/// What could not be kept, counted over a whole pair.
#[derive(Default, Debug)]
pub(crate) struct NotKeptCounters {
    pub ownership: AtomicU64,
    pub setid_stripped: AtomicU64,
    pub xattrs: AtomicU64,
    pub xattr_names: Mutex<BTreeSet<String>>,
    pub root_mode: AtomicBool,
}

/// Who we are, decided once per run.
#[derive(Debug)]
pub(crate) struct Identity {
    pub euid: u32,
    pub egid: u32,
    pub groups: Vec<u32>,
    /// True while `chown` to any uid works (root with CAP_CHOWN). Cleared by
    /// the first EPERM so a non-privileged root does not fail 50k syscalls.
    pub can_chown_any: AtomicBool,
}

impl Identity {
    pub fn current() -> Self {
        let euid = rustix::process::geteuid().as_raw();
        let egid = rustix::process::getegid().as_raw();
        let mut groups: Vec<u32> = rustix::process::getgroups()
            .unwrap_or_default()
            .into_iter()
            .map(|g| g.as_raw())
            .collect();
        groups.push(egid);
        Identity {
            euid,
            egid,
            groups,
            can_chown_any: AtomicBool::new(euid == 0),
        }
    }

    fn in_group(&self, gid: u32) -> bool {
        self.groups.contains(&gid)
    }
}

/// How to reach the entry whose attributes are applied.
#[derive(Clone, Copy)]
pub(crate) enum Target<'a> {
    /// An open file or directory.
    Fd(BorrowedFd<'a>),
    /// `name` in directory `dir`, not followed (symlinks, FIFOs).
    At(BorrowedFd<'a>, &'a std::ffi::CStr),
}

impl Target<'_> {
    fn chown(self, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
        let uid = uid.map(Uid::from_raw);
        let gid = gid.map(Gid::from_raw);
        match self {
            Target::Fd(fd) => rustix::fs::fchown(fd, uid, gid)?,
            Target::At(dir, name) => {
                rustix::fs::chownat(dir, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW)?
            }
        }
        Ok(())
    }

    pub fn chmod(self, mode: u32) -> io::Result<()> {
        let mode = Mode::from_raw_mode(mode);
        match self {
            Target::Fd(fd) => rustix::fs::fchmod(fd, mode)?,
            Target::At(dir, name) => rustix::fs::chmodat(dir, name, mode, AtFlags::empty())?,
        }
        Ok(())
    }

    pub fn set_times(self, meta: &Meta) -> io::Result<()> {
        let ts = meta.timestamps();
        match self {
            Target::Fd(fd) => rustix::fs::futimens(fd, &ts)?,
            Target::At(dir, name) => {
                rustix::fs::utimensat(dir, name, &ts, AtFlags::SYMLINK_NOFOLLOW)?
            }
        }
        Ok(())
    }
}

/// Sets owner and group like `cp -a` would, degrading when not permitted.
/// Returns whether ownership was kept exactly. `fresh` says the entry was
/// just created by us in a directory tree without the setgid bit: it then
/// already belongs to (euid, egid) and a matching source needs no syscall.
pub(crate) fn apply_owner(
    id: &Identity,
    target: Target<'_>,
    meta: &Meta,
    nk: &NotKeptCounters,
    fresh: bool,
) -> io::Result<bool> {
    if fresh && meta.uid == id.euid && meta.gid == id.egid {
        return Ok(true);
    }
    if id.can_chown_any.load(Relaxed) {
        match target.chown(Some(meta.uid), Some(meta.gid)) {
            Ok(()) => return Ok(true),
            Err(e) if e.raw_os_error() == Some(Errno::PERM.raw_os_error()) => {
                id.can_chown_any.store(false, Relaxed);
            }
            Err(e) => return Err(e),
        }
    }
    // Not privileged: the copy belongs to us. The group can still be kept
    // when we are a member of it.
    let mut kept = meta.uid == id.euid;
    if meta.gid != id.egid || !kept || !fresh {
        if id.in_group(meta.gid) {
            if target.chown(None, Some(meta.gid)).is_err() {
                kept = false;
            }
        } else {
            kept = false;
        }
    }
    if !kept {
        nk.ownership.fetch_add(1, Relaxed);
    }
    Ok(kept)
}

/// The mode to give the copy: setuid/setgid are stripped when ownership
/// could not be kept (a setuid binary must not become setuid-as-someone-else).
pub(crate) fn effective_mode(meta: &Meta, owner_kept: bool, nk: &NotKeptCounters) -> u32 {
    let perm = meta.perm();
    if !owner_kept && perm & (S_ISUID | S_ISGID) != 0 {
        nk.setid_stripped.fetch_add(1, Relaxed);
        perm & !(S_ISUID | S_ISGID)
    } else {
        perm
    }
}

/// Copies every extended attribute from `src` to `dst` (both open fds).
/// Attributes that cannot be written (security.capability without
/// CAP_SETFCAP, trusted.* without CAP_SYS_ADMIN, a destination filesystem
/// without xattr support) are counted, never fatal: `cp -a` does the same.
pub(crate) fn copy_xattrs_fd(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    nk: &NotKeptCounters,
) -> io::Result<()> {
    let list = match list_fd(src) {
        Ok(l) => l,
        Err(e) if unsupported(&e) => return Ok(()),
        Err(e) => return Err(e),
    };
    if list.is_empty() {
        return Ok(());
    }
    for name in list.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let value = match get_fd(src, name) {
            Ok(v) => v,
            Err(e) if e.raw_os_error() == Some(Errno::NODATA.raw_os_error()) => continue,
            Err(e) => return Err(e),
        };
        if rustix::fs::fsetxattr(dst.as_fd(), name, &value, rustix::fs::XattrFlags::empty())
            .is_err()
        {
            note_xattr(name, nk);
        }
    }
    Ok(())
}

/// Extended attributes read in the scan for entries that are not opened in
/// the copy (directories, symlinks, FIFOs).
pub(crate) type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

pub(crate) fn read_xattrs_fd(fd: BorrowedFd<'_>) -> io::Result<Xattrs> {
    let list = match list_fd(fd) {
        Ok(l) => l,
        Err(e) if unsupported(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for name in list.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        match get_fd(fd, name) {
            Ok(v) => out.push((name.to_vec(), v)),
            Err(e) if e.raw_os_error() == Some(Errno::NODATA.raw_os_error()) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// For symlinks and FIFOs, which cannot be opened for xattr calls: the
/// `l*xattr` calls on `/proc/self/fd/DIRFD/NAME` reach the entry without
/// following it and without a path length limit. Without /proc, nothing is
/// read (cp -a would copy them; such xattrs are very rare).
pub(crate) fn read_xattrs_at(dir: BorrowedFd<'_>, name: &std::ffi::CStr) -> Xattrs {
    let Some(path) = proc_path(dir, name) else {
        return Vec::new();
    };
    let mut buf = vec![0u8; 4096];
    let Ok(n) = rustix::fs::llistxattr(&path, &mut buf[..]) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for xname in buf[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let mut v = vec![0u8; 65536];
        if let Ok(len) = rustix::fs::lgetxattr(&path, xname, &mut v[..]) {
            v.truncate(len);
            out.push((xname.to_vec(), v));
        }
    }
    out
}

pub(crate) fn write_xattrs(target: Target<'_>, xattrs: &Xattrs, nk: &NotKeptCounters) {
    for (name, value) in xattrs {
        let r = match target {
            Target::Fd(fd) => {
                rustix::fs::fsetxattr(fd, name.as_slice(), value, rustix::fs::XattrFlags::empty())
            }
            Target::At(dir, n) => match proc_path(dir, n) {
                Some(p) => rustix::fs::lsetxattr(
                    &p,
                    name.as_slice(),
                    value,
                    rustix::fs::XattrFlags::empty(),
                ),
                None => Err(Errno::NOENT),
            },
        };
        if r.is_err() {
            note_xattr(name, nk);
        }
    }
}

fn proc_path(dir: BorrowedFd<'_>, name: &std::ffi::CStr) -> Option<std::ffi::CString> {
    use std::os::fd::AsRawFd;
    let mut p = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    p.extend_from_slice(name.to_bytes());
    std::ffi::CString::new(p).ok()
}

fn note_xattr(name: &[u8], nk: &NotKeptCounters) {
    nk.xattrs.fetch_add(1, Relaxed);
    if let Ok(mut names) = nk.xattr_names.lock()
        && names.len() < 8
    {
        names.insert(String::from_utf8_lossy(name).into_owned());
    }
}

fn unsupported(e: &io::Error) -> bool {
    let code = e.raw_os_error();
    code == Some(Errno::OPNOTSUPP.raw_os_error()) || code == Some(Errno::NOSYS.raw_os_error())
}

fn list_fd(fd: BorrowedFd<'_>) -> io::Result<Vec<u8>> {
    let mut buf = [0u8; 1024];
    match rustix::fs::flistxattr(fd, &mut buf[..]) {
        Ok(n) => Ok(buf[..n].to_vec()),
        Err(Errno::RANGE) => {
            let len = rustix::fs::flistxattr_query(fd)?;
            let mut v = vec![0u8; len];
            let n = rustix::fs::flistxattr(fd, &mut v[..])?;
            v.truncate(n);
            Ok(v)
        }
        Err(e) => Err(e.into()),
    }
}

fn get_fd(fd: BorrowedFd<'_>, name: &[u8]) -> io::Result<Vec<u8>> {
    let mut buf = [0u8; 1024];
    match rustix::fs::fgetxattr(fd, name, &mut buf[..]) {
        Ok(n) => Ok(buf[..n].to_vec()),
        Err(Errno::RANGE) => {
            let len = rustix::fs::fgetxattr_query(fd, name)?;
            let mut v = vec![0u8; len];
            let n = rustix::fs::fgetxattr(fd, name, &mut v[..])?;
            v.truncate(n);
            Ok(v)
        }
        Err(e) => Err(e.into()),
    }
}
