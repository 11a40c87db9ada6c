//! Re-runs after success never touch what the app wrote; --force re-seeds;
//! a DST rofs did not seed is refused; no nesting after a crash at the end.

use std::path::Path;

use crate::util::*;

fn app_changes(dst: &Path) {
    write(&dst.join("d0/e0/f0.txt"), b"changed by the app", 0o600);
    write(&dst.join("app-new.log"), b"new file", 0o644);
    std::fs::remove_file(dst.join("d1/e1/f1.txt")).expect("remove");
    chmod(&dst.join("d2"), 0o700);
}

fn restart_with(state: Option<&Path>, work: &Path, label: &str) {
    let src = work.join(format!("src-{label}"));
    build_bulk(&src, 200, 1);
    let dst = work.join(format!("dst-{label}"));
    assert_ok(&seed(&src, &dst, state, &[]));
    app_changes(&dst);
    let after_app = walk(&dst);
    for _ in 0..2 {
        let out = seed(&src, &dst, state, &[]);
        assert_ok(&out);
        assert!(stderr(&out).contains("already seeded"), "{}", stderr(&out));
        assert_same(
            &after_app,
            &walk(&dst),
            &format!("{label}: re-run must not touch DST"),
        );
    }
    // --force: the source's contents again, the app's changes gone.
    let out = seed(&src, &dst, state, &["--force"]);
    assert_ok(&out);
    let mut expected = walk(&src);
    let mut actual = walk(&dst);
    if state.is_none() {
        actual.remove(b".rofs-seeded".as_slice());
        // The marker inside DST changes DST's own mtime.
        expected.remove(b"".as_slice());
        actual.remove(b"".as_slice());
    }
    assert_same(&expected, &actual, &format!("{label}: after --force"));
}

#[test]
fn rerun_after_success_keeps_app_data_state_dir() {
    let work = tempdir();
    let state = work.path().join("state");
    restart_with(Some(&state), work.path(), "state");
}

#[test]
fn rerun_after_success_keeps_app_data_marker_in_dst() {
    let work = tempdir();
    restart_with(None, work.path(), "inside");
    assert!(work.path().join("dst-inside/.rofs-seeded").exists());
}

#[test]
fn non_empty_unseeded_dst_is_refused() {
    let work = tempdir();
    let src = work.path().join("src");
    build_bulk(&src, 10, 0);
    let dst = work.path().join("dst");
    mkdir(&dst, 0o755);
    write(&dst.join("precious"), b"not rofs's", 0o644);
    let out = seed(&src, &dst, Some(&work.path().join("state")), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not empty and not seeded by rofs"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(dst.join("precious")).expect("kept"),
        b"not rofs's"
    );
    assert!(!dst.join("d0").exists());
}

/// A crash after the whole copy but before the done marker: the next run
/// starts again cleanly, without `data/data`.
#[test]
fn no_nesting_after_crash_before_marker() {
    let work = tempdir();
    let src = work.path().join("data");
    build_bulk(&src, 100, 0);
    let dst = work.path().join("vol");
    let state = work.path().join("state");
    assert_ok(&seed(&src, &dst, Some(&state), &[]));
    let id = rofs_agent::seed::marker_id(&dst);
    std::fs::rename(
        state.join(format!("{id}.done")),
        state.join(format!("{id}.started")),
    )
    .expect("simulate crash before the marker");
    let out = seed(&src, &dst, Some(&state), &[]);
    assert_ok(&out);
    assert!(!dst.join("data").exists(), "nested data/data");
    assert_same(&walk(&src), &walk(&dst), "after re-run");
    assert!(state.join(format!("{id}.done")).exists());
    assert!(!state.join(format!("{id}.started")).exists());
}

#[test]
fn missing_source_is_not_an_error() {
    let work = tempdir();
    let dst = work.path().join("vol");
    let state = work.path().join("state");
    let out = seed(&work.path().join("does-not-exist"), &dst, Some(&state), &[]);
    assert_ok(&out);
    assert!(
        stderr(&out).contains("source does not exist"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_dir(&dst).expect("dst").count(), 0);
    let id = rofs_agent::seed::marker_id(&dst);
    assert!(state.join(format!("{id}.done")).exists());
}

/// Several pairs in one run, through the library API the main CLI uses.
#[test]
fn library_api_reports_each_pair() {
    use rofs_agent::seed::{Outcome, SeedOptions, run};
    let work = tempdir();
    let src1 = work.path().join("s1");
    build_bulk(&src1, 30, 0);
    let src2 = work.path().join("s2");
    mkdir(&src2, 0o755);
    write(&src2.join("only"), b"one file", 0o644);
    let opts = SeedOptions {
        pairs: vec![
            (src1.clone(), work.path().join("d1")),
            (src2.clone(), work.path().join("d2")),
            (work.path().join("nope"), work.path().join("d3")),
        ],
        state_dir: Some(work.path().join("state")),
        log: false,
        ..SeedOptions::default()
    };
    let r = run(&opts).expect("seed");
    let outcomes: Vec<_> = r.pairs.iter().map(|p| p.outcome.clone()).collect();
    assert_eq!(
        outcomes,
        [Outcome::Copied, Outcome::Copied, Outcome::SourceMissing]
    );
    assert_eq!(r.pairs[0].stats.files, 30);
    assert_eq!(r.pairs[0].stats.hardlinks, 1);
    assert_eq!(r.pairs[0].stats.symlinks, 1);
    assert_eq!(r.pairs[1].stats.files, 1);
    assert_eq!(r.pairs[1].stats.bytes, 8);
    let again = run(&opts).expect("seed again");
    assert!(
        again
            .pairs
            .iter()
            .all(|p| p.outcome == Outcome::AlreadySeeded)
    );
    assert_same(&walk(&src2), &walk(&work.path().join("d2")), "pair 2");
}
