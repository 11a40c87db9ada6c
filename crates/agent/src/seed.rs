//! `seed`: copy each SRC into its DST exactly once per pod, safely.
//!
//! Per pair (see docs/seed.md for the whole story):
//!
//! 1. Done marker present → skip, never touch DST (the app may have written
//!    there already).
//! 2. DST not empty: it holds the remains of an interrupted seed (the started
//!    marker says so) → wipe DST's contents. A non-empty DST that rofs never
//!    started to seed is refused unless `--force`: rofs does not delete data
//!    it did not write.
//! 3. Scan SRC (one `stat` per entry), compare its size with DST's free space.
//! 4. Copy (see [`crate::copy`]), `syncfs`, then write the done marker
//!    durably and remove the started marker.

use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::copy::{CopyCtx, copy_tree};
use crate::meta::{Identity, Meta, NotKeptCounters};
use crate::tree::{DIR_FLAGS, Estimate};

/// Name of the done marker inside DST when no `--state-dir` is given.
pub const DEFAULT_DONE_MARKER: &str = ".rofs-seeded";
/// Name of the started marker inside DST when no `--state-dir` is given.
pub const DEFAULT_STARTED_MARKER: &str = ".rofs-seeding";
/// Environment variable of the crash-test hook: abort after N files.
pub const FAULT_ENV: &str = "ROFS_AGENT_FAULT_AFTER_FILES";

const TMPFS_MAGIC: u64 = 0x0102_1994;
const RAMFS_MAGIC: u64 = 0x8584_58f6;

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

/// What happened to one pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Copied,
    AlreadySeeded,
    SourceMissing,
}

/// Counts for one pair.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PairStats {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    pub fifos: u64,
    pub bytes: u64,
    pub skipped: u64,
}

/// What could not be kept (non-root, or root without capabilities).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotKept {
    /// Entries whose owner or group differs from the source.
    pub ownership: u64,
    /// Files and directories whose setuid/setgid bits were stripped.
    pub setid_stripped: u64,
    /// Extended attributes that could not be written.
    pub xattrs: u64,
    /// Some of their names.
    pub xattr_names: Vec<String>,
    /// The mode or times of DST itself (the volume root) could not be set.
    pub root_attrs: bool,
}

impl NotKept {
    pub fn is_empty(&self) -> bool {
        *self == NotKept::default()
    }
}

#[derive(Debug, Clone)]
pub struct PairReport {
    pub src: PathBuf,
    pub dst: PathBuf,
    pub outcome: Outcome,
    pub stats: PairStats,
    pub not_kept: NotKept,
    pub warnings: Vec<String>,
    pub elapsed: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct SeedReport {
    pub pairs: Vec<PairReport>,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("{}: {op}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "not enough space in {}: copying {} needs about {} ({} entries) but only {} ({} inodes) are free; raise the volume's sizeLimit (or the memory limit for medium: Memory), or seed less",
        dst.display(), src.display(), human(*need_bytes), need_inodes, human(*free_bytes), free_inodes
    )]
    NoSpace {
        src: PathBuf,
        dst: PathBuf,
        need_bytes: u64,
        need_inodes: u64,
        free_bytes: u64,
        free_inodes: u64,
    },
    #[error("{}: the source is not a directory", .0.display())]
    SourceNotDir(PathBuf),
    #[error("{}: not a directory (DST must be the mounted volume)", .0.display())]
    DstNotDir(PathBuf),
    #[error(
        "{}: not empty and not seeded by rofs (no marker {}); refusing to delete what rofs did not write: use --force to replace its contents",
        dst.display(), marker.display()
    )]
    DstNotEmpty { dst: PathBuf, marker: PathBuf },
}

impl SeedError {
    pub(crate) fn io(op: &'static str, path: PathBuf, source: io::Error) -> Self {
        SeedError::Io { op, path, source }
    }
}

/// Attaches the operation and the path to an OS error.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: impl FnOnce() -> PathBuf) -> Result<T, SeedError>;
}

impl<T> IoContext<T> for Result<T, io::Error> {
    fn ctx(self, op: &'static str, path: impl FnOnce() -> PathBuf) -> Result<T, SeedError> {
        self.map_err(|source| SeedError::Io {
            op,
            path: path(),
            source,
        })
    }
}

impl<T> IoContext<T> for Result<T, Errno> {
    fn ctx(self, op: &'static str, path: impl FnOnce() -> PathBuf) -> Result<T, SeedError> {
        self.map_err(io::Error::from).ctx(op, path)
    }
}

pub(crate) fn human(bytes: u64) -> String {
    const K: f64 = 1024.0;
    let b = bytes as f64;
    if b >= K * K * K {
        format!("{:.1} GiB", b / (K * K * K))
    } else if b >= K * K {
        format!("{:.1} MiB", b / (K * K))
    } else if b >= K {
        format!("{:.1} KiB", b / K)
    } else {
        format!("{bytes} B")
    }
}

fn log(opts: &SeedOptions, msg: std::fmt::Arguments<'_>) {
    if opts.log {
        let mut err = io::stderr().lock();
        let _ = writeln!(err, "rofs seed: {msg}");
    }
}

/// Seeds every pair in order; stops at the first error.
pub fn run(opts: &SeedOptions) -> Result<SeedReport, SeedError> {
    // Files are created with their final permission bits: no umask.
    rustix::process::umask(Mode::empty());
    raise_fd_limit();
    let id = Identity::current();
    let threads = if opts.threads > 0 {
        opts.threads
    } else {
        default_threads()
    };
    let fault = std::env::var(FAULT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok());
    for dir in [&opts.state_dir, &opts.durable_state_dir]
        .into_iter()
        .flatten()
    {
        create_dirs(dir).ctx("create state directory", || dir.clone())?;
    }
    let mut report = SeedReport::default();
    for (src, dst) in &opts.pairs {
        let r = seed_pair(opts, &id, src, dst, threads, fault)?;
        report.pairs.push(r);
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

struct Markers {
    done: PathBuf,
    started: PathBuf,
    /// Names to ignore when deciding whether DST is empty.
    inside_dst: bool,
    /// Where an older agent (no `--durable-state-dir`) put the markers of
    /// this DST: honoured, and removed once the new ones are written.
    legacy: Option<(PathBuf, PathBuf)>,
}

impl Markers {
    fn done_exists(&self) -> Result<bool, SeedError> {
        Ok(exists(&self.done)? || self.legacy_exists(|l| &l.0)?)
    }

    fn started_exists(&self) -> Result<bool, SeedError> {
        Ok(exists(&self.started)? || self.legacy_exists(|l| &l.1)?)
    }

    fn legacy_exists(
        &self,
        which: impl Fn(&(PathBuf, PathBuf)) -> &PathBuf,
    ) -> Result<bool, SeedError> {
        match &self.legacy {
            Some(l) => exists(which(l)),
            None => Ok(false),
        }
    }
}

fn in_dir(dir: &Path, dst: &Path) -> (PathBuf, PathBuf) {
    let id = marker_id(dst);
    (
        dir.join(format!("{id}.done")),
        dir.join(format!("{id}.started")),
    )
}

/// Where DST's markers live: with the data they describe. A memory-backed
/// DST (or no `--durable-state-dir`): `--state-dir` (or inside DST without
/// one); a disk-backed DST: `--durable-state-dir`.
fn markers(opts: &SeedOptions, dst: &Path, memory_backed: bool) -> Markers {
    if let (Some(durable), false) = (&opts.durable_state_dir, memory_backed) {
        let (done, started) = in_dir(durable, dst);
        return Markers {
            done,
            started,
            inside_dst: false,
            legacy: Some(match &opts.state_dir {
                Some(dir) => in_dir(dir, dst),
                None => (
                    dst.join(DEFAULT_DONE_MARKER),
                    dst.join(DEFAULT_STARTED_MARKER),
                ),
            }),
        };
    }
    match &opts.state_dir {
        Some(dir) => {
            let (done, started) = in_dir(dir, dst);
            Markers {
                done,
                started,
                inside_dst: false,
                legacy: None,
            }
        }
        None => Markers {
            done: dst.join(DEFAULT_DONE_MARKER),
            started: dst.join(DEFAULT_STARTED_MARKER),
            inside_dst: true,
            legacy: None,
        },
    }
}

/// True when `fd` is on a memory file system (tmpfs, ramfs: emptyDir
/// `medium: Memory`): its contents do not survive a node reboot.
fn memory_backed(fd: &OwnedFd) -> bool {
    rustix::fs::fstatfs(fd)
        .map(|s| matches!(s.f_type as u64, TMPFS_MAGIC | RAMFS_MAGIC))
        .unwrap_or(false)
}

/// Opens DST (created when missing: handy outside a pod) and takes an
/// exclusive `flock` on it for the whole seed of the pair: a second seed of
/// the same DST waits, then finds the done marker.
fn open_and_lock_dst(opts: &SeedOptions, dst: &Path) -> Result<OwnedFd, SeedError> {
    use rustix::fs::FlockOperation;
    create_dirs(dst).ctx("create destination", || dst.to_path_buf())?;
    let dst_fd = rustix::fs::open(dst, DIR_FLAGS, Mode::empty()).map_err(|e| {
        if e == Errno::NOTDIR || e == Errno::LOOP {
            SeedError::DstNotDir(dst.to_path_buf())
        } else {
            SeedError::io("open destination", dst.to_path_buf(), e.into())
        }
    })?;
    match rustix::fs::flock(&dst_fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => return Ok(dst_fd),
        Err(Errno::WOULDBLOCK) => log(
            opts,
            format_args!(
                "{}: another seed of it is running: waiting for it",
                dst.display()
            ),
        ),
        Err(e) => return Err(SeedError::io("lock", dst.to_path_buf(), e.into())),
    }
    rustix::fs::flock(&dst_fd, FlockOperation::LockExclusive).ctx("lock", || dst.to_path_buf())?;
    Ok(dst_fd)
}

/// A readable, collision-safe file name for DST: its path with `/` turned
/// into `_`, shortened, plus a 64-bit FNV-1a hash of the exact bytes.
pub fn marker_id(dst: &Path) -> String {
    let bytes = dst.as_os_str().as_bytes();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let readable: String = bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'.' {
                b as char
            } else {
                '_'
            }
        })
        .collect();
    let readable = readable.trim_matches('_');
    let short: String = readable
        .chars()
        .rev()
        .take(80)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{short}-{h:016x}")
}

fn seed_pair(
    opts: &SeedOptions,
    id: &Identity,
    src: &Path,
    dst: &Path,
    threads: usize,
    fault: Option<u64>,
) -> Result<PairReport, SeedError> {
    let start = Instant::now();
    let dst_fd = open_and_lock_dst(opts, dst)?;
    let m = markers(opts, dst, memory_backed(&dst_fd));
    let mut report = PairReport {
        src: src.to_path_buf(),
        dst: dst.to_path_buf(),
        outcome: Outcome::Copied,
        stats: PairStats::default(),
        not_kept: NotKept::default(),
        warnings: Vec::new(),
        elapsed: Duration::ZERO,
    };
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
            threads,
            m.done.display()
        ),
    );

    // Leftovers of an interrupted run, or a re-seed asked with --force.
    let started = m.started_exists()?;
    let done = m.done_exists()?;
    if done {
        // Only with --force. Gone before DST changes, so that a crash from
        // here on never leaves a done marker over a partial copy.
        remove_file(&m.done)?;
        if let Some((legacy_done, _)) = &m.legacy {
            remove_file(legacy_done)?;
        }
    }
    let ignore: &[&[u8]] = if m.inside_dst {
        &[
            DEFAULT_DONE_MARKER.as_bytes(),
            DEFAULT_STARTED_MARKER.as_bytes(),
        ]
    } else {
        &[]
    };
    let empty = crate::wipe::is_empty(dst_fd.as_fd(), ignore)
        .ctx("read directory", || dst.to_path_buf())?;
    if !empty {
        if !(started || done || opts.force) {
            return Err(SeedError::DstNotEmpty {
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
    // From here on DST may hold partial data: say so durably first.
    write_marker(&m.started, b"rofs seed started\n", &dst_fd, m.inside_dst)?;

    // SRC: the directory it names (a symlink to a directory is followed, as
    // `cp -a SRC/. DST` does).
    let src_fd = match rustix::fs::open(
        src,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => Some(fd),
        Err(Errno::NOENT) => None,
        Err(Errno::NOTDIR) => return Err(SeedError::SourceNotDir(src.to_path_buf())),
        Err(e) => return Err(SeedError::io("open source", src.to_path_buf(), e.into())),
    };
    let Some(src_fd) = src_fd else {
        report.outcome = Outcome::SourceMissing;
        log(
            opts,
            format_args!(
                "{} -> {}: source does not exist; DST stays empty",
                src.display(),
                dst.display()
            ),
        );
        finish(opts, &m, &dst_fd, dst, b"rofs seed done: source missing\n")?;
        report.elapsed = start.elapsed();
        return Ok(report);
    };

    let dst_st = rustix::fs::fstat(&dst_fd).ctx("stat", || dst.to_path_buf())?;
    let vfs = rustix::fs::fstatvfs(&dst_fd).ctx("statvfs", || dst.to_path_buf())?;
    let is_tmpfs = rustix::fs::fstatfs(&dst_fd)
        .map(|s| s.f_type as u64 == TMPFS_MAGIC)
        .unwrap_or(false);
    let src_st = rustix::fs::fstat(&src_fd).ctx("stat", || src.to_path_buf())?;
    let est = Estimate {
        unit: vfs.f_frsize.max(vfs.f_bsize).max(512),
        dirs_cost_blocks: !is_tmpfs,
    };
    let t_scan = Instant::now();
    let scan_fd = rustix::io::dup(&src_fd).ctx("dup", || src.to_path_buf())?;
    let (root, totals, warnings) =
        crate::tree::scan(src, scan_fd, (dst_st.st_dev, dst_st.st_ino), &est, threads)?;
    let scan_secs = t_scan.elapsed().as_secs_f64();
    for w in &warnings {
        log(opts, format_args!("warning: {w}"));
    }
    report.warnings = warnings;

    let free_bytes = vfs.f_bavail.saturating_mul(vfs.f_frsize.max(1));
    let free_inodes = if vfs.f_files == 0 {
        u64::MAX
    } else {
        vfs.f_favail
    };
    if totals.alloc > free_bytes || totals.inodes > free_inodes {
        return Err(SeedError::NoSpace {
            src: src.to_path_buf(),
            dst: dst.to_path_buf(),
            need_bytes: totals.alloc,
            need_inodes: totals.inodes,
            free_bytes,
            free_inodes: if free_inodes == u64::MAX {
                0
            } else {
                free_inodes
            },
        });
    }

    let nk = NotKeptCounters::default();
    let dst_setgid = dst_st.st_mode & crate::meta::S_ISGID != 0;
    let ctx = CopyCtx::new(src, dst, id, &nk, fault, dst_setgid);
    let dst_for_copy = rustix::io::dup(&dst_fd).ctx("dup", || dst.to_path_buf())?;
    let t_copy = Instant::now();
    copy_tree(
        &ctx,
        &root,
        &Meta::from_stat(&src_st),
        src_fd,
        dst_for_copy,
        threads,
    )?;
    let bytes = ctx.bytes_done.load(Relaxed);
    let copy_secs = t_copy.elapsed().as_secs_f64();
    // Durable before the marker says so (a no-op on tmpfs).
    let t_sync = Instant::now();
    rustix::fs::syncfs(&dst_fd).ctx("sync", || dst.to_path_buf())?;
    let sync_secs = t_sync.elapsed().as_secs_f64();

    report.stats = PairStats {
        files: totals.files,
        dirs: totals.dirs,
        symlinks: totals.symlinks,
        hardlinks: totals.hardlinks,
        fifos: totals.fifos,
        bytes,
        skipped: totals.skipped,
    };
    report.not_kept = NotKept {
        ownership: nk.ownership.load(Relaxed),
        setid_stripped: nk.setid_stripped.load(Relaxed),
        xattrs: nk.xattrs.load(Relaxed),
        xattr_names: nk
            .xattr_names
            .lock()
            .map(|n| n.iter().cloned().collect())
            .unwrap_or_default(),
        root_attrs: nk.root_mode.load(Relaxed),
    };
    let content = format!(
        "rofs seed done\nsrc={}\ndst={}\nfiles={}\nbytes={}\n",
        src.display(),
        dst.display(),
        totals.files,
        bytes
    );
    finish(opts, &m, &dst_fd, dst, content.as_bytes())?;
    report.elapsed = start.elapsed();
    let secs = report.elapsed.as_secs_f64();
    let s = &report.stats;
    log(
        opts,
        format_args!(
            "{} -> {}: done: {} files, {} dirs, {} symlinks, {} hard links, {} fifos, {} bytes ({}), {} skipped, in {:.3} s ({:.1} MB/s; scan {:.3} s, copy {:.3} s, sync {:.3} s)",
            src.display(),
            dst.display(),
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
            scan_secs,
            copy_secs,
            sync_secs
        ),
    );
    if !report.not_kept.is_empty() {
        log(
            opts,
            format_args!(
                "{}: could not keep (running as uid {} gid {}): {}",
                dst.display(),
                id.euid,
                id.egid,
                describe_not_kept(&report.not_kept)
            ),
        );
    }
    Ok(report)
}

fn describe_not_kept(nk: &NotKept) -> String {
    let mut parts = Vec::new();
    if nk.ownership > 0 {
        parts.push(format!(
            "ownership of {} entries (they belong to the running user)",
            nk.ownership
        ));
    }
    if nk.setid_stripped > 0 {
        parts.push(format!(
            "setuid/setgid bits of {} entries (stripped)",
            nk.setid_stripped
        ));
    }
    if nk.xattrs > 0 {
        parts.push(format!(
            "{} extended attributes ({})",
            nk.xattrs,
            nk.xattr_names.join(", ")
        ));
    }
    if nk.root_attrs {
        parts.push("the mode/times of the volume root".to_string());
    }
    parts.join("; ")
}

/// Writes the done marker durably, then removes the started marker.
fn finish(
    _opts: &SeedOptions,
    m: &Markers,
    dst_fd: &OwnedFd,
    dst: &Path,
    content: &[u8],
) -> Result<(), SeedError> {
    write_marker(&m.done, content, dst_fd, m.inside_dst)?;
    remove_file(&m.started)?;
    if let Some((legacy_done, legacy_started)) = &m.legacy {
        remove_file(legacy_done)?;
        remove_file(legacy_started)?;
    }
    if m.inside_dst {
        rustix::fs::fsync(dst_fd).ctx("sync", || dst.to_path_buf())?;
    }
    Ok(())
}

/// `mkdir -p` with mode 0755 (the process umask is 0 while seeding).
fn create_dirs(p: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(p)
}

fn exists(p: &Path) -> Result<bool, SeedError> {
    match std::fs::symlink_metadata(p) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(SeedError::io("stat", p.to_path_buf(), e)),
    }
}

fn remove_file(p: &Path) -> Result<(), SeedError> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(SeedError::io("remove", p.to_path_buf(), e)),
    }
}

/// A temporary file with a random name, created exclusively (the state
/// directory and DST are shared with the app's users), fsync, rename, fsync
/// of the directory.
fn write_marker(
    path: &Path,
    content: &[u8],
    _dst_fd: &OwnedFd,
    _inside_dst: bool,
) -> Result<(), SeedError> {
    crate::safefile::write_atomic(path, content, 0o644, crate::safefile::Durability::Durable)
        .ctx("write marker", || path.to_path_buf())
}
