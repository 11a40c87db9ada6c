//! `rofs webhook` (serve the mutating admission webhook) and `rofs webhook certs`.
//! The work is in crates/webhook; this is flags in, errors out.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Subcommand};
use rofs_webhook::{Config, LogFormat, OnInvalid, ServeOptions};

use crate::cli::SettingsArgs;

pub const WEBHOOK_AFTER_HELP: &str = "\
Serves POST /mutate (AdmissionReview admission.k8s.io/v1, Pod CREATE), GET /healthz, /readyz and
/metrics (Prometheus) over HTTPS. Pods are rewritten exactly as `rofs patch` would, with the
settings from the config file and flags, then each container's image profiles, then the pod's
own annotations. The certificate and key are re-read when the mounted Secret rotates.

Config file: the `rofs patch --config` keys plus
  imageProfiles: [{image: \"*nginx*\", profiles: [nginx]}]   (per container, glob on the image)
  onInvalid: deny | allow

Examples:
  rofs webhook certs --out /tmp/certs --service rofs-webhook --namespace rofs-system
  rofs webhook --tls-cert /tmp/certs/tls.crt --tls-key /tmp/certs/tls.key --listen 127.0.0.1:8443
  rofs webhook --tls-cert /tls/tls.crt --tls-key /tls/tls.key --config /config/webhook.yaml \\
       --log-format json

Install and operations: docs/webhook.md";

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct WebhookArgs {
    #[command(subcommand)]
    pub command: Option<WebhookCommand>,

    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Write a CA and a serving certificate for the webhook's Service; print the caBundle.
    Certs(CertsArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// PEM certificate chain to serve (re-read when it changes, e.g. Secret rotation).
    #[arg(long, value_name = "FILE", env = "ROFS_TLS_CERT", required = true)]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of the certificate.
    #[arg(long, value_name = "FILE", env = "ROFS_TLS_KEY", required = true)]
    pub tls_key: Option<PathBuf>,

    /// Address to listen on.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "0.0.0.0:8443",
        env = "ROFS_LISTEN"
    )]
    pub listen: SocketAddr,

    /// Pods with invalid rofs annotations: `deny` them (kubectl shows the message), or
    /// `allow` them unchanged with a warning. Overrides the config file's `onInvalid`.
    #[arg(long, value_name = "WHAT", value_parser = on_invalid_parser())]
    pub on_invalid: Option<OnInvalid>,

    /// Log line format.
    #[arg(long, default_value = "plain", value_parser = log_format_parser(), env = "ROFS_LOG_FORMAT")]
    pub log_format: LogFormat,

    /// Log level: error, warn, info (one line per patched or denied pod), debug.
    #[arg(
        long,
        value_name = "LEVEL",
        default_value = "info",
        env = "ROFS_LOG_LEVEL"
    )]
    pub log_level: tracing::Level,

    /// Check the certificate files for changes at most every SECONDS (on new connections).
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub tls_reload_interval: u64,

    /// On SIGTERM, keep serving (while /readyz fails) for SECONDS before closing.
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub drain_delay: u64,

    /// Then wait at most SECONDS for in-flight requests to finish.
    #[arg(long, value_name = "SECONDS", default_value_t = 20)]
    pub shutdown_timeout: u64,

    /// Time allowed to receive a request (headers, then body), in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub request_timeout: u64,

    /// Close a connection with no request in progress for SECONDS (HTTP/2: GOAWAY).
    #[arg(long, value_name = "SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,

    /// Connections open at once; at the limit, new ones wait in the listen backlog until one
    /// closes. Keep it below the open files limit (`ulimit -n`).
    #[arg(long, value_name = "N", default_value_t = rofs_webhook::server::MAX_CONNECTIONS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections: usize,

    /// Reviews computed at once, off the async workers [default: the CPUs available].
    #[arg(long, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_reviews_in_flight: Option<usize>,

    /// Reviews waiting for one of those; beyond, HTTP 503 (the API server applies the
    /// webhook's failurePolicy).
    #[arg(long, value_name = "N", default_value_t = rofs_webhook::server::MAX_REVIEWS_QUEUED)]
    pub max_reviews_queued: usize,

    /// Server-wide settings (same flags as `rofs patch`); `--config` also reads
    /// `imageProfiles` and `onInvalid`.
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// `--on-invalid`: the webhook's own type, with clap listing the values.
fn on_invalid_parser() -> impl TypedValueParser<Value = OnInvalid> {
    PossibleValuesParser::new(["deny", "allow"]).try_map(|s| s.parse::<OnInvalid>())
}

/// `--log-format`: the webhook's own type, with clap listing the values.
fn log_format_parser() -> impl TypedValueParser<Value = LogFormat> {
    PossibleValuesParser::new(["plain", "json"]).map(|s| match s.as_str() {
        "json" => LogFormat::Json,
        _ => LogFormat::Plain,
    })
}

#[derive(Debug, Args)]
pub struct CertsArgs {
    /// Directory to write ca.crt, ca.key, tls.crt and tls.key into (created if needed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Name of the webhook's Service.
    #[arg(long, value_name = "NAME", default_value = "rofs-webhook")]
    pub service: String,

    /// Namespace of the webhook's Service.
    #[arg(long, value_name = "NS", default_value = "rofs-system")]
    pub namespace: String,

    /// Validity of the serving certificate, in days: 1 to 36500 (the CA: 10 years).
    #[arg(long, value_name = "DAYS", default_value_t = 365,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(rofs_webhook::certs::MAX_DAYS)))]
    pub days: u32,
}

pub fn run(args: WebhookArgs) -> Result<()> {
    match args.command {
        Some(WebhookCommand::Certs(c)) => certs(&c),
        None => serve(args.serve),
    }
}

fn certs(args: &CertsArgs) -> Result<()> {
    let generated = rofs_webhook::certs::generate(&args.service, &args.namespace, args.days)?;
    let files = rofs_webhook::certs::write(&args.out, &generated)?;
    for f in &files {
        eprintln!("rofs: wrote {}", f.display());
    }
    eprintln!(
        "rofs: serving certificate for {}; caBundle for the MutatingWebhookConfiguration on stdout",
        generated.dns_names.join(", ")
    );
    println!("{}", generated.ca_bundle());
    Ok(())
}

fn serve(args: ServeArgs) -> Result<()> {
    let mut config = match &args.settings.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    let flags = SettingsArgs {
        config: None,
        ..args.settings
    };
    let flags = crate::settings::from_args(&flags)?;
    config.defaults.merge(&flags);
    if let Some(v) = args.on_invalid {
        config.on_invalid = v;
    }
    let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) else {
        anyhow::bail!("--tls-cert and --tls-key are required");
    };
    rofs_webhook::init_logging(args.log_format, args.log_level);
    let mut options = ServeOptions::new(args.listen, cert, key, config);
    options.tls_reload_interval = Duration::from_secs(args.tls_reload_interval);
    options.drain_delay = Duration::from_secs(args.drain_delay);
    options.shutdown_timeout = Duration::from_secs(args.shutdown_timeout);
    options.request_timeout = Duration::from_secs(args.request_timeout);
    options.idle_timeout = Duration::from_secs(args.idle_timeout);
    options.max_connections = args.max_connections;
    if let Some(n) = args.max_reviews_in_flight {
        options.max_reviews_in_flight = n;
    }
    options.max_reviews_queued = args.max_reviews_queued;
    rofs_webhook::run_blocking(options).context("rofs webhook")
}
