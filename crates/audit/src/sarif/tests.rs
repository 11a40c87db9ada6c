//! The SARIF log of a hand-made report: regions, logical locations, fingerprints, fixes and
//! suppressions checked field by field against the fixture text (lines counted by hand).

use super::*;
use crate::model::{Fix, Source, Suppression};

const FILE: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: c
---
# Source: web/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: prod
spec:
  template:
    metadata:
      annotations:
        audit-ignore.rofs.io/ROFS-A002: \"init only copies files\"
    spec:
      initContainers:
        - name: init
          image: busybox
      containers:
        - name: app
          image: nginx
          securityContext:
            readOnlyRootFilesystem: false
";

/// The second document as Document::text holds it (from its `---`, line 5).
fn doc() -> Document {
    let text = FILE.split_inclusive('\n').skip(4).collect::<String>();
    Document {
        source: source(),
        text,
        value: None,
    }
}

fn source() -> Source {
    Source {
        file: "deploy/web.yaml".into(),
        document: 2,
        template: None,
        line: 5,
    }
}

fn finding(
    rule: &'static str,
    container: &str,
    t: ContainerType,
    pointer: &str,
    object: &str,
) -> Finding {
    Finding {
        rule,
        severity: crate::rules::rule(rule).map_or(Severity::High, |r| r.severity),
        kind: "Deployment".into(),
        namespace: Some("prod".into()),
        name: "web".into(),
        container: Some(container.into()),
        container_type: Some(t),
        field: "f".into(),
        pointer: pointer.into(),
        object_pointer: object.into(),
        message: format!("{container}: not read-only"),
        suppressed: None,
        fix: Fix {
            command: "rofs patch deploy/web.yaml".into(),
            diff: None,
            replacement: None,
        },
        source: source(),
    }
}

const APP: &str = "/spec/template/spec/containers/0";
const APP_FIELD: &str = "/spec/template/spec/containers/0/securityContext/readOnlyRootFilesystem";
const INIT: &str = "/spec/template/spec/initContainers/0";
const INIT_FIELD: &str =
    "/spec/template/spec/initContainers/0/securityContext/readOnlyRootFilesystem";

fn report(findings: Vec<Finding>) -> Report {
    Report::new(findings, vec![doc()])
}

fn options() -> SarifOptions {
    SarifOptions {
        version: "0.1.0".into(),
        exit_code: 1,
        exit_code_description: "1 finding at or above --fail-on high".into(),
        template_roots: Vec::new(),
    }
}

fn results(log: &Value) -> &Vec<Value> {
    log["runs"][0]["results"].as_array().expect("results")
}

#[test]
fn field_that_exists_is_the_region() {
    let f = finding("ROFS-A001", "app", ContainerType::Container, APP_FIELD, APP);
    let log = log(&report(vec![f]), &options());
    let r = &results(&log)[0];
    let loc = &r["locations"][0]["physicalLocation"];
    assert_eq!(
        loc["artifactLocation"],
        json!({"uri": "deploy/web.yaml", "uriBaseId": "%SRCROOT%"})
    );
    // `            readOnlyRootFilesystem: false` is line 25 of FILE; the key at column 13.
    assert_eq!(
        loc["region"],
        json!({"startLine": 25, "startColumn": 13, "endLine": 25, "endColumn": 42})
    );
    assert_eq!(r["properties"]["regionOf"], "field");
    assert_eq!(r["level"], "error");
    assert_eq!(r["ruleId"], "ROFS-A001");
    assert_eq!(r["ruleIndex"], 0);
}

#[test]
fn missing_field_points_at_the_container_item() {
    let f = finding(
        "ROFS-A002",
        "init",
        ContainerType::InitContainer,
        INIT_FIELD,
        INIT,
    );
    let log = log(&report(vec![f]), &options());
    let r = &results(&log)[0];
    // `        - name: init` (line 19, `-` in column 9) to the end of `image: busybox` (line 20).
    assert_eq!(
        r["locations"][0]["physicalLocation"]["region"],
        json!({"startLine": 19, "startColumn": 9, "endLine": 20, "endColumn": 25})
    );
    assert_eq!(r["properties"]["regionOf"], "object");
    assert_eq!(r["level"], "warning");
}

#[test]
fn logical_location_names_workload_and_container() {
    let f = finding("ROFS-A001", "app", ContainerType::Container, APP_FIELD, APP);
    let log = log(&report(vec![f]), &options());
    assert_eq!(
        results(&log)[0]["locations"][0]["logicalLocations"],
        json!([{
            "name": "app",
            "fullyQualifiedName": "prod/Deployment/web/containers/app",
            "kind": "member",
            "properties": {"kind": "Deployment", "name": "web", "namespace": "prod", "container": "app"}
        }])
    );
}

#[test]
fn fingerprints_ignore_lines_order_and_file() {
    let a = finding("ROFS-A001", "app", ContainerType::Container, APP_FIELD, APP);
    // The same container second in its list, in another file, at another line.
    let mut moved = finding(
        "ROFS-A001",
        "app",
        ContainerType::Container,
        "/spec/template/spec/containers/1/securityContext/readOnlyRootFilesystem",
        "/spec/template/spec/containers/1",
    );
    moved.source.file = "other.yaml".into();
    moved.source.line = 90;
    assert_eq!(fingerprint(&a, "app"), fingerprint(&moved, "app"));
    assert_eq!(fingerprint(&a, "app").len(), 64);
    // Each part counts.
    let mut other = a.clone();
    other.namespace = Some("dev".into());
    assert_ne!(fingerprint(&a, "app"), fingerprint(&other, "app"));
    assert_ne!(fingerprint(&a, "app"), fingerprint(&a, "side"));
    let mut init = a.clone();
    init.container_type = Some(ContainerType::InitContainer);
    assert_ne!(fingerprint(&a, "app"), fingerprint(&init, "app"));
    let mut rule = a.clone();
    rule.rule = "ROFS-A004";
    assert_ne!(fingerprint(&a, "app"), fingerprint(&rule, "app"));
    // Parts cannot run into each other (`ab` + `c` vs `a` + `bc`).
    let mut x = a.clone();
    x.kind = "Deploymentw".into();
    x.name = "eb".into();
    assert_ne!(fingerprint(&a, "app"), fingerprint(&x, "app"));
    // And it is the one in the log.
    let log = log(&report(vec![a.clone()]), &options());
    assert_eq!(
        results(&log)[0]["partialFingerprints"][FINGERPRINT_KEY],
        json!(fingerprint(&a, "app"))
    );
}

#[test]
fn suppression_carries_the_reason_and_the_annotation_line() {
    let mut f = finding(
        "ROFS-A002",
        "init",
        ContainerType::InitContainer,
        INIT_FIELD,
        INIT,
    );
    f.suppressed = Some(Suppression {
        reason: "init only copies files".into(),
        annotation: "audit-ignore.rofs.io/ROFS-A002".into(),
    });
    let log = log(&report(vec![f]), &options());
    let s = &results(&log)[0]["suppressions"];
    assert_eq!(s[0]["kind"], "inSource");
    assert_eq!(s[0]["justification"], "init only copies files");
    // The annotation on the pod template: line 16, column 9, to the end of its quoted value
    // (64 characters).
    assert_eq!(
        s[0]["location"]["physicalLocation"]["region"],
        json!({"startLine": 16, "startColumn": 9, "endLine": 16, "endColumn": 65})
    );
}

#[test]
fn fix_replaces_the_document_region() {
    let mut f = finding("ROFS-A001", "app", ContainerType::Container, APP_FIELD, APP);
    let new = "---\nkind: Deployment\n# patched\n".to_string();
    f.fix.replacement = Some(new);
    let log = log(&report(vec![f]), &options());
    let fix = &results(&log)[0]["fixes"][0];
    assert_eq!(fix["description"]["text"], "rofs patch deploy/web.yaml");
    let change = &fix["artifactChanges"][0];
    assert_eq!(change["artifactLocation"]["uri"], "deploy/web.yaml");
    // The document runs from its `---` (line 5) to the end of line 25 (41 characters).
    assert_eq!(
        change["replacements"][0],
        json!({
            "deletedRegion": {"startLine": 5, "startColumn": 1, "endLine": 25, "endColumn": 42},
            "insertedContent": {"text": "---\nkind: Deployment\n# patched"}
        })
    );
}

#[test]
fn rules_and_invocation() {
    let log = log(&report(Vec::new()), &options());
    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), RULES.len());
    let r0 = &rules[0];
    assert_eq!(r0["id"], "ROFS-A001");
    assert_eq!(r0["defaultConfiguration"]["level"], "error");
    assert_eq!(
        r0["helpUri"],
        format!("{HELP_BASE}#rofs-a001-container-writable-root-high")
    );
    assert!(
        r0["help"]["markdown"]
            .as_str()
            .is_some_and(|m| m.contains("kube-linter `no-read-only-root-fs`"))
    );
    assert_eq!(
        run["invocations"],
        json!([{"executionSuccessful": true, "exitCode": 1, "exitCodeDescription": "1 finding at or above --fail-on high"}])
    );
    assert_eq!(log["version"], "2.1.0");
    assert_eq!(log["$schema"], SCHEMA_URI);
}

#[test]
fn stdin_and_absolute_paths() {
    assert_eq!(artifact_location("<stdin>"), None);
    assert_eq!(artifact_location("cluster://admin@kind"), None);
    assert_eq!(
        artifact_location("/tmp/my dir/a.yaml"),
        Some(json!({"uri": "file:///tmp/my%20dir/a.yaml"}))
    );
    assert_eq!(
        artifact_location("./k8s/a b#.yaml"),
        Some(json!({"uri": "k8s/a%20b%23.yaml", "uriBaseId": "%SRCROOT%"}))
    );
}

#[test]
fn helm_template_found_becomes_the_location() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tpl = dir.path().join("web/templates");
    std::fs::create_dir_all(&tpl).expect("mkdir");
    std::fs::write(
        tpl.join("deployment.yaml"),
        "spec:\n  template:\n    spec:\n      containers:\n        - name: {{ .Values.name }}\n          image: nginx\n",
    )
    .expect("write");
    let mut f = finding("ROFS-A001", "app", ContainerType::Container, APP_FIELD, APP);
    f.source.template = Some("web/templates/deployment.yaml".into());
    let mut opts = options();
    opts.template_roots = vec![dir.path().to_path_buf()];
    let sarif = log(&report(vec![f.clone()]), &opts);
    let r = &results(&sarif)[0];
    let loc = &r["locations"][0]["physicalLocation"];
    assert!(
        loc["artifactLocation"]["uri"]
            .as_str()
            .is_some_and(|u| u.ends_with("/web/templates/deployment.yaml")),
        "{loc}"
    );
    // The only item of `containers:` (its name is an expression): line 5, its `-` at 9.
    assert_eq!(
        loc["region"],
        json!({"startLine": 5, "startColumn": 9, "endLine": 6, "endColumn": 23})
    );
    assert_eq!(r["properties"]["regionIn"], "template");
    assert_eq!(r["properties"]["templateMatchedBy"], "only-item");
    assert_eq!(
        r["relatedLocations"][0]["physicalLocation"]["region"]["startLine"],
        25
    );

    // Not found: the rendered region, and why.
    let log2 = log(&report(vec![f]), &options());
    let r = &results(&log2)[0];
    assert_eq!(r["properties"]["regionIn"], "rendered");
    assert_eq!(
        r["properties"]["templateNotMapped"],
        "no template root (--chart-root) given"
    );
    assert_eq!(
        r["locations"][0]["physicalLocation"]["region"]["startLine"],
        25
    );
}
