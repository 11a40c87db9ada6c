//! The scan: one walk of the source tree that stats every entry exactly once
//! and keeps the result in memory. The free-space check needs the total
//! before any byte is copied, and the copy then works from this tree without
//! a second `stat`. Every call is relative to an open directory fd
//! (`openat`/`fstatat`), so paths longer than PATH_MAX are fine.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use crate::meta::{Meta, Xattrs, read_xattrs_at, read_xattrs_fd};
use crate::seed::{IoContext, SeedError};

pub(crate) const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

pub(crate) struct Entry {
    pub name: CString,
    pub meta: Meta,
    pub kind: Kind,
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
        first: std::sync::Arc<Vec<CString>>,
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

pub(crate) struct Scanner<'a> {
    pub src_root: &'a Path,
    /// Allocation unit of the destination (statvfs f_frsize).
    pub unit: u64,
    /// Directories cost blocks on disk filesystems, not on tmpfs.
    pub dirs_cost_blocks: bool,
    /// (dev, ino) of the destination, never copied into itself.
    pub dst_id: (u64, u64),
    pub totals: Totals,
    pub warnings: Vec<String>,
    links: HashMap<(u64, u64), std::sync::Arc<Vec<CString>>>,
    stack: Vec<CString>,
    buf: Vec<MaybeUninit<u8>>,
}

fn round_up(n: u64, unit: u64) -> u64 {
    n.div_ceil(unit) * unit
}

impl<'a> Scanner<'a> {
    pub fn new(src_root: &'a Path, unit: u64, dirs_cost_blocks: bool, dst_id: (u64, u64)) -> Self {
        Scanner {
            src_root,
            unit: unit.max(512),
            dirs_cost_blocks,
            dst_id,
            totals: Totals::default(),
            warnings: Vec::new(),
            links: HashMap::new(),
            stack: Vec::new(),
            buf: vec![MaybeUninit::uninit(); 64 * 1024],
        }
    }

    pub fn path_of(&self, name: Option<&CStr>) -> PathBuf {
        rel_path(self.src_root, &self.stack, name)
    }

    /// Scans the children of the open directory `dir`.
    pub fn scan_dir(&mut self, dir: BorrowedFd<'_>) -> Result<DirNode, SeedError> {
        let xattrs = read_xattrs_fd(dir).ctx("read xattrs of", || self.path_of(None))?;
        // Read all names first: the buffer is reused by the recursion.
        let mut names: Vec<(CString, FileType)> = Vec::new();
        {
            let mut buf = std::mem::take(&mut self.buf);
            let mut rd = rustix::fs::RawDir::new(dir, &mut buf);
            while let Some(ent) = rd.next() {
                let ent = ent
                    .map_err(io::Error::from)
                    .ctx("read directory", || self.path_of(None))?;
                let name = ent.file_name();
                if name == c"." || name == c".." {
                    continue;
                }
                names.push((name.to_owned(), ent.file_type()));
            }
            self.buf = buf;
        }
        let mut children = Vec::with_capacity(names.len());
        let mut has_links = false;
        for (name, _dtype) in names {
            let st = rustix::fs::statat(dir, &name, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(io::Error::from)
                .ctx("stat", || self.path_of(Some(&name)))?;
            let meta = Meta::from_stat(&st);
            let ftype = FileType::from_raw_mode(st.st_mode);
            let id = (st.st_dev, st.st_ino);
            if ftype != FileType::Directory && st.st_nlink > 1 && is_copied(ftype) {
                if let Some(first) = self.links.get(&id) {
                    self.totals.hardlinks += 1;
                    has_links = true;
                    children.push(Entry {
                        name,
                        meta,
                        kind: Kind::HardLink {
                            first: first.clone(),
                        },
                    });
                    continue;
                }
                let mut path = self.stack.clone();
                path.push(name.clone());
                self.links.insert(id, std::sync::Arc::new(path));
            }
            let kind = match ftype {
                FileType::RegularFile => {
                    self.totals.files += 1;
                    self.totals.inodes += 1;
                    self.totals.bytes += meta.size;
                    let allocated = meta.blocks * 512;
                    let used = if allocated < meta.size {
                        allocated
                    } else {
                        meta.size
                    };
                    self.totals.alloc += round_up(used, self.unit);
                    Kind::File
                }
                FileType::Directory => {
                    if id == self.dst_id {
                        self.skip(&name, "it is the destination itself");
                        continue;
                    }
                    self.totals.dirs += 1;
                    self.totals.inodes += 1;
                    if self.dirs_cost_blocks {
                        self.totals.alloc += round_up(meta.size.max(1), self.unit);
                    }
                    let fd: OwnedFd = rustix::fs::openat(dir, &name, DIR_FLAGS, Mode::empty())
                        .map_err(io::Error::from)
                        .ctx("open directory", || self.path_of(Some(&name)))?;
                    self.stack.push(name);
                    let node = self.scan_dir(fd.as_fd());
                    let name = self.stack.pop().unwrap_or_default();
                    let node = node?;
                    has_links |= node.has_links;
                    children.push(Entry {
                        name,
                        meta,
                        kind: Kind::Dir(node),
                    });
                    continue;
                }
                FileType::Symlink => {
                    self.totals.symlinks += 1;
                    self.totals.inodes += 1;
                    // Fast symlinks live in the inode; long targets take a block.
                    if meta.size > 60 {
                        self.totals.alloc += self.unit;
                    }
                    Kind::Symlink {
                        xattrs: read_xattrs_at(dir, &name),
                    }
                }
                FileType::Fifo => {
                    self.totals.fifos += 1;
                    self.totals.inodes += 1;
                    Kind::Fifo {
                        xattrs: read_xattrs_at(dir, &name),
                    }
                }
                FileType::Socket => {
                    self.skip(&name, "sockets are not copied");
                    Kind::Skipped
                }
                FileType::CharacterDevice | FileType::BlockDevice => {
                    self.skip(&name, "device nodes are not copied");
                    Kind::Skipped
                }
                FileType::Unknown => {
                    self.skip(&name, "unknown file type");
                    Kind::Skipped
                }
            };
            children.push(Entry { name, meta, kind });
        }
        Ok(DirNode {
            children,
            xattrs,
            has_links,
        })
    }

    fn skip(&mut self, name: &CStr, why: &str) {
        self.totals.skipped += 1;
        let path = self.path_of(Some(name));
        self.warnings
            .push(format!("skipping {}: {why}", path.display()));
    }
}

fn is_copied(t: FileType) -> bool {
    matches!(
        t,
        FileType::RegularFile | FileType::Symlink | FileType::Fifo
    )
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
