//! Every fixture output validated in strict mode against the Kubernetes schemas of 1.29 and
//! of the newest version `kubernetes-validate` (PyPI) knows, its default. A fixture that
//! targets a newer cluster (`--kube-version` above 1.29, e.g. the `image` volume of 1.35) is
//! validated against the newest only.
//!
//! The tool is installed by `scripts/validate-schemas.sh` in CI. Without it this test is
//! skipped with a message, unless `CI=true`, where a missing tool is a failure.

use std::path::PathBuf;
use std::process::Command;

use crate::harness::{self, documents, flatten};

/// `None`: use the tool's default, its newest version.
const VERSIONS: [Option<&str>; 2] = [Some("1.29.0"), None];

fn tool() -> Option<String> {
    let exe = std::env::var("KUBERNETES_VALIDATE").unwrap_or_else(|_| "kubernetes-validate".into());
    let ok = Command::new(&exe)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(exe)
}

#[test]
fn outputs_validate_against_kubernetes_schemas() {
    let Some(exe) = tool() else {
        let msg = "kubernetes-validate not found: install it with scripts/validate-schemas.sh \
                   (or `pip install kubernetes-validate`)";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}");
        }
        eprintln!("SKIPPED outputs_validate_against_kubernetes_schemas: {msg}");
        return;
    };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("schema-outputs");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut files = Vec::new();
    let mut newest_only = Vec::new();
    let oldest: rofs_core::KubeVersion = "1.29".parse().expect("version");
    for f in harness::all() {
        let files = if f.settings().kube_version.is_some_and(|v| v > oldest) {
            &mut newest_only
        } else {
            &mut files
        };
        let out = f.patch(&f.input).output;
        let stem = f.name.replace('.', "-");
        let docs = documents(&out);
        // The validator reads YAML 1.1 as kubectl does, so the YAML is checked as written.
        // It does not look inside `kind: List`, nor read concatenated JSON: those documents
        // are also written one per file.
        if !f.name.ends_with(".json") {
            let p = dir.join(format!("{stem}.yaml"));
            std::fs::write(&p, &out).expect("write");
            files.push(p);
        }
        let has_list = docs.iter().any(rofs_core::workload::is_list);
        if f.name.ends_with(".json") || has_list {
            for (i, d) in flatten(docs).iter().enumerate() {
                let p = dir.join(format!("{stem}-{i}.json"));
                std::fs::write(&p, serde_json::to_string_pretty(d).expect("json")).expect("write");
                files.push(p);
            }
        }
    }
    let started = std::time::Instant::now();
    let mut failures = Vec::new();
    for version in VERSIONS {
        let mut cmd = Command::new(&exe);
        cmd.args(["--strict", "--quiet"]);
        if let Some(v) = version {
            cmd.args(["--kubernetes-version", v]);
        }
        cmd.args(&files);
        if version.is_none() {
            cmd.args(&newest_only);
        }
        let out = cmd.output().expect("run kubernetes-validate");
        if !out.status.success() {
            failures.push(format!(
                "kubernetes {}:\n{}{}",
                version.unwrap_or("(newest)"),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    eprintln!(
        "validated {} files against 2 Kubernetes versions in {:.1?}",
        files.len() + newest_only.len(),
        started.elapsed()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
