//! Time the pure review (no TLS, no HTTP) on a fixture: `cargo run --release --example
//! review_cost -p rofs-webhook [FILE] [N]`.
use std::time::Instant;

/// As in the rofs binary (crates/cli/src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let file = args
        .next()
        .unwrap_or_else(|| "crates/webhook/tests/data/deployment-pod.json".into());
    let n: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let body = std::fs::read(&file).expect("fixture");
    let config = rofs_webhook::Config::default();
    let value: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let pod = value["request"]["object"].clone();
    let time = |label: &str, f: &mut dyn FnMut()| {
        for _ in 0..n / 10 {
            f();
        }
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        println!(
            "{label:>28}: {:>8.1} µs",
            start.elapsed().as_secs_f64() * 1e6 / f64::from(n)
        );
    };
    time("review_bytes (all)", &mut || {
        let r = rofs_webhook::review_bytes(&body, &config).expect("review");
        std::hint::black_box(serde_json::to_vec(&r.response).expect("json"));
    });
    time("parse JSON", &mut || {
        std::hint::black_box(serde_json::from_slice::<serde_json::Value>(&body).expect("json"));
    });
    time("clone the pod", &mut || {
        std::hint::black_box(pod.clone());
    });
    time("core rewrite (in place)", &mut || {
        let mut p = pod.clone();
        let r = rofs_core::rewrite_pod_template_keeping_spec(
            &mut p,
            &rofs_core::Location::root(),
            None,
            &config.defaults,
        )
        .expect("rewrite");
        std::hint::black_box((p, r));
    });
    let mut after = pod.clone();
    let (_, spec) = rofs_core::rewrite_pod_template_keeping_spec(
        &mut after,
        &rofs_core::Location::root(),
        None,
        &config.defaults,
    )
    .expect("rewrite");
    let spec = spec.expect("not skipped");
    let metadata = rofs_webhook::patch::MetadataBefore::of(&pod);
    time("patch (diff, JSON text)", &mut || {
        std::hint::black_box(rofs_webhook::patch::diff(&metadata, &spec, &after));
    });
    time("json_patch::diff (before)", &mut || {
        std::hint::black_box(json_patch::diff(&pod, &after));
    });
}
