//! Limits under attack (issue 9, items 2, 3 and 13): slow reviews do not stall health checks,
//! reviews beyond the queue get 503, idle connections are closed (HTTP/1.1 and HTTP/2), the
//! connection limit applies back-pressure, and only `application/json` is reviewed.
//!
//! No timing assertions: every wait is a generous bound on something that must happen, and
//! slow reviews are made slow by a gate the test opens, not by a clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use rofs_core::settings::MAX_WRITABLE_PATHS;
use rofs_webhook::server::{INLINE_REVIEW_MAX_BODY, Reviewer};
use rofs_webhook::{Config, review_bytes};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::util::*;

/// A review that blocks its thread (as a CPU-bound review does) until the gate opens.
#[derive(Clone, Default)]
struct Gate {
    entered: Arc<AtomicUsize>,
    open: Arc<(Mutex<bool>, Condvar)>,
}

impl Gate {
    fn reviewer(&self) -> Reviewer {
        let gate = self.clone();
        Reviewer(Arc::new(move |body, config| {
            gate.entered.fetch_add(1, Ordering::SeqCst);
            let (open, cv) = &*gate.open;
            let guard = open.lock().unwrap_or_else(|e| e.into_inner());
            // Bounded, so that a failing test does not hang forever.
            let _ = cv.wait_timeout_while(guard, Duration::from_secs(60), |open| !*open);
            review_bytes(body, config)
        }))
    }

    fn open(&self) {
        let (open, cv) = &*self.open;
        *open.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
    }

    /// Wait (bounded) until `n` reviews are inside the reviewer.
    async fn wait_entered(&self, n: usize) {
        tokio::time::timeout(Duration::from_secs(30), async {
            while self.entered.load(Ordering::SeqCst) < n {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{n} reviews in flight"));
    }
}

/// The Deployment pod made larger than [`INLINE_REVIEW_MAX_BODY`] (an annotation of no
/// meaning to rofs): a review that can be slow is a large pod's, and runs on a blocking thread.
fn large_pod_body() -> Vec<u8> {
    let mut review = fixture("deployment-pod.json");
    review["request"]["object"]["metadata"]["annotations"]["example.com/padding"] =
        json!("x".repeat(INLINE_REVIEW_MAX_BODY));
    let body = review.to_string().into_bytes();
    assert!(body.len() > INLINE_REVIEW_MAX_BODY);
    body
}

fn test_options(certs: &Certs) -> rofs_webhook::ServeOptions {
    options(
        &certs.dir.path().join("tls.crt"),
        &certs.dir.path().join("tls.key"),
        Config::default(),
    )
}

/// Issue 9 item 2: two reviews that take their thread for as long as they like (two
/// worst-case pods: large, so on blocking threads) on a 2-worker runtime. Before, reviews ran on the async workers and
/// `/healthz` waited for them (16 s with two 389 KB reviews).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_while_slow_reviews_are_in_flight() {
    let certs = make_certs();
    let gate = Gate::default();
    let mut options = test_options(&certs);
    options.reviewer = gate.reviewer();
    options.max_reviews_in_flight = 2;
    let server = start(options).await;
    let body = large_pod_body();
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let (addr, ca, body) = (server.addr, certs.ca.clone(), body.clone());
            tokio::spawn(async move { post(addr, &ca, &body).await })
        })
        .collect();
    gate.wait_entered(2).await;

    let health = tokio::time::timeout(Duration::from_secs(10), async {
        let mut conn = connect(server.addr, &[&certs.ca]).await;
        let h = send(&mut conn, "GET", "/healthz", b"").await.status;
        let r = send(&mut conn, "GET", "/readyz", b"").await.status;
        (h, r)
    })
    .await;
    gate.open(); // before asserting: never leave the reviews blocked
    assert_eq!(
        health.expect("/healthz and /readyz answer while two reviews are in flight"),
        (200, 200)
    );
    for r in slow {
        let r = r.await.expect("task");
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(patch_of(&r.json()).0.len() > 1);
    }
    server.stop().await;
}

/// Beyond `max_reviews_in_flight + max_reviews_queued`, 503 at once (the API server then
/// applies the failurePolicy); the queued review is served once a slot frees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviews_beyond_the_queue_get_503() {
    let certs = make_certs();
    let gate = Gate::default();
    let mut options = test_options(&certs);
    options.reviewer = gate.reviewer();
    options.max_reviews_in_flight = 1;
    options.max_reviews_queued = 1;
    options.request_timeout = Duration::from_secs(30);
    let server = start(options).await;
    let body = large_pod_body();
    let spawn_post = || {
        let (addr, ca, body) = (server.addr, certs.ca.clone(), body.clone());
        tokio::spawn(async move { post(addr, &ca, &body).await })
    };
    let running = spawn_post();
    gate.wait_entered(1).await;
    let queued = spawn_post();
    // Wait until the second one holds the queue's only place.
    tokio::time::timeout(Duration::from_secs(30), async {
        while server.state.admitted.available_permits() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the second review is queued");
    let third =
        tokio::time::timeout(Duration::from_secs(20), post(server.addr, &certs.ca, &body)).await;
    gate.open();
    let third = third.expect("refused in time");
    assert!(third.text().contains("overloaded"), "{}", third.text());
    assert!(third.text().contains("failurePolicy"), "{}", third.text());
    for r in [running, queued] {
        let r = r.await.expect("task");
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let mut conn = connect(server.addr, &[&certs.ca]).await;
    let metrics = send(&mut conn, "GET", "/metrics", b"").await.text();
    assert!(
        metrics
            .lines()
            .any(|l| l == "rofs_webhook_requests_total{code=\"503\"} 1"),
        "{metrics}"
    );
    server.stop().await;
}

/// Issue 9 item 3: a TLS connection that sends nothing (HTTP/1.1 by ALPN), one that goes
/// quiet after a request (keep-alive), and an HTTP/2 connection that sends only the preface
/// are all closed by the server. Before, the first and the third stayed open forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed() {
    let certs = make_certs();
    let mut options = test_options(&certs);
    options.idle_timeout = Duration::from_millis(500);
    options.request_timeout = Duration::from_secs(2);
    let server = start(options).await;
    let bound = Duration::from_secs(20);

    let mut silent = connect(server.addr, &[&certs.ca]).await;
    let mut keep_alive = connect(server.addr, &[&certs.ca]).await;
    assert_eq!(
        send(&mut keep_alive, "GET", "/healthz", b"").await.status,
        200
    );
    let mut h2 = connect_h2(server.addr, &certs.ca).await;
    // The client preface and an empty SETTINGS frame, then nothing.
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .expect("preface");

    assert!(
        closed_by_server(&mut silent, bound).await,
        "silent HTTP/1.1"
    );
    assert!(
        closed_by_server(&mut keep_alive, bound).await,
        "idle keep-alive HTTP/1.1"
    );
    assert!(
        closed_by_server(&mut h2, bound).await,
        "HTTP/2 after the preface"
    );
    // Closed means forgotten: the gauge is back to zero.
    tokio::time::timeout(bound, async {
        while server.state.metrics.connections() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("no connection left open");
    server.stop().await;
}

/// An HTTP/2 client that is really there (hyper's, answering pings) still gets its idle
/// connection closed with a GOAWAY, and the requests it made before were answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_http2_clients_get_a_goaway() {
    use http_body_util::{BodyExt as _, Full};
    use hyper::body::Bytes;

    let certs = make_certs();
    let mut options = test_options(&certs);
    options.idle_timeout = Duration::from_millis(500);
    let server = start(options).await;
    let stream = connect_h2(server.addr, &certs.ca).await;
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("h2 handshake");
    let conn = tokio::spawn(conn);
    let req = hyper::Request::get(format!("https://{HOST}/healthz"))
        .body(Full::new(Bytes::new()))
        .expect("request");
    let response = sender.send_request(req).await.expect("response");
    assert_eq!(response.status(), 200);
    let _ = response.into_body().collect().await;
    // The connection task ends when the server closes the connection.
    tokio::time::timeout(Duration::from_secs(20), conn)
        .await
        .expect("the server closed the idle HTTP/2 connection")
        .expect("task")
        .expect("a clean close (GOAWAY), not an error");
    server.stop().await;
}

/// At `max_connections`, the server stops accepting: a new connection waits (its TLS
/// handshake does not start) and is served as soon as one of the others closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_applies_back_pressure() {
    let certs = make_certs();
    let mut options = test_options(&certs);
    options.max_connections = 2;
    options.idle_timeout = Duration::from_secs(60);
    options.handshake_timeout = Duration::from_secs(60);
    options.request_timeout = Duration::from_secs(60);
    let server = start(options).await;
    let mut first = connect(server.addr, &[&certs.ca]).await;
    assert_eq!(send(&mut first, "GET", "/healthz", b"").await.status, 200);
    let second = connect(server.addr, &[&certs.ca]).await;

    let (addr, ca) = (server.addr, certs.ca.clone());
    let mut third = tokio::spawn(async move {
        let mut conn = connect(addr, &[&ca]).await;
        send(&mut conn, "GET", "/healthz", b"").await.status
    });
    // Waiting, not refused: still pending after a while (a bound in the safe direction:
    // a slow machine can only make this pass more easily, never fail).
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut third)
            .await
            .is_err(),
        "the third connection was served beyond the limit of 2"
    );
    assert_eq!(server.state.metrics.connections(), 2);
    drop(second);
    let status = tokio::time::timeout(Duration::from_secs(20), third)
        .await
        .expect("served once a connection closed")
        .expect("task");
    assert_eq!(status, 200);
    assert_eq!(send(&mut first, "GET", "/healthz", b"").await.status, 200);
    server.stop().await;
}

/// Issue 9 item 13: the documented 415. The API server always sends `application/json`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_json_is_reviewed() {
    let certs = make_certs();
    let server = start_default(&certs, Config::default()).await;
    let body = fixture("deployment-pod.json").to_string();
    let mut conn = connect(server.addr, &[&certs.ca]).await;
    let mut ask = async |content_type: Option<&str>| {
        let header = content_type
            .map(|t| format!("Content-Type: {t}\r\n"))
            .unwrap_or_default();
        let head = format!(
            "POST /mutate HTTP/1.1\r\nHost: {HOST}\r\n{header}Content-Length: {}\r\n\r\n",
            body.len()
        );
        conn.write_all(&[head.as_bytes(), body.as_bytes()].concat())
            .await
            .expect("write");
        tokio::time::timeout(Duration::from_secs(10), read_response(&mut conn))
            .await
            .expect("answered")
            .expect("response")
    };
    for refused in [
        None,
        Some("text/plain"),
        Some("application/yaml"),
        Some("application/json-patch+json"),
        Some("application/jsonx"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let r = ask(refused).await;
        assert_eq!(r.status, 415, "{refused:?}: {}", r.text());
        assert!(
            r.text().contains("Content-Type must be application/json"),
            "{}",
            r.text()
        );
    }
    for accepted in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
    ] {
        let r = ask(Some(accepted)).await;
        assert_eq!(r.status, 200, "{accepted}: {}", r.text());
    }
    let metrics = send(&mut conn, "GET", "/metrics", b"").await.text();
    assert!(
        metrics
            .lines()
            .any(|l| l == "rofs_webhook_requests_total{code=\"415\"} 6"),
        "{metrics}"
    );
    server.stop().await;
}

/// The worst-case reviews themselves (149 KB and 389 KB, 20,000 writable paths), through
/// the real reviewer, two at once on a 2-worker runtime: `/healthz` answers meanwhile, and
/// each review is denied with a message naming the core's limit on writable paths (before
/// that limit, each took seconds and was admitted with 20,000 emptyDirs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worst_case_reviews_do_not_stall_health() {
    let certs = make_certs();
    let server = start(test_options(&certs)).await;
    let small = worst_case_review(20_000, "/p").to_string().into_bytes();
    let large = worst_case_review(20_000, "/var/lib/app/d")
        .to_string()
        .into_bytes();
    assert!((140_000..160_000).contains(&small.len()), "{}", small.len());
    assert!((380_000..400_000).contains(&large.len()), "{}", large.len());
    let reviews: Vec<_> = [small, large]
        .into_iter()
        .map(|body| {
            let (addr, ca) = (server.addr, certs.ca.clone());
            tokio::spawn(async move {
                let mut s = connect(addr, &[&ca]).await;
                s.write_all(&request_bytes("POST", "/mutate", &body))
                    .await
                    .expect("write");
                tokio::time::timeout(Duration::from_secs(600), read_response(&mut s))
                    .await
                    .expect("answered")
                    .expect("response")
            })
        })
        .collect();
    let mut conn = connect(server.addr, &[&certs.ca]).await;
    assert_eq!(send(&mut conn, "GET", "/healthz", b"").await.status, 200);
    for r in reviews {
        let r = r.await.expect("task");
        assert_eq!(r.status, 200, "{}", r.text());
        let review = r.json();
        // The core caps writable paths per pod (rofs_core::settings::MAX_WRITABLE_PATHS):
        // denied, with a message naming the annotation and the limit.
        assert_eq!(review.pointer("/response/allowed"), Some(&json!(false)));
        let message = review
            .pointer("/response/status/message")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        eprintln!("worst case: {message}");
        assert!(
            message.starts_with("rofs: ")
                && message.contains("rofs.io/writable")
                && message.contains(&MAX_WRITABLE_PATHS.to_string()),
            "{message}"
        );
    }
    server.stop().await;
}
