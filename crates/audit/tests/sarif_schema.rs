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
cls = jsonschema.validators.validator_for(schema)
assert cls is jsonschema.Draft4Validator, cls
# Every format jsonschema knows (uri-reference too, which Draft 4 itself does not name);
# the URI formats need rfc3986-validator (jsonschema[format-nongpl]).
import rfc3986_validator
checker = jsonschema.FormatChecker()
assert "uri-reference" in checker.checkers
failed = False
for path in sys.argv[2:]:
    log = json.load(open(path))
    errors = sorted(cls(schema, format_checker=checker).iter_errors(log), key=str)
    for e in errors:
        failed = True
        print(path + ": " + "/".join(map(str, e.absolute_path)) + ": " + e.message)
sys.exit(1 if failed else 0)
"#;

/// `Err(messages)` when the log does not validate; `None` when the validator cannot run.
fn validate(log: &str) -> Option<Result<(), String>> {
    validate_all(&[("log", log.to_string())])
}

/// [`validate`] for several logs at once (one validator run): errors name the log.
fn validate_all(logs: &[(&str, String)]) -> Option<Result<(), String>> {
    let schema = schema()?;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    for (i, (name, log)) in logs.iter().enumerate() {
        let file = dir
            .path()
            .join(format!("{i}-{}.sarif", name.replace('/', "_")));
        std::fs::write(&file, log).expect("write");
        files.push(file);
    }
    let out = Command::new("python3")
        .args(["-c", VALIDATE])
        .arg(&schema)
        .args(&files)
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

/// The SARIF of real audits: every fixture of the CLI's audit tests, Helm output mapped to
/// its chart's templates and not, and the recorded cluster, each with fixes and diffs.
#[test]
fn real_audits_validate() {
    let cli_data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../cli/tests/data");
    let mut files: Vec<PathBuf> = std::fs::read_dir(cli_data.join("audit"))
        .expect("the CLI's audit fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    files.push(cli_data.join("helm-template-web.yaml"));
    assert!(files.len() > 10, "{files:?}");
    let mut logs = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read fixture");
        let name = file.display().to_string();
        let input = rofs_manifest::Input {
            name: &name,
            text: &text,
        };
        let options = rofs_audit::Options {
            fix_diff: true,
            replacements: true,
            ..Default::default()
        };
        let report = match rofs_audit::audit(&[input], &options) {
            Ok(r) => r,
            // A fixture of bad input (exit 2 in the CLI): no log.
            Err(_) => continue,
        };
        for roots in [vec![], vec![cli_data.join("chart")]] {
            let mut o = options_for_validation();
            o.template_roots = roots;
            logs.push((
                file.file_name().and_then(|n| n.to_str()).unwrap_or("f"),
                render(&report, &o),
            ));
        }
    }
    assert!(
        logs.iter()
            .any(|(_, l)| l.contains("\"regionIn\": \"template\"")),
        "the Helm output is mapped to its templates in one of the logs"
    );
    // The recorded cluster (crates/audit/tests/fixtures/cluster).
    let rec = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cluster");
    let mut objects = Vec::new();
    for (api, resource, kind) in rofs_audit::cluster::RESOURCES {
        let list: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(rec.join(format!("{resource}.json"))).expect("recorded"),
        )
        .expect("JSON");
        for mut item in list["items"].as_array().cloned().unwrap_or_default() {
            item["apiVersion"] = serde_json::json!(api);
            item["kind"] = serde_json::json!(kind);
            objects.push(item);
        }
    }
    let text = rofs_audit::cluster::to_stream(&rofs_audit::cluster::top_level(objects));
    let name = rofs_audit::cluster::source_name("recorded");
    let report = rofs_audit::audit(
        &[rofs_manifest::Input {
            name: &name,
            text: &text,
        }],
        &rofs_audit::Options {
            replacements: true,
            ..Default::default()
        },
    )
    .expect("the recorded cluster audits");
    assert!(!report.findings.is_empty());
    logs.push(("cluster", render(&report, &options_for_validation())));
    if let Some(v) = validate_all(&logs) {
        v.unwrap_or_else(|e| panic!("{} logs, not all valid:\n{e}", logs.len()));
    }
}

fn options_for_validation() -> SarifOptions {
    SarifOptions {
        version: env!("CARGO_PKG_VERSION").into(),
        exit_code: 1,
        exit_code_description: "findings at or above --fail-on low".into(),
        template_roots: Vec::new(),
    }
}
