//! The HTTPS server: `POST /mutate`, `GET /healthz`, `/readyz`, `/metrics`.
//!
//! hyper connections are driven by our own accept loop rather than `axum::serve` or
//! axum-server, because every limit a webhook needs is then one line and visible here: TLS
//! handshake timeout, header read timeout, body size and read timeout, idle timeout, a
//! connection limit, and a graceful shutdown that lets in-flight reviews finish. Routing is
//! axum; the handlers are thin: all decisions are in [`crate::review`].
//!
//! The review itself (JSON parse, the core's rewrite, diff, serialization) is CPU work that
//! the API server can make arbitrarily long with a large pod; a large pod's runs on tokio's
//! blocking threads, so that the async workers keep answering `/healthz`, `/readyz` and
//! accepting connections (a pod up to [`INLINE_REVIEW_MAX_BODY`], ~0.1 ms, in place: the
//! hand-off cost more than such a review). At most `max_reviews_in_flight` run at once and
//! `max_reviews_queued` wait, wherever they run; a review beyond that gets HTTP 503, which
//! the API server handles per the webhook's `failurePolicy`.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::{BodyExt as _, Limited};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::metrics::{Counted, Metrics};
use crate::review::{BadReview, Decision, Reviewed, review_bytes};
use crate::tls::{ReloadingCert, TlsError, server_config};

/// The largest AdmissionReview accepted: the API server's own request limit (3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// Default `--max-connections`: below the usual soft limit of 1024 open files, with room for
/// the listener, the certificate files and the runtime's own descriptors.
pub const MAX_CONNECTIONS: usize = 512;

/// Default `--max-reviews-queued`.
pub const MAX_REVIEWS_QUEUED: usize = 128;

/// Reviews of bodies up to this size run on the async worker that received them (a 6 KB pod
/// takes ~0.1 ms, and at most `max_reviews_in_flight` run at once); larger ones on a blocking
/// thread. Handing every review to a blocking thread and back cost ~15 % of the server's CPU
/// per review (thread wake-ups and context switches) and its latency (docs/performance.md).
/// The largest review run in place takes a few milliseconds.
pub const INLINE_REVIEW_MAX_BODY: usize = 64 * 1024;

/// HTTP/2 keep-alive: a PING every this often on a connection, which is closed when the ACK
/// does not come within [`H2_KEEP_ALIVE_TIMEOUT`] (a peer gone without a FIN).
pub const H2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(20);
pub const H2_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// At most one "accept failed" log line per this interval (the others are counted in it).
pub const ACCEPT_ERROR_LOG_INTERVAL: Duration = Duration::from_secs(5);

/// Default `--max-reviews-in-flight`: the CPUs this process may use (cgroup quota included).
pub fn default_reviews_in_flight() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
}

/// The function that turns a request body into a review: [`review_bytes`]. Replaceable so
/// that tests can stand in a deliberately slow review.
#[derive(Clone)]
pub struct Reviewer(pub Arc<ReviewFn>);

/// What a [`Reviewer`] calls.
pub type ReviewFn = dyn Fn(&[u8], &Config) -> Result<Reviewed, BadReview> + Send + Sync;

impl Default for Reviewer {
    fn default() -> Self {
        Reviewer(Arc::new(review_bytes))
    }
}

impl std::fmt::Debug for Reviewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reviewer(..)")
    }
}

/// Everything `rofs webhook` needs to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// Check the certificate files for a rotation at most this often (on new connections).
    pub tls_reload_interval: Duration,
    /// Time allowed for the TLS handshake of a new connection.
    pub handshake_timeout: Duration,
    /// Time allowed to receive a request's headers, and then its body.
    pub request_timeout: Duration,
    /// After SIGTERM: keep serving (not ready) this long, so that endpoints drop the pod first.
    pub drain_delay: Duration,
    /// After that: wait at most this long for in-flight requests to finish.
    pub shutdown_timeout: Duration,
    /// Close a connection that has had no request in progress for this long.
    pub idle_timeout: Duration,
    /// Connections open at once; at the limit the server stops accepting until one closes.
    pub max_connections: usize,
    /// Reviews computed at once (in place or on blocking threads).
    pub max_reviews_in_flight: usize,
    /// Reviews waiting for one of those; beyond, HTTP 503.
    pub max_reviews_queued: usize,
    pub max_body: usize,
    /// Reviews of bodies up to this size run in place, larger ones on a blocking thread
    /// ([`INLINE_REVIEW_MAX_BODY`]; 0: all on blocking threads).
    pub inline_review_max_body: usize,
    pub config: Config,
    pub reviewer: Reviewer,
}

impl ServeOptions {
    pub fn new(listen: SocketAddr, tls_cert: PathBuf, tls_key: PathBuf, config: Config) -> Self {
        ServeOptions {
            listen,
            tls_cert,
            tls_key,
            tls_reload_interval: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            drain_delay: Duration::ZERO,
            shutdown_timeout: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(30),
            max_connections: MAX_CONNECTIONS,
            max_reviews_in_flight: default_reviews_in_flight(),
            max_reviews_queued: MAX_REVIEWS_QUEUED,
            max_body: MAX_BODY,
            inline_review_max_body: INLINE_REVIEW_MAX_BODY,
            config,
            reviewer: Reviewer::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    pub metrics: Arc<Metrics>,
    /// False once shutdown began: `/readyz` fails so that the Service stops routing here.
    pub ready: AtomicBool,
    pub max_body: usize,
    /// See [`ServeOptions::inline_review_max_body`].
    pub inline_review_max_body: usize,
    pub request_timeout: Duration,
    pub reviewer: Reviewer,
    /// Permits to compute a review: `max_reviews_in_flight`.
    pub reviewing: Arc<Semaphore>,
    /// Permits to be computed or wait for it: `max_reviews_in_flight + max_reviews_queued`.
    pub admitted: Arc<Semaphore>,
}

impl AppState {
    pub fn new(config: Config) -> Self {
        let in_flight = default_reviews_in_flight();
        AppState {
            config,
            metrics: Arc::new(Metrics::default()),
            ready: AtomicBool::new(true),
            max_body: MAX_BODY,
            inline_review_max_body: INLINE_REVIEW_MAX_BODY,
            request_timeout: Duration::from_secs(10),
            reviewer: Reviewer::default(),
            reviewing: Arc::new(Semaphore::new(in_flight)),
            admitted: Arc::new(Semaphore::new(in_flight + MAX_REVIEWS_QUEUED)),
        }
    }
}

/// The routes, usable without TLS (e.g. with `tower::ServiceExt::oneshot`).
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/mutate", post(mutate))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.ready.load(Ordering::Relaxed) {
        "ok\n".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

fn text(code: StatusCode, message: String) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message + "\n",
    )
        .into_response()
}

async fn mutate(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let start = Instant::now();
    let response = handle(state.clone(), request).await;
    state
        .metrics
        .request(response.status().as_u16(), start.elapsed());
    response
}

/// `application/json`, with or without parameters (`; charset=utf-8`), in any case: what the
/// API server sends.
fn is_json(content_type: Option<&header::HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

async fn handle(state: Arc<AppState>, request: Request) -> Response {
    let content_type = request.headers().get(header::CONTENT_TYPE);
    if !is_json(content_type) {
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            match content_type {
                Some(v) => format!(
                    "Content-Type must be application/json (an AdmissionReview), found {:?}",
                    String::from_utf8_lossy(v.as_bytes())
                ),
                None => "Content-Type must be application/json (an AdmissionReview), found none"
                    .to_string(),
            },
        );
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > state.max_body as u64) {
        return text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body larger than {} bytes", state.max_body),
        );
    }
    let body = Limited::new(request.into_body(), state.max_body);
    let bytes = match tokio::time::timeout(state.request_timeout, body.collect()).await {
        Err(_) => {
            return text(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "request body not received within {:?}",
                    state.request_timeout
                ),
            );
        }
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body larger than {} bytes", state.max_body),
            );
        }
        Ok(Err(e)) => return text(StatusCode::BAD_REQUEST, format!("reading the body: {e}")),
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    // A place in the queue, or 503 at once: the API server applies the failurePolicy.
    let Ok(_admitted) = state.admitted.clone().try_acquire_owned() else {
        tracing::warn!("overloaded: all review slots in use and the queue full; answered 503");
        return overloaded();
    };
    // Waiting for a review thread: bounded too (the API server gave up long before).
    let permit = match tokio::time::timeout(
        state.request_timeout,
        state.reviewing.clone().acquire_owned(),
    )
    .await
    {
        Ok(Ok(permit)) => permit,
        Ok(Err(_)) | Err(_) => {
            tracing::warn!(timeout = ?state.request_timeout, "overloaded: no review slot in time; answered 503");
            return overloaded();
        }
    };
    // The CPU-bound part: a small pod's in place, anything larger off the async workers. If
    // the client goes away meanwhile, the review still finishes (it cannot be interrupted)
    // and keeps its permit until then.
    let inline = bytes.len() <= state.inline_review_max_body;
    let shared = state.clone();
    let work = move || {
        let _permit = permit;
        let reviewed = (shared.reviewer.0)(&bytes, &shared.config)?;
        // Serializing plain strings, booleans and numbers cannot fail.
        let json = serde_json::to_vec(&reviewed.response).unwrap_or_default();
        Ok::<_, BadReview>((reviewed, json))
    };
    let done = if inline {
        Ok(work())
    } else {
        tokio::task::spawn_blocking(work).await
    };
    let (reviewed, json) = match done {
        Ok(Ok(r)) => r,
        Ok(Err(error)) => {
            tracing::warn!(%error, "bad AdmissionReview request");
            return text(StatusCode::BAD_REQUEST, error.to_string());
        }
        Err(error) => {
            tracing::error!(%error, "the review failed");
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error while reviewing".to_string(),
            );
        }
    };
    let r = &reviewed.response.response;
    let (uid, pod, dry_run, warnings) = (
        r.uid.as_str(),
        reviewed.object.as_str(),
        reviewed.dry_run,
        r.warnings.len(),
    );
    let counted = match &reviewed.decision {
        Decision::Mutated { operations } => {
            tracing::info!(uid, pod, operations, warnings, dry_run, "patched");
            Counted::Mutated
        }
        Decision::Unchanged => {
            tracing::debug!(uid, pod, warnings, dry_run, "unchanged");
            Counted::Unchanged
        }
        Decision::Ignored(why) => {
            tracing::debug!(uid, pod, operation = %reviewed.operation, why, "ignored");
            Counted::Ignored
        }
        Decision::Denied { message } => {
            tracing::warn!(uid, pod, dry_run, %message, "denied");
            Counted::Denied
        }
        Decision::InvalidAllowed { message } => {
            tracing::warn!(uid, pod, dry_run, %message, "invalid annotations; admitted unchanged");
            Counted::InvalidAllowed
        }
    };
    state.metrics.review(counted, warnings);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(json),
    )
        .into_response()
}

fn overloaded() -> Response {
    text(
        StatusCode::SERVICE_UNAVAILABLE,
        "overloaded: too many reviews in progress; the API server applies the webhook's failurePolicy"
            .to_string(),
    )
}

/// A bound, ready-to-run server.
pub struct Server {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    state: Arc<AppState>,
    options: ServeOptions,
}

impl Server {
    /// Load the certificate (an error stops here) and bind the listening socket.
    pub async fn bind(options: ServeOptions) -> Result<Server, ServeError> {
        let metrics = Arc::new(Metrics::default());
        let resolver = ReloadingCert::new(
            &options.tls_cert,
            &options.tls_key,
            options.tls_reload_interval,
            Some(metrics.clone()),
        )?;
        let acceptor = TlsAcceptor::from(Arc::new(server_config(Arc::new(resolver))?));
        let listener =
            TcpListener::bind(options.listen)
                .await
                .map_err(|source| ServeError::Bind {
                    addr: options.listen,
                    source,
                })?;
        let state = Arc::new(AppState {
            config: options.config.clone(),
            metrics,
            ready: AtomicBool::new(true),
            max_body: options.max_body,
            inline_review_max_body: options.inline_review_max_body,
            request_timeout: options.request_timeout,
            reviewer: options.reviewer.clone(),
            reviewing: Arc::new(Semaphore::new(options.max_reviews_in_flight.max(1))),
            admitted: Arc::new(Semaphore::new(
                options.max_reviews_in_flight.max(1) + options.max_reviews_queued,
            )),
        });
        if let Some(files) = open_files_limit()
            && options.max_connections.saturating_add(FDS_RESERVED) > files
        {
            tracing::warn!(
                max_connections = options.max_connections,
                open_files_limit = files,
                "--max-connections is close to or above the open files limit (RLIMIT_NOFILE): \
                 accepting may fail with EMFILE before the connection limit applies"
            );
        }
        Ok(Server {
            listener,
            acceptor,
            state,
            options,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serve until `shutdown` completes; then stop being ready, keep serving for the drain
    /// delay, stop accepting, and wait (at most the shutdown timeout) for in-flight requests.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Server {
            listener,
            acceptor,
            state,
            options,
        } = self;
        let mut http = auto::Builder::new(TokioExecutor::new());
        // hyper starts the header timer whenever it waits for a request head, including
        // between keep-alive requests.
        http.http1()
            .timer(TokioTimer::new())
            .header_read_timeout(options.request_timeout);
        http.http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(H2_KEEP_ALIVE_INTERVAL)
            .keep_alive_timeout(H2_KEEP_ALIVE_TIMEOUT);
        // The protocol is the one negotiated by ALPN: the auto builder's own detection (read
        // bytes until they look like HTTP/1 or the HTTP/2 preface) has no timeout, so a
        // connection that sends nothing after the handshake would stay open forever.
        let builders = Arc::new((http.clone().http1_only(), http.http2_only()));
        let app = router(state.clone());
        let (stop_tx, stop_rx) = watch::channel(false);
        // Every connection task holds a sender; recv() returns None once all are gone.
        let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
        let slots = Arc::new(Semaphore::new(options.max_connections.max(1)));

        let accept = |tcp: tokio::net::TcpStream,
                      peer: SocketAddr,
                      slot: tokio::sync::OwnedSemaphorePermit| {
            let _ = tcp.set_nodelay(true);
            let (acceptor, app, builders) = (acceptor.clone(), app.clone(), builders.clone());
            let (stop, alive) = (stop_rx.clone(), alive_tx.clone());
            let metrics = state.metrics.clone();
            let options = ConnOptions {
                handshake_timeout: options.handshake_timeout,
                idle_timeout: options.idle_timeout,
                close_timeout: options.request_timeout,
                shutdown_timeout: options.shutdown_timeout,
            };
            tokio::spawn(async move {
                let _alive = alive;
                let _open = metrics.connection_opened();
                let _slot = slot;
                let tls =
                    match tokio::time::timeout(options.handshake_timeout, acceptor.accept(tcp))
                        .await
                    {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(error)) => {
                            tracing::debug!(%peer, %error, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                let activity = Arc::new(Activity::new());
                let service = Tracked {
                    inner: TowerToHyperService::new(app),
                    activity: activity.clone(),
                };
                let http = if h2 { &builders.1 } else { &builders.0 };
                let conn = http.serve_connection(TokioIo::new(tls), service);
                // Until the connection ends, the server shuts down, or it has been idle (no
                // request in progress) for the idle timeout. Closing is graceful (HTTP/2:
                // GOAWAY), and bounded.
                let mut conn = std::pin::pin!(conn);
                let mut stop = stop;
                let timer = tokio::time::sleep(options.idle_timeout);
                let mut timer = std::pin::pin!(timer);
                let mut closing = false;
                loop {
                    tokio::select! {
                        result = conn.as_mut() => {
                            if let Err(error) = result {
                                tracing::debug!(%peer, %error, "connection closed with an error");
                            }
                            return;
                        }
                        _ = stop.changed(), if !closing => {
                            closing = true;
                            conn.as_mut().graceful_shutdown();
                            // The server's own shutdown timeout bounds this.
                            timer.as_mut().reset(tokio::time::Instant::now() + options.shutdown_timeout);
                        }
                        () = timer.as_mut() => {
                            if closing {
                                tracing::debug!(%peer, "connection did not close in time; dropped");
                                return;
                            }
                            let next = match activity.idle_for() {
                                Some(idle) if idle >= options.idle_timeout => {
                                    tracing::debug!(%peer, ?idle, "idle connection closed");
                                    closing = true;
                                    conn.as_mut().graceful_shutdown();
                                    options.close_timeout
                                }
                                Some(idle) => options.idle_timeout.saturating_sub(idle),
                                None => options.idle_timeout,
                            };
                            timer.as_mut().reset(tokio::time::Instant::now() + next);
                        }
                    }
                }
            });
        };

        let mut accept_errors = AcceptErrors::default();
        let mut shutdown = std::pin::pin!(shutdown);
        let drain = tokio::time::sleep(Duration::from_secs(365 * 86400));
        let mut drain = std::pin::pin!(drain);
        let mut draining = false;
        'serving: loop {
            // A connection slot first: at the limit, connections wait in the listen backlog
            // (and the kernel's SYN queue) until one closes.
            let slot = tokio::select! {
                biased;
                () = shutdown.as_mut(), if !draining => {
                    draining = true;
                    begin_drain(&state.ready, options.drain_delay, drain.as_mut());
                    continue 'serving;
                }
                () = drain.as_mut(), if draining => break 'serving,
                slot = slots.clone().acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => break 'serving, // never closed
                },
            };
            loop {
                tokio::select! {
                    biased;
                    () = shutdown.as_mut(), if !draining => {
                        draining = true;
                        begin_drain(&state.ready, options.drain_delay, drain.as_mut());
                    }
                    () = drain.as_mut(), if draining => break 'serving,
                    accepted = listener.accept() => match accepted {
                        Ok((tcp, peer)) => {
                            accept_errors.succeeded();
                            accept(tcp, peer, slot);
                            continue 'serving;
                        }
                        Err(error) => {
                            state.metrics.accept_error();
                            // EMFILE and friends: back off instead of spinning, and log at
                            // most one line per interval.
                            let pause = accept_errors.failed(&error, Instant::now());
                            tokio::time::sleep(pause).await;
                        }
                    }
                }
            }
        }
        drop(listener);
        let _ = stop_tx.send(true);
        drop(alive_tx);
        match tokio::time::timeout(options.shutdown_timeout, alive_rx.recv()).await {
            Ok(_) => tracing::info!("all connections closed; bye"),
            Err(_) => tracing::warn!(
                timeout = ?options.shutdown_timeout,
                "connections still open after the shutdown timeout; exiting anyway"
            ),
        }
    }
}

/// Descriptors kept free besides the connections (listener, certificate files, runtime).
const FDS_RESERVED: usize = 32;

/// The soft RLIMIT_NOFILE, from /proc/self/limits (no `unsafe` getrlimit).
fn open_files_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// SIGTERM: `/readyz` fails from now on, and serving goes on for the drain delay (while the
/// endpoints drop the pod).
fn begin_drain(ready: &AtomicBool, delay: Duration, drain: std::pin::Pin<&mut tokio::time::Sleep>) {
    ready.store(false, Ordering::Relaxed);
    tracing::info!(
        drain_delay = ?delay,
        "shutting down: not ready; still serving during the drain delay"
    );
    drain.reset(tokio::time::Instant::now() + delay);
}

/// Accept errors (EMFILE, ENFILE, ENOMEM...): the pause before the next try doubles from
/// 10 ms to 1 s while they last, and one line per [`ACCEPT_ERROR_LOG_INTERVAL`] is logged
/// with the number of errors not logged since the previous one.
#[derive(Debug, Default)]
struct AcceptErrors {
    pause: Duration,
    logged: Option<Instant>,
    suppressed: u64,
}

impl AcceptErrors {
    const FIRST_PAUSE: Duration = Duration::from_millis(10);
    const MAX_PAUSE: Duration = Duration::from_secs(1);

    fn failed(&mut self, error: &std::io::Error, now: Instant) -> Duration {
        self.pause = (self.pause * 2).clamp(Self::FIRST_PAUSE, Self::MAX_PAUSE);
        if self
            .logged
            .is_some_and(|t| now.duration_since(t) < ACCEPT_ERROR_LOG_INTERVAL)
        {
            self.suppressed += 1;
        } else {
            tracing::warn!(
                %error,
                suppressed = self.suppressed,
                retry_in = ?self.pause,
                "accept failed (errors since the previous line: suppressed)"
            );
            self.logged = Some(now);
            self.suppressed = 0;
        }
        self.pause
    }

    fn succeeded(&mut self) {
        self.pause = Duration::ZERO;
    }
}

#[derive(Debug, Clone, Copy)]
struct ConnOptions {
    handshake_timeout: Duration,
    idle_timeout: Duration,
    /// After we asked a connection to close: how long it may take (in-flight requests).
    close_timeout: Duration,
    shutdown_timeout: Duration,
}

/// Requests in progress on one connection, and when the last one ended.
#[derive(Debug)]
struct Activity {
    busy: AtomicUsize,
    since: Mutex<Instant>,
}

impl Activity {
    fn new() -> Self {
        Activity {
            busy: AtomicUsize::new(0),
            since: Mutex::new(Instant::now()),
        }
    }

    /// How long the connection has been without a request in progress; None while busy.
    fn idle_for(&self) -> Option<Duration> {
        if self.busy.load(Ordering::SeqCst) > 0 {
            return None;
        }
        Some(
            self.since
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .elapsed(),
        )
    }
}

/// Marks one request in progress, from the call until its response is ready.
struct Busy(Arc<Activity>);

impl Busy {
    fn new(activity: Arc<Activity>) -> Self {
        activity.busy.fetch_add(1, Ordering::SeqCst);
        Busy(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        *self.0.since.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A service that keeps its connection's [`Activity`].
#[derive(Clone)]
struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S, R> hyper::service::Service<R> for Tracked<S>
where
    S: hyper::service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>,
    >;

    fn call(&self, request: R) -> Self::Future {
        let busy = Busy::new(self.activity.clone());
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await;
            drop(busy);
            response
        })
    }
}

/// Resolves on SIGTERM (the kubelet stopping the pod) or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!(signal = name, "received");
}

/// Start a multi-threaded runtime, serve until SIGTERM/SIGINT, shut down gracefully.
pub fn run_blocking(options: ServeOptions) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Only reviews run there, at most max_reviews_in_flight at once. tokio's default (up
        // to 512, started on demand when none is idle) let a busy server grow to 11-19
        // threads and their allocator arenas (peak RSS 11-14 MiB under wrk); twice the
        // reviews in flight keeps 9-10 MiB at the same throughput (exactly as many cost
        // ~10 %: a review waits for its thread to go idle).
        .max_blocking_threads(options.max_reviews_in_flight.max(1) * 2)
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(async {
        let server = Server::bind(options).await?;
        let addr = server.local_addr().ok();
        tracing::info!(addr = %addr.map(|a| a.to_string()).unwrap_or_default(), version = env!("CARGO_PKG_VERSION"), "rofs webhook listening (HTTPS: /mutate, /healthz, /readyz, /metrics)");
        server.run(shutdown_signal()).await;
        Ok(())
    })
}
