//! Test helpers: a real server on 127.0.0.1 over TLS, a rustls client trusting the test CA, and
//! a minimal HTTP/1.1 client (raw, so that tests can also misbehave: slow, huge, broken).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rofs_webhook::server::{AppState, ServeOptions, Server};
use rofs_webhook::{Config, certs};
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

pub const SERVICE: &str = "rofs-webhook";
pub const NAMESPACE: &str = "rofs-system";
pub const HOST: &str = "rofs-webhook.rofs-system.svc";

pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

pub fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(data(name)).expect("fixture");
    serde_json::from_str(&text).expect("fixture JSON")
}

/// A CA and serving certificate in a temporary directory (`tls.crt`, `tls.key`, `ca.crt`).
pub struct Certs {
    pub dir: tempfile::TempDir,
    pub ca: CertificateDer<'static>,
}

pub fn make_certs() -> Certs {
    let dir = tempfile::tempdir().expect("tempdir");
    let generated = certs::generate(SERVICE, NAMESPACE, 1).expect("certs");
    certs::write(dir.path(), &generated).expect("write certs");
    let ca = CertificateDer::from_pem_slice(generated.ca_cert.as_bytes()).expect("CA PEM");
    Certs { dir, ca }
}

/// A running server; shuts down (gracefully) on `stop()`.
pub struct Running {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<()>,
}

impl Running {
    pub async fn stop(mut self) {
        self.signal();
        self.join().await;
    }

    /// Like SIGTERM: begin the shutdown.
    pub fn signal(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }

    /// Wait until the server has shut down.
    pub async fn join(mut self) {
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("server stops within 10 s")
            .expect("server task");
    }
}

pub fn options(cert: &Path, key: &Path, config: Config) -> ServeOptions {
    let mut o = ServeOptions::new(
        "127.0.0.1:0".parse().expect("addr"),
        cert.to_path_buf(),
        key.to_path_buf(),
        config,
    );
    o.request_timeout = Duration::from_secs(2);
    o.handshake_timeout = Duration::from_secs(2);
    o.shutdown_timeout = Duration::from_secs(5);
    o
}

pub async fn start(options: ServeOptions) -> Running {
    let server = Server::bind(options).await.expect("bind");
    let addr = server.local_addr().expect("addr");
    let state = server.state();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = rx.await;
    }));
    Running {
        addr,
        state,
        stop: Some(tx),
        task,
    }
}

pub async fn start_default(certs: &Certs, config: Config) -> Running {
    start(options(
        &certs.dir.path().join("tls.crt"),
        &certs.dir.path().join("tls.key"),
        config,
    ))
    .await
}

pub fn connector(cas: &[&CertificateDer<'static>]) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for ca in cas {
        roots.add((*ca).clone()).expect("CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsConnector::from(Arc::new(config))
}

pub async fn connect(addr: SocketAddr, cas: &[&CertificateDer<'static>]) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from(HOST).expect("server name");
    connector(cas)
        .connect(name, tcp)
        .await
        .expect("TLS handshake")
}

/// The leaf certificate the server presented on this connection.
pub fn peer_cert(stream: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .expect("peer certificate")
        .clone()
        .into_owned()
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub fn request_bytes(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// Read one HTTP/1.1 response (Content-Length bodies only, which is what the server sends).
pub async fn read_response<S: AsyncReadExt + Unpin>(
    stream: &mut S,
) -> std::io::Result<HttpResponse> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed before a response",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map(|(_, v)| v.parse().expect("content-length"))
        .expect("content-length header");
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(len);
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

pub async fn send(
    stream: &mut TlsStream<TcpStream>,
    method: &str,
    path: &str,
    body: &[u8],
) -> HttpResponse {
    stream
        .write_all(&request_bytes(method, path, body))
        .await
        .expect("write");
    tokio::time::timeout(Duration::from_secs(10), read_response(stream))
        .await
        .expect("response within 10 s")
        .expect("response")
}

/// POST one body to /mutate on a fresh connection.
pub async fn post(addr: SocketAddr, ca: &CertificateDer<'static>, body: &[u8]) -> HttpResponse {
    let mut s = connect(addr, &[ca]).await;
    send(&mut s, "POST", "/mutate", body).await
}

/// The JSON Patch (decoded) of an AdmissionReview response; empty when there is none.
pub fn patch_of(review: &Value) -> json_patch::Patch {
    use base64::Engine as _;
    match review.pointer("/response/patch").and_then(Value::as_str) {
        None => json_patch::Patch(Vec::new()),
        Some(b64) => {
            assert_eq!(
                review.pointer("/response/patchType"),
                Some(&Value::from("JSONPatch"))
            );
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("base64 patch");
            serde_json::from_slice(&bytes).expect("RFC 6902 patch")
        }
    }
}

/// A TLS connection negotiating HTTP/2 by ALPN.
pub async fn connect_h2(addr: SocketAddr, ca: &CertificateDer<'static>) -> TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).expect("CA");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let stream = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(HOST).expect("name"), tcp)
        .await
        .expect("TLS handshake");
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    stream
}

/// Read (and discard) until the server closes the connection: true if it did within
/// `within` (a generous bound, not a timing assertion).
pub async fn closed_by_server<S: AsyncReadExt + Unpin>(stream: &mut S, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// The worst-case AdmissionReview of issue 9: a Pod CREATE whose `rofs.io/writable` lists
/// `paths` distinct sibling paths `{prefix}0,{prefix}1,...`. 20,000 paths with prefix `/p`
/// is 149 KB; with `/var/lib/app/d`, 389 KB. Same shape as benches/webhook/stress.py.
pub fn worst_case_review(paths: usize, prefix: &str) -> Value {
    let writable: Vec<String> = (0..paths).map(|i| format!("{prefix}{i}")).collect();
    serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "worst-case",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "default",
            "operation": "CREATE",
            "object": {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "generateName": "worst-",
                    "namespace": "default",
                    "annotations": {"rofs.io/writable": writable.join(",")},
                },
                "spec": {"containers": [{"name": "app", "image": "nginx"}]},
            },
        },
    })
}
