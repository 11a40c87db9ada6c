//! The copy that scans as it goes: one pool whose directory jobs list and
//! stat a source directory, reserve what its entries will take in DST, and
//! only then create them (the same jobs as [`super::copy_tree`] from there).
//! Nothing is copied that was not reserved first, and the reservation never
//! goes over the free space measured before the copy: a tree that does not
//! fit stops at the first directory that would go over, and the caller
//! removes what was copied (`seed`). On a tree that fits, the scan costs no
//! pass of its own: the stats overlap the copy on every worker.
//!
//! Hard links: the first name of an inode *in time* (the first directory
//! scanned that holds one) is copied, the others become links in pass 2. All
//! names end up on one inode with the same contents and metadata, whichever
//! name was first.

use std::collections::HashMap;
use std::ffi::CString;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

use rustix::fs::Mode;

use crate::error::{AgentError, IoContext};
use crate::meta::Meta;
use crate::tree::{
    DIR_FLAGS, DirNode, Entry, Estimate, Kind, ScanJob, ScanShared, Totals, assemble, cost, count,
    rel_path, scan_buffer, scan_one,
};

use super::ctx::{CopyCtx, initial_dir_mode};
use super::finish::{finalize_dirs, finalize_root, link_pass};
use super::{CHUNK, CHUNK_BYTES, DirRef, copy_entry};

/// The free space the copy may take, measured before it starts.
pub(crate) struct Budget {
    pub est: Estimate,
    pub free_bytes: u64,
    pub free_inodes: u64,
}

/// What the copy found and reserved.
pub(crate) struct Streamed {
    pub totals: Totals,
    pub warnings: Vec<String>,
}

/// (dev, ino) -> the first name of that inode, components from the root.
type FirstNames = HashMap<(u64, u64), Arc<Vec<CString>>>;

enum Job {
    /// Scan the directory of `scan`, create it in DST (the root exists: its
    /// fd), reserve and copy its entries.
    Dir { scan: ScanJob, dst: Dst },
    /// Copy `node.children[from..to]` (no directories) of `dir`.
    Entries {
        dir: Arc<DirRef>,
        node: Arc<DirNode>,
        from: usize,
        to: usize,
    },
}

enum Dst {
    Root(OwnedFd),
    Sub { parent: Arc<DirRef>, meta: Meta },
}

struct Shared<'a> {
    scan: ScanShared<'a>,
    budget: &'a Budget,
    src_root: &'a Path,
    dst_root: &'a Path,
    alloc: AtomicU64,
    inodes: AtomicU64,
    /// First name (components from the root) of each multiply-linked inode.
    links: Mutex<FirstNames>,
    /// Scanned directories by slot, assembled into one tree at the end.
    done: Mutex<Vec<Option<Arc<DirNode>>>>,
}

/// Scans and copies the tree under `src_fd` into `dst_fd` (the destination
/// root), within `budget`: pass 1 in parallel, then hard links, then the
/// directories' metadata (as [`super::copy_tree`]). Over the budget: an
/// [`AgentError::NoSpace`] with what was reserved so far, and DST holds a
/// partial copy (the caller removes it).
pub(crate) fn copy_streamed(
    ctx: &CopyCtx<'_>,
    src_fd: OwnedFd,
    dst_id: (u64, u64),
    root_meta: &Meta,
    dst_fd: OwnedFd,
    budget: &Budget,
    threads: usize,
) -> Result<Streamed, AgentError> {
    let src_root = ctx.src_root;
    let sh = Shared {
        scan: ScanShared::new(src_root, dst_id),
        budget,
        src_root,
        dst_root: ctx.dst_root,
        alloc: AtomicU64::new(0),
        inodes: AtomicU64::new(0),
        links: Mutex::new(HashMap::new()),
        done: Mutex::new(vec![None]),
    };
    let root_dst = rustix::io::dup(&dst_fd).ctx("dup", || ctx.dst_root.to_path_buf())?;
    let first = Job::Dir {
        scan: ScanJob::root(src_fd),
        dst: Dst::Root(root_dst),
    };
    crate::pool::run(
        threads,
        vec![first],
        || (scan_buffer(), Vec::new()),
        |(scan_buf, buf), job, out| run_job(ctx, &sh, job, out, scan_buf, buf),
    )?;
    let done = sh.done.into_inner().unwrap_or_else(PoisonError::into_inner);
    let mut nodes = Vec::with_capacity(done.len());
    for slot in done {
        // Every job has ended, so each directory has one owner left.
        nodes.push(match slot.map(Arc::into_inner) {
            Some(Some(node)) => Some(node),
            Some(None) => {
                return Err(AgentError::io(
                    "assemble the scanned tree",
                    src_root.to_path_buf(),
                    std::io::Error::other("a directory is still in use"),
                ));
            }
            None => None,
        });
    }
    let mut root = assemble(&mut nodes, 0);
    let (skipped, warnings) = sh.scan.finish();
    let mut totals = Totals {
        skipped,
        alloc: sh.alloc.load(Relaxed),
        inodes: sh.inodes.load(Relaxed),
        ..Totals::default()
    };
    root.has_links = count(&mut root, &mut totals);
    let dst = dst_fd.as_fd();
    if root.has_links {
        link_pass(ctx, dst, dst, &root, &mut Vec::new())?;
    }
    finalize_dirs(ctx, dst, &root, threads)?;
    finalize_root(ctx, dst, &root, root_meta)?;
    // Freeing the tree (an allocation or more per entry: ~0.6 ms for
    // 12,000 files, with a CPU idle) is work nobody waits for: a thread of
    // its own does it while the caller writes the markers.
    // (Without a thread, the tree is freed here, by the failed spawn.)
    let _ = std::thread::Builder::new().spawn(move || drop(root));
    Ok(Streamed { totals, warnings })
}

fn run_job(
    ctx: &CopyCtx<'_>,
    sh: &Shared<'_>,
    job: Job,
    out: &mut Vec<Job>,
    scan_buf: &mut [MaybeUninit<u8>],
    buf: &mut Vec<u8>,
) -> Result<(), AgentError> {
    match job {
        Job::Entries {
            dir,
            node,
            from,
            to,
        } => {
            for e in &node.children[from..to] {
                copy_entry(ctx, &dir, e, buf)?;
            }
            Ok(())
        }
        Job::Dir { scan, dst } => {
            let dst = match dst {
                Dst::Root(fd) => fd,
                Dst::Sub { parent, meta } => {
                    let name = scan.name.as_c_str();
                    let path = || rel_path(sh.dst_root, &parent.rel, Some(name));
                    rustix::fs::mkdirat(
                        parent.dst.as_fd(),
                        name,
                        Mode::from_raw_mode(initial_dir_mode(ctx, &meta)),
                    )
                    .ctx("create directory", path)?;
                    rustix::fs::openat(parent.dst.as_fd(), name, DIR_FLAGS, Mode::empty())
                        .ctx("open directory", path)?
                }
            };
            let mut subs = Vec::new();
            let (mut node, src) = scan_one(&sh.scan, &scan, &mut subs, scan_buf)?;
            claim_links(sh, &scan.rel, &mut node);
            reserve(sh, &node)?;
            let dir = Arc::new(DirRef {
                src,
                dst,
                rel: scan.rel,
            });
            let node = Arc::new(node);
            push_children(out, &dir, &node, subs);
            let mut done = sh.done.lock().unwrap_or_else(PoisonError::into_inner);
            let last = out
                .iter()
                .filter_map(|j| match j {
                    Job::Dir { scan, .. } => Some(scan.slot),
                    Job::Entries { .. } => None,
                })
                .chain([scan.slot])
                .max()
                .unwrap_or(0);
            if done.len() <= last {
                done.resize_with(last + 1, || None);
            }
            done[scan.slot] = Some(node);
            Ok(())
        }
    }
}

/// The entries of `node` that are a later name of an inode already claimed
/// become hard links; the others claim their inode.
fn claim_links(sh: &Shared<'_>, rel: &[CString], node: &mut DirNode) {
    for e in &mut node.children {
        let Some(id) = e.link_id else { continue };
        let mut links = sh.links.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(first) = links.get(&id) {
            e.kind = Kind::HardLink {
                first: first.clone(),
            };
        } else {
            let mut p = rel.to_vec();
            p.push(e.name.clone());
            links.insert(id, Arc::new(p));
        }
    }
}

/// Adds what the entries of `node` take to the reservation; over the free
/// space, the copy stops here (nothing of this directory is created).
fn reserve(sh: &Shared<'_>, node: &DirNode) -> Result<(), AgentError> {
    let (alloc, inodes) = node
        .children
        .iter()
        .map(|e| cost(e, &sh.budget.est))
        .fold((0, 0), |(a, n), (x, y)| (a + x, n + y));
    let alloc = sh.alloc.fetch_add(alloc, Relaxed) + alloc;
    let inodes = sh.inodes.fetch_add(inodes, Relaxed) + inodes;
    if alloc > sh.budget.free_bytes || inodes > sh.budget.free_inodes {
        return Err(AgentError::NoSpace {
            src: sh.src_root.to_path_buf(),
            dst: sh.dst_root.to_path_buf(),
            need_bytes: alloc,
            need_inodes: inodes,
            free_bytes: sh.budget.free_bytes,
            free_inodes: sh.budget.free_inodes,
        });
    }
    Ok(())
}

/// The jobs of a scanned directory: its other entries in chunks (as
/// [`super::copy_tree`] makes them), each subdirectory a job.
fn push_children(out: &mut Vec<Job>, dir: &Arc<DirRef>, node: &Arc<DirNode>, subs: Vec<ScanJob>) {
    let mut subs = subs.into_iter();
    let children: &[Entry] = &node.children;
    let mut start = None;
    let flush = |out: &mut Vec<Job>, from: usize, to: usize| {
        let mut start = from;
        let mut bytes = 0u64;
        for (i, e) in children.iter().enumerate().take(to).skip(from) {
            if let Kind::File = e.kind {
                bytes += e.meta.size;
            }
            if i + 1 - start >= CHUNK || bytes >= CHUNK_BYTES || i + 1 == to {
                out.push(Job::Entries {
                    dir: dir.clone(),
                    node: node.clone(),
                    from: start,
                    to: i + 1,
                });
                start = i + 1;
                bytes = 0;
            }
        }
    };
    for (i, e) in children.iter().enumerate() {
        if let Kind::Dir(_) = &e.kind {
            if let Some(from) = start.take() {
                flush(out, from, i);
            }
            // scan_one pushed one job per subdirectory, in the order of the entries.
            if let Some(scan) = subs.next() {
                out.push(Job::Dir {
                    scan,
                    dst: Dst::Sub {
                        parent: dir.clone(),
                        meta: e.meta,
                    },
                });
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(from) = start {
        flush(out, from, children.len());
    }
}
