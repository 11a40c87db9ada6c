//! `rofs audit --format sarif` through the binary: the results of a rule fixture and of Helm
//! output (regions in the template files of tests/data/chart) as snapshots, each region
//! checked by hand against the files (the line numbers in the assertions were counted there);
//! the invocation's exit code. Schema validation: crates/audit/tests/sarif_schema.rs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn sarif(args: &[&str]) -> (Output, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_rofs"))
        .args(["audit", "--format", "sarif"])
        .args(args)
        .current_dir(data())
        .output()
        .expect("run rofs");
    let log = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not SARIF JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, log)
}

fn results(log: &Value) -> Vec<Value> {
    log["runs"][0]["results"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// (rule, fully qualified name, uri, region) of each result.
fn places(log: &Value) -> Vec<(String, String, String, Value)> {
    results(log)
        .iter()
        .map(|r| {
            let l = &r["locations"][0];
            (
                r["ruleId"].as_str().unwrap_or("").to_string(),
                l["logicalLocations"][0]["fullyQualifiedName"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                l["physicalLocation"]["artifactLocation"]["uri"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                l["physicalLocation"]["region"].clone(),
            )
        })
        .collect()
}

fn region(sl: u64, sc: u64, el: u64, ec: u64) -> Value {
    json!({"startLine": sl, "startColumn": sc, "endLine": el, "endColumn": ec})
}

#[test]
fn rule_fixture_regions() {
    let (out, log) = sarif(&["audit/a001-container.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let p = places(&log);
    let uri = "audit/a001-container.yaml".to_string();
    // log-shipper (a native sidecar): `readOnlyRootFilesystem: false` on line 23, key at 13.
    assert!(
        p.contains(&(
            "ROFS-A001".into(),
            "shop/Deployment/web/initContainers/log-shipper".into(),
            uri.clone(),
            region(23, 13, 23, 42)
        )),
        "{p:#?}"
    );
    // app has no securityContext: its item, `- name: app` (line 25, `-` at 9) and `image:`.
    assert!(
        p.contains(&(
            "ROFS-A001".into(),
            "shop/Deployment/web/containers/app".into(),
            uri,
            region(25, 9, 26, 30)
        )),
        "{p:#?}"
    );
    insta::assert_snapshot!(
        "audit_sarif_a001_results",
        serde_json::to_string_pretty(&results(&log)).unwrap_or_default()
    );
}

#[test]
fn helm_output_points_at_the_templates() {
    let (out, log) = sarif(&["--chart-root", "chart", "helm-template-web.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let rs = results(&log);
    let p = places(&log);
    // The Deployment's container is named `{{ .Chart.Name }}` in the template, the only item
    // of `containers:` there: line 23 (`-` at 9) to the end of its volumeMounts (line 40).
    assert!(
        p.contains(&(
            "ROFS-A001".into(),
            "Deployment/web/containers/web".into(),
            "chart/web/templates/deployment.yaml".into(),
            region(23, 9, 40, 43)
        )),
        "{p:#?}"
    );
    // The test Job's `- name: wget`, found by its name: lines 16-19.
    assert!(
        p.contains(&(
            "ROFS-A001".into(),
            "Job/web-test-connection/containers/wget".into(),
            "chart/web/templates/tests/test-connection.yaml".into(),
            region(16, 9, 19, 54)
        )),
        "{p:#?}"
    );
    for r in &rs {
        assert_eq!(r["properties"]["regionIn"], "template", "{r}");
        // The rendered document's region is kept: `- name: web` is line 99 of the stream.
        let rel = &r["relatedLocations"][0]["physicalLocation"];
        assert_eq!(rel["artifactLocation"]["uri"], "helm-template-web.yaml");
    }
    let web = rs
        .iter()
        .find(|r| r["properties"]["templateMatchedBy"] == "only-item")
        .expect("the Deployment's result");
    assert_eq!(
        web["relatedLocations"][0]["physicalLocation"]["region"]["startLine"],
        99
    );
    insta::assert_snapshot!(
        "audit_sarif_helm_results",
        serde_json::to_string_pretty(&rs).unwrap_or_default()
    );

    // Without --chart-root (and the templates not under the working directory): the rendered
    // stream, and why.
    let (_, log) = sarif(&["helm-template-web.yaml"]);
    for r in results(&log) {
        assert_eq!(r["properties"]["regionIn"], "rendered", "{r}");
        assert!(
            r["properties"]["templateNotMapped"]
                .as_str()
                .is_some_and(|m| m.contains("not found under")),
            "{r}"
        );
        assert_eq!(
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "helm-template-web.yaml"
        );
    }
}

#[test]
fn invocation_has_the_exit_code() {
    let (out, log) = sarif(&["--fail-on", "never", "audit/a001-container.yaml"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        log["runs"][0]["invocations"],
        json!([{"executionSuccessful": true, "exitCode": 0, "exitCodeDescription": "no finding at or above --fail-on never"}])
    );
    let (out, log) = sarif(&["--fail-on", "high", "audit/a006-memory.yaml"]);
    assert_eq!(out.status.code(), Some(0), "medium findings only");
    assert_eq!(log["runs"][0]["invocations"][0]["exitCode"], 0);
    let (out, log) = sarif(&["audit/clean-patched.yaml"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(results(&log), Vec::<Value>::new());
    // Bad input: exit 2, no log at all.
    let out = Command::new(env!("CARGO_BIN_EXE_rofs"))
        .args(["audit", "--format", "sarif", "missing.yaml"])
        .current_dir(data())
        .output()
        .expect("run rofs");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}
