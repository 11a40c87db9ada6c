//! The HTTPS server: `POST /mutate`, `GET /healthz`, `/readyz`, `/metrics`.
//!
//! hyper connections are driven by our own accept loop rather than `axum::serve` or
//! axum-server, because every limit a webhook needs is then one line and visible here: TLS
//! handshake timeout, header read timeout, body size and read timeout, and a graceful shutdown
//! that lets in-flight reviews finish. Routing is axum; the handlers are thin: all decisions
//! are in [`crate::review`].

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::metrics::{Counted, Metrics};
use crate::review::{Decision, review_bytes};
use crate::tls::{ReloadingCert, TlsError, server_config};

/// The largest AdmissionReview accepted: the API server's own request limit (3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

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
    pub max_body: usize,
    pub config: Config,
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
            max_body: MAX_BODY,
            config,
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
    pub request_timeout: Duration,
}

impl AppState {
    pub fn new(config: Config) -> Self {
        AppState {
            config,
            metrics: Arc::new(Metrics::default()),
            ready: AtomicBool::new(true),
            max_body: MAX_BODY,
            request_timeout: Duration::from_secs(10),
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
    let response = handle(&state, request).await;
    state
        .metrics
        .request(response.status().as_u16(), start.elapsed());
    response
}

async fn handle(state: &AppState, request: Request) -> Response {
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
    let reviewed = match review_bytes(&bytes, &state.config) {
        Ok(r) => r,
        Err(error) => {
            tracing::warn!(%error, "bad AdmissionReview request");
            return text(StatusCode::BAD_REQUEST, error.to_string());
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
    // Serializing plain strings, booleans and numbers cannot fail.
    let json = serde_json::to_vec(&reviewed.response).unwrap_or_default();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(json),
    )
        .into_response()
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
            request_timeout: options.request_timeout,
        });
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
        http.http1()
            .timer(TokioTimer::new())
            .header_read_timeout(options.request_timeout);
        http.http2().timer(TokioTimer::new());
        let http = Arc::new(http);
        let app = router(state.clone());
        let (stop_tx, stop_rx) = watch::channel(false);
        // Every connection task holds a sender; recv() returns None once all are gone.
        let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);

        let accept = |tcp: tokio::net::TcpStream, peer: SocketAddr| {
            let _ = tcp.set_nodelay(true);
            let (acceptor, app, http) = (acceptor.clone(), app.clone(), http.clone());
            let (mut stop, alive) = (stop_rx.clone(), alive_tx.clone());
            let handshake_timeout = options.handshake_timeout;
            tokio::spawn(async move {
                let _alive = alive;
                let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await
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
                let conn = http.serve_connection(TokioIo::new(tls), TowerToHyperService::new(app));
                tokio::pin!(conn);
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(error) = result {
                            tracing::debug!(%peer, %error, "connection closed with an error");
                        }
                    }
                    _ = stop.changed() => {
                        conn.as_mut().graceful_shutdown();
                        let _ = conn.await;
                    }
                }
            });
        };

        let mut shutdown = std::pin::pin!(shutdown);
        let drain = tokio::time::sleep(Duration::from_secs(365 * 86400));
        let mut drain = std::pin::pin!(drain);
        let mut draining = false;
        loop {
            tokio::select! {
                biased;
                () = shutdown.as_mut(), if !draining => {
                    draining = true;
                    state.ready.store(false, Ordering::Relaxed);
                    tracing::info!(
                        drain_delay = ?options.drain_delay,
                        "shutting down: not ready; still serving during the drain delay"
                    );
                    drain.as_mut().reset(tokio::time::Instant::now() + options.drain_delay);
                }
                () = drain.as_mut(), if draining => break,
                accepted = listener.accept() => match accepted {
                    Ok((tcp, peer)) => accept(tcp, peer),
                    Err(error) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
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
