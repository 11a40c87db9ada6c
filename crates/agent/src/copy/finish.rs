//! Passes 2 and 3 of the copy: hard links, then directories' metadata
//! (each after its subdirectories, on the job pool), then the destination
//! root's.

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{AcqRel, Relaxed};

use rustix::fs::{AtFlags, Mode};

use crate::error::{AgentError, IoContext};
use crate::meta::{Meta, Target, apply_owner, effective_mode, write_xattrs};
use crate::tree::{DIR_FLAGS, DirNode, Entry, Kind, rel_path};

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

/// A directory of DST opened by pass 3, waiting for its subdirectories.
struct OpenDir<'t> {
    fd: OwnedFd,
    /// Its entry and contents (`None`: the destination root, see
    /// [`finalize_root`]).
    entry: Option<(&'t Entry, &'t DirNode)>,
    /// Path components from the root (for error messages).
    rel: Vec<CString>,
    parent: Option<Arc<OpenDir<'t>>>,
    /// Subdirectories not finished yet, plus one while its own job runs.
    pending: AtomicUsize,
}

/// Pass 3: owner, mode, xattrs and times of every directory, each after
/// all of its subdirectories (a mode without search or write permission is
/// set after the directories below it are done), on the job pool. Nothing
/// creates or removes entries any more, so apart from that order the
/// directories are independent: they are done by `threads` workers (this
/// pass was a tail run on one CPU, ~4 % of a 12,000-file copy on tmpfs). A
/// job opens one directory, queues its subdirectories; the last one of a
/// directory to finish (or the job itself, without any) finishes it, then
/// its parent the same way. Descriptors open: the directories with a
/// subtree in progress.
pub(super) fn finalize_dirs(
    ctx: &CopyCtx<'_>,
    dst: BorrowedFd<'_>,
    root: &DirNode,
    threads: usize,
) -> Result<(), AgentError> {
    let fd = rustix::io::dup(dst).ctx("dup", || ctx.dst_root.to_path_buf())?;
    let top = Arc::new(OpenDir {
        fd,
        entry: None,
        rel: Vec::new(),
        parent: None,
        pending: AtomicUsize::new(1),
    });
    let jobs: Vec<_> = subdirs(root).map(|e| (top.clone(), e)).collect();
    top.pending.fetch_add(jobs.len(), AcqRel);
    release(ctx, top)?;
    crate::pool::run(
        threads,
        jobs,
        || (),
        |(), (parent, (e, sub)): (Arc<OpenDir<'_>>, (&Entry, &DirNode)), out| {
            let name: &CStr = e.name.as_c_str();
            let fd = rustix::fs::openat(&parent.fd, name, DIR_FLAGS, Mode::empty())
                .ctx("open directory", || {
                    rel_path(ctx.dst_root, &parent.rel, Some(name))
                })?;
            let mut rel = parent.rel.clone();
            rel.push(e.name.clone());
            let dir = Arc::new(OpenDir {
                fd,
                entry: Some((e, sub)),
                rel,
                parent: Some(parent),
                pending: AtomicUsize::new(1),
            });
            for child in subdirs(sub) {
                dir.pending.fetch_add(1, AcqRel);
                out.push((dir.clone(), child));
            }
            release(ctx, dir)
        },
    )
}

/// The subdirectories of `node`: their entries and contents.
fn subdirs(node: &DirNode) -> impl Iterator<Item = (&Entry, &DirNode)> {
    node.children.iter().filter_map(|e| match &e.kind {
        Kind::Dir(sub) => Some((e, sub)),
        _ => None,
    })
}

/// One subdirectory of `dir` (or its own job) is done: the last one
/// finishes `dir`, then releases its parent.
fn release(ctx: &CopyCtx<'_>, dir: Arc<OpenDir<'_>>) -> Result<(), AgentError> {
    let mut cur = dir;
    loop {
        if cur.pending.fetch_sub(1, AcqRel) != 1 {
            return Ok(());
        }
        let (Some((e, sub)), Some(parent)) = (cur.entry, cur.parent.clone()) else {
            return Ok(());
        };
        finish_dir(ctx, cur.fd.as_fd(), e, sub, &cur.rel)?;
        cur = parent;
    }
}

/// Owner, mode, xattrs and times of one directory (open as `fd`).
fn finish_dir(
    ctx: &CopyCtx<'_>,
    fd: BorrowedFd<'_>,
    e: &Entry,
    sub: &DirNode,
    rel: &[CString],
) -> Result<(), AgentError> {
    let path = || rel_path(ctx.dst_root, rel, None);
    let t = Target::Fd(fd);
    let kept = apply_owner(ctx.id, t, &e.meta, ctx.nk, ctx.fresh).ctx("set owner of", path)?;
    let mode = effective_mode(&e.meta, kept, ctx.nk);
    if mode != initial_dir_mode(ctx, &e.meta) {
        t.chmod(mode).ctx("set mode of", path)?;
    }
    write_xattrs(t, &sub.xattrs, ctx.nk);
    t.set_times(&e.meta).ctx("set times of", path)
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
