//! A load generator for `rofs webhook` (benches/webhook/run.sh): keep-alive HTTPS/1.1
//! connections POSTing one AdmissionReview to /mutate, at a fixed rate or as fast as they can.
//!
//! ```text
//! cargo run --release -p rofs-webhook --example load -- ADDR CA_PEM BODY RATE CONNS SECONDS
//! ```
//!
//! `RATE` > 0: open loop. Request k is *due* at `start + k / RATE`, and the connections take
//! the due times in turn; a request's latency runs from its due time, not from when it was
//! sent, so a slow answer that delays the next requests is counted in theirs too (no
//! coordinated omission: a stall of the server shows in the tail as the clients it stalled
//! saw it). `RATE` = 0: closed loop, each connection sends its next request when the previous
//! answer is in; latency from the send.
//!
//! Each thread is one connection, blocking I/O (rustls over std's TcpStream): no async runtime
//! between the clock and the socket. Prints one JSON line: requests, errors (not 200, or 200
//! without a JSON Patch), achieved rate, latency percentiles in µs, and the same for the
//! service time (from the actual send) in open loop, to tell the server's time from the
//! generator's own lateness.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};

const HOST: &str = "rofs-webhook.rofs-system.svc";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, ca, body, rate, conns, seconds] = args.as_slice() else {
        eprintln!("usage: load ADDR CA_PEM BODY RATE CONNS SECONDS");
        std::process::exit(2);
    };
    let addr: SocketAddr = addr.parse().expect("ADDR");
    let ca = CertificateDer::from_pem_file(ca).expect("CA PEM");
    let body = std::fs::read(body).expect("BODY");
    let rate: f64 = rate.parse().expect("RATE");
    let conns: usize = conns.parse().expect("CONNS");
    let duration = Duration::from_secs_f64(seconds.parse().expect("SECONDS"));

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).expect("CA");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let config = Arc::new(config);
    let mut request = format!(
        "POST /mutate HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let request = Arc::new(request);

    // Connect (and handshake) first: the run measures requests, not handshakes.
    let streams: Vec<_> = (0..conns)
        .map(|_| {
            let tcp = TcpStream::connect(addr).expect("connect");
            tcp.set_nodelay(true).expect("nodelay");
            let name = ServerName::try_from(HOST).expect("name");
            let conn = rustls::ClientConnection::new(config.clone(), name).expect("TLS");
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            tls.flush().expect("handshake");
            tls
        })
        .collect();
    let start = Instant::now() + Duration::from_millis(20);
    let threads: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(i, tls)| {
            let request = request.clone();
            std::thread::spawn(move || run(tls, &request, start, duration, rate, i, conns))
        })
        .collect();
    let mut total = Samples::default();
    for t in threads {
        total.merge(t.join().expect("a client thread"));
    }
    total.print(rate, duration);
}

#[derive(Default)]
struct Samples {
    /// From the due time (open loop) or the send (closed loop), µs.
    latency: Vec<u32>,
    /// From the send, µs.
    service: Vec<u32>,
    errors: u64,
}

impl Samples {
    fn merge(&mut self, other: Samples) {
        self.latency.extend(other.latency);
        self.service.extend(other.service);
        self.errors += other.errors;
    }

    fn print(mut self, rate: f64, duration: Duration) {
        let pcts = |v: &mut Vec<u32>| {
            v.sort_unstable();
            let at = |p: f64| {
                v.get(((p / 100.0) * (v.len().max(1) - 1) as f64).round() as usize)
                    .copied()
                    .unwrap_or(0)
            };
            format!(
                "{{\"p50\":{},\"p90\":{},\"p99\":{},\"p99.9\":{},\"max\":{}}}",
                at(50.0),
                at(90.0),
                at(99.0),
                at(99.9),
                v.last().copied().unwrap_or(0)
            )
        };
        let n = self.latency.len();
        println!(
            "{{\"rate\":{rate},\"requests\":{n},\"errors\":{},\"achieved\":{:.1},\"latency_us\":{},\"service_us\":{}}}",
            self.errors,
            n as f64 / duration.as_secs_f64(),
            pcts(&mut self.latency),
            pcts(&mut self.service)
        );
    }
}

fn run(
    mut tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    request: &[u8],
    start: Instant,
    duration: Duration,
    rate: f64,
    index: usize,
    conns: usize,
) -> Samples {
    let mut samples = Samples::default();
    let end = start + duration;
    let mut k = index; // this connection's due times: index, index + conns, ...
    let mut body = Vec::with_capacity(8192);
    loop {
        let due = if rate > 0.0 {
            start + Duration::from_secs_f64(k as f64 / rate)
        } else {
            Instant::now()
        };
        if due >= end {
            break;
        }
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let sent = Instant::now();
        let ok = exchange(&mut tls, request, &mut body);
        let done = Instant::now();
        if !ok {
            samples.errors += 1;
            if body.is_empty() {
                break; // the connection is gone
            }
        }
        let micros = |d: Duration| u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
        samples.latency.push(micros(done - due.min(sent)));
        samples.service.push(micros(done - sent));
        k += conns;
    }
    samples
}

/// One request and its response; true for a 200 with a JSON Patch. `body` gets the response
/// body (empty when the connection failed).
fn exchange(
    tls: &mut rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    request: &[u8],
    body: &mut Vec<u8>,
) -> bool {
    body.clear();
    if tls.write_all(request).and_then(|()| tls.flush()).is_err() {
        return false;
    }
    let mut reader = BufReader::new(&mut *tls);
    let mut line = String::new();
    let (mut status, mut length) = (0u16, 0usize);
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return false,
            Ok(_) => {}
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some(s) = l.strip_prefix("HTTP/1.1 ") {
            status = s.get(..3).and_then(|s| s.parse().ok()).unwrap_or(0);
        } else if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    body.resize(length, 0);
    if reader.read_exact(body).is_err() {
        body.clear();
        return false;
    }
    const PATCHED: &[u8] = br#""patchType":"JSONPatch""#;
    status == 200 && body.windows(PATCHED.len()).any(|w| w == PATCHED)
}
