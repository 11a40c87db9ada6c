//! The agent run as an unprivileged user (the app's runAsUser) over a
//! root-owned tree: it succeeds, the copy belongs to that user, modes are
//! kept but setuid/setgid, and one line says what could not be kept.

use std::path::Path;
use std::process::{Command, Output};

use crate::util::*;

const UID: u32 = 10001;

fn as_user(args: &[&std::ffi::OsStr]) -> Output {
    Command::new("setpriv")
        .args(["--reuid", "10001", "--regid", "10001", "--clear-groups"])
        .args(args)
        .output()
        .expect("run setpriv")
}

fn seed_as_user(src: &Path, dst: &Path, state: &Path) -> Output {
    as_user(&[
        AGENT.as_ref(),
        "seed".as_ref(),
        "--state-dir".as_ref(),
        state.as_os_str(),
        src.as_os_str(),
        dst.as_os_str(),
    ])
}

/// An emptyDir as the kubelet makes it: root-owned, mode 0777.
fn empty_dir(p: &Path) {
    mkdir(p, 0o777);
}

#[test]
fn non_root_seed_over_root_owned_tree() {
    if !root_or_skip("non_root_seed_over_root_owned_tree") {
        return;
    }
    let work = tempdir();
    let src = work.path().join("src");
    mkdir(&src, 0o755);
    write(&src.join("conf.xml"), b"<conf/>", 0o644);
    write(&src.join("run.sh"), b"#!/bin/sh\n", 0o755);
    write(&src.join("suid"), b"suid", 0o4755);
    write(&src.join("sgid"), b"sgid", 0o2755);
    write(&src.join("cap"), b"cap", 0o755);
    set_xattr(&src.join("cap"), "security.capability", &capability_xattr());
    write(&src.join("user-xattr"), b"x", 0o644);
    set_xattr(&src.join("user-xattr"), "user.note", b"kept");
    mkdir(&src.join("ro-dir"), 0o755);
    write(&src.join("ro-dir/inside"), b"in", 0o644);
    chmod(&src.join("ro-dir"), 0o555);
    mkdir(&src.join("cache/a/b"), 0o755);
    write(&src.join("cache/a/b/c.properties"), b"k=v", 0o644);
    std::fs::hard_link(src.join("conf.xml"), src.join("cache/conf-link.xml")).expect("link");
    std::os::unix::fs::symlink("conf.xml", src.join("conf-sym")).expect("symlink");
    set_mtime(&src.join("conf.xml"), 1_234_567_890, 987_654_321);

    let dst = work.path().join("vol");
    empty_dir(&dst);
    let state = work.path().join("state");
    empty_dir(&state);

    let out = seed_as_user(&src, &dst, &state);
    assert_ok(&out);
    let log = stderr(&out);
    assert!(!log.contains("preserve ownership"), "{log}");
    let nk = log
        .lines()
        .find(|l| l.contains("could not keep"))
        .unwrap_or_else(|| panic!("no 'could not keep' summary line:\n{log}"));
    assert!(nk.contains("ownership"), "{nk}");
    assert!(nk.contains("setuid/setgid bits of 2 entries"), "{nk}");
    assert!(nk.contains("security.capability"), "{nk}");

    let expected = walk(&src);
    let actual = walk(&dst);
    assert_eq!(expected.len(), actual.len());
    for (p, e) in &expected {
        if p.is_empty() {
            continue; // the volume root belongs to root: its mode cannot change
        }
        let a = &actual[p];
        assert_eq!((a.uid, a.gid), (UID, UID), "{} owner", show(p));
        let want_mode = e.mode & !0o6000;
        if e.kind != "symlink" {
            assert_eq!(a.mode, want_mode, "{} mode", show(p));
        }
        assert_eq!(a.kind, e.kind, "{}", show(p));
        assert_eq!(a.content, e.content, "{} content", show(p));
        assert_eq!(a.target, e.target, "{} target", show(p));
        assert_eq!(a.mtime, e.mtime, "{} mtime", show(p));
        assert_eq!(a.link_group, e.link_group, "{} hard links", show(p));
    }
    assert_eq!(
        actual[b"user-xattr".as_slice()].xattrs,
        expected[b"user-xattr".as_slice()].xattrs
    );
    assert!(actual[b"cap".as_slice()].xattrs.is_empty());

    // The app (same user) can write what was seeded.
    let app = as_user(&[
        "sh".as_ref(),
        "-c".as_ref(),
        "echo more >> \"$1/conf.xml\" && echo new > \"$1/cache/a/b/new.txt\" && mkdir \"$1/cache/x\"".as_ref(),
        "sh".as_ref(),
        dst.as_os_str(),
    ]);
    assert!(
        app.status.success(),
        "app could not write: {}",
        stderr(&app)
    );

    // Re-run as the user: skipped, nothing overwritten.
    let again = seed_as_user(&src, &dst, &state);
    assert_ok(&again);
    assert!(stderr(&again).contains("already seeded"));
    assert!(dst.join("cache/a/b/new.txt").exists());
}

#[test]
fn non_root_unreadable_source_fails_clearly() {
    if !root_or_skip("non_root_unreadable_source_fails_clearly") {
        return;
    }
    let work = tempdir();
    let src = work.path().join("src");
    mkdir(&src, 0o755);
    write(&src.join("ok"), b"ok", 0o644);
    write(&src.join("private.key"), b"secret", 0o600);
    let dst = work.path().join("vol");
    empty_dir(&dst);
    let state = work.path().join("state");
    empty_dir(&state);
    let out = seed_as_user(&src, &dst, &state);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let log = stderr(&out);
    assert!(
        log.contains("private.key") && log.contains("Permission denied"),
        "{log}"
    );
    let done: Vec<_> = std::fs::read_dir(&state)
        .expect("state dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".done"))
        .collect();
    assert!(
        done.is_empty(),
        "a failed seed must not write the done marker"
    );
}
