//! rofs-webhook: `rofs webhook`, a mutating admission webhook that applies the rofs rewrite
//! (crates/core) to pods at admission.
//!
//! - [`review`]: the pure function, AdmissionReview in, AdmissionReview (with a JSON Patch)
//!   out;
//! - [`patch`]: the JSON Patch from the pod to its rewrite, written as JSON text;
//! - [`config`]: server-wide defaults (config file, image profiles, `onInvalid`);
//! - [`server`]: the HTTPS server (hyper + axum + rustls), limits, graceful shutdown;
//! - [`tls`]: the serving certificate, reloaded when its Secret volume rotates;
//! - [`metrics`]: Prometheus text format;
//! - [`certs`]: `rofs webhook certs` (a CA and a serving certificate, with rcgen).
//!
//! See docs/webhook.md.

pub mod certs;
pub mod config;
pub mod metrics;
mod parse;
pub mod patch;
pub mod review;
pub mod server;
pub mod tls;

pub use config::{Config, ImageProfile, OnInvalid};
pub use review::{BadReview, Decision, Reviewed, review, review_bytes};
pub use server::{ServeOptions, Server, run_blocking};

/// Log line format of the long-running server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Plain,
    Json,
}

/// Install the global `tracing` subscriber (stderr). Call once, from the binary.
pub fn init_logging(format: LogFormat, level: tracing::Level) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_ansi(false);
    let _ = match format {
        LogFormat::Plain => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
