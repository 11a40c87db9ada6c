//! `rofs webhook` without the rest of the rofs binary, to profile the server with perf (the
//! rofs binary pulls in kube and k8s-openapi): `cargo build --release --example serve -p
//! rofs-webhook`, then `serve CERT KEY [ADDR]` (default 127.0.0.1:18443; `rofs webhook
//! certs` makes the certificate). Same defaults, logging (info, plain, stderr) and allocator
//! as `rofs webhook`.

/// As in the rofs binary (crates/cli/src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(cert), Some(key)) = (args.next(), args.next()) else {
        eprintln!("usage: serve CERT KEY [ADDR]");
        std::process::exit(2);
    };
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:18443".into());
    let Ok(listen) = addr.parse() else {
        eprintln!("serve: bad address {addr:?}");
        std::process::exit(2);
    };
    rofs_webhook::init_logging(rofs_webhook::LogFormat::Plain, tracing::Level::INFO);
    let options = rofs_webhook::ServeOptions::new(
        listen,
        cert.into(),
        key.into(),
        rofs_webhook::Config::default(),
    );
    if let Err(e) = rofs_webhook::run_blocking(options) {
        eprintln!("serve: {e}");
        std::process::exit(1);
    }
}
