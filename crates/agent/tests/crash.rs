//! Killed at any point, the next run produces a complete, exact copy: no
//! truncated file survives, no nesting, no done marker before the end.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::*;

fn done_markers(state: &Path) -> usize {
    std::fs::read_dir(state)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".done"))
                .count()
        })
        .unwrap_or(0)
}

fn seed_cmd(src: &Path, dst: &Path, state: &Path, threads: &str) -> Command {
    let mut c = Command::new(AGENT);
    c.arg("seed")
        .arg("--threads")
        .arg(threads)
        .arg("--state-dir")
        .arg(state)
        .arg(src)
        .arg(dst);
    c
}

#[test]
fn crash_at_many_points_then_rerun() {
    if !root_or_skip("crash_at_many_points_then_rerun") {
        return;
    }
    let work = tempdir();
    let src = work.path().join("src");
    build_bulk(&src, 3000, 3);
    let reference = work.path().join("ref");
    cp_a(&src, &reference);
    let expected = walk(&reference);

    // 1. Fault injection: abort after exactly N files (a truncated file is
    //    left behind), then a clean run.
    for (i, n) in [0u64, 1, 2, 57, 1000, 2999].into_iter().enumerate() {
        let dst = work.path().join(format!("fault{i}"));
        let state = work.path().join(format!("state-fault{i}"));
        let threads = if i % 2 == 0 { "1" } else { "4" };
        let out = seed_cmd(&src, &dst, &state, threads)
            .env("ROFS_AGENT_FAULT_AFTER_FILES", n.to_string())
            .output()
            .expect("run");
        assert_eq!(
            out.status.signal(),
            Some(6),
            "fault after {n} files should abort: {:?} {}",
            out.status,
            stderr(&out)
        );
        assert_eq!(done_markers(&state), 0, "no done marker after a crash");
        let again = seed_cmd(&src, &dst, &state, threads).output().expect("run");
        assert_ok(&again);
        assert!(stderr(&again).contains("interrupted"), "{}", stderr(&again));
        assert_eq!(done_markers(&state), 1);
        assert_same(
            &expected,
            &walk(&dst),
            &format!("after a fault at {n} files"),
        );
    }

    // 2. SIGKILL after varied delays (deterministic pseudo-random), twice in
    //    a row sometimes, then a clean run.
    let start = Instant::now();
    let full = seed_cmd(
        &src,
        &work.path().join("timing"),
        &work.path().join("st"),
        "2",
    )
    .output()
    .expect("run");
    assert_ok(&full);
    let run_time = start.elapsed().max(Duration::from_millis(20));
    let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
    let mut killed_midway = 0;
    for i in 0..12 {
        let dst = work.path().join(format!("kill{i}"));
        let state = work.path().join(format!("state-kill{i}"));
        let kills = if i % 3 == 0 { 2 } else { 1 };
        for _ in 0..kills {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let frac = (rng % 1000) as f64 / 1000.0;
            let mut child = seed_cmd(&src, &dst, &state, "3")
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn");
            std::thread::sleep(run_time.mul_f64(frac));
            let _ = child.kill();
            let status = child.wait().expect("wait");
            if status.signal() == Some(9) {
                if done_markers(&state) == 0 {
                    killed_midway += 1;
                } else {
                    // Killed after the done marker was made durable, before exiting: then
                    // the copy must already be complete (the marker never lies).
                    assert_same(
                        &expected,
                        &walk(&dst),
                        &format!("killed after the done marker, run {i}"),
                    );
                }
            }
        }
        let again = seed_cmd(&src, &dst, &state, "3").output().expect("run");
        assert_ok(&again);
        assert_same(&expected, &walk(&dst), &format!("after SIGKILL run {i}"));
    }
    assert!(
        killed_midway >= 3,
        "the kills should land mid-copy ({killed_midway})"
    );
}
