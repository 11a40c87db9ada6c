//! The scan: a walk of the source tree that stats every entry exactly once
//! and keeps the result in memory. The copy scans each directory with
//! [`scan_one`] just before it fills it (`copy::stream`) and then works from
//! that without a second `stat`; [`scan`] walks the whole tree for the exact
//! size in the error of a copy that did not fit. Every call is relative to an
//! open directory fd (`openat`/`fstatat`), so paths longer than PATH_MAX are
//! fine.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use crate::error::{AgentError, IoContext};
use crate::meta::{Meta, Xattrs, read_xattrs_at, read_xattrs_fd};

pub(crate) const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

pub(crate) struct Entry {
    pub name: CString,
    pub meta: Meta,
    pub kind: Kind,
    /// (dev, ino) of non-directories with more than one link.
    pub link_id: Option<(u64, u64)>,
}

pub(crate) enum Kind {
    File,
    Dir(DirNode),
    Symlink {
        xattrs: Xattrs,
    },
    Fifo {
        xattrs: Xattrs,
    },
    /// A later name of an inode already seen; `first` is the path (from the
    /// root, as components) of the name that is copied.
    HardLink {
        first: Arc<Vec<CString>>,
    },
    /// Sockets, devices, and the destination itself when it lies inside the
    /// source: not copied, one warning each.
    Skipped,
}

pub(crate) struct DirNode {
    pub children: Vec<Entry>,
    pub xattrs: Xattrs,
    /// Some entry below this directory is a [`Kind::HardLink`].
    pub has_links: bool,
    /// While scanning: the slot the scan of this directory fills.
    slot: usize,
}

/// Totals the free-space check and the logs need.
#[derive(Default, Debug, Clone)]
pub(crate) struct Totals {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub fifos: u64,
    pub hardlinks: u64,
    pub skipped: u64,
    /// Bytes of file contents (apparent size, each inode once).
    pub bytes: u64,
    /// Bytes the copy will allocate, rounded to `unit` per file (sparse files
    /// count their allocated blocks).
    pub alloc: u64,
    /// Inodes the copy will create.
    pub inodes: u64,
}

/// How the destination allocates space, for the estimate.
pub(crate) struct Estimate {
    /// Allocation unit (statvfs f_frsize).
    pub unit: u64,
    /// Directories cost blocks on disk filesystems, not on tmpfs.
    pub dirs_cost_blocks: bool,
}

fn round_up(n: u64, unit: u64) -> u64 {
    n.div_ceil(unit) * unit
}

/// One directory to scan: `name` in the open directory `parent`.
pub(crate) struct ScanJob {
    pub parent: Arc<OwnedFd>,
    pub name: CString,
    pub rel: Vec<CString>,
    pub slot: usize,
}

impl ScanJob {
    /// The source root (already open).
    pub(crate) fn root(src: OwnedFd) -> Self {
        ScanJob {
            parent: Arc::new(src),
            name: c".".to_owned(),
            rel: Vec::new(),
            slot: 0,
        }
    }
}

/// What the scanning workers share (also the copy's, which scans as it copies).
pub(crate) struct ScanShared<'a> {
    src_root: &'a Path,
    dst_id: (u64, u64),
    /// Scanned directories by slot (assembled into one tree at the end).
    done: Mutex<Vec<Option<DirNode>>>,
    warnings: Mutex<Vec<String>>,
    skipped: AtomicU64,
    next_slot: AtomicUsize,
}

impl<'a> ScanShared<'a> {
    pub(crate) fn new(src_root: &'a Path, dst_id: (u64, u64)) -> Self {
        ScanShared {
            src_root,
            dst_id,
            done: Mutex::new(vec![None]),
            warnings: Mutex::new(Vec::new()),
            skipped: AtomicU64::new(0),
            next_slot: AtomicUsize::new(1),
        }
    }

    /// The skipped count and the warnings.
    pub(crate) fn finish(self) -> (u64, Vec<String>) {
        let warnings = self
            .warnings
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        (self.skipped.load(Relaxed), warnings)
    }
}

/// Scans the tree under `src` with `threads` threads, then resolves hard
/// links and adds up the totals in one sequential pass (so which name of an
/// inode is "first" does not depend on thread timing).
pub(crate) fn scan(
    src_root: &Path,
    src: OwnedFd,
    dst_id: (u64, u64),
    est: &Estimate,
    threads: usize,
) -> Result<(DirNode, Totals, Vec<String>), AgentError> {
    let shared = ScanShared::new(src_root, dst_id);
    crate::pool::run(
        threads,
        vec![ScanJob::root(src)],
        scan_buffer,
        |buf, job, out| {
            let (node, _) = scan_one(&shared, &job, out, buf)?;
            let mut done = shared.done.lock().unwrap_or_else(PoisonError::into_inner);
            let last = out
                .iter()
                .map(|j| j.slot)
                .chain([job.slot])
                .max()
                .unwrap_or(0);
            if done.len() <= last {
                done.resize_with(last + 1, || None);
            }
            done[job.slot] = Some(node);
            Ok(())
        },
    )?;
    let mut done = shared
        .done
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    let mut root = assemble(&mut done, 0);
    let mut totals = Totals {
        skipped: shared.skipped.load(Relaxed),
        ..Totals::default()
    };
    let mut links = HashMap::new();
    root.has_links = resolve(&mut root, &mut Vec::new(), &mut links, &mut totals, est);
    let warnings = shared
        .warnings
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    Ok((root, totals, warnings))
}

/// The buffer a scanning worker reads directories with.
pub(crate) fn scan_buffer() -> Vec<MaybeUninit<u8>> {
    vec![MaybeUninit::<u8>::uninit(); 64 * 1024]
}

/// The tree from the scanned directories by slot (slot 0: the root).
pub(crate) fn assemble(done: &mut Vec<Option<DirNode>>, slot: usize) -> DirNode {
    let mut node = done
        .get_mut(slot)
        .and_then(Option::take)
        .unwrap_or(DirNode {
            children: Vec::new(),
            xattrs: Vec::new(),
            has_links: false,
            slot,
        });
    for e in &mut node.children {
        if let Kind::Dir(d) = &mut e.kind {
            *d = assemble(done, d.slot);
        }
    }
    node
}

/// Hard links (first name in tree order is copied, later ones linked) and
/// totals. Returns whether the subtree holds a hard link.
fn resolve(
    node: &mut DirNode,
    path: &mut Vec<CString>,
    links: &mut HashMap<(u64, u64), Arc<Vec<CString>>>,
    t: &mut Totals,
    est: &Estimate,
) -> bool {
    let mut has_links = false;
    for e in &mut node.children {
        if let Some(id) = e.link_id {
            if let Some(first) = links.get(&id) {
                e.kind = Kind::HardLink {
                    first: first.clone(),
                };
                t.hardlinks += 1;
                has_links = true;
                continue;
            }
            let mut p = path.clone();
            p.push(e.name.clone());
            links.insert(id, Arc::new(p));
        }
        let (alloc, inodes) = cost(e, est);
        t.alloc += alloc;
        t.inodes += inodes;
        match &mut e.kind {
            Kind::File => {
                t.files += 1;
                t.bytes += e.meta.size;
            }
            Kind::Dir(sub) => {
                t.dirs += 1;
                path.push(e.name.clone());
                sub.has_links = resolve(sub, path, links, t, est);
                path.pop();
                has_links |= sub.has_links;
            }
            Kind::Symlink { .. } => t.symlinks += 1,
            Kind::Fifo { .. } => t.fifos += 1,
            Kind::HardLink { .. } | Kind::Skipped => {}
        }
    }
    has_links
}

/// What one entry takes in the destination: (bytes allocated, rounded to
/// the unit; inodes). A later name of an inode and a skipped entry take
/// nothing.
pub(crate) fn cost(e: &Entry, est: &Estimate) -> (u64, u64) {
    match &e.kind {
        // Sparse files count their allocated blocks.
        Kind::File => (
            round_up((e.meta.blocks * 512).min(e.meta.size), est.unit),
            1,
        ),
        Kind::Dir(_) if est.dirs_cost_blocks => (round_up(e.meta.size.max(1), est.unit), 1),
        Kind::Dir(_) | Kind::Fifo { .. } => (0, 1),
        // Fast symlinks live in the inode; long targets take a block.
        Kind::Symlink { .. } => (if e.meta.size > 60 { est.unit } else { 0 }, 1),
        Kind::HardLink { .. } | Kind::Skipped => (0, 0),
    }
}

/// The counts of a tree whose hard links are already resolved (the copy
/// that scans as it goes); sets `has_links`. Returns whether the subtree
/// holds a hard link.
pub(crate) fn count(node: &mut DirNode, t: &mut Totals) -> bool {
    let mut has_links = false;
    for e in &mut node.children {
        match &mut e.kind {
            Kind::File => {
                t.files += 1;
                t.bytes += e.meta.size;
            }
            Kind::Dir(sub) => {
                t.dirs += 1;
                sub.has_links = count(sub, t);
                has_links |= sub.has_links;
            }
            Kind::Symlink { .. } => t.symlinks += 1,
            Kind::Fifo { .. } => t.fifos += 1,
            Kind::HardLink { .. } => {
                t.hardlinks += 1;
                has_links = true;
            }
            Kind::Skipped => {}
        }
    }
    has_links
}

/// The names in `dir`, without `.` and `..`.
fn list(dir: &OwnedFd, buf: &mut [MaybeUninit<u8>]) -> Result<Vec<CString>, rustix::io::Errno> {
    let mut names = Vec::new();
    let mut rd = rustix::fs::RawDir::new(dir, buf);
    while let Some(ent) = rd.next() {
        let name = ent?.file_name().to_owned();
        if name.as_c_str() != c"." && name.as_c_str() != c".." {
            names.push(name);
        }
    }
    Ok(names)
}

/// The kind of an entry that is not a directory, or why it is skipped.
fn other_kind(ftype: FileType, dir: BorrowedFd<'_>, name: &CStr) -> Result<Kind, &'static str> {
    match ftype {
        FileType::RegularFile => Ok(Kind::File),
        FileType::Symlink => Ok(Kind::Symlink {
            xattrs: read_xattrs_at(dir, name),
        }),
        FileType::Fifo => Ok(Kind::Fifo {
            xattrs: read_xattrs_at(dir, name),
        }),
        FileType::Socket => Err("sockets are not copied"),
        FileType::CharacterDevice | FileType::BlockDevice => Err("device nodes are not copied"),
        FileType::Directory | FileType::Unknown => Err("unknown file type"),
    }
}

/// Lists and stats one directory; its subdirectories become new jobs, in
/// the order of their entries. Returns the directory and its open fd.
pub(crate) fn scan_one(
    sh: &ScanShared<'_>,
    job: &ScanJob,
    out: &mut Vec<ScanJob>,
    buf: &mut [MaybeUninit<u8>],
) -> Result<(DirNode, Arc<OwnedFd>), AgentError> {
    let here = |name: Option<&CStr>| rel_path(sh.src_root, &job.rel, name);
    let dir: OwnedFd = rustix::fs::openat(&*job.parent, &job.name, DIR_FLAGS, Mode::empty())
        .ctx("open directory", || here(None))?;
    let xattrs = read_xattrs_fd(dir.as_fd()).ctx("read xattrs of", || here(None))?;
    let names = list(&dir, buf).ctx("read directory", || here(None))?;
    let dir = Arc::new(dir);
    let mut children = Vec::with_capacity(names.len());
    for name in names {
        let st = rustix::fs::statat(&*dir, &name, AtFlags::SYMLINK_NOFOLLOW)
            .ctx("stat", || here(Some(&name)))?;
        let meta = Meta::from_stat(&st);
        let ftype = FileType::from_raw_mode(st.st_mode);
        let id = (st.st_dev, st.st_ino);
        let link_id = (st.st_nlink > 1
            && matches!(
                ftype,
                FileType::RegularFile | FileType::Symlink | FileType::Fifo
            ))
        .then_some(id);
        let kind = match ftype {
            FileType::Directory if id == sh.dst_id => {
                skip(sh, here(Some(&name)), "it is the destination itself");
                continue;
            }
            FileType::Directory => {
                let slot = sh.next_slot.fetch_add(1, Relaxed);
                let mut rel = job.rel.clone();
                rel.push(name.clone());
                out.push(ScanJob {
                    parent: dir.clone(),
                    name: name.clone(),
                    rel,
                    slot,
                });
                Kind::Dir(DirNode {
                    children: Vec::new(),
                    xattrs: Vec::new(),
                    has_links: false,
                    slot,
                })
            }
            other => match other_kind(other, dir.as_fd(), &name) {
                Ok(kind) => kind,
                Err(why) => {
                    skip(sh, here(Some(&name)), why);
                    Kind::Skipped
                }
            },
        };
        children.push(Entry {
            name,
            meta,
            kind,
            link_id,
        });
    }
    Ok((
        DirNode {
            children,
            xattrs,
            has_links: false,
            slot: job.slot,
        },
        dir,
    ))
}

fn skip(sh: &ScanShared<'_>, path: PathBuf, why: &str) {
    sh.skipped.fetch_add(1, Relaxed);
    if let Ok(mut w) = sh.warnings.lock() {
        w.push(format!("skipping {}: {why}", path.display()));
    }
}

/// `root/a/b/name` for messages. Names that are not UTF-8 are shown with
/// replacement characters by `Path::display`, but kept exact in the copy.
pub(crate) fn rel_path(root: &Path, comps: &[CString], name: Option<&CStr>) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let mut p = root.to_path_buf();
    for c in comps {
        p.push(std::ffi::OsStr::from_bytes(c.to_bytes()));
    }
    if let Some(n) = name {
        p.push(std::ffi::OsStr::from_bytes(n.to_bytes()));
    }
    p
}
