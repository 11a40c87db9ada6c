//! SARIF logs of `rofs audit` validated against the official OASIS SARIF 2.1.0 JSON schema
//! (errata01) with a real JSON Schema validator (PyPI jsonschema, Draft 4 as the schema says).
//!
//! The schema is not in the repository: scripts/install-deps.sh caches it in
//! /var/cache/rofs/sarif (`ROFS_SARIF_SCHEMA` names another file). Without it or without
//! jsonschema these tests say so and pass, unless ROFS_REQUIRE_TOOLS=1 (CI), where they fail.

use std::path::PathBuf;
use std::process::Command;

use rofs_audit::model::{
    ContainerType, Document, Finding, Fix, Report, Severity, Source, Suppression,
};
use rofs_audit::sarif::{SarifOptions, render};

fn require_tools() -> bool {
    std::env::var("ROFS_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

fn schema() -> Option<PathBuf> {
    let p = std::env::var_os("ROFS_SARIF_SCHEMA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/rofs/sarif/sarif-schema-2.1.0.json"));
    if p.is_file() {
        return Some(p);
    }
    assert!(
        !require_tools(),
        "the SARIF 2.1.0 schema is missing at {} and ROFS_REQUIRE_TOOLS=1: run scripts/install-deps.sh",
        p.display()
    );
    eprintln!(
        "SKIPPED: no SARIF schema at {} (scripts/install-deps.sh)",
        p.display()
    );
    None
}

const VALIDATE: &str = r#"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
log = json.load(open(sys.argv[2]))
cls = jsonschema.validators.validator_for(schema)
assert cls is jsonschema.Draft4Validator, cls
# Every format jsonschema knows (uri-reference too, which Draft 4 itself does not name);
# the URI formats need rfc3986-validator (jsonschema[format-nongpl]).
import rfc3986_validator
checker = jsonschema.FormatChecker()
assert "uri-reference" in checker.checkers
errors = sorted(cls(schema, format_checker=checker).iter_errors(log), key=str)
for e in errors:
    print("/".join(map(str, e.absolute_path)) + ": " + e.message)
sys.exit(1 if errors else 0)
"#;

/// `Err(messages)` when the log does not validate; `None` when the validator cannot run.
fn validate(log: &str) -> Option<Result<(), String>> {
    let schema = schema()?;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("log.sarif");
    std::fs::write(&file, log).expect("write");
    let out = Command::new("python3")
        .args(["-c", VALIDATE])
        .arg(&schema)
        .arg(&file)
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            assert!(
                !require_tools(),
                "python3 cannot run ({e}) and ROFS_REQUIRE_TOOLS=1"
            );
            eprintln!("SKIPPED: python3 cannot run: {e}");
            return None;
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("No module named 'jsonschema'")
        || stderr.contains("No module named 'rfc3986_validator'")
    {
        assert!(
            !require_tools(),
            "PyPI jsonschema[format-nongpl] is missing and ROFS_REQUIRE_TOOLS=1: {stderr}"
        );
        eprintln!("SKIPPED: PyPI jsonschema is not installed (scripts/install-deps.sh)");
        return None;
    }
    if out.status.success() {
        Some(Ok(()))
    } else {
        Some(Err(format!(
            "{}{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )))
    }
}

const TEXT: &str = "\
---
# Source: web/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    rofs.io/audit-ignore: \"legacy\"
spec:
  template:
    spec:
      containers:
        - name: app
          image: nginx
";

fn finding(suppressed: bool, replacement: Option<&str>, file: &str) -> Finding {
    Finding {
        rule: "ROFS-A001",
        severity: Severity::High,
        kind: "Deployment".into(),
        namespace: None,
        name: "web".into(),
        container: Some("app".into()),
        container_type: Some(ContainerType::Container),
        field: "spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem".into(),
        pointer: "/spec/template/spec/containers/0/securityContext/readOnlyRootFilesystem".into(),
        object_pointer: "/spec/template/spec/containers/0".into(),
        message: "Deployment web: container app runs without readOnlyRootFilesystem: true".into(),
        suppressed: suppressed.then(|| Suppression {
            reason: "legacy".into(),
            annotation: "rofs.io/audit-ignore".into(),
        }),
        fix: Fix {
            command: format!("rofs patch {file}"),
            diff: None,
            replacement: replacement.map(String::from),
        },
        source: Source {
            file: file.into(),
            document: 1,
            template: Some("web/templates/deployment.yaml".into()),
            line: 1,
        },
    }
}

fn report(file: &str, findings: Vec<Finding>) -> Report {
    Report::new(
        findings,
        vec![Document {
            source: Source {
                file: file.into(),
                document: 1,
                template: Some("web/templates/deployment.yaml".into()),
                line: 1,
            },
            text: TEXT.into(),
            value: None,
        }],
    )
}

fn options() -> SarifOptions {
    SarifOptions {
        version: env!("CARGO_PKG_VERSION").into(),
        exit_code: 1,
        exit_code_description: "findings at or above --fail-on high".into(),
        template_roots: vec![PathBuf::from("/nonexistent")],
    }
}

#[test]
fn every_part_of_a_log_validates() {
    let r = report(
        "k8s/web app.yaml",
        vec![
            finding(false, Some("---\nkind: Deployment\n"), "k8s/web app.yaml"),
            finding(true, None, "k8s/web app.yaml"),
        ],
    );
    let log = render(&r, &options());
    assert!(log.contains("\"fixes\"") && log.contains("\"suppressions\""));
    if let Some(v) = validate(&log) {
        v.unwrap_or_else(|e| panic!("the log does not validate:\n{e}\n{log}"));
    }
}

#[test]
fn stdin_absolute_paths_and_an_empty_report_validate() {
    for file in ["<stdin>", "/abs/path/web.yaml"] {
        let log = render(
            &report(file, vec![finding(false, Some("x\n"), file)]),
            &options(),
        );
        if let Some(v) = validate(&log) {
            v.unwrap_or_else(|e| panic!("{file}: the log does not validate:\n{e}\n{log}"));
        }
    }
    let log = render(&Report::new(Vec::new(), Vec::new()), &options());
    if let Some(v) = validate(&log) {
        v.unwrap_or_else(|e| panic!("empty: the log does not validate:\n{e}\n{log}"));
    }
}

/// The validator does reject: a log that breaks the schema fails (so a pass means something).
#[test]
fn the_validator_rejects_a_broken_log() {
    let r = report("web.yaml", vec![finding(false, None, "web.yaml")]);
    let mut log: serde_json::Value = serde_json::from_str(&render(&r, &options())).expect("JSON");
    log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] =
        serde_json::json!(0);
    log["runs"][0]["results"][0]["suppressions"] = serde_json::json!([{"kind": "inComment"}]);
    log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] =
        serde_json::json!("a b");
    if let Some(v) = validate(&log.to_string()) {
        let e = v.expect_err(
            "a region at line 0, an unknown suppression kind and a URI with a space are invalid",
        );
        assert!(e.contains("startLine") || e.contains("minimum"), "{e}");
        assert!(e.contains("inComment"), "{e}");
        assert!(e.contains("'a b' is not a 'uri-reference'"), "{e}");
    }
}
