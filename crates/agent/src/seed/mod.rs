//! `seed`: copy each SRC into its DST exactly once per pod, safely.
//!
//! Per pair (see docs/seed.md for the whole story), each step a function of
//! [`seed_pair`]:
//!
//! 0. Lock DST ([`markers::open_and_lock`]): one seed of a DST at a time.
//! 1. Done marker present → skip, never touch DST (the app may have written
//!    there already).
//! 2. DST not empty: it holds the remains of an interrupted seed (the started
//!    marker says so) → wipe DST's contents. A non-empty DST that rofs never
//!    started to seed is refused unless `--force`: rofs does not delete data
//!    it did not write ([`prepare_dst`]).
//! 3. Copy (see [`crate::copy`]), scanning as it goes (one `stat` per
//!    entry): each directory's entries are reserved against DST's free space
//!    and inodes, measured before the copy, before any of them is created
//!    ([`copy_source`]). A tree that does not fit stops at the first
//!    directory that would go over, or at the filesystem's own ENOSPC, and
//!    what was copied is removed: DST is left empty, and a scan of SRC
//!    ([`scan_source`]) gives the exact size in the error.
//! 4. `syncfs`, then write the done marker durably and remove the started
//!    marker.

mod markers;
mod report;

use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::copy::{Budget, CopyCtx, copy_streamed};
use crate::error::{AgentError, IoContext, human};
use crate::meta::{Identity, Meta, NotKeptCounters};
use crate::tree::{Estimate, Totals};
pub use markers::{DEFAULT_DONE_MARKER, DEFAULT_STARTED_MARKER, marker_id};
use markers::{Markers, TMPFS_MAGIC};
pub use report::{NotKept, Outcome, PairReport, PairStats, SeedReport};

/// Environment variable of the crash-test hook: abort after N files.
pub const FAULT_ENV: &str = "ROFS_AGENT_FAULT_AFTER_FILES";

/// What to seed and how.
#[derive(Debug, Clone, Default)]
pub struct SeedOptions {
    /// (SRC, DST) pairs, copied in order.
    pub pairs: Vec<(PathBuf, PathBuf)>,
    /// Where completion markers live (a directory the app does not see).
    /// `None`: markers inside DST, named [`DEFAULT_DONE_MARKER`].
    pub state_dir: Option<PathBuf>,
    /// Where the markers of a disk-backed DST live (a small disk volume that
    /// survives a node reboot with DST). `None`: with the others, in
    /// `state_dir`. A memory-backed DST (tmpfs, ramfs) keeps its markers in
    /// `state_dir`: both are empty after a reboot.
    pub durable_state_dir: Option<PathBuf>,
    /// Re-seed even when the done marker says a pair is complete, and replace
    /// a non-empty DST that rofs did not start to seed.
    pub force: bool,
    /// Copy threads; 0 picks from the CPUs available.
    pub threads: usize,
    /// Print the per-pair log lines on stderr.
    pub log: bool,
}

fn log(opts: &SeedOptions, msg: std::fmt::Arguments<'_>) {
    if opts.log {
        let mut err = io::stderr().lock();
        let _ = writeln!(err, "rofs seed: {msg}");
    }
}

/// Seeds every pair in order; stops at the first error.
pub fn run(opts: &SeedOptions) -> Result<SeedReport, AgentError> {
    // Files are created with their final permission bits: no umask.
    rustix::process::umask(Mode::empty());
    raise_fd_limit();
    let threads = if opts.threads > 0 {
        opts.threads
    } else {
        default_threads()
    };
    let run = Run {
        opts,
        id: Identity::current(),
        threads,
        fault: std::env::var(FAULT_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok()),
    };
    for dir in [&opts.state_dir, &opts.durable_state_dir]
        .into_iter()
        .flatten()
    {
        markers::create_dirs(dir).ctx("create state directory", || dir.clone())?;
    }
    let mut report = SeedReport::default();
    for (src, dst) in &opts.pairs {
        report.pairs.push(seed_pair(&run, src, dst)?);
    }
    Ok(report)
}

fn default_threads() -> usize {
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    (cpus * 2).clamp(2, 8)
}

/// Descriptors: a deep or wide tree keeps one per open directory.
fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let lim = getrlimit(Resource::Nofile);
    if let Some(max) = lim.maximum
        && lim.current != Some(max)
    {
        let _ = setrlimit(
            Resource::Nofile,
            rustix::process::Rlimit {
                current: Some(max),
                maximum: Some(max),
            },
        );
    }
}

/// What every pair of one run shares.
struct Run<'a> {
    opts: &'a SeedOptions,
    id: Identity,
    threads: usize,
    fault: Option<u64>,
}

/// One pair: the steps of the module's doc, in order.
fn seed_pair(run: &Run<'_>, src: &Path, dst: &Path) -> Result<PairReport, AgentError> {
    let opts = run.opts;
    let start = Instant::now();
    let dst_fd = markers::open_and_lock(dst, |what| {
        log(opts, format_args!("{}: {what}", dst.display()))
    })?;
    let m = Markers::locate(
        opts.state_dir.as_deref(),
        opts.durable_state_dir.as_deref(),
        dst,
        markers::memory_backed(&dst_fd),
    );
    let mut report = PairReport::new(src, dst);
    if !opts.force && m.done_exists()? {
        report.outcome = Outcome::AlreadySeeded;
        log(
            opts,
            format_args!(
                "{} -> {}: already seeded (marker {}), skipped; DST left as it is",
                src.display(),
                dst.display(),
                m.done.display()
            ),
        );
        return Ok(report);
    }
    log(
        opts,
        format_args!(
            "{} -> {}: start ({} threads, marker {})",
            src.display(),
            dst.display(),
            run.threads,
            m.done.display()
        ),
    );
    prepare_dst(opts, &m, &dst_fd, dst)?;
    let Some(src_fd) = open_source(src)? else {
        report.outcome = Outcome::SourceMissing;
        log(
            opts,
            format_args!(
                "{} -> {}: source does not exist; DST stays empty",
                src.display(),
                dst.display()
            ),
        );
        m.finish(&dst_fd, dst, b"rofs seed done: source missing\n")?;
        report.elapsed = start.elapsed();
        return Ok(report);
    };
    let copied = copy_source(run, src, src_fd, dst, &dst_fd)?;
    for w in &copied.warnings {
        log(opts, format_args!("warning: {w}"));
    }
    report.warnings = copied.warnings;
    report.stats = PairStats::from_totals(&copied.totals, copied.bytes);
    report.not_kept = copied.not_kept;
    let content = format!(
        "rofs seed done\nsrc={}\ndst={}\nfiles={}\nbytes={}\n",
        src.display(),
        dst.display(),
        copied.totals.files,
        copied.bytes
    );
    m.finish(&dst_fd, dst, content.as_bytes())?;
    report.elapsed = start.elapsed();
    log_done(run, &report, [copied.copy_secs, copied.sync_secs]);
    Ok(report)
}

/// Leftovers of an interrupted run, or a re-seed asked with `--force`, are
/// removed; a non-empty DST rofs never started to seed is refused. Then the
/// started marker is written.
fn prepare_dst(
    opts: &SeedOptions,
    m: &Markers,
    dst_fd: &OwnedFd,
    dst: &Path,
) -> Result<(), AgentError> {
    let started = m.started_exists()?;
    let done = m.done_exists()?;
    if done {
        // Only with --force.
        m.remove_done()?;
    }
    let empty = crate::wipe::is_empty(dst_fd.as_fd(), m.ignored_in_dst())
        .ctx("read directory", || dst.to_path_buf())?;
    if !empty {
        if !(started || done || opts.force) {
            return Err(AgentError::DstNotEmpty {
                dst: dst.to_path_buf(),
                marker: m.done.clone(),
            });
        }
        log(
            opts,
            format_args!(
                "{}: removing the contents left by an interrupted or forced seed",
                dst.display()
            ),
        );
        crate::wipe::wipe_contents(dst_fd.as_fd(), dst)?;
    }
    m.write_started()
}

/// SRC: the directory it names (a symlink to a directory is followed, as
/// `cp -a SRC/. DST` does); `None` when it does not exist.
fn open_source(src: &Path) -> Result<Option<OwnedFd>, AgentError> {
    match rustix::fs::open(
        src,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::NOENT) => Ok(None),
        Err(Errno::NOTDIR) => Err(AgentError::SourceNotDir(src.to_path_buf())),
        Err(e) => Err(AgentError::io("open source", src.to_path_buf(), e.into())),
    }
}

/// The allocation unit and free space of DST, as the copy reserves them.
fn budget(dst: &Path, dst_fd: &OwnedFd) -> Result<Budget, AgentError> {
    let vfs = rustix::fs::fstatvfs(dst_fd).ctx("statvfs", || dst.to_path_buf())?;
    let is_tmpfs = rustix::fs::fstatfs(dst_fd)
        .map(|s| s.f_type as u64 == TMPFS_MAGIC)
        .unwrap_or(false);
    Ok(Budget {
        est: Estimate {
            unit: vfs.f_frsize.max(vfs.f_bsize).max(512),
            dirs_cost_blocks: !is_tmpfs,
        },
        free_bytes: vfs.f_bavail.saturating_mul(vfs.f_frsize.max(1)),
        free_inodes: if vfs.f_files == 0 {
            u64::MAX
        } else {
            vfs.f_favail
        },
    })
}

/// After a copy that did not fit (and was removed): a scan of the whole of
/// SRC for the error, with the exact size it needs. `None` when SRC fits
/// the space free now (something else took the space during the copy).
fn scan_source(
    run: &Run<'_>,
    src: &Path,
    dst: &Path,
    dst_fd: &OwnedFd,
) -> Result<Option<AgentError>, AgentError> {
    let dst_st = rustix::fs::fstat(dst_fd).ctx("stat", || dst.to_path_buf())?;
    let b = budget(dst, dst_fd)?;
    let Some(src_fd) = open_source(src)? else {
        return Ok(None);
    };
    let (_, totals, _) = crate::tree::scan(
        src,
        src_fd,
        (dst_st.st_dev, dst_st.st_ino),
        &b.est,
        run.threads,
    )?;
    if totals.alloc > b.free_bytes || totals.inodes > b.free_inodes {
        return Ok(Some(AgentError::NoSpace {
            src: src.to_path_buf(),
            dst: dst.to_path_buf(),
            need_bytes: totals.alloc,
            need_inodes: totals.inodes,
            free_bytes: b.free_bytes,
            free_inodes: if b.free_inodes == u64::MAX {
                0
            } else {
                b.free_inodes
            },
        }));
    }
    Ok(None)
}

/// The copy ran out of room: our reservation, or the filesystem's ENOSPC or
/// EDQUOT (its accounting differs from the estimate).
fn out_of_space(e: &AgentError) -> bool {
    match e {
        AgentError::NoSpace { .. } => true,
        AgentError::Io { source, .. } => matches!(
            source.raw_os_error(),
            Some(code) if code == Errno::NOSPC.raw_os_error() || code == Errno::DQUOT.raw_os_error()
        ),
        _ => false,
    }
}

struct Copied {
    totals: Totals,
    warnings: Vec<String>,
    bytes: u64,
    not_kept: NotKept,
    copy_secs: f64,
    sync_secs: f64,
}

/// Copies SRC into DST within DST's free space (see the module doc), then
/// makes it durable (`syncfs`, a no-op on tmpfs) before any marker says so.
/// Out of space: DST's contents are removed, and the error says how much
/// SRC needs.
fn copy_source(
    run: &Run<'_>,
    src: &Path,
    src_fd: OwnedFd,
    dst: &Path,
    dst_fd: &OwnedFd,
) -> Result<Copied, AgentError> {
    let src_st = rustix::fs::fstat(&src_fd).ctx("stat", || src.to_path_buf())?;
    let dst_st = rustix::fs::fstat(dst_fd).ctx("stat", || dst.to_path_buf())?;
    let b = budget(dst, dst_fd)?;
    let nk = NotKeptCounters::default();
    let dst_setgid = dst_st.st_mode & crate::meta::S_ISGID != 0;
    let ctx = CopyCtx::new(src, dst, &run.id, &nk, run.fault, dst_setgid);
    let dst_for_copy = rustix::io::dup(dst_fd).ctx("dup", || dst.to_path_buf())?;
    let t_copy = Instant::now();
    let early = (!markers::memory_backed(dst_fd))
        .then(|| rustix::io::dup(dst_fd).ok())
        .flatten();
    let streamed = with_early_writeback(early, || {
        copy_streamed(
            &ctx,
            src_fd,
            (dst_st.st_dev, dst_st.st_ino),
            &Meta::from_stat(&src_st),
            dst_for_copy,
            &b,
            run.threads,
        )
    });
    let streamed = match streamed {
        Ok(s) => s,
        Err(e) if out_of_space(&e) => {
            log(
                run.opts,
                format_args!("{}: does not fit; removing what was copied", dst.display()),
            );
            crate::wipe::wipe_contents(dst_fd.as_fd(), dst)?;
            return Err(scan_source(run, src, dst, dst_fd)?.unwrap_or(e));
        }
        Err(e) => return Err(e),
    };
    let bytes = ctx.bytes_done.load(Relaxed);
    let copy_secs = t_copy.elapsed().as_secs_f64();
    let t_sync = Instant::now();
    rustix::fs::syncfs(dst_fd).ctx("sync", || dst.to_path_buf())?;
    Ok(Copied {
        totals: streamed.totals,
        warnings: streamed.warnings,
        bytes,
        not_kept: NotKept::from_counters(&nk),
        copy_secs,
        sync_secs: t_sync.elapsed().as_secs_f64(),
    })
}

/// How often the early writeback starts a `syncfs` of DST while the copy runs.
const EARLY_WRITEBACK_EVERY: Duration = Duration::from_millis(50);

/// Runs `copy` while another thread writes back what it has copied so far
/// (`syncfs` of `dst`, every [`EARLY_WRITEBACK_EVERY`]), so that the disk
/// works while the copy goes on and the `syncfs` that must end the copy
/// before the done marker finds little left to write (measured on 50k small
/// files on an ext4 disk: the final sync took about 1 s of a 3-4 s seed).
/// The thread ends with the copy; `None` (a memory-backed DST, where syncfs
/// has nothing to write): the copy alone. Durability does not depend on it:
/// the final `syncfs` still runs.
fn with_early_writeback<T>(dst: Option<OwnedFd>, copy: impl FnOnce() -> T) -> T {
    let Some(dst) = dst else {
        return copy();
    };
    let stop = (Mutex::new(false), Condvar::new());
    std::thread::scope(|sc| {
        sc.spawn(|| {
            let (lock, cv) = &stop;
            let mut stopped = lock.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                stopped = cv
                    .wait_timeout(stopped, EARLY_WRITEBACK_EVERY)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                if *stopped {
                    return;
                }
                drop(stopped);
                // An error here is the final syncfs's to report.
                let _ = rustix::fs::syncfs(&dst);
                stopped = lock.lock().unwrap_or_else(PoisonError::into_inner);
            }
        });
        // Stops the thread however `copy` ends (a panic included: the
        // scope would otherwise wait for it forever).
        struct Stop<'a>(&'a (Mutex<bool>, Condvar));
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                *self.0.0.lock().unwrap_or_else(PoisonError::into_inner) = true;
                self.0.1.notify_all();
            }
        }
        let _stop = Stop(&stop);
        copy()
    })
}

/// The summary line of a copied pair, and what could not be kept.
fn log_done(run: &Run<'_>, report: &PairReport, [copy, sync]: [f64; 2]) {
    let secs = report.elapsed.as_secs_f64();
    let s = &report.stats;
    log(
        run.opts,
        format_args!(
            "{} -> {}: done: {} files, {} dirs, {} symlinks, {} hard links, {} fifos, {} bytes ({}), {} skipped, in {:.3} s ({:.1} MB/s; scan and copy {:.3} s, sync {:.3} s)",
            report.src.display(),
            report.dst.display(),
            s.files,
            s.dirs,
            s.symlinks,
            s.hardlinks,
            s.fifos,
            s.bytes,
            human(s.bytes),
            s.skipped,
            secs,
            s.bytes as f64 / 1e6 / secs.max(1e-9),
            copy,
            sync
        ),
    );
    if !report.not_kept.is_empty() {
        log(
            run.opts,
            format_args!(
                "{}: could not keep (running as uid {} gid {}): {}",
                report.dst.display(),
                run.id.euid,
                run.id.egid,
                report::describe_not_kept(&report.not_kept)
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::with_early_writeback;

    fn dir_fd() -> std::os::fd::OwnedFd {
        rustix::fs::open(
            std::env::temp_dir(),
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY,
            rustix::fs::Mode::empty(),
        )
        .expect("open the temp dir")
    }

    #[test]
    fn early_writeback_returns_what_the_copy_returns() {
        assert_eq!(with_early_writeback(Some(dir_fd()), || 42), 42);
        assert_eq!(with_early_writeback(None, || 7), 7);
    }

    #[test]
    fn early_writeback_stops_when_the_copy_panics() {
        // The writeback thread must end with the copy however it ends; a
        // thread left waiting would hang the scope (and this test).
        let r = std::panic::catch_unwind(|| {
            with_early_writeback(Some(dir_fd()), || -> u32 { panic!("copy failed") })
        });
        assert!(r.is_err());
    }
}
