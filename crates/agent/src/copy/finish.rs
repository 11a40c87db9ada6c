//! Passes 2 and 3 of the copy: hard links, then directories' metadata
//! (children first), then the destination root's.

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering::Relaxed;

use rustix::fs::{AtFlags, Mode};

use crate::error::{AgentError, IoContext};
use crate::meta::{Meta, Target, apply_owner, effective_mode, write_xattrs};
use crate::tree::{DIR_FLAGS, DirNode, Kind, rel_path};

use super::ctx::{CopyCtx, initial_dir_mode};

/// Pass 2: each later name of an inode becomes a hard link to the copied
/// first name.
pub(super) fn link_pass(
    ctx: &CopyCtx<'_>,
    root: BorrowedFd<'_>,
    dir: BorrowedFd<'_>,
    node: &DirNode,
    rel: &mut Vec<CString>,
) -> Result<(), AgentError> {
    for e in &node.children {
        match &e.kind {
            Kind::HardLink { first } => {
                let name = e.name.as_c_str();
                let Some((first_name, first_dirs)) = first.split_last() else {
                    continue;
                };
                let opened = open_rel(ctx, root, first_dirs)?;
                let from = opened.as_ref().map_or(root, |f| f.as_fd());
                rustix::fs::linkat(from, first_name.as_c_str(), dir, name, AtFlags::empty()).ctx(
                    "create hard link",
                    || {
                        let mut p = rel_path(ctx.dst_root, rel, Some(name)).into_os_string();
                        p.push(" (to ");
                        p.push(rel_path(ctx.dst_root, first, None));
                        p.push(")");
                        p.into()
                    },
                )?;
            }
            Kind::Dir(sub) if sub.has_links => {
                let name = e.name.as_c_str();
                let fd = rustix::fs::openat(dir, name, DIR_FLAGS, Mode::empty())
                    .ctx("open directory", || rel_path(ctx.dst_root, rel, Some(name)))?;
                rel.push(e.name.clone());
                let r = link_pass(ctx, root, fd.as_fd(), sub, rel);
                rel.pop();
                r?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Opens `comps` below the destination root, one `openat` per component
/// (`None`: the root itself).
fn open_rel(
    ctx: &CopyCtx<'_>,
    root: BorrowedFd<'_>,
    comps: &[CString],
) -> Result<Option<OwnedFd>, AgentError> {
    let mut cur: Option<OwnedFd> = None;
    for (i, c) in comps.iter().enumerate() {
        let parent = cur.as_ref().map_or(root, |f| f.as_fd());
        let next = rustix::fs::openat(parent, c.as_c_str(), DIR_FLAGS, Mode::empty())
            .ctx("open directory", || {
                rel_path(ctx.dst_root, &comps[..=i], None)
            })?;
        cur = Some(next);
    }
    Ok(cur)
}

/// Pass 3: owner, mode, xattrs and times of every directory, children first.
pub(super) fn finalize_dirs(
    ctx: &CopyCtx<'_>,
    dir: BorrowedFd<'_>,
    node: &DirNode,
    rel: &mut Vec<CString>,
) -> Result<(), AgentError> {
    for e in &node.children {
        let Kind::Dir(sub) = &e.kind else { continue };
        let name: &CStr = e.name.as_c_str();
        let fd = rustix::fs::openat(dir, name, DIR_FLAGS, Mode::empty())
            .ctx("open directory", || rel_path(ctx.dst_root, rel, Some(name)))?;
        rel.push(e.name.clone());
        let r = finalize_dirs(ctx, fd.as_fd(), sub, rel);
        let path = || rel_path(ctx.dst_root, rel, None);
        let r = r.and_then(|()| {
            let t = Target::Fd(fd.as_fd());
            let kept =
                apply_owner(ctx.id, t, &e.meta, ctx.nk, ctx.fresh).ctx("set owner of", path)?;
            let mode = effective_mode(&e.meta, kept, ctx.nk);
            if mode != initial_dir_mode(ctx, &e.meta) {
                t.chmod(mode).ctx("set mode of", path)?;
            }
            write_xattrs(t, &sub.xattrs, ctx.nk);
            t.set_times(&e.meta).ctx("set times of", path)
        });
        rel.pop();
        r?;
    }
    Ok(())
}

/// The destination root is the emptyDir mount point: it gets the source
/// directory's owner, mode, xattrs and times where permitted (the volume
/// root may belong to root); failures there are reported, not fatal.
pub(super) fn finalize_root(
    ctx: &CopyCtx<'_>,
    dst: BorrowedFd<'_>,
    node: &DirNode,
    meta: &Meta,
) -> Result<(), AgentError> {
    let t = Target::Fd(dst);
    let kept = apply_owner(ctx.id, t, meta, ctx.nk, false).unwrap_or(false);
    let mode = effective_mode(meta, kept, ctx.nk);
    if t.chmod(mode).is_err() {
        ctx.nk.root_mode.store(true, Relaxed);
    }
    write_xattrs(t, &node.xattrs, ctx.nk);
    if t.set_times(meta).is_err() {
        ctx.nk.root_mode.store(true, Relaxed);
    }
    Ok(())
}
