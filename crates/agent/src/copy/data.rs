//! File contents: `copy_file_range`, then `sendfile`, then read/write;
//! holes of sparse files kept with SEEK_DATA/SEEK_HOLE.

use std::ffi::CStr;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering::Relaxed;

use rustix::fs::{Mode, OFlags, SeekFrom};
use rustix::io::Errno;

use crate::meta::Meta;

use super::ctx::CopyCtx;

/// Opens a source file for reading. With `O_NOATIME` where permitted (root,
/// or the file's owner): reading then does not write the source's atime,
/// which on an image's disk-backed layer (extracted with atime <= mtime, so
/// relatime updates it on the first read) would dirty every inode we copy.
/// The copy's atime is the one scanned before reading, as with `cp -a`.
pub(super) fn open_source(
    ctx: &CopyCtx<'_>,
    dir: BorrowedFd<'_>,
    name: &CStr,
) -> Result<OwnedFd, Errno> {
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
pub(super) fn copy_data(
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
