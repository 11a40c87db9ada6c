//! The command line: help that teaches, usage errors exit 2, install.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::util::*;

fn s(x: &str) -> &OsStr {
    OsStr::new(x)
}

#[test]
fn help_texts() {
    let o = agent(&[s("--help")]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("rofs-agent seed [OPTIONS] SRC DST"), "{out}");
    assert!(out.contains("rofs-agent install DIR"), "{out}");
    let o = agent(&[s("seed"), s("--help")]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "--state-dir",
        ".rofs-seeded",
        "--force",
        "Exit status",
        "sizeLimit",
        "setuid",
    ] {
        assert!(out.contains(needle), "seed --help lacks {needle}:\n{out}");
    }
    let o = agent(&[s("install"), s("-h")]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("0755"));
    let o = agent(&[s("--version")]);
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("rofs-agent "));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec![],
        vec!["frobnicate"],
        vec!["seed"],
        vec!["seed", "/only-src"],
        vec!["seed", "a", "b", "c"],
        vec!["seed", "--bogus", "a", "b"],
        vec!["seed", "--state-dir"],
        vec!["seed", "--threads", "zero", "a", "b"],
        vec!["seed", "a", "/same", "b", "/same"],
        vec!["install"],
        vec!["install", "a", "b"],
    ] {
        let os: Vec<&OsStr> = args.iter().map(|a| s(a)).collect();
        let o = agent(&os);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("Usage"), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn install_copies_itself_atomically() {
    let work = tempdir();
    let dir = work.path().join("bin");
    let o = agent(&[s("install"), dir.as_os_str()]);
    assert_ok(&o);
    let installed = dir.join("rofs-agent");
    assert_eq!(
        std::fs::read(&installed).expect("installed"),
        std::fs::read(AGENT).expect("agent")
    );
    let mode = std::fs::metadata(&installed)
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o755);
    assert_eq!(
        std::fs::read_dir(&dir).expect("dir").count(),
        1,
        "no temp file left"
    );
    let v = Command::new(&installed)
        .arg("--version")
        .output()
        .expect("run installed");
    assert!(v.status.success());
    // Again over an existing binary (a restarted init container).
    assert_ok(&agent(&[s("install"), dir.as_os_str()]));
}

#[test]
fn install_as_any_user() {
    if !root_or_skip("install_as_any_user") {
        return;
    }
    let work = tempdir();
    let dir = work.path().join("shared");
    mkdir(&dir, 0o1777);
    let o = Command::new("setpriv")
        .args([
            "--reuid",
            "10001",
            "--regid",
            "10001",
            "--clear-groups",
            AGENT,
            "install",
        ])
        .arg(&dir)
        .output()
        .expect("setpriv");
    assert_ok(&o);
    let meta = std::fs::metadata(dir.join("rofs-agent")).expect("installed");
    assert_eq!(meta.permissions().mode() & 0o7777, 0o755);
}
