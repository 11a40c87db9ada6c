//! Health, readiness, metrics, and graceful shutdown (in-flight reviews finish).

use std::time::Duration;

use rofs_webhook::Config;
use tokio::io::AsyncWriteExt;

use crate::util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics() {
    let certs = make_certs();
    let server = start_default(&certs, Config::default()).await;
    let mut conn = connect(server.addr, &[&certs.ca]).await;
    assert_eq!(send(&mut conn, "GET", "/healthz", b"").await.status, 200);
    assert_eq!(send(&mut conn, "GET", "/readyz", b"").await.status, 200);
    let review = fixture("deployment-pod.json").to_string();
    for _ in 0..3 {
        assert_eq!(
            send(&mut conn, "POST", "/mutate?timeout=2s", review.as_bytes())
                .await
                .status,
            200
        );
    }
    let r = send(&mut conn, "GET", "/metrics", b"").await;
    assert_eq!(r.status, 200);
    let ctype = r
        .headers
        .iter()
        .find(|(k, _)| k == "content-type")
        .map(|(_, v)| v.as_str());
    assert_eq!(ctype, Some("text/plain; version=0.0.4"));
    let text = r.text();
    for line in [
        "rofs_webhook_requests_total{code=\"200\"} 3",
        "rofs_webhook_mutations_total 3",
        "rofs_webhook_review_duration_seconds_count 3",
        "rofs_webhook_tls_reloads_total 1",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?}:\n{text}");
    }
    // Every sample line is `name{labels} value` with a number.
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let value = l.rsplit(' ').next().expect("value");
        assert!(value.parse::<f64>().is_ok(), "{l}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_reviews_finish() {
    let certs = make_certs();
    let mut options = options(
        &certs.dir.path().join("tls.crt"),
        &certs.dir.path().join("tls.key"),
        Config::default(),
    );
    options.drain_delay = Duration::from_millis(500);
    let mut server = start(options).await;
    let addr = server.addr;
    let body = fixture("deployment-pod.json").to_string().into_bytes();
    let request = request_bytes("POST", "/mutate", &body);
    let (first, rest) = request.split_at(request.len() / 2);

    // A review in flight: half of it sent.
    let mut in_flight = connect(addr, &[&certs.ca]).await;
    in_flight.write_all(first).await.expect("write");
    let mut idle = connect(addr, &[&certs.ca]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    server.signal();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Draining: not ready, still serving.
    let r = send(&mut idle, "GET", "/readyz", b"").await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(
        !server
            .state
            .ready
            .load(std::sync::atomic::Ordering::Relaxed)
    );

    // After the drain delay, new connections are refused, but the in-flight review finishes.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
    in_flight.write_all(rest).await.expect("write the rest");
    let r = tokio::time::timeout(Duration::from_secs(5), read_response(&mut in_flight))
        .await
        .expect("answered")
        .expect("response");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(patch_of(&r.json()).0.len() > 1);
    server.join().await;
}
