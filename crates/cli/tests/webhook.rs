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

/// Issue 9 item 3: `rofs webhook` run with a low open-files limit (`prlimit --nofile`) and
/// more idle TLS clients than descriptors. Before, the idle connections were never closed,
/// accept() failed with EMFILE for good, /healthz never answered again and "accept failed"
/// was logged every 50 ms. Now the idle clients are closed after --idle-timeout, /healthz
/// answers, and accept errors are logged at most once per 5 s.
#[test]
fn at_the_open_files_limit_healthz_recovers_and_the_log_does_not_flood() {
    use std::io::{Read as _, Write as _};
    use std::net::{SocketAddr, TcpStream};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use rustls::pki_types::pem::PemObject as _;

    if Command::new("prlimit").arg("--version").output().is_err() {
        assert!(
            std::env::var("ROFS_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "prlimit (util-linux) is required (ROFS_REQUIRE_TOOLS=1)"
        );
        eprintln!("SKIPPED: prlimit (util-linux) is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    let o = rofs(&["webhook", "certs", "--out", certs.to_str().expect("utf-8")]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let log_path = dir.path().join("webhook.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let started = Instant::now();
    let mut server = Command::new("prlimit")
        .arg("--nofile=40:40")
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_rofs"))
        .args(["webhook", "--listen", "127.0.0.1:0", "--idle-timeout", "1"])
        // Long, so that only the idle timeout can close the idle clients in time.
        .args(["--request-timeout", "120"])
        .args(["--max-connections", "1000", "--log-level", "info"])
        .arg("--tls-cert")
        .arg(certs.join("tls.crt"))
        .arg("--tls-key")
        .arg(certs.join("tls.key"))
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start rofs webhook");
    // Stop our child however the test ends.
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let server = Kill(&mut server);
    let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let addr: SocketAddr = {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = read_log();
            if let Some(a) = text
                .lines()
                .find(|l| l.contains("listening"))
                .and_then(|l| l.split("addr=").nth(1))
                .and_then(|a| a.split_whitespace().next())
            {
                break a.parse().expect("address in the log");
            }
            assert!(Instant::now() < deadline, "not listening:\n{text}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };

    let ca = rustls::pki_types::CertificateDer::from_pem_file(certs.join("ca.crt"));
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.expect("CA PEM")).expect("CA");
    let config = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    let handshake = |timeout: Duration| -> Option<rustls::StreamOwned<_, TcpStream>> {
        let mut tcp = TcpStream::connect(addr).ok()?;
        tcp.set_read_timeout(Some(timeout)).ok()?;
        let name =
            rustls::pki_types::ServerName::try_from("rofs-webhook.rofs-system.svc").expect("name");
        let mut conn = rustls::ClientConnection::new(config.clone(), name).ok()?;
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp).ok()?;
        }
        Some(rustls::StreamOwned::new(conn, tcp))
    };

    // 80 clients that complete the TLS handshake (or wait in the backlog) and then send
    // nothing, held open by the test until it ends: twice the descriptors the server has.
    let idle: Vec<_> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..80)
            .map(|_| scope.spawn(|| handshake(Duration::from_secs(2))))
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("client thread"))
            .collect()
    });
    let established = idle.iter().filter(|c| c.is_some()).count();
    assert!(established > 0, "{established} of 80 established");

    // /healthz answers once the idle clients are closed (bounded, generously, but below the
    // request timeout).
    let deadline = Instant::now() + Duration::from_secs(60);
    let healthy = loop {
        if let Some(mut s) = handshake(Duration::from_secs(5)) {
            let mut answer = Vec::new();
            let mut buf = [0u8; 1024];
            let ok = s
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .is_ok();
            while ok && !answer.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => answer.extend_from_slice(&buf[..n]),
                }
            }
            if answer.starts_with(b"HTTP/1.1 200") {
                break true;
            }
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let elapsed = started.elapsed();
    drop(server);
    drop(idle);
    let text = read_log();
    assert!(healthy, "/healthz never answered at the fd limit:\n{text}");
    assert!(
        text.contains("close to or above the open files limit"),
        "the startup warning about --max-connections:\n{text}"
    );
    let failed: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("accept failed"))
        .collect();
    assert!(!failed.is_empty(), "EMFILE was reached:\n{text}");
    assert!(
        failed.iter().all(|l| l.contains("suppressed=")),
        "{failed:#?}"
    );
    // One line per 5 s at most (the first at once): a count, not a timing assertion.
    let allowed = 1 + elapsed.as_secs() as usize / 5 + 1;
    assert!(
        failed.len() <= allowed,
        "{} accept-error lines in {elapsed:?} (at most {allowed}):\n{text}",
        failed.len()
    );
}

/// `--on-invalid`, `--log-format` and `--format` are read into rofs's own types (no mirror
/// enums): each accepted value gets past the parser (a type mismatch there is a panic at
/// run time), and a bad one is a usage error listing the values.
#[test]
fn typed_flags_parse_every_value() {
    for (flag, value) in [
        ("--on-invalid", "deny"),
        ("--on-invalid", "allow"),
        ("--log-format", "plain"),
        ("--log-format", "json"),
    ] {
        let o = rofs(&[
            "webhook",
            "--tls-cert",
            "/nonexistent/tls.crt",
            "--tls-key",
            "/nonexistent/tls.key",
            flag,
            value,
        ]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!stderr.contains("panicked"), "{flag} {value}: {stderr}");
        assert!(
            stderr.contains("/nonexistent/tls"),
            "{flag} {value}: {stderr}"
        );
        assert_eq!(o.status.code(), Some(1), "{flag} {value}: {stderr}");
    }
    let o = rofs(&["webhook", "--on-invalid", "maybe"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("deny") && stderr.contains("allow"),
        "{stderr}"
    );
    for format in ["auto", "yaml", "json"] {
        let o = rofs(&["patch", "--format", format, "/dev/null"]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "--format {format}: {stderr}");
    }
}

/// Every flag the Helm chart passes (deploy/webhook/chart/templates/deployment.yaml) is one
/// `rofs webhook` has: a renamed flag cannot leave the chart behind.
#[test]
fn the_charts_flags_are_webhook_flags() {
    let template = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/webhook/chart/templates/deployment.yaml");
    let text = std::fs::read_to_string(&template).expect("chart template");
    let flags: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- --"))
        .map(|f| f.split('=').next().unwrap_or(f))
        .collect();
    assert!(flags.len() >= 12, "{flags:?}");
    let help = rofs(&["webhook", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    for f in flags {
        assert!(
            help.contains(&format!("--{f} ")) || help.contains(&format!("--{f} <")),
            "--{f} is not a `rofs webhook` flag:\n{help}"
        );
    }
}
