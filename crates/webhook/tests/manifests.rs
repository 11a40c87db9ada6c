//! deploy/webhook: every plain manifest and every rendering of the Helm chart validates
//! strictly against the Kubernetes schemas (kubernetes-validate, PyPI), the chart renders with
//! a real Helm engine (helm-python-sdk embeds Helm v4; there is no helm binary here), and what
//! the chart configures, the server accepts: its config file parses, its generated certificate
//! and caBundle serve TLS.
//!
//! The tools are Python packages: `pip install kubernetes-validate helm-python-sdk`. Without
//! them these tests say so and pass, unless ROFS_REQUIRE_TOOLS=1 (CI sets it).

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use rofs_webhook::Config;
use serde_json::Value;

use crate::util::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn require_tools() -> bool {
    std::env::var("ROFS_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

fn skip(what: &str) {
    assert!(
        !require_tools(),
        "{what} is missing and ROFS_REQUIRE_TOOLS=1"
    );
    eprintln!("SKIPPED: {what} is not installed (pip install kubernetes-validate helm-python-sdk)");
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// kubernetes-validate --strict on `files`, for the oldest supported and the newest version.
fn validate(files: &[PathBuf]) -> bool {
    for version in ["1.29.0", "1.35.0"] {
        let out = match Command::new("kubernetes-validate")
            .args(["--strict", "--quiet", "--kubernetes-version", version])
            .args(files)
            .output()
        {
            Ok(out) => out,
            Err(_) => {
                skip("kubernetes-validate");
                return false;
            }
        };
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "Kubernetes {version}:\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Only cert-manager's kinds may lack a schema.
        for line in stdout.lines().filter(|l| l.starts_with("WARN")) {
            assert!(line.contains("cert-manager.io/v1"), "{line}");
        }
    }
    true
}

#[test]
fn plain_manifests_validate_strictly() {
    let dir = repo().join("deploy/webhook");
    let mut files = yaml_files(&dir);
    files.extend(yaml_files(&dir.join("cert-manager")));
    assert!(files.len() >= 9, "{files:?}");
    validate(&files);

    // The ConfigMap's config is one the server accepts.
    let text = std::fs::read_to_string(dir.join("20-configmap.yaml")).expect("configmap");
    let cm = rofs_manifest::yaml::from_str(&text).expect("YAML");
    let config = cm["data"]["webhook.yaml"].as_str().expect("webhook.yaml");
    Config::parse(config, "20-configmap.yaml").expect("the server accepts the config");
}

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("rendered file");
    rofs_manifest::yaml::split_documents(&text)
        .into_iter()
        .filter_map(|d| {
            let v = rofs_manifest::yaml::from_str(d.text).expect("rendered YAML");
            (!v.is_null()).then_some(v)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_chart_renders_validates_and_serves() {
    let out = tempfile::tempdir().expect("tempdir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/render_chart.py");
    let result = match Command::new("python3")
        .arg(&script)
        .arg(repo().join("deploy/webhook/chart"))
        .arg(out.path())
        .output()
    {
        Ok(r) => r,
        Err(_) => return skip("python3"),
    };
    if result.status.code() == Some(3) {
        return skip("helm-python-sdk");
    }
    assert!(
        result.status.success(),
        "render/lint failed:\n{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    let mut all = Vec::new();
    for case in ["default", "cert-manager", "custom"] {
        let files = yaml_files(&out.path().join(case));
        assert!(files.len() >= 5, "{case}: {files:?}");
        all.extend(files);
    }
    validate(&all);

    // Every rendering's config file is one the server accepts.
    for case in ["default", "custom"] {
        let cm = &documents(&out.path().join(case).join("configmap.yaml"))[0];
        let text = cm["data"]["webhook.yaml"].as_str().expect("webhook.yaml");
        let config = Config::parse(text, case).expect("the server accepts the chart's config");
        if case == "custom" {
            assert_eq!(config.image_profiles.len(), 1);
            assert_eq!(config.on_invalid, rofs_webhook::OnInvalid::Allow);
        }
    }
    let custom = documents(&out.path().join("custom/webhook-certificates.yaml"));
    let mwc = custom
        .iter()
        .find(|d| d["kind"] == "MutatingWebhookConfiguration")
        .expect("webhook configuration");
    assert_eq!(
        mwc["webhooks"].as_array().map(Vec::len),
        Some(1),
        "podOptIn: false"
    );
    assert_eq!(mwc["webhooks"][0]["failurePolicy"], "Fail");
    // The server's limits, from the values (`maxReviewsInFlight` only when set).
    let args = |case: &str| -> Vec<String> {
        let d = &documents(&out.path().join(case).join("deployment.yaml"))[0];
        d["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .expect("args")
            .iter()
            .map(|a| a.as_str().expect("string arg").to_string())
            .collect()
    };
    let custom_args = args("custom");
    for flag in [
        "--request-timeout=5",
        "--idle-timeout=60",
        "--max-connections=256",
        "--max-reviews-in-flight=4",
        "--max-reviews-queued=64",
    ] {
        assert!(
            custom_args.iter().any(|a| a == flag),
            "{flag}: {custom_args:?}"
        );
    }
    let default_args = args("default");
    assert!(
        !default_args
            .iter()
            .any(|a| a.starts_with("--max-reviews-in-flight")),
        "{default_args:?}"
    );
    assert!(default_args.iter().any(|a| a == "--max-reviews-queued=128"));

    // Without cert-manager, the chart's own CA and certificate (RSA, from Sprig's genCA) are
    // served by rofs and trusted through the caBundle it renders.
    let docs = documents(&out.path().join("default/webhook-certificates.yaml"));
    let secret = docs.iter().find(|d| d["kind"] == "Secret").expect("Secret");
    let mwc = docs
        .iter()
        .find(|d| d["kind"] == "MutatingWebhookConfiguration")
        .expect("webhook configuration");
    let b64 = |v: &Value| {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("base64 string"))
            .expect("base64")
    };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("tls.crt"), b64(&secret["data"]["tls.crt"])).expect("crt");
    std::fs::write(dir.path().join("tls.key"), b64(&secret["data"]["tls.key"])).expect("key");
    let ca_pem = b64(&mwc["webhooks"][0]["clientConfig"]["caBundle"]);
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let ca = CertificateDer::from_pem_slice(&ca_pem).expect("caBundle is a PEM certificate");
    let server = start(options(
        &dir.path().join("tls.crt"),
        &dir.path().join("tls.key"),
        Config::default(),
    ))
    .await;
    let r = post(
        server.addr,
        &ca,
        fixture("service.json").to_string().as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200);
    server.stop().await;
}
