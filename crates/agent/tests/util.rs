//! Helpers: running the built agent, root checks, tmpfs mounts, fixture
//! builders, and an independent metadata walker (written for the tests with
//! raw `*at` syscalls; it shares no code with the agent's copy).

use std::collections::{BTreeMap, HashMap};
use std::ffi::{CString, OsStr};
use std::hash::{Hash, Hasher};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

pub const AGENT: &str = env!("CARGO_BIN_EXE_rofs-agent");

/// Tests that need root: fail loudly in CI, skip with a message by hand.
pub fn root_or_skip(test: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test} needs root (CI=true): run the tests as root");
    }
    eprintln!("SKIPPED {test}: needs root (run as root; CI=true makes this a failure)");
    false
}

pub fn agent(args: &[&OsStr]) -> Output {
    Command::new(AGENT)
        .args(args)
        .output()
        .expect("run rofs-agent")
}

pub fn seed(src: &Path, dst: &Path, state: Option<&Path>, extra: &[&str]) -> Output {
    let mut cmd = Command::new(AGENT);
    cmd.arg("seed");
    if let Some(s) = state {
        cmd.arg("--state-dir").arg(s);
    }
    cmd.args(extra).arg(src).arg(dst);
    cmd.output().expect("run rofs-agent")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn assert_ok(o: &Output) {
    assert!(
        o.status.success(),
        "rofs-agent failed: {:?}\nstderr:\n{}",
        o.status,
        stderr(o)
    );
}

/// A temporary directory that other users can traverse.
pub fn tempdir() -> tempfile::TempDir {
    let t = tempfile::Builder::new()
        .prefix("rofs-agent-test")
        .tempdir()
        .expect("tempdir");
    chmod(t.path(), 0o755);
    t
}

pub fn chmod(p: &Path, mode: u32) {
    rustix::fs::chmod(p, Mode::from_raw_mode(mode)).unwrap_or_else(|e| panic!("chmod {p:?}: {e}"));
}

pub fn lchown(p: &Path, uid: u32, gid: u32) {
    rustix::fs::chownat(
        rustix::fs::CWD,
        p,
        Some(rustix::fs::Uid::from_raw(uid)),
        Some(rustix::fs::Gid::from_raw(gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap_or_else(|e| panic!("chown {p:?}: {e}"));
}

pub fn write(p: &Path, content: &[u8], mode: u32) {
    std::fs::write(p, content).unwrap_or_else(|e| panic!("write {p:?}: {e}"));
    chmod(p, mode);
}

pub fn mkdir(p: &Path, mode: u32) {
    std::fs::create_dir_all(p).unwrap_or_else(|e| panic!("mkdir {p:?}: {e}"));
    chmod(p, mode);
}

pub fn set_xattr(p: &Path, name: &str, value: &[u8]) {
    rustix::fs::lsetxattr(p, name, value, rustix::fs::XattrFlags::empty())
        .unwrap_or_else(|e| panic!("setxattr {name} on {p:?}: {e}"));
}

/// Sets atime and mtime (seconds, nanoseconds) without following symlinks.
pub fn set_mtime(p: &Path, sec: i64, nsec: i64) {
    let t = rustix::fs::Timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        p,
        &rustix::fs::Timestamps {
            last_access: t,
            last_modification: t,
        },
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap_or_else(|e| panic!("utimensat {p:?}: {e}"));
}

/// A security.capability value (VFS_CAP_REVISION_2, cap_net_bind_service+ep).
pub fn capability_xattr() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&0x0200_0001u32.to_le_bytes()); // revision 2 | effective
    v.extend_from_slice(&(1u32 << 10).to_le_bytes()); // permitted: CAP_NET_BIND_SERVICE
    v.extend_from_slice(&0u32.to_le_bytes()); // inheritable
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v
}

/// A tmpfs mounted for one test, unmounted on drop.
pub struct Tmpfs {
    pub dir: tempfile::TempDir,
}

impl Tmpfs {
    pub fn mount(options: &str) -> Tmpfs {
        let dir = tempdir();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(st.success(), "mount -t tmpfs -o {options} failed");
        Tmpfs { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// What the walker records of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snap {
    pub kind: &'static str,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Apparent size (not for directories: it depends on their history).
    pub size: u64,
    pub mtime: (i64, i64),
    pub content: Option<u64>,
    pub target: Option<Vec<u8>>,
    pub xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Smallest path sharing this inode (hard-link group), for non-dirs.
    pub link_group: Option<Vec<u8>>,
    pub nlink: u64,
}

/// Extra facts that are compared loosely.
#[derive(Debug, Clone, Default)]
pub struct Extra {
    pub blocks: u64,
}

pub type Tree = BTreeMap<Vec<u8>, Snap>;

/// Walks `root` (the root itself is the entry with the empty path).
pub fn walk(root: &Path) -> Tree {
    walk_extra(root).0
}

pub fn walk_extra(root: &Path) -> (Tree, BTreeMap<Vec<u8>, Extra>) {
    let fd = rustix::fs::open(
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap_or_else(|e| panic!("open {root:?}: {e}"));
    let st = rustix::fs::fstat(&fd).expect("fstat root");
    let mut tree = Tree::new();
    let mut extra = BTreeMap::new();
    let mut inodes: HashMap<u64, Vec<Vec<u8>>> = HashMap::new();
    tree.insert(Vec::new(), snap_of(&st, Some(fd.as_fd()), None, None));
    walk_dir(fd.as_fd(), b"", &mut tree, &mut extra, &mut inodes);
    for paths in inodes.values() {
        let first = paths.iter().min().cloned();
        for p in paths {
            if let Some(s) = tree.get_mut(p) {
                s.link_group = first.clone();
            }
        }
    }
    (tree, extra)
}

fn walk_dir(
    dir: BorrowedFd<'_>,
    prefix: &[u8],
    tree: &mut Tree,
    extra: &mut BTreeMap<Vec<u8>, Extra>,
    inodes: &mut HashMap<u64, Vec<Vec<u8>>>,
) {
    let mut names: Vec<CString> = Vec::new();
    {
        let d = rustix::fs::openat(dir, c".", OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())
            .expect("reopen dir");
        let mut dd = rustix::fs::Dir::new(d).expect("Dir");
        while let Some(e) = dd.read() {
            let e = e.expect("readdir");
            let n = e.file_name();
            if n != c"." && n != c".." {
                names.push(n.to_owned());
            }
        }
    }
    for name in names {
        let mut path = prefix.to_vec();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(name.to_bytes());
        let st = rustix::fs::statat(dir, &name, AtFlags::SYMLINK_NOFOLLOW).expect("statat");
        let ft = FileType::from_raw_mode(st.st_mode);
        extra.insert(
            path.clone(),
            Extra {
                blocks: st.st_blocks as u64,
            },
        );
        match ft {
            FileType::Directory => {
                let sub = rustix::fs::openat(
                    dir,
                    &name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW,
                    Mode::empty(),
                )
                .expect("open subdir");
                tree.insert(path.clone(), snap_of(&st, Some(sub.as_fd()), None, None));
                walk_dir(sub.as_fd(), &path, tree, extra, inodes);
            }
            FileType::RegularFile => {
                let f: OwnedFd = rustix::fs::openat(dir, &name, OFlags::RDONLY, Mode::empty())
                    .expect("open file");
                let content = hash_content(f.as_fd());
                tree.insert(
                    path.clone(),
                    snap_of(&st, Some(f.as_fd()), Some(content), None),
                );
                inodes.entry(st.st_ino).or_default().push(path);
            }
            FileType::Symlink => {
                let t = rustix::fs::readlinkat(dir, &name, Vec::new()).expect("readlink");
                tree.insert(
                    path.clone(),
                    snap_of(&st, None, None, Some(t.as_bytes().to_vec())),
                );
                inodes.entry(st.st_ino).or_default().push(path);
            }
            _ => {
                tree.insert(path.clone(), snap_of(&st, None, None, None));
                inodes.entry(st.st_ino).or_default().push(path);
            }
        }
    }
}

fn hash_content(fd: BorrowedFd<'_>) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = rustix::io::read(fd, &mut buf[..]).expect("read");
        if n == 0 {
            break;
        }
        buf[..n].hash(&mut h);
    }
    h.finish()
}

fn snap_of(
    st: &rustix::fs::Stat,
    fd: Option<BorrowedFd<'_>>,
    content: Option<u64>,
    target: Option<Vec<u8>>,
) -> Snap {
    let ft = FileType::from_raw_mode(st.st_mode);
    let kind = match ft {
        FileType::RegularFile => "file",
        FileType::Directory => "dir",
        FileType::Symlink => "symlink",
        FileType::Fifo => "fifo",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "chardev",
        FileType::BlockDevice => "blockdev",
        FileType::Unknown => "unknown",
    };
    let mut xattrs = BTreeMap::new();
    if let Some(fd) = fd {
        let mut list = vec![0u8; 65536];
        if let Ok(n) = rustix::fs::flistxattr(fd, &mut list[..]) {
            for name in list[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
                let mut v = vec![0u8; 65536];
                let len = rustix::fs::fgetxattr(fd, name, &mut v[..]).expect("getxattr");
                v.truncate(len);
                xattrs.insert(name.to_vec(), v);
            }
        }
    }
    Snap {
        kind,
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        size: if ft == FileType::Directory {
            0
        } else {
            st.st_size as u64
        },
        mtime: (st.st_mtime, st.st_mtime_nsec as i64),
        content,
        target,
        xattrs,
        link_group: None,
        nlink: if ft == FileType::Directory {
            0
        } else {
            st.st_nlink
        },
    }
}

/// Compares two trees entry by entry; returns readable differences.
pub fn diff(expected: &Tree, actual: &Tree) -> Vec<String> {
    let mut out = Vec::new();
    for (p, e) in expected {
        match actual.get(p) {
            None => out.push(format!("missing: {}", show(p))),
            Some(a) if a != e => out.push(format!(
                "differs: {}\n  expected {e:?}\n  actual   {a:?}",
                show(p)
            )),
            Some(_) => {}
        }
    }
    for p in actual.keys() {
        if !expected.contains_key(p) {
            out.push(format!("unexpected: {}", show(p)));
        }
    }
    out
}

pub fn assert_same(expected: &Tree, actual: &Tree, what: &str) {
    let d = diff(expected, actual);
    assert!(
        d.is_empty(),
        "{what}: {} differences:\n{}",
        d.len(),
        d.iter().take(30).cloned().collect::<Vec<_>>().join("\n")
    );
}

pub fn show(p: &[u8]) -> String {
    let s = String::from_utf8_lossy(p);
    if s.len() > 120 {
        format!("{}...({} bytes)", &s[..60], p.len())
    } else {
        s.into_owned()
    }
}

/// `cp -a SRC DST` (DST must not exist): the reference copy.
pub fn cp_a(src: &Path, dst: &Path) {
    let o = Command::new("cp")
        .arg("-a")
        .arg(src)
        .arg(dst)
        .output()
        .expect("run cp");
    assert!(o.status.success(), "cp -a failed: {}", stderr(&o));
}

/// Creates `depth` nested directories of 200-byte names under `base` with
/// `*at` calls (the full path is longer than PATH_MAX) and a file at the
/// bottom; returns the relative path bytes of that file.
pub fn deep_path(base: &Path, depth: usize) -> Vec<u8> {
    let mut cur: OwnedFd =
        rustix::fs::open(base, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())
            .expect("open base");
    let mut rel = Vec::new();
    for i in 0..depth {
        let name = format!("{i:03}{}", "d".repeat(197));
        rustix::fs::mkdirat(&cur, name.as_str(), Mode::from_raw_mode(0o755)).expect("mkdirat");
        cur = rustix::fs::openat(
            &cur,
            name.as_str(),
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
        )
        .expect("openat");
        rel.extend_from_slice(name.as_bytes());
        rel.push(b'/');
    }
    let f = rustix::fs::openat(
        &cur,
        "leaf.txt",
        OFlags::WRONLY | OFlags::CREATE,
        Mode::from_raw_mode(0o640),
    )
    .expect("create leaf");
    rustix::io::write(&f, b"deep down").expect("write leaf");
    rel.extend_from_slice(b"leaf.txt");
    rel
}

pub fn osstr(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

/// A tree of `n` small files over a few directory levels, some larger files,
/// symlinks and hard links: the crash and restart tests copy it.
pub fn build_bulk(root: &Path, n: usize, big: usize) {
    mkdir(root, 0o755);
    for i in 0..n {
        let dir = root.join(format!("d{}/e{}", i % 7, i % 13));
        if !dir.exists() {
            mkdir(&dir, 0o755);
        }
        let body = format!("file {i} {}\n", "x".repeat(i % 3000));
        write(&dir.join(format!("f{i}.txt")), body.as_bytes(), 0o644);
    }
    for i in 0..big {
        let data: Vec<u8> = (0..(1_500_000 + i * 100_000))
            .map(|j| (j * 31 + i) as u8)
            .collect();
        write(&root.join(format!("big{i}.bin")), &data, 0o644);
    }
    std::os::unix::fs::symlink("d0/e0/f0.txt", root.join("link-to-f0")).expect("symlink");
    std::fs::hard_link(root.join("d1/e1/f1.txt"), root.join("hard-f1")).expect("hard link");
}

pub fn path_of(root: &Path, rel: &[u8]) -> PathBuf {
    root.join(osstr(rel))
}
