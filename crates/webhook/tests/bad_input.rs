//! Bad input: a clear 4xx (or a denial), within bounded time, and the server keeps serving.

use std::time::{Duration, Instant};

use rofs_webhook::Config;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_400_with_the_reason() {
    let certs = make_certs();
    let server = start_default(&certs, Config::default()).await;
    let pod_request = fixture("deployment-pod.json");
    let mut wrong_version = pod_request.clone();
    wrong_version["apiVersion"] = json!("admission.k8s.io/v1beta1");
    let mut wrong_kind = pod_request.clone();
    wrong_kind["kind"] = json!("TokenReview");
    let mut no_uid = pod_request.clone();
    no_uid["request"]
        .as_object_mut()
        .expect("request")
        .remove("uid");
    let mut null_request = pod_request.clone();
    null_request["request"] = json!(null);
    let mut bad_kind_type = pod_request.clone();
    bad_kind_type["request"]["kind"] = json!("Pod");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{\"apiVersion\": ".to_vec(), "not valid JSON"),
        (b"".to_vec(), "not valid JSON"),
        (b"\xff\xfe".to_vec(), "not valid JSON"),
        (b"[1,2,3]".to_vec(), "not an AdmissionReview"),
        (
            wrong_version.to_string().into_bytes(),
            "admission.k8s.io/v1beta1",
        ),
        (wrong_kind.to_string().into_bytes(), "TokenReview"),
        (no_uid.to_string().into_bytes(), "request.uid"),
        (null_request.to_string().into_bytes(), "no `request`"),
        (bad_kind_type.to_string().into_bytes(), "invalid `request`"),
    ];
    // All on one keep-alive connection: a 400 does not close it.
    let mut conn = connect(server.addr, &[&certs.ca]).await;
    for (body, needle) in &cases {
        let r = send(&mut conn, "POST", "/mutate", body).await;
        assert_eq!(r.status, 400, "{needle}: {}", r.text());
        assert!(r.text().contains(needle), "{needle}: {}", r.text());
    }
    let r = send(&mut conn, "GET", "/mutate", b"").await;
    assert_eq!(r.status, 405);
    let r = send(&mut conn, "POST", "/nope", b"{}").await;
    assert_eq!(r.status, 404);
    let r = send(
        &mut conn,
        "POST",
        "/mutate",
        pod_request.to_string().as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "still serving");
    let metrics = send(&mut conn, "GET", "/metrics", b"").await.text();
    assert!(
        metrics.contains(&format!(
            "rofs_webhook_requests_total{{code=\"400\"}} {}",
            cases.len()
        )),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_3_mib_get_413() {
    let certs = make_certs();
    let server = start_default(&certs, Config::default()).await;
    let limit = rofs_webhook::server::MAX_BODY;

    // Declared too large: refused from the headers, before the body is read.
    let mut conn = connect(server.addr, &[&certs.ca]).await;
    let head = format!(
        "POST /mutate HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        limit + 1
    );
    conn.write_all(head.as_bytes()).await.expect("write");
    let r = tokio::time::timeout(Duration::from_secs(5), read_response(&mut conn))
        .await
        .expect("answered without the body")
        .expect("response");
    assert_eq!(r.status, 413, "{}", r.text());

    // Not declared (chunked): cut off at the limit. A valid JSON prefix, padded.
    let mut conn = connect(server.addr, &[&certs.ca]).await;
    let head = format!(
        "POST /mutate HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.expect("write");
    let chunk = vec![b' '; 256 * 1024];
    let mut sent = 0;
    let mut answered = None;
    while sent <= limit + chunk.len() {
        let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
        if conn.write_all(&frame).await.is_err() {
            break; // the server answered and closed: read the answer below
        }
        sent += chunk.len();
        if sent > limit {
            answered = Some(
                tokio::time::timeout(Duration::from_secs(5), read_response(&mut conn))
                    .await
                    .expect("answered")
                    .expect("response"),
            );
            break;
        }
    }
    let r = match answered {
        Some(r) => r,
        None => read_response(&mut conn).await.expect("response"),
    };
    assert_eq!(r.status, 413, "{}", r.text());

    // Exactly the limit is accepted (and is not a valid review: 400, not 413).
    let body = vec![b' '; limit];
    let r = post(server.addr, &certs.ca, &body).await;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = post(
        server.addr,
        &certs.ca,
        fixture("service.json").to_string().as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_in_bounded_time() {
    let certs = make_certs();
    let mut options = options(
        &certs.dir.path().join("tls.crt"),
        &certs.dir.path().join("tls.key"),
        Config::default(),
    );
    options.request_timeout = Duration::from_secs(1);
    options.handshake_timeout = Duration::from_secs(1);
    let server = start(options).await;

    // 1. TCP connection, no TLS handshake: closed after the handshake timeout.
    let start = Instant::now();
    let mut tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .expect("closed by the server");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    assert!(start.elapsed() < Duration::from_secs(4));

    // 2. Headers that never end: the connection is closed after the header timeout.
    let start = Instant::now();
    let mut conn = connect(server.addr, &[&certs.ca]).await;
    conn.write_all(b"POST /mutate HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let outcome = tokio::time::timeout(Duration::from_secs(5), read_response(&mut conn))
        .await
        .expect("the server gives up first");
    match outcome {
        Ok(r) => assert_eq!(r.status, 408, "{}", r.text()),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}"),
    }
    assert!(start.elapsed() < Duration::from_secs(4));

    // 3. A body that trickles and stops: 408 after the request timeout.
    let start = Instant::now();
    let mut conn = connect(server.addr, &[&certs.ca]).await;
    conn.write_all(
        format!("POST /mutate HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"api")
            .as_bytes(),
    )
    .await
    .expect("write");
    let r = tokio::time::timeout(Duration::from_secs(5), read_response(&mut conn))
        .await
        .expect("the server gives up first")
        .expect("a response");
    assert_eq!(r.status, 408, "{}", r.text());
    assert!(start.elapsed() < Duration::from_secs(4));

    // Still serving.
    let r = post(
        server.addr,
        &certs.ca,
        fixture("deployment-pod.json").to_string().as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_instead_of_tls_does_not_hurt() {
    let certs = make_certs();
    let server = start_default(&certs, Config::default()).await;
    let mut tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    tcp.write_all(b"POST /mutate HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;
    let r = post(
        server.addr,
        &certs.ca,
        fixture("service.json").to_string().as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200);
    server.stop().await;
}
