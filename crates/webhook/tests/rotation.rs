//! Certificate rotation as the kubelet does it for a Secret volume (AtomicWriter): files in a
//! timestamped directory, `..data` -> that directory, `tls.crt` -> `..data/tls.crt`; a
//! rotation writes a new directory and renames a new `..data` symlink over the old one.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;

use rofs_webhook::{Config, certs};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::util::*;

struct Pair {
    ca: CertificateDer<'static>,
    cert_pem: String,
    key_pem: String,
}

fn pair() -> Pair {
    let g = certs::generate(SERVICE, NAMESPACE, 1).expect("certs");
    Pair {
        ca: CertificateDer::from_pem_slice(g.ca_cert.as_bytes()).expect("CA"),
        cert_pem: g.cert,
        key_pem: g.key,
    }
}

fn leaf(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).expect("leaf")
}

/// Write a new timestamped directory and swap `..data` to it, as AtomicWriter does.
fn atomic_write(dir: &Path, generation: u32, cert_pem: &str, key_pem: &str) {
    let ts = format!("..2026_11_27_10_00_{generation:02}.{:09}", generation * 7);
    let new = dir.join(&ts);
    std::fs::create_dir(&new).expect("timestamped dir");
    std::fs::write(new.join("tls.crt"), cert_pem).expect("cert");
    std::fs::write(new.join("tls.key"), key_pem).expect("key");
    let old = std::fs::read_link(dir.join("..data")).ok();
    let tmp = dir.join("..data_tmp");
    symlink(&ts, &tmp).expect("..data_tmp");
    std::fs::rename(&tmp, dir.join("..data")).expect("swap ..data");
    for name in ["tls.crt", "tls.key"] {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(Path::new("..data").join(name), &link).expect("user-visible symlink");
        }
    }
    if let Some(old) = old {
        std::fs::remove_dir_all(dir.join(old)).expect("old dir removed");
    }
}

async fn served_cert(
    addr: std::net::SocketAddr,
    cas: &[&CertificateDer<'static>],
) -> CertificateDer<'static> {
    let mut conn = connect(addr, cas).await;
    let cert = peer_cert(&conn);
    assert_eq!(send(&mut conn, "GET", "/healthz", b"").await.status, 200);
    cert
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_connections_get_the_rotated_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (one, two, three) = (pair(), pair(), pair());
    let cas = [&one.ca, &two.ca, &three.ca];
    atomic_write(dir.path(), 1, &one.cert_pem, &one.key_pem);
    let mut options = options(
        &dir.path().join("tls.crt"),
        &dir.path().join("tls.key"),
        Config::default(),
    );
    options.tls_reload_interval = Duration::ZERO;
    let server = start(options).await;

    let mut established = connect(server.addr, &cas).await;
    assert_eq!(peer_cert(&established), leaf(&one.cert_pem));

    atomic_write(dir.path(), 2, &two.cert_pem, &two.key_pem);
    assert_eq!(
        served_cert(server.addr, &cas).await,
        leaf(&two.cert_pem),
        "new connection, new certificate"
    );
    // The connection opened before the rotation keeps working.
    assert_eq!(
        send(&mut established, "GET", "/healthz", b"").await.status,
        200
    );

    // A broken rotation (the key of another certificate): the previous pair stays in use.
    atomic_write(dir.path(), 3, &three.cert_pem, &two.key_pem);
    assert_eq!(served_cert(server.addr, &cas).await, leaf(&two.cert_pem));
    assert_eq!(served_cert(server.addr, &cas).await, leaf(&two.cert_pem));
    // Fixed by the next rotation.
    atomic_write(dir.path(), 4, &three.cert_pem, &three.key_pem);
    assert_eq!(served_cert(server.addr, &cas).await, leaf(&three.cert_pem));

    let metrics = send(&mut established, "GET", "/metrics", b"").await.text();
    assert!(
        metrics.contains("rofs_webhook_tls_reloads_total 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("rofs_webhook_tls_reload_errors_total 1"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_is_noticed_only_after_the_check_interval() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (one, two) = (pair(), pair());
    let cas = [&one.ca, &two.ca];
    atomic_write(dir.path(), 1, &one.cert_pem, &one.key_pem);
    let mut options = options(
        &dir.path().join("tls.crt"),
        &dir.path().join("tls.key"),
        Config::default(),
    );
    options.tls_reload_interval = Duration::from_millis(600);
    let server = start(options).await;
    // The first handshake is within the interval of loading: no check at all.
    atomic_write(dir.path(), 2, &two.cert_pem, &two.key_pem);
    assert_eq!(served_cert(server.addr, &cas).await, leaf(&one.cert_pem));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(served_cert(server.addr, &cas).await, leaf(&two.cert_pem));
    server.stop().await;
}

#[tokio::test]
async fn a_missing_or_mismatched_pair_stops_the_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (one, two) = (pair(), pair());
    std::fs::write(dir.path().join("tls.crt"), &one.cert_pem).expect("cert");
    std::fs::write(dir.path().join("tls.key"), &two.key_pem).expect("key");
    let o = options(
        &dir.path().join("tls.crt"),
        &dir.path().join("tls.key"),
        Config::default(),
    );
    let e = rofs_webhook::Server::bind(o)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("does not match"), "{e}");
    let o = options(
        &dir.path().join("nope.crt"),
        &dir.path().join("tls.key"),
        Config::default(),
    );
    let e = rofs_webhook::Server::bind(o)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("nope.crt"), "{e}");
}
