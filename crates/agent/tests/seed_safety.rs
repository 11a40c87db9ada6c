//! Seed and install under attack and accident (issue 9): concurrent seeds
//! of one DST, a node reboot that keeps a disk volume but not the memory
//! state volume, symlinks planted at temporary names in shared directories.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;

fn seed_both(src: &Path, dst: &Path, state: &Path, durable: &Path) -> std::process::Output {
    Command::new(AGENT)
        .arg("seed")
        .arg("--state-dir")
        .arg(state)
        .arg("--durable-state-dir")
        .arg(durable)
        .arg(src)
        .arg(dst)
        .output()
        .expect("run rofs-agent")
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Item 6: two seeds of the same DST at once (a restarted init container
/// racing its predecessor, or two pods sharing a volume): both succeed, and
/// the done marker is only ever over a complete copy.
#[test]
fn concurrent_seeds_of_one_dst_never_mark_a_partial_copy_done() {
    if !root_or_skip("concurrent_seeds_of_one_dst_never_mark_a_partial_copy_done") {
        return;
    }
    let work = tempdir();
    let src = work.path().join("src");
    build_bulk(&src, 300, 1);
    let expected = walk(&src);
    for i in 0..30 {
        let dst = work.path().join(format!("dst{i}"));
        let state = work.path().join(format!("state{i}"));
        let spawn = || {
            Command::new(AGENT)
                .args(["seed", "--threads", "2", "--state-dir"])
                .arg(&state)
                .arg(&src)
                .arg(&dst)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        };
        let (a, b) = (spawn(), spawn());
        for child in [a, b] {
            let out = child.wait_with_output().expect("wait");
            assert_ok(&out);
        }
        let done: Vec<String> = files_in(&state)
            .into_iter()
            .filter(|n| n.ends_with(".done"))
            .collect();
        assert_eq!(done.len(), 1, "run {i}: {done:?}");
        assert_same(
            &expected,
            &walk(&dst),
            &format!("run {i}: DST under the done marker"),
        );
    }
}

/// Item 7: a disk-backed DST keeps its done marker on disk
/// (--durable-state-dir): after a reboot wiped the memory state volume, the
/// seed is skipped and the app's data kept (it used to be refused: "not
/// empty and not seeded by rofs").
#[test]
fn a_disk_dst_is_still_seeded_after_a_reboot() {
    let work = tempdir();
    let src = work.path().join("src");
    build_bulk(&src, 50, 0);
    let dst = work.path().join("dst"); // the test's temporary directory: disk
    let state = work.path().join("state");
    let durable = work.path().join("durable");
    assert_ok(&seed_both(&src, &dst, &state, &durable));
    assert_eq!(
        files_in(&state),
        Vec::<String>::new(),
        "marker of a disk DST in memory"
    );
    assert_eq!(files_in(&durable).len(), 1, "{:?}", files_in(&durable));
    write(&dst.join("app.log"), b"the app's data", 0o644);
    let after_app = walk(&dst);
    std::fs::remove_dir_all(&state).expect("reboot: the memory volume is gone");
    let out = seed_both(&src, &dst, &state, &durable);
    assert_ok(&out);
    assert!(stderr(&out).contains("already seeded"), "{}", stderr(&out));
    assert_same(&after_app, &walk(&dst), "after the reboot");
}

/// Item 7, migration: a marker written by an older agent in --state-dir is
/// honoured once the pod runs with --durable-state-dir too.
#[test]
fn a_marker_in_the_old_place_is_honoured() {
    let work = tempdir();
    let src = work.path().join("src");
    build_bulk(&src, 20, 0);
    let dst = work.path().join("dst");
    let state = work.path().join("state");
    let durable = work.path().join("durable");
    assert_ok(&seed(&src, &dst, Some(&state), &[]));
    write(&dst.join("app.log"), b"the app's data", 0o644);
    let after_app = walk(&dst);
    let out = seed_both(&src, &dst, &state, &durable);
    assert_ok(&out);
    assert!(stderr(&out).contains("already seeded"), "{}", stderr(&out));
    assert_same(&after_app, &walk(&dst), "after the upgrade");
}

/// Item 7: a memory-backed DST keeps its marker in the memory state volume,
/// so after a reboot (both emptied) it is seeded again, never taken for done.
#[test]
fn a_memory_dst_is_seeded_again_after_a_reboot() {
    if !root_or_skip("a_memory_dst_is_seeded_again_after_a_reboot") {
        return;
    }
    let work = tempdir();
    let src = work.path().join("src");
    build_bulk(&src, 50, 0);
    let expected = walk(&src);
    let state = work.path().join("state");
    let durable = work.path().join("durable");
    // DST: a tmpfs mounted at the same path before and after the reboot.
    let dst = work.path().join("mem");
    mkdir(&dst, 0o755);
    let mount = || {
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64m", "tmpfs"])
            .arg(&dst)
            .status()
            .expect("run mount");
        assert!(st.success(), "mount tmpfs on {dst:?}");
    };
    let umount = || {
        let _ = Command::new("umount").arg("-l").arg(&dst).status();
    };
    mount();
    let _unmount = Unmount(&dst);
    assert_ok(&seed_both(&src, &dst, &state, &durable));
    assert_eq!(
        files_in(&durable),
        Vec::<String>::new(),
        "marker of a memory DST on disk"
    );
    assert_eq!(files_in(&state).len(), 1, "{:?}", files_in(&state));
    // Reboot: the tmpfs and the memory state volume come back empty.
    umount();
    mount();
    std::fs::remove_dir_all(&state).expect("reboot");
    let out = seed_both(&src, &dst, &state, &durable);
    assert_ok(&out);
    assert!(!stderr(&out).contains("already seeded"), "{}", stderr(&out));
    assert_same(&expected, &walk(&dst), "after the reboot");
}

/// Unmounts a test's mount when the test ends, whatever happens.
struct Unmount<'a>(&'a Path);

impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0).status();
    }
}

fn victim(work: &Path) -> PathBuf {
    let v = work.join("victim");
    write(&v, b"victim", 0o644);
    v
}

/// Item 8: `install DIR` in a shared (0777) directory: a symlink planted at
/// the temporary name it used to use (`.rofs-agent.tmp<PID>`) is not
/// followed; the target stays as it was.
#[test]
fn install_does_not_follow_a_planted_symlink() {
    let work = tempdir();
    let dir = work.path().join("bin");
    mkdir(&dir, 0o777);
    let v = victim(work.path());
    let planted = dir.join(format!(".rofs-agent.tmp{}", std::process::id()));
    std::os::unix::fs::symlink(&v, &planted).expect("plant");
    let installed = rofs_agent::install::run(&dir).expect("install");
    assert_eq!(std::fs::read(&v).expect("victim"), b"victim");
    assert!(
        std::fs::symlink_metadata(&installed)
            .expect("installed")
            .is_file()
    );
}

/// Item 8: the same for the seed markers' temporary files in --state-dir.
#[test]
fn seed_markers_do_not_follow_planted_symlinks() {
    let work = tempdir();
    let src = work.path().join("src");
    build_bulk(&src, 5, 0);
    let dst = work.path().join("dst");
    let state = work.path().join("state");
    mkdir(&state, 0o777);
    let v = victim(work.path());
    let id = rofs_agent::seed::marker_id(&dst);
    for kind in ["done", "started"] {
        let planted = state.join(format!("{id}.{kind}.tmp{}", std::process::id()));
        std::os::unix::fs::symlink(&v, &planted).expect("plant");
    }
    let opts = rofs_agent::SeedOptions {
        pairs: vec![(src.clone(), dst.clone())],
        state_dir: Some(state.clone()),
        ..Default::default()
    };
    rofs_agent::seed::run(&opts).expect("seed");
    assert_eq!(std::fs::read(&v).expect("victim"), b"victim");
    assert!(
        std::fs::symlink_metadata(state.join(format!("{id}.done")))
            .expect("done")
            .is_file()
    );
}
