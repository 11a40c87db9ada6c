//! The copy equals `cp -a` run as root, entry by entry, on disk and on tmpfs.

use std::os::unix::net::UnixListener;
use std::path::Path;

use crate::util::*;

/// Every kind of entry the seed must keep; returns the relative path of the
/// very deep file.
fn build_fixture(src: &Path) {
    mkdir(src, 0o755);
    write(&src.join("plain.txt"), b"hello\n", 0o644);
    write(&src.join("empty"), b"", 0o644);
    write(&src.join("exec.sh"), b"#!/bin/sh\necho hi\n", 0o755);
    write(&src.join("ro"), b"read only", 0o444);
    write(&src.join("none"), b"no permissions at all", 0o000);
    write(&src.join("secret"), b"owned by someone else", 0o600);
    lchown(&src.join("secret"), 1234, 5678);
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    write(&src.join("big.bin"), &big, 0o644);

    // Sparse: 20 MiB with two 4 KiB data extents.
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::create(src.join("sparse.img")).expect("create sparse");
        f.write_all_at(&[7u8; 4096], 0).expect("write");
        f.write_all_at(&[9u8; 4096], 10 << 20).expect("write");
        f.set_len(20 << 20).expect("set_len");
        chmod(&src.join("sparse.img"), 0o640);
    }

    write(&src.join("setuid"), b"suid", 0o4755);
    write(&src.join("setgid"), b"sgid", 0o2755);
    lchown(&src.join("setgid"), 0, 50);
    write(&src.join("setuid-other"), b"suid of 1234", 0o4750);
    lchown(&src.join("setuid-other"), 1234, 5678);
    // chown clears setuid: set the mode again after it.
    chmod(&src.join("setuid-other"), 0o4750);

    mkdir(&src.join("owned-dir"), 0o750);
    write(&src.join("owned-dir/inside"), b"inside", 0o640);
    lchown(&src.join("owned-dir/inside"), 1234, 5678);
    lchown(&src.join("owned-dir"), 1234, 5678);
    mkdir(&src.join("sticky"), 0o1777);
    mkdir(&src.join("setgid-dir"), 0o2775);
    mkdir(&src.join("rodir"), 0o755);
    write(&src.join("rodir/file.txt"), b"in a read-only dir", 0o644);
    chmod(&src.join("rodir"), 0o555);
    mkdir(&src.join("emptydir"), 0o700);
    mkdir(&src.join("a/b/c/d/e/f/g/h"), 0o755);
    write(&src.join("a/b/c/d/e/f/g/h/deep.xml"), b"<x/>", 0o644);

    write(&src.join("xattr.txt"), b"with xattrs", 0o644);
    set_xattr(&src.join("xattr.txt"), "user.foo", b"bar");
    set_xattr(&src.join("xattr.txt"), "user.empty", b"");
    set_xattr(&src.join("xattr.txt"), "user.big", &[b'v'; 3000]);
    mkdir(&src.join("xattr-dir"), 0o755);
    set_xattr(&src.join("xattr-dir"), "user.dir", b"1");
    write(&src.join("cap-bin"), b"\x7fELF pretend", 0o755);
    set_xattr(
        &src.join("cap-bin"),
        "security.capability",
        &capability_xattr(),
    );

    mkdir(&src.join("links"), 0o755);
    mkdir(&src.join("other"), 0o755);
    write(&src.join("links/a"), b"linked thrice", 0o644);
    std::fs::hard_link(src.join("links/a"), src.join("links/b")).expect("link");
    std::fs::hard_link(src.join("links/a"), src.join("other/c")).expect("link");

    std::os::unix::fs::symlink("plain.txt", src.join("sym-rel")).expect("symlink");
    std::os::unix::fs::symlink("/etc/hostname", src.join("sym-abs")).expect("symlink");
    std::os::unix::fs::symlink("nowhere/at/all", src.join("sym-dangling")).expect("symlink");
    std::os::unix::fs::symlink("owned-dir", src.join("sym-dir")).expect("symlink");
    std::os::unix::fs::symlink("secret", src.join("sym-owned")).expect("symlink");
    lchown(&src.join("sym-owned"), 1234, 5678);

    rustix::fs::mknodat(
        rustix::fs::CWD,
        src.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o640),
        0,
    )
    .expect("mkfifo");
    lchown(&src.join("fifo"), 1234, 5678);
    let sock = UnixListener::bind(src.join("sock")).expect("bind socket");
    drop(sock);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        src.join("null-dev"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o666),
        rustix::fs::makedev(1, 3),
    )
    .expect("mknod");

    // Names that are not UTF-8.
    write(&path_of(src, b"caf\xe9.txt"), b"latin-1 name", 0o644);
    mkdir(&path_of(src, b"d\xff\xfe"), 0o755);
    write(&path_of(src, b"d\xff\xfe/\x80\x81"), b"bytes", 0o600);

    // Nanosecond times, old and recent.
    set_mtime(&src.join("plain.txt"), 1_234_567_890, 123_456_789);
    set_mtime(&src.join("sym-rel"), 1_111_111_111, 999_999_999);
    set_mtime(&src.join("fifo"), 1_000_000_000, 1);

    // Directory times last (creating entries changes them).
    set_mtime(&src.join("emptydir"), 1_500_000_000, 42);
    set_mtime(&src.join("a"), 1_600_000_000, 500_000_000);
}

/// GNU cp 9.1 fails on paths longer than PATH_MAX ("File name too long"),
/// so that part of the tree is added after the `cp -a` reference is made,
/// and compared with the source itself. Returns the deep file's path.
fn add_deep_tree(src: &Path) -> Vec<u8> {
    mkdir(&src.join("deep"), 0o755);
    let deep = deep_path(&src.join("deep"), 25);
    assert!(deep.len() > 4096, "the deep path must exceed PATH_MAX");
    let mut full = b"deep/".to_vec();
    full.extend_from_slice(&deep);
    full
}

fn fidelity_on(dst_base: &Path, label: &str) {
    let work = tempdir();
    let src = work.path().join("src");
    build_fixture(&src);
    let cp_dst = dst_base.join("cp");
    cp_a(&src, &cp_dst);
    let deep = add_deep_tree(&src);
    let src_tree = walk(&src);
    assert!(src_tree.len() > 70, "fixture too small: {}", src_tree.len());
    let ours = dst_base.join("rofs");
    let state = work.path().join("state");
    let out = seed(&src, &ours, Some(&state), &[]);
    assert_ok(&out);
    let log = stderr(&out);

    let (mut expected, cp_extra) = walk_extra(&cp_dst);
    for (p, e) in &src_tree {
        if p.is_empty() || p.starts_with(b"deep") {
            expected.insert(p.clone(), e.clone());
        }
    }
    let (actual, our_extra) = walk_extra(&ours);
    // Sockets and devices: cp -a recreates them, the seed skips them.
    assert_eq!(
        expected.remove(b"sock".as_slice()).map(|s| s.kind),
        Some("socket")
    );
    assert_eq!(
        expected.remove(b"null-dev".as_slice()).map(|s| s.kind),
        Some("chardev")
    );
    assert!(
        log.contains("skipping") && log.contains("sock: sockets are not copied"),
        "{log}"
    );
    assert!(
        log.contains("null-dev: device nodes are not copied"),
        "{log}"
    );
    assert_same(&expected, &actual, &format!("rofs vs cp -a ({label})"));

    // The comparison covered what it claims to.
    let get = |p: &[u8]| {
        actual
            .get(p)
            .unwrap_or_else(|| panic!("{} missing", show(p)))
    };
    assert!(get(&deep).content.is_some());
    assert_eq!(get(b"setuid").mode, 0o4755);
    assert_eq!(get(b"setuid-other").mode, 0o4750);
    assert_eq!((get(b"secret").uid, get(b"secret").gid), (1234, 5678));
    assert_eq!(get(b"sym-owned").uid, 1234);
    assert_eq!(get(b"sticky").mode, 0o1777);
    assert_eq!(get(b"rodir").mode, 0o555);
    assert_eq!(get(b"plain.txt").mtime, (1_234_567_890, 123_456_789));
    assert_eq!(get(b"sym-rel").mtime, (1_111_111_111, 999_999_999));
    assert_eq!(get(b"emptydir").mtime, (1_500_000_000, 42));
    assert_eq!(
        get(b"sym-abs").target.as_deref(),
        Some(b"/etc/hostname".as_slice())
    );
    assert_eq!(get(b"fifo").kind, "fifo");
    assert_eq!(get(b"links/b").nlink, 3);
    assert_eq!(
        get(b"other/c").link_group.as_deref(),
        Some(b"links/a".as_slice())
    );
    assert_eq!(
        get(b"xattr.txt")
            .xattrs
            .get(b"user.foo".as_slice())
            .map(Vec::as_slice),
        Some(b"bar".as_slice())
    );
    assert!(
        get(b"cap-bin")
            .xattrs
            .contains_key(b"security.capability".as_slice())
    );
    assert!(get(b"caf\xe9.txt").content.is_some());
    assert_eq!(get(b"").mode, 0o755);
    // Holes kept: no more blocks than cp -a's copy, far fewer than the size.
    let ours_blocks = our_extra[b"sparse.img".as_slice()].blocks;
    let cp_blocks = cp_extra[b"sparse.img".as_slice()].blocks;
    assert!(
        ours_blocks <= cp_blocks + 16,
        "sparse: ours {ours_blocks} vs cp {cp_blocks}"
    );
    assert!(
        ours_blocks * 512 < (2 << 20),
        "sparse file lost its holes: {ours_blocks} blocks"
    );

    // The summary line.
    assert!(log.contains(" start ("), "{log}");
    assert!(log.contains("done: "), "{log}");
    assert!(log.contains("2 skipped"), "{log}");
    assert!(log.contains("2 hard links"), "{log}");
    assert!(
        !log.contains("could not keep"),
        "root keeps everything: {log}"
    );
}

#[test]
fn same_as_cp_a_on_disk() {
    if !root_or_skip("same_as_cp_a_on_disk") {
        return;
    }
    let dst = tempdir();
    fidelity_on(dst.path(), "disk");
}

#[test]
fn same_as_cp_a_on_tmpfs() {
    if !root_or_skip("same_as_cp_a_on_tmpfs") {
        return;
    }
    let fs = Tmpfs::mount("size=256m");
    fidelity_on(fs.path(), "tmpfs");
}

/// The walker can see a difference: a deliberately altered copy is caught.
#[test]
fn walker_detects_differences() {
    let work = tempdir();
    let a = work.path().join("a");
    mkdir(&a, 0o755);
    write(&a.join("f"), b"one", 0o644);
    set_mtime(&a.join("f"), 1_000_000_000, 5);
    let b = work.path().join("b");
    mkdir(&b, 0o755);
    write(&b.join("f"), b"one", 0o644);
    set_mtime(&b.join("f"), 1_000_000_000, 5);
    set_mtime(&a, 1_000_000_000, 0);
    set_mtime(&b, 1_000_000_000, 0);
    assert!(diff(&walk(&a), &walk(&b)).is_empty());
    set_mtime(&b.join("f"), 1_000_000_000, 6);
    assert_eq!(
        diff(&walk(&a), &walk(&b)).len(),
        1,
        "nanoseconds must count"
    );
    set_mtime(&b.join("f"), 1_000_000_000, 5);
    chmod(&b.join("f"), 0o4644);
    assert_eq!(diff(&walk(&a), &walk(&b)).len(), 1, "setuid must count");
    chmod(&b.join("f"), 0o644);
    write(&b.join("f"), b"two", 0o644);
    set_mtime(&b.join("f"), 1_000_000_000, 5);
    assert_eq!(diff(&walk(&a), &walk(&b)).len(), 1, "content must count");
}
