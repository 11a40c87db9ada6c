//! `rofs webhook` flags, through the binary: out-of-range values are usage errors (exit 2,
//! clap's convention for this CLI), never a panic, and nothing is written.

use std::process::Command;

fn rofs(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rofs"))
        .args(args)
        .output()
        .expect("run rofs")
}

#[test]
fn certs_days_out_of_range_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("certs");
    let out = out_dir.to_str().expect("utf-8 path");
    // 0: an already-expired certificate; 3000000: overflowed the date arithmetic (a panic,
    // exit 134, before); u32::MAX + 1: not even a u32.
    for days in ["0", "36501", "3000000", "4294967296"] {
        let o = rofs(&["webhook", "certs", "--out", out, "--days", days]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "--days {days}: {stderr}");
        assert!(stderr.contains("--days"), "--days {days}: {stderr}");
        assert!(!stderr.contains("panicked"), "--days {days}: {stderr}");
        assert!(!out_dir.exists(), "--days {days}: nothing written");
    }
    let o = rofs(&[
        "webhook",
        "certs",
        "--out",
        "/nonexistent-dir/x",
        "--days",
        "0",
    ]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("1..=36500"),
        "the range is in the message"
    );
    // The limits themselves work.
    for days in ["1", "36500"] {
        let o = rofs(&["webhook", "certs", "--out", out, "--days", days]);
        assert!(
            o.status.success(),
            "--days {days}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(out_dir.join("tls.crt").exists());
    }
}

#[test]
fn serve_limits_must_be_positive() {
    for flag in [
        "--idle-timeout",
        "--max-connections",
        "--max-reviews-in-flight",
    ] {
        let o = rofs(&[
            "webhook",
            "--tls-cert",
            "/nonexistent/tls.crt",
            "--tls-key",
            "/nonexistent/tls.key",
            flag,
            "0",
        ]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{flag} 0: {stderr}");
        assert!(
            stderr.contains(&format!("invalid value '0' for '{flag}")),
            "{flag}: {stderr}"
        );
    }
}
