//! The copy, in three passes:
//!
//! 1. In parallel ([`crate::pool`]: a LIFO job stack), scanning as it goes
//!    ([`stream`]: each directory is listed and stat'ed, its entries are
//!    reserved against DST's free space, then created): create the
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

mod ctx;
mod data;
mod finish;
mod stream;

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use rustix::fs::{FileType, Mode, OFlags};

use crate::error::{AgentError, IoContext};
use crate::meta::{Target, apply_owner, copy_xattrs_fd, effective_mode, write_xattrs};
use crate::tree::{Entry, Kind, rel_path};

pub(crate) use ctx::CopyCtx;
use data::{copy_data, open_source};
pub(crate) use stream::{Budget, copy_streamed};

/// Entries per job. Creating files takes the directory's lock, so workers
/// do best in different directories: a job is usually a whole directory
/// (measured on 50k files in dirs of 100: 32 per job 504 ms, 1024 per job
/// 366 ms). Only huge flat directories are split across workers.
const CHUNK: usize = 1024;
/// A job also ends once its files hold this many bytes, so that large files
/// in one directory are copied by several workers at once.
const CHUNK_BYTES: u64 = 16 << 20;

/// A directory being filled: its fds and where it is, for messages.
struct DirRef {
    src: Arc<OwnedFd>,
    dst: OwnedFd,
    rel: Vec<CString>,
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
