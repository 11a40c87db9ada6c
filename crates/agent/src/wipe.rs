//! Removing what an interrupted seed left in DST (the contents, never DST
//! itself: it is a mount point). Works through directory fds, so depth and
//! path length do not matter, and makes read-only directories (a copied
//! `0555` directory) writable first: we own what we copied.

use std::ffi::CString;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode};
use rustix::io::Errno;

use crate::error::{AgentError, IoContext};
use crate::tree::{DIR_FLAGS, rel_path};

fn reopen(dir: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(dir, c".", DIR_FLAGS, Mode::empty())?)
}

fn entries(dir: BorrowedFd<'_>) -> io::Result<Vec<(CString, FileType)>> {
    let fd = reopen(dir)?;
    let mut buf = vec![MaybeUninit::<u8>::uninit(); 32 * 1024];
    let mut rd = rustix::fs::RawDir::new(fd, &mut buf);
    let mut out = Vec::new();
    while let Some(ent) = rd.next() {
        let ent = ent?;
        let name = ent.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        out.push((name.to_owned(), ent.file_type()));
    }
    Ok(out)
}

/// True when `dir` has no entries besides those named in `ignore`.
pub(crate) fn is_empty(dir: BorrowedFd<'_>, ignore: &[&[u8]]) -> io::Result<bool> {
    Ok(entries(dir)?
        .iter()
        .all(|(n, _)| ignore.contains(&n.to_bytes())))
}

/// Removes everything inside `dir`.
pub(crate) fn wipe_contents(dir: BorrowedFd<'_>, path: &Path) -> Result<(), AgentError> {
    wipe(dir, path, &mut Vec::new())
}

fn wipe(dir: BorrowedFd<'_>, root: &Path, rel: &mut Vec<CString>) -> Result<(), AgentError> {
    let list = entries(dir).ctx("read directory", || rel_path(root, rel, None))?;
    let mut made_writable = false;
    for (name, ftype) in list {
        let is_dir = match ftype {
            FileType::Directory => true,
            FileType::Unknown => rustix::fs::statat(dir, &name, AtFlags::SYMLINK_NOFOLLOW)
                .map(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory)
                .ctx("stat", || rel_path(root, rel, Some(&name)))?,
            _ => false,
        };
        if is_dir {
            let sub = rustix::fs::openat(dir, &name, DIR_FLAGS, Mode::empty())
                .ctx("open directory", || rel_path(root, rel, Some(&name)))?;
            let _ = rustix::fs::fchmod(&sub, Mode::from_raw_mode(0o700));
            rel.push(name.clone());
            let r = wipe(sub.as_fd(), root, rel);
            rel.pop();
            r?;
        }
        let flags = if is_dir {
            AtFlags::REMOVEDIR
        } else {
            AtFlags::empty()
        };
        match rustix::fs::unlinkat(dir, &name, flags) {
            Ok(()) => {}
            Err(Errno::ACCESS | Errno::PERM) if !made_writable => {
                made_writable = true;
                let _ = rustix::fs::fchmod(dir, Mode::from_raw_mode(0o700));
                rustix::fs::unlinkat(dir, &name, flags)
                    .ctx("remove", || rel_path(root, rel, Some(&name)))?;
            }
            Err(e) => return Err(e).ctx("remove", || rel_path(root, rel, Some(&name))),
        }
    }
    Ok(())
}
