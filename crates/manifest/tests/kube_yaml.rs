//! rofs's YAML against Kubernetes's own reader, sigs.k8s.io/yaml (the version the test
//! cluster's API server and kubectl use), built from its Go module (tools/kube-yaml).
//!
//! For every document under tests/fixtures/kube-yaml, every YAML fixture of this crate's tests
//! and every YAML manifest of the real-world corpus (see tests/common):
//! - rofs reads it as Kubernetes does (`yaml::from_str` equals sigs.k8s.io/yaml's JSON);
//! - what rofs writes means to Kubernetes what rofs meant (sigs.k8s.io/yaml reads
//!   `yaml::to_string(v)` back as `v`);
//! - a patched document keeps what Kubernetes read in the input (its labels with YAML 1.1
//!   keys such as `on:` among them).
//!
//! Needs Go (PATH or /usr/local/go/bin) and the Go module proxy: without them these tests say
//! so and pass, unless CI or ROFS_REQUIRE_TOOLS=1, where they fail.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use rofs_manifest::{Format, Input, yaml};
use serde_json::Value;

/// The built reference reader, once per test binary; `None` without Go.
fn kube_yaml() -> Option<&'static Path> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| {
        let go = ["go", "/usr/local/go/bin/go"].into_iter().find(|g| {
            Command::new(g)
                .arg("version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
        let Some(go) = go else {
            assert!(
                !common::required(),
                "go is missing (CI): the YAML reference reader is built with it"
            );
            eprintln!("SKIPPED: no go to build tools/kube-yaml");
            return None;
        };
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/kube-yaml");
        let bin = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kube-yaml");
        let out = Command::new(go)
            .args(["build", "-o"])
            .arg(&bin)
            .arg(".")
            .current_dir(&src)
            .output()
            .expect("run go build");
        assert!(
            out.status.success(),
            "go build of {} failed: {}",
            src.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Some(bin)
    })
    .as_deref()
}

/// What Kubernetes reads in `text` (one document), as JSON; `Err` with its message when it
/// refuses the document.
fn kube_read(bin: &Path, text: &str) -> Result<Value, String> {
    let mut child = Command::new(bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run kube-yaml");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("kube-yaml output");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(stdout);
    }
    Ok(serde_json::from_str(&stdout).expect("kube-yaml prints JSON"))
}

/// Equal values, numbers compared by value (`1000` and `1000.0`, `1.8446744073709552e19` and
/// `18446744073709552000` are the same number; their spelling is the writer's).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y
                || (x.as_i64().is_some() && x.as_i64() == y.as_i64())
                || (x.as_u64().is_some() && x.as_u64() == y.as_u64())
                || x.as_f64() == y.as_f64()
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// The documents compared: the corpus of this test, the YAML fixtures of the suite and the
/// real-world corpus's YAML manifests.
fn documents() -> Vec<(String, String)> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let yaml_files = |dir: &Path| -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("fixtures")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        files
    };
    let mut files = yaml_files(&fixtures.join("kube-yaml"));
    files.extend(yaml_files(&fixtures));
    if let Some(corpus) = common::corpus() {
        files.extend(
            common::corpus_files(&corpus)
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "yaml")),
        );
    }
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read fixture");
        for (i, doc) in yaml::split_documents(&text).iter().enumerate() {
            if doc.text.trim().is_empty() {
                continue;
            }
            let name = format!("{} document {}", f.display(), i + 1);
            out.push((name, doc.text.to_string()));
        }
    }
    out
}

#[test]
fn rofs_reads_yaml_as_kubernetes_does() {
    let Some(bin) = kube_yaml() else { return };
    let docs = documents();
    assert!(docs.len() >= 10, "{} documents", docs.len());
    for (name, text) in &docs {
        let kube = kube_read(bin, text);
        let ours = rofs_manifest::with_stack(|| yaml::from_str(text));
        match (kube, ours) {
            (Ok(k), Ok(o)) => assert!(
                same(&k, &o),
                "{name}: Kubernetes reads\n{k:#}\nrofs reads\n{o:#}"
            ),
            (k, o) => panic!("{name}: Kubernetes: {k:?}; rofs: {o:?}"),
        }
    }
}

#[test]
fn what_rofs_writes_means_to_kubernetes_what_rofs_meant() {
    let Some(bin) = kube_yaml() else { return };
    for (name, text) in documents() {
        let v = rofs_manifest::with_stack(|| yaml::from_str(&text)).expect("valid fixture");
        let written = rofs_manifest::with_stack(|| yaml::to_string(&v)).expect("writes");
        let back = kube_read(bin, &written).unwrap_or_else(|e| panic!("{name}: {e}\n{written}"));
        assert!(
            same(&back, &v),
            "{name}: rofs wrote\n{written}\nwhich Kubernetes reads as\n{back:#}"
        );
    }
}

#[test]
fn a_patched_pod_keeps_what_kubernetes_read_in_it() {
    let Some(bin) = kube_yaml() else { return };
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kube-yaml/pod.yaml");
    let text = std::fs::read_to_string(&path).expect("pod");
    let mut settings = rofs_core::Settings::default();
    settings.add_writable("/tmp:empty").expect("writable");
    settings.validate().expect("settings");
    let out = rofs_manifest::patch(
        &[Input {
            name: "pod.yaml",
            text: &text,
        }],
        &settings,
        Format::Auto,
    )
    .expect("patched")
    .output;
    let before = kube_read(bin, &text).expect("input");
    let mut after = kube_read(bin, &out).unwrap_or_else(|e| panic!("{e}\n{out}"));
    // What rofs adds: its status annotation.
    let annotations = after
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
        .expect("annotations");
    assert!(annotations.remove("rofs.io/status").is_some(), "{out}");
    for pointer in [
        "/metadata/labels",
        "/metadata/annotations",
        "/spec/containers/0/env",
        "/spec/containers/0/ports",
        "/spec/containers/0/resources",
        "/spec/volumes/0",
    ] {
        assert_eq!(
            before.pointer(pointer),
            after.pointer(pointer),
            "{pointer} changed meaning:\n{out}"
        );
    }
    assert_eq!(
        after.pointer("/metadata/labels/true"),
        Some(&Value::from("enabled"))
    );
}
