//! The copy, from the scanned tree, in three passes:
//!
//! 1. In parallel ([`crate::pool`]: a LIFO job stack): create the
//!    directories (with their final mode when that lets us fill them, else
//!    0700 until pass 3), copy regular files (`copy_file_range`, falling
//!    back to `sendfile` then read/write; holes of sparse files kept with
//!    SEEK_DATA/SEEK_HOLE), create symlinks and FIFOs, each with its owner,
//!    mode, xattrs and times.
//! 2. Hard links: `linkat` to the copied first name of each inode.
//! 3. Directories, children before parents: owner, mode, xattrs, times —
//!    after their contents, so a read-only directory could be filled and its
//!    mtime is not disturbed by the entries created in it.
//!
//! Workers address everything through directory fds (`openat`, `mkdirat`,
//! `*at`), never through long paths.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, SeekFrom};
use rustix::io::Errno;

use crate::error::{AgentError, IoContext};
use crate::meta::{
    Identity, Meta, NotKeptCounters, S_ISGID, S_ISUID, Target, apply_owner, copy_xattrs_fd,
    effective_mode, write_xattrs,
};
use crate::tree::{DIR_FLAGS, DirNode, Entry, Kind, rel_path};

/// Entries per job. Creating files takes the directory's lock, so workers
/// do best in different directories: a job is usually a whole directory
/// (measured on 50k files in dirs of 100: 32 per job 504 ms, 1024 per job
/// 366 ms). Only huge flat directories are split across workers.
const CHUNK: usize = 1024;
/// A job also ends once its files hold this many bytes, so that large files
/// in one directory are copied by several workers at once.
const CHUNK_BYTES: u64 = 16 << 20;

pub(crate) struct CopyCtx<'a> {
    pub src_root: &'a Path,
    pub dst_root: &'a Path,
    pub id: &'a Identity,
    pub nk: &'a NotKeptCounters,
    /// Test hook: abort the process after this many files (crash tests).
    pub fault_after_files: Option<u64>,
    pub files_done: AtomicU64,
    pub bytes_done: AtomicU64,
    /// DST has no setgid bit: what we create belongs to (euid, egid).
    pub fresh: bool,
    /// `copy_file_range` refused (different filesystems): use `sendfile`.
    no_cfr: AtomicBool,
    no_sendfile: AtomicBool,
    /// `O_NOATIME` refused (not the owner, no CAP_FOWNER): open without it.
    no_noatime: AtomicBool,
}

impl<'a> CopyCtx<'a> {
    pub fn new(
        src_root: &'a Path,
        dst_root: &'a Path,
        id: &'a Identity,
        nk: &'a NotKeptCounters,
        fault_after_files: Option<u64>,
        dst_setgid: bool,
    ) -> Self {
        CopyCtx {
            src_root,
            dst_root,
            id,
            nk,
            fault_after_files,
            fresh: !dst_setgid,
            files_done: AtomicU64::new(0),
            bytes_done: AtomicU64::new(0),
            no_cfr: AtomicBool::new(false),
            no_sendfile: AtomicBool::new(false),
            no_noatime: AtomicBool::new(false),
        }
    }
}

/// A directory being filled: its fds and where it is, for messages.
struct DirRef {
    src: OwnedFd,
    dst: OwnedFd,
    rel: Vec<CString>,
}

enum Job<'t> {
    /// Create and fill the directory `entry` inside `parent`.
    Dir {
        parent: Arc<DirRef>,
        entry: &'t Entry,
        node: &'t DirNode,
    },
    /// Copy these non-directory entries of `dir`.
    Entries {
        dir: Arc<DirRef>,
        entries: &'t [Entry],
    },
}

/// Pass 1 then 2 then 3 over the tree, into `dst_fd` (the destination root).
pub(crate) fn copy_tree(
    ctx: &CopyCtx<'_>,
    root: &DirNode,
    root_meta: &Meta,
    src_fd: OwnedFd,
    dst_fd: OwnedFd,
    threads: usize,
) -> Result<(), AgentError> {
    let root_ref = Arc::new(DirRef {
        src: src_fd,
        dst: dst_fd,
        rel: Vec::new(),
    });
    let mut jobs = Vec::new();
    push_children(&mut jobs, &root_ref, root);
    crate::pool::run(threads, jobs, Vec::new, |buf, job, out| {
        run_job(ctx, job, out, buf)
    })?;
    let dst_fd = root_ref.dst.as_fd();
    if root.has_links {
        link_pass(ctx, dst_fd, dst_fd, root, &mut Vec::new())?;
    }
    finalize_dirs(ctx, dst_fd, root, &mut Vec::new())?;
    finalize_root(ctx, dst_fd, root, root_meta)
}

fn push_children<'t>(jobs: &mut Vec<Job<'t>>, dir: &Arc<DirRef>, node: &'t DirNode) {
    // Non-directories in chunks, directories one job each. Pushed first,
    // popped last: files of a directory are copied before its subtrees are
    // opened, which keeps the number of open directory fds low.
    let mut start = None;
    let children = &node.children;
    let flush = |jobs: &mut Vec<Job<'t>>, from: usize, to: usize| {
        let mut start = from;
        let mut bytes = 0u64;
        for i in from..to {
            if let Kind::File = children[i].kind {
                bytes += children[i].meta.size;
            }
            if i + 1 - start >= CHUNK || bytes >= CHUNK_BYTES || i + 1 == to {
                jobs.push(Job::Entries {
                    dir: dir.clone(),
                    entries: &children[start..=i],
                });
                start = i + 1;
                bytes = 0;
            }
        }
    };
    for (i, e) in children.iter().enumerate() {
        if let Kind::Dir(sub) = &e.kind {
            if let Some(from) = start.take() {
                flush(jobs, from, i);
            }
            jobs.push(Job::Dir {
                parent: dir.clone(),
                entry: e,
                node: sub,
            });
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(from) = start {
        flush(jobs, from, children.len());
    }
}

fn run_job<'t>(
    ctx: &CopyCtx<'_>,
    job: Job<'t>,
    out: &mut Vec<Job<'t>>,
    buf: &mut Vec<u8>,
) -> Result<(), AgentError> {
    match job {
        Job::Dir {
            parent,
            entry,
            node,
        } => {
            let name = entry.name.as_c_str();
            let dst_path = || rel_path(ctx.dst_root, &parent.rel, Some(name));
            rustix::fs::mkdirat(
                parent.dst.as_fd(),
                name,
                Mode::from_raw_mode(initial_dir_mode(ctx, &entry.meta)),
            )
            .ctx("create directory", dst_path)?;
            let dst = rustix::fs::openat(parent.dst.as_fd(), name, DIR_FLAGS, Mode::empty())
                .ctx("open directory", dst_path)?;
            let src = rustix::fs::openat(parent.src.as_fd(), name, DIR_FLAGS, Mode::empty())
                .ctx("open directory", || {
                    rel_path(ctx.src_root, &parent.rel, Some(name))
                })?;
            let mut rel = parent.rel.clone();
            rel.push(entry.name.clone());
            let dir = Arc::new(DirRef { src, dst, rel });
            push_children(out, &dir, node);
            Ok(())
        }
        Job::Entries { dir, entries } => {
            for e in entries {
                copy_entry(ctx, &dir, e, buf)?;
            }
            Ok(())
        }
    }
}

fn copy_entry(
    ctx: &CopyCtx<'_>,
    dir: &DirRef,
    e: &Entry,
    buf: &mut Vec<u8>,
) -> Result<(), AgentError> {
    let name = e.name.as_c_str();
    let (sfd, dfd) = (dir.src.as_fd(), dir.dst.as_fd());
    let src_path = || rel_path(ctx.src_root, &dir.rel, Some(name));
    let dst_path = || rel_path(ctx.dst_root, &dir.rel, Some(name));
    match &e.kind {
        Kind::File => {
            let s = open_source(ctx, sfd, name).ctx("open", src_path)?;
            // The permission bits at creation (the process umask is 0):
            // most files then need no chmod at all.
            let d = rustix::fs::openat(
                dfd,
                name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
                Mode::from_raw_mode(e.meta.mode & 0o777),
            )
            .ctx("create", dst_path)?;
            if let Some(limit) = ctx.fault_after_files
                && ctx.files_done.load(Relaxed) >= limit
            {
                // Leave a truncated file behind, as a crash mid-copy would.
                let _ = rustix::io::write(&d, b"partial");
                eprintln!("rofs seed: ROFS_AGENT_FAULT_AFTER_FILES={limit}: aborting (test hook)");
                std::process::abort();
            }
            let n = copy_data(ctx, s.as_fd(), d.as_fd(), &e.meta, buf).ctx("copy", || {
                format!("{} -> {}", src_path().display(), dst_path().display()).into()
            })?;
            ctx.bytes_done.fetch_add(n, Relaxed);
            let kept = apply_owner(ctx.id, Target::Fd(d.as_fd()), &e.meta, ctx.nk, ctx.fresh)
                .ctx("set owner of", dst_path)?;
            let mode = effective_mode(&e.meta, kept, ctx.nk);
            if mode != e.meta.mode & 0o777 {
                Target::Fd(d.as_fd())
                    .chmod(mode)
                    .ctx("set mode of", dst_path)?;
            }
            copy_xattrs_fd(s.as_fd(), d.as_fd(), ctx.nk).ctx("copy xattrs of", src_path)?;
            Target::Fd(d.as_fd())
                .set_times(&e.meta)
                .ctx("set times of", dst_path)?;
            ctx.files_done.fetch_add(1, Relaxed);
        }
        Kind::Symlink { xattrs } => {
            let target =
                rustix::fs::readlinkat(sfd, name, Vec::new()).ctx("read link", src_path)?;
            rustix::fs::symlinkat(target.as_c_str(), dfd, name).ctx("create symlink", dst_path)?;
            let t = Target::At(dfd, name);
            apply_owner(ctx.id, t, &e.meta, ctx.nk, ctx.fresh).ctx("set owner of", dst_path)?;
            write_xattrs(t, xattrs, ctx.nk);
            t.set_times(&e.meta).ctx("set times of", dst_path)?;
        }
        Kind::Fifo { xattrs } => {
            rustix::fs::mknodat(
                dfd,
                name,
                FileType::Fifo,
                Mode::from_raw_mode(e.meta.mode & 0o777),
                0,
            )
            .ctx("create fifo", dst_path)?;
            let t = Target::At(dfd, name);
            let kept =
                apply_owner(ctx.id, t, &e.meta, ctx.nk, ctx.fresh).ctx("set owner of", dst_path)?;
            let mode = effective_mode(&e.meta, kept, ctx.nk);
            if mode != e.meta.mode & 0o777 {
                t.chmod(mode).ctx("set mode of", dst_path)?;
            }
            write_xattrs(t, xattrs, ctx.nk);
            t.set_times(&e.meta).ctx("set times of", dst_path)?;
        }
        Kind::HardLink { .. } | Kind::Skipped | Kind::Dir(_) => {}
    }
    Ok(())
}

/// Opens a source file for reading. With `O_NOATIME` where permitted (root,
/// or the file's owner): reading then does not write the source's atime,
/// which on an image's disk-backed layer (extracted with atime <= mtime, so
/// relatime updates it on the first read) would dirty every inode we copy.
/// The copy's atime is the one scanned before reading, as with `cp -a`.
fn open_source(ctx: &CopyCtx<'_>, dir: BorrowedFd<'_>, name: &CStr) -> Result<OwnedFd, Errno> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY;
    if !ctx.no_noatime.load(Relaxed) {
        match rustix::fs::openat(dir, name, flags | OFlags::NOATIME, Mode::empty()) {
            Err(Errno::PERM) => {
                // Not our file: try without, and stop asking once that
                // works (the tree usually has one owner).
                let r = rustix::fs::openat(dir, name, flags, Mode::empty());
                if r.is_ok() {
                    ctx.no_noatime.store(true, Relaxed);
                }
                return r;
            }
            r => return r,
        }
    }
    rustix::fs::openat(dir, name, flags, Mode::empty())
}

/// Copies the contents; returns the number of bytes copied.
fn copy_data(
    ctx: &CopyCtx<'_>,
    s: BorrowedFd<'_>,
    d: BorrowedFd<'_>,
    meta: &Meta,
    buf: &mut Vec<u8>,
) -> io::Result<u64> {
    let size = meta.size;
    if size == 0 {
        return Ok(0);
    }
    // Sparse: fewer blocks allocated than the size needs. Copy only the data
    // extents; the holes stay holes.
    if meta.blocks * 512 < size && size > 8192 {
        rustix::fs::ftruncate(d, size)?;
        let mut pos = 0u64;
        let mut total = 0u64;
        while pos < size {
            let data = match rustix::fs::seek(s, SeekFrom::Data(pos)) {
                Ok(o) => o,
                Err(Errno::NXIO) => break,
                Err(e) => return Err(e.into()),
            };
            let hole = match rustix::fs::seek(s, SeekFrom::Hole(data)) {
                Ok(o) => o.min(size),
                Err(e) => return Err(e.into()),
            };
            if hole <= data {
                break;
            }
            total += copy_range(ctx, s, d, data, hole - data, buf)?;
            pos = hole;
        }
        return Ok(total);
    }
    let n = copy_range(ctx, s, d, 0, size, buf)?;
    if n < size {
        // The source shrank while we copied: keep what was read.
        rustix::fs::ftruncate(d, n)?;
    }
    Ok(n)
}

/// Copies `len` bytes at offset `off` of `s` to the same offset of `d`.
fn copy_range(
    ctx: &CopyCtx<'_>,
    s: BorrowedFd<'_>,
    d: BorrowedFd<'_>,
    off: u64,
    len: u64,
    buf: &mut Vec<u8>,
) -> io::Result<u64> {
    let mut done = 0u64;
    if !ctx.no_cfr.load(Relaxed) {
        while done < len {
            let mut off_in = off + done;
            let mut off_out = off + done;
            let want = (len - done).min(1 << 30) as usize;
            match rustix::fs::copy_file_range(s, Some(&mut off_in), d, Some(&mut off_out), want) {
                Ok(0) => return Ok(done),
                Ok(n) => done += n as u64,
                Err(e) if done == 0 && cfr_unsupported(e) => {
                    ctx.no_cfr.store(true, Relaxed);
                    break;
                }
                Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if done >= len {
            return Ok(done);
        }
    }
    if !ctx.no_sendfile.load(Relaxed) {
        // sendfile writes at the output's file offset (0 in a new file).
        if off + done != 0 {
            rustix::fs::seek(d, SeekFrom::Start(off + done))?;
        }
        while done < len {
            let mut off_in = off + done;
            let want = (len - done).min(1 << 30) as usize;
            match rustix::fs::sendfile(d, s, Some(&mut off_in), want) {
                Ok(0) => return Ok(done),
                Ok(n) => done += n as u64,
                Err(e) if done == 0 && cfr_unsupported(e) => {
                    ctx.no_sendfile.store(true, Relaxed);
                    break;
                }
                Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if done >= len {
            return Ok(done);
        }
    }
    if buf.is_empty() {
        buf.resize(256 * 1024, 0);
    }
    while done < len {
        let want = ((len - done) as usize).min(buf.len());
        let n = match rustix::io::pread(s, &mut buf[..want], off + done) {
            Ok(0) => return Ok(done),
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        };
        let mut w = 0;
        while w < n {
            match rustix::io::pwrite(d, &buf[w..n], off + done + w as u64) {
                Ok(m) => w += m,
                Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        done += n as u64;
    }
    Ok(done)
}

fn cfr_unsupported(e: Errno) -> bool {
    matches!(
        e,
        Errno::XDEV | Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP | Errno::BADF | Errno::PERM
    )
}

/// The mode a directory is created with (the umask is 0). Its final mode
/// when that leaves it writable and searchable by us (`rwx` for the owner)
/// and has no setuid/setgid bit (stripped or not depending on ownership,
/// and setgid would pass on to its children while we fill it), in a tree
/// without an inherited setgid bit: no `chmod` later. Otherwise `0700`,
/// and the final mode is set after its contents.
fn initial_dir_mode(ctx: &CopyCtx<'_>, meta: &Meta) -> u32 {
    let perm = meta.perm();
    if ctx.fresh && perm & 0o700 == 0o700 && perm & (S_ISUID | S_ISGID) == 0 {
        perm
    } else {
        0o700
    }
}

/// Pass 2: each later name of an inode becomes a hard link to the copied
/// first name.
fn link_pass(
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
fn finalize_dirs(
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
fn finalize_root(
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
