//! Prometheus metrics, in the text exposition format (version 0.0.4), hand-rolled: a few
//! atomic counters and one histogram do not justify a metrics library.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds (seconds) of the review latency histogram: the goal is p99 <= 1 ms, the API
/// server gives up after `timeoutSeconds` (2 s in deploy/webhook).
pub const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0,
];

/// HTTP status codes counted separately; anything else is counted as `other`.
const CODES: [u16; 7] = [200, 400, 408, 413, 415, 500, 503];

#[derive(Debug, Default)]
pub struct Metrics {
    requests: [AtomicU64; CODES.len() + 1],
    mutations: AtomicU64,
    unchanged: AtomicU64,
    ignored: AtomicU64,
    denials: AtomicU64,
    invalid_allowed: AtomicU64,
    warnings: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
    duration_count: AtomicU64,
    duration_sum_nanos: AtomicU64,
    tls_reloads: AtomicU64,
    tls_reload_errors: AtomicU64,
    connections: AtomicU64,
    accept_errors: AtomicU64,
}

/// One open connection, counted in `rofs_webhook_connections` until dropped.
#[derive(Debug)]
pub struct OpenConnection<'a>(&'a Metrics);

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Relaxed);
    }
}

/// What one review decided, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    Mutated,
    Unchanged,
    Ignored,
    Denied,
    InvalidAllowed,
}

impl Metrics {
    /// One `/mutate` request answered with `code` after `elapsed`.
    pub fn request(&self, code: u16, elapsed: Duration) {
        let i = CODES.iter().position(|&c| c == code).unwrap_or(CODES.len());
        self.requests[i].fetch_add(1, Relaxed);
        let secs = elapsed.as_secs_f64();
        if let Some(b) = BUCKETS.iter().position(|&le| secs <= le) {
            self.buckets[b].fetch_add(1, Relaxed);
        }
        self.duration_count.fetch_add(1, Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.duration_sum_nanos.fetch_add(nanos, Relaxed);
    }

    pub fn review(&self, counted: Counted, warnings: usize) {
        let c = match counted {
            Counted::Mutated => &self.mutations,
            Counted::Unchanged => &self.unchanged,
            Counted::Ignored => &self.ignored,
            Counted::Denied => &self.denials,
            Counted::InvalidAllowed => &self.invalid_allowed,
        };
        c.fetch_add(1, Relaxed);
        self.warnings.fetch_add(warnings as u64, Relaxed);
    }

    pub fn tls_reload(&self, ok: bool) {
        if ok {
            self.tls_reloads.fetch_add(1, Relaxed);
        } else {
            self.tls_reload_errors.fetch_add(1, Relaxed);
        }
    }

    /// A connection accepted; it counts as open until the returned guard is dropped.
    pub fn connection_opened(&self) -> OpenConnection<'_> {
        self.connections.fetch_add(1, Relaxed);
        OpenConnection(self)
    }

    /// Connections open now.
    pub fn connections(&self) -> u64 {
        self.connections.load(Relaxed)
    }

    pub fn accept_error(&self) {
        self.accept_errors.fetch_add(1, Relaxed);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let mut w = |line: std::fmt::Arguments<'_>| {
            let _ = out.write_fmt(line);
            out.push('\n');
        };
        w(format_args!(
            "# HELP rofs_webhook_build_info The rofs version serving.\n# TYPE rofs_webhook_build_info gauge\nrofs_webhook_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        ));
        w(format_args!(
            "# HELP rofs_webhook_requests_total AdmissionReview requests received on /mutate, by HTTP status.\n# TYPE rofs_webhook_requests_total counter"
        ));
        for (i, code) in CODES.iter().enumerate() {
            w(format_args!(
                "rofs_webhook_requests_total{{code=\"{code}\"}} {}",
                self.requests[i].load(Relaxed)
            ));
        }
        w(format_args!(
            "rofs_webhook_requests_total{{code=\"other\"}} {}",
            self.requests[CODES.len()].load(Relaxed)
        ));
        w(format_args!(
            "# HELP rofs_webhook_connections Connections open (TLS handshake included).\n# TYPE rofs_webhook_connections gauge\nrofs_webhook_connections {}",
            self.connections.load(Relaxed)
        ));
        let counters: [(&str, &str, &AtomicU64); 9] = [
            (
                "rofs_webhook_mutations_total",
                "Pods patched (non-empty JSON Patch).",
                &self.mutations,
            ),
            (
                "rofs_webhook_unchanged_total",
                "Pods that needed no change (already patched, rofs.io/skip, nothing to do).",
                &self.unchanged,
            ),
            (
                "rofs_webhook_ignored_total",
                "Reviews allowed without looking: not a Pod CREATE.",
                &self.ignored,
            ),
            (
                "rofs_webhook_denials_total",
                "Pods denied for invalid rofs annotations.",
                &self.denials,
            ),
            (
                "rofs_webhook_invalid_allowed_total",
                "Pods with invalid rofs annotations admitted unchanged (--on-invalid allow).",
                &self.invalid_allowed,
            ),
            (
                "rofs_webhook_warnings_total",
                "Warnings returned to clients.",
                &self.warnings,
            ),
            (
                "rofs_webhook_tls_reloads_total",
                "Serving certificates (re)loaded from disk.",
                &self.tls_reloads,
            ),
            (
                "rofs_webhook_tls_reload_errors_total",
                "Failed certificate reloads (the previous certificate stays in use).",
                &self.tls_reload_errors,
            ),
            (
                "rofs_webhook_accept_errors_total",
                "Failed accept() calls (EMFILE...); each is followed by a pause of 10 ms to 1 s.",
                &self.accept_errors,
            ),
        ];
        for (name, help, value) in counters {
            w(format_args!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Relaxed)
            ));
        }
        let name = "rofs_webhook_review_duration_seconds";
        w(format_args!(
            "# HELP {name} Time from request received to response ready, body read included.\n# TYPE {name} histogram"
        ));
        let mut cumulative = 0;
        for (i, le) in BUCKETS.iter().enumerate() {
            cumulative += self.buckets[i].load(Relaxed);
            w(format_args!("{name}_bucket{{le=\"{le}\"}} {cumulative}"));
        }
        let count = self.duration_count.load(Relaxed);
        w(format_args!("{name}_bucket{{le=\"+Inf\"}} {count}"));
        let sum = self.duration_sum_nanos.load(Relaxed) as f64 / 1e9;
        w(format_args!("{name}_sum {sum}\n{name}_count {count}"));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let m = Metrics::default();
        m.request(200, Duration::from_micros(80));
        m.request(200, Duration::from_micros(700));
        m.request(413, Duration::from_secs(5));
        m.review(Counted::Mutated, 2);
        let text = m.render();
        for line in [
            "rofs_webhook_requests_total{code=\"200\"} 2",
            "rofs_webhook_requests_total{code=\"413\"} 1",
            "rofs_webhook_mutations_total 1",
            "rofs_webhook_warnings_total 2",
            "rofs_webhook_review_duration_seconds_bucket{le=\"0.0001\"} 1",
            "rofs_webhook_review_duration_seconds_bucket{le=\"0.001\"} 2",
            "rofs_webhook_review_duration_seconds_bucket{le=\"2\"} 2",
            "rofs_webhook_review_duration_seconds_bucket{le=\"+Inf\"} 3",
            "rofs_webhook_review_duration_seconds_count 3",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
