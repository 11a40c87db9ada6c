//! `rofs audit`: a fixture per rule and per suppression form (JSON snapshots, reviewed by
//! hand), the table, exit statuses, bad input, `--fix-diff` against `rofs patch`, and
//! `--effective` with a webhook config.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::run::rofs;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/audit")
}

/// `rofs audit ARGS` run in `dir` (so file names in the output are as given).
fn audit_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rofs"))
        .arg("audit")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run rofs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `rofs audit --format json ARGS` in the fixture directory: exit status and the report.
fn json_report(args: &[&str]) -> (Option<i32>, Value, String) {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let out = audit_in(&data(), &all);
    let stdout = text(&out.stdout);
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("JSON ({e}):\n{stdout}\nstderr:\n{}", text(&out.stderr)));
    (out.status.code(), report, stdout)
}

/// `(rule, container, suppressed reason)` of a finding (`-`: no container).
type Found = (String, String, Option<String>);

/// Every finding of a report, as [`Found`].
fn rules_of(report: &Value) -> Vec<Found> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap_or_default().to_string(),
                f["container"].as_str().unwrap_or("-").to_string(),
                f["suppressed"]["reason"].as_str().map(String::from),
            )
        })
        .collect()
}

fn r(rule: &str, container: &str) -> Found {
    (rule.into(), container.into(), None)
}

/// Every rule's fixture: which findings, and the whole JSON as a snapshot (each value in
/// the snapshots was read and checked by hand against the fixture).
#[test]
fn every_rule_has_a_fixture() {
    let cases: &[(&str, &[&str], Vec<Found>)] = &[
        (
            "a001-container.yaml",
            &[],
            vec![r("ROFS-A001", "app"), r("ROFS-A001", "log-shipper")],
        ),
        ("a002-init.yaml", &[], vec![r("ROFS-A002", "wait-db")]),
        (
            "a003-ephemeral.json",
            &[],
            vec![r("ROFS-A003", "debugger-x7k")],
        ),
        (
            "a004-path-without-volume.yaml",
            &[],
            vec![r("ROFS-A004", "nginx"), r("ROFS-A004", "nginx")],
        ),
        ("a005-unseeded.yaml", &[], vec![r("ROFS-A005", "nginx")]),
        ("a006-memory.yaml", &[], vec![r("ROFS-A006", "-")]),
        ("a007-hostpath.yaml", &[], vec![r("ROFS-A007", "agent")]),
        ("a008-stale.yaml", &[], vec![r("ROFS-A008", "-")]),
        ("a009-invalid.yaml", &[], vec![r("ROFS-A009", "-")]),
        ("clean-patched.yaml", &[], vec![]),
    ];
    for (file, args, want) in cases {
        let mut all: Vec<&str> = args.to_vec();
        all.push(file);
        let (code, report, stdout) = json_report(&all);
        assert_eq!(&rules_of(&report), want, "{file}");
        assert_eq!(code, Some(if want.is_empty() { 0 } else { 1 }), "{file}");
        let name = format!("audit_{}", file.split('.').next().unwrap_or(file));
        insta::assert_snapshot!(name, stdout);
    }
}

#[test]
fn every_suppression_form() {
    let (code, report, stdout) = json_report(&["suppress.yaml"]);
    let s = |rule: &str, c: &str, reason: &str| (rule.into(), c.into(), Some(reason.into()));
    assert_eq!(
        rules_of(&report),
        vec![
            s("ROFS-A001", "app", "legacy app, replaced in Q3"),
            s("ROFS-A006", "-", "legacy app, replaced in Q3"),
            r("ROFS-A001", "app"),
            s("ROFS-A006", "-", "shm sized by the memory limit"),
            s("ROFS-A001", "app", "vendor image, writes everywhere"),
            r("ROFS-A001", "helper"),
            s("ROFS-A001", "app", "being fixed in PR 42"),
            r("ROFS-A001", "app"),
        ]
    );
    let keys: Vec<&str> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["suppressed"]["annotation"].as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "rofs.io/audit-ignore",
            "rofs.io/audit-ignore",
            "audit-ignore.rofs.io/ROFS-A006",
            "audit-ignore.rofs.io/app",
            "audit-ignore.rofs.io/app.ROFS-A001"
        ]
    );
    // The empty reason: the finding counts and says why.
    let last = &report["findings"][7]["message"];
    assert!(
        last.as_str().is_some_and(|m| m.ends_with(
            "(annotation rofs.io/audit-ignore gives no reason, so it suppresses nothing)"
        )),
        "{last}"
    );
    assert_eq!(report["summary"]["findings"], 3);
    assert_eq!(report["summary"]["suppressed"], 5);
    assert_eq!(code, Some(1));
    insta::assert_snapshot!("audit_suppress", stdout);
}

/// Helm output: each finding names the template of its document's `# Source:` comment.
#[test]
fn helm_output_maps_to_templates() {
    let dir = data().join("..");
    let out = audit_in(&dir, &["--format", "json", "helm-template-web.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let report: Value = serde_json::from_str(&stdout).expect("JSON");
    let sources: Vec<(String, u64, String)> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["container"].as_str().unwrap_or_default().to_string(),
                f["source"]["document"].as_u64().unwrap_or_default(),
                f["source"]["template"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        sources,
        [
            ("web".into(), 6, "web/templates/deployment.yaml".into()),
            (
                "wget".into(),
                7,
                "web/templates/tests/test-connection.yaml".into()
            ),
        ]
    );
    insta::assert_snapshot!("audit_helm", stdout);
}

/// The table, written out by hand: grouped by workload, no colour when not asked for.
#[test]
fn table_groups_by_workload() {
    let out = audit_in(&data(), &["a002-init.yaml", "a006-memory.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let want = "\
Job migrate  (a002-init.yaml, document 1)
  MEDIUM    ROFS-A002  initContainer wait-db
            initContainer \"wait-db\": spec.template.spec.initContainers[0].securityContext.readOnlyRootFilesystem is not set, so its root filesystem is writable; rofs knows no path image \"busybox:1.36\" writes: if the app writes files, find them with `rofs discover busybox:1.36` before patching (and audit with --config)
            field: spec.template.spec.initContainers[0].securityContext.readOnlyRootFilesystem
            fix: rofs patch a002-init.yaml

Pod cache  (a006-memory.yaml, document 1)
  MEDIUM    ROFS-A006  pod
            emptyDir \"scratch\" has medium: Memory and no sizeLimit (mounted by \"app\"): what is written there counts against memory without a bound of its own
            field: spec.volumes[0].emptyDir.sizeLimit
            fix: set spec.volumes[0].emptyDir.sizeLimit (e.g. 64Mi); with rofs: -w PATH:memory:SIZE

2 findings (2 medium)
";
    assert_eq!(text(&out.stdout), want);
    // Colour only when asked for (stdout is a pipe here), and NO_COLOR cannot add it.
    assert!(!text(&out.stdout).contains('\x1b'));
    let coloured = audit_in(&data(), &["--color", "always", "a002-init.yaml"]);
    assert!(
        text(&coloured.stdout).contains("\x1b[33mMEDIUM"),
        "{}",
        text(&coloured.stdout)
    );
    let clean = audit_in(&data(), &["clean-patched.yaml"]);
    assert_eq!(text(&clean.stdout), "no findings\n");
    assert_eq!(clean.status.code(), Some(0));
}

#[test]
fn fail_on_sets_the_exit_status() {
    for (args, want) in [
        (&["a002-init.yaml"][..], 1),
        (&["--fail-on", "medium", "a002-init.yaml"][..], 1),
        (&["--fail-on", "high", "a002-init.yaml"][..], 0),
        (&["--fail-on", "never", "a001-container.yaml"][..], 0),
        (&["--fail-on", "critical", "a001-container.yaml"][..], 0),
        (&["--fail-on", "high", "a001-container.yaml"][..], 1),
        // Suppressed findings never fail.
        (
            &[
                "--fail-on",
                "high",
                "a006-memory.yaml",
                "clean-patched.yaml",
            ][..],
            0,
        ),
    ] {
        let out = audit_in(&data(), args);
        assert_eq!(
            out.status.code(),
            Some(want),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

/// Bad usage and bad input: exit 2, a message naming the file, document and line, nothing
/// on stdout.
#[test]
fn bad_input_exits_2_with_a_clear_message() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        tmp.path().join("broken.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: [x\n",
    )
    .expect("write");
    std::fs::write(tmp.path().join("list.yaml"), "- a\n- b\n").expect("write");
    std::fs::write(tmp.path().join("bad-config.yaml"), "writeable: [/x]\n").expect("write");
    std::fs::create_dir(tmp.path().join("empty")).expect("mkdir");
    for (args, needles) in [
        (
            &["broken.yaml"][..],
            &["broken.yaml", "document 2", "line 7"][..],
        ),
        (
            &["list.yaml"],
            &["list.yaml", "document 1", "expected a Kubernetes object"],
        ),
        (&["missing.yaml"], &["reading missing.yaml"]),
        (&["empty"], &["empty: no *.yaml, *.yml or *.json file"]),
        (
            &["--config", "bad-config.yaml", "list.yaml"],
            &["config file bad-config.yaml", "writeable"],
        ),
        (
            &["--webhook-config", "bad-config.yaml", "list.yaml"],
            &["bad-config.yaml", "writeable"],
        ),
        (
            &["--profile", "ngnix", "list.yaml"],
            &["--profile ngnix", "unknown profile"],
        ),
        (
            &["--fail-on", "urgent", "list.yaml"],
            &["urgent", "--fail-on"],
        ),
        (&["--format", "xml", "list.yaml"], &["xml", "--format"]),
    ] {
        let out = audit_in(tmp.path(), args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
        assert!(!stderr.contains("panicked"), "{stderr}");
        for n in needles {
            assert!(stderr.contains(n), "{args:?}: expected {n:?} in:\n{stderr}");
        }
    }
}

/// Input like `rofs patch`: stdin, a `kind: List`, directories (recursively, sorted).
#[test]
fn reads_stdin_lists_and_directories() {
    let list = r#"{"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"},
         "spec": {"containers": [{"name": "app", "image": "busybox"}]}}]}"#;
    let out = rofs(&["audit", "--format", "json"], list);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let f = &report["findings"][0];
    assert_eq!(
        f["field"],
        "items[1].spec.containers[0].securityContext.readOnlyRootFilesystem"
    );
    assert_eq!(
        f["pointer"],
        "/items/1/spec/containers/0/securityContext/readOnlyRootFilesystem"
    );
    assert_eq!(f["namespace"], "ns");
    assert_eq!(f["source"]["file"], "<stdin>");
    assert_eq!(f["fix"]["command"], "rofs patch -");

    let tmp = tempfile::tempdir().expect("tempdir");
    let nested = tmp.path().join("apps/web");
    std::fs::create_dir_all(&nested).expect("mkdir");
    for (dir, name) in [
        (tmp.path(), "b.yaml"),
        (&nested, "a.yml"),
        (tmp.path(), "c.json"),
    ] {
        std::fs::copy(data().join("a002-init.yaml"), dir.join(name)).expect("copy");
    }
    std::fs::write(tmp.path().join("notes.txt"), "not a manifest").expect("write");
    let out = audit_in(tmp.path(), &["--format", "json", "."]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let files: Vec<&str> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["source"]["file"].as_str())
        .collect();
    assert_eq!(files, ["./apps/web/a.yml", "./b.yaml", "./c.json"]);
}

/// A test that needs a tool: skipped (with a message) without it, a failure when
/// ROFS_REQUIRE_TOOLS=1.
fn tool(name: &str) -> bool {
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .any(|d| d.join(name).is_file());
    if !found {
        assert!(
            std::env::var("ROFS_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "{name} is not on PATH and ROFS_REQUIRE_TOOLS=1"
        );
        eprintln!("SKIPPED: {name} is not on PATH; install it to run this test");
    }
    found
}

/// The diffs of `--fix-diff`, applied with patch(1), give exactly what `rofs patch` (with the
/// fix command's flags) writes.
#[test]
fn fix_diffs_applied_with_patch_give_rofs_patch_output() {
    if !tool("patch") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let originals = tmp.path().join("originals");
    std::fs::create_dir(&originals).expect("mkdir");
    for (from, to) in [
        ("../helm-template-web.yaml", "helm.yaml"),
        ("a001-container.yaml", "a001.yaml"),
        ("a004-path-without-volume.yaml", "a004.yaml"),
        ("suppress.yaml", "suppress.yaml"),
    ] {
        std::fs::copy(data().join(from), tmp.path().join(to)).expect("copy");
    }
    // A JSON stream of two documents (rofs patch writes JSON back for JSON input).
    let pod = |name: &str| {
        format!(
            "{{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {{\"name\": \"{name}\"}},\n \"spec\": {{\"containers\": [{{\"name\": \"app\", \"image\": \"busybox\"}}]}}}}\n"
        )
    };
    std::fs::write(tmp.path().join("pods.json"), pod("a") + &pod("b")).expect("write");
    for file in [
        "helm.yaml",
        "a001.yaml",
        "a004.yaml",
        "suppress.yaml",
        "pods.json",
    ] {
        std::fs::copy(tmp.path().join(file), originals.join(file)).expect("copy");
    }
    for file in [
        "helm.yaml",
        "a001.yaml",
        "a004.yaml",
        "suppress.yaml",
        "pods.json",
    ] {
        let out = audit_in(
            tmp.path(),
            &["--format", "json", "--fix-diff", "--fail-on", "never", file],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        // One diff per document (every finding of a document carries the same one).
        let mut diffs: Vec<(u64, String)> = Vec::new();
        let mut command = None;
        for f in report["findings"].as_array().expect("findings") {
            if let Some(d) = f["fix"]["diff"].as_str() {
                let doc = f["source"]["document"].as_u64().expect("document");
                match diffs.iter().find(|(n, _)| *n == doc) {
                    Some((_, seen)) => assert_eq!(seen, d, "{file}: one diff per document"),
                    None => diffs.push((doc, d.to_string())),
                }
                command = Some(f["fix"]["command"].as_str().expect("command").to_string());
            }
        }
        let command = command.unwrap_or_else(|| panic!("{file}: no diff at all"));
        // A series: applied in document order, each hunk lands at its line numbers exactly.
        diffs.sort_by_key(|d| d.0);
        for (doc, diff) in &diffs {
            let mut child = Command::new("patch")
                .args(["-p0", "--fuzz=0", "--no-backup-if-mismatch", "--forward"])
                .current_dir(tmp.path())
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("run patch");
            {
                use std::io::Write;
                let mut stdin = child.stdin.take().expect("stdin");
                stdin.write_all(diff.as_bytes()).expect("write diff");
            }
            let done = child.wait_with_output().expect("patch");
            let said = text(&done.stdout);
            assert!(
                done.status.success(),
                "{file} document {doc}: {said}{}\n{diff}",
                text(&done.stderr)
            );
            assert!(
                !said.contains("offset") && !said.contains("fuzz"),
                "{file} document {doc}: {said}"
            );
        }
        // What the fix command writes, run on the original.
        let args: Vec<&str> = command.split(' ').skip(2).collect();
        assert_eq!(args.last(), Some(&file), "{command}");
        let patched = rofs_patch(&args[..args.len() - 1], &originals.join(file));
        let got = std::fs::read_to_string(tmp.path().join(file)).expect("read");
        assert_eq!(
            got, patched,
            "{file}: the diffs applied differ from `{command}`"
        );
    }
}

/// `rofs patch FLAGS FILE`'s output.
fn rofs_patch(flags: &[&str], file: &Path) -> String {
    let mut args = vec!["patch"];
    args.extend_from_slice(flags);
    let file = file.to_str().expect("UTF-8 path");
    args.push(file);
    let out = Command::new(env!("CARGO_BIN_EXE_rofs"))
        .args(&args)
        .output()
        .expect("run rofs patch");
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// `--effective`: what the webhook fixes is not reported; what it would break is.
#[test]
fn effective_applies_the_webhook_first() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n      - {name: nginx, image: localhost/rofs-e2e-nginx:bookworm}\n      - {name: tool, image: busybox:1.36}\n";
    std::fs::write(tmp.path().join("web.yaml"), deploy).expect("write");
    std::fs::write(
        tmp.path().join("webhook.yaml"),
        "imageProfiles:\n  - image: '*nginx*'\n    profiles: [nginx]\n",
    )
    .expect("write");
    std::fs::write(tmp.path().join("deny.yaml"), "onInvalid: deny\n").expect("write");
    let rules = |args: &[&str]| {
        let mut all = vec!["--format", "json"];
        all.extend_from_slice(args);
        let out = audit_in(tmp.path(), &all);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{}",
            text(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        (rules_of(&report), out.status.code())
    };
    // As written: both containers are writable.
    assert_eq!(
        rules(&["web.yaml"]),
        (
            vec![r("ROFS-A001", "nginx"), r("ROFS-A001", "tool")],
            Some(1)
        )
    );
    // The webhook with its image profile fixes both: nothing to report.
    assert_eq!(
        rules(&["--webhook-config", "webhook.yaml", "web.yaml"]),
        (vec![], Some(0))
    );
    // The webhook without an image profile makes nginx read-only without its paths: the
    // audit reports what would break (the catalog's nginx profile matches the image).
    assert_eq!(
        rules(&["--effective", "web.yaml"]),
        (
            vec![
                r("ROFS-A004", "nginx"),
                r("ROFS-A004", "nginx"),
                r("ROFS-A004", "nginx")
            ],
            Some(1)
        )
    );
    // Invalid rofs annotations: what the webhook does with the pod.
    let bad = deploy.replace(
        "  template:\n",
        "  template:\n    metadata:\n      annotations: {rofs.io/writeable: /x}\n",
    );
    std::fs::write(tmp.path().join("bad.yaml"), bad).expect("write");
    let out = audit_in(
        tmp.path(),
        &[
            "--format",
            "json",
            "--webhook-config",
            "deny.yaml",
            "bad.yaml",
        ],
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let first = &report["findings"][0];
    assert_eq!(first["rule"], "ROFS-A009");
    assert!(
        first["message"]
            .as_str()
            .is_some_and(|m| m.contains("the rofs webhook denies its pods")),
        "{first}"
    );
}

/// `--config` with the file `rofs discover` writes (its shape: comments, a `writable:` list):
/// its seed paths and empty paths are checked, and every fix passes it on.
#[test]
fn discover_config_paths_are_checked_and_passed_on() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        tmp.path().join("app.rofs.yaml"),
        "# rofs discover localhost/app:1\n# Use: rofs patch --config THIS_FILE deploy.yaml\nwritable:\n  # seed: the image has files here the app reads\n  - /var/lib/app\n  # empty: the app creates what it needs\n  - /tmp:empty\n",
    )
    .expect("write");
    std::fs::write(
        tmp.path().join("deploy.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: localhost/app:1\n        securityContext: {readOnlyRootFilesystem: true}\n        volumeMounts: [{name: data, mountPath: /var/lib/app}]\n      volumes: [{name: data, emptyDir: {}}]\n",
    )
    .expect("write");
    let out = audit_in(
        tmp.path(),
        &[
            "--format",
            "json",
            "--config",
            "app.rofs.yaml",
            "deploy.yaml",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        rules_of(&report),
        [r("ROFS-A004", "app"), r("ROFS-A005", "app")]
    );
    let f = &report["findings"];
    assert!(
        f[0]["message"].as_str().is_some_and(|m| m
            .contains("no volume at /tmp (a path its app writes, from --config app.rofs.yaml)")),
        "{}",
        f[0]["message"]
    );
    assert_eq!(
        f[0]["fix"]["command"],
        "rofs patch --config app.rofs.yaml deploy.yaml"
    );
    assert_eq!(
        f[1]["fix"]["command"],
        "remove the volume \"data\" and its mount at /var/lib/app, then run: rofs patch --config app.rofs.yaml deploy.yaml"
    );
    // Without the config, the audit knows no path of this image: nothing to report.
    let out = audit_in(tmp.path(), &["deploy.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

/// The catalog knows the image: `rofs patch` without a profile makes it read-only and breaks
/// it (ROFS-A004 for each path), and the fix adds `--profile auto`; patched with it, clean.
#[test]
fn a_catalog_image_patched_without_its_profile() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n      - {name: nginx, image: localhost/rofs-e2e-nginx:bookworm}\n";
    std::fs::write(tmp.path().join("web.yaml"), deploy).expect("write");
    let plain = rofs_patch(&[], &tmp.path().join("web.yaml"));
    std::fs::write(tmp.path().join("plain.yaml"), plain).expect("write");
    let out = audit_in(tmp.path(), &["--format", "json", "plain.yaml"]);
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        rules_of(&report),
        [
            r("ROFS-A004", "nginx"),
            r("ROFS-A004", "nginx"),
            r("ROFS-A004", "nginx")
        ]
    );
    assert_eq!(
        report["findings"][0]["fix"]["command"],
        "rofs patch --profile auto plain.yaml"
    );
    // The raw manifest: one finding, whose fix is the same command.
    let out = audit_in(tmp.path(), &["--format", "json", "web.yaml"]);
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(rules_of(&report), [r("ROFS-A001", "nginx")]);
    assert_eq!(
        report["findings"][0]["fix"]["command"],
        "rofs patch --profile auto web.yaml"
    );
    let fixed = rofs_patch(&["--profile", "auto"], &tmp.path().join("web.yaml"));
    std::fs::write(tmp.path().join("fixed.yaml"), fixed).expect("write");
    let out = audit_in(tmp.path(), &["fixed.yaml"]);
    assert_eq!(text(&out.stdout), "no findings\n");
}

/// Patched with flags the status does not record whole (writable copy of a volume, reload
/// hook, an older Kubernetes, the shell seeder, another agent image): not stale, and rofs's
/// own sync sidecar (run in the app's image) is not checked for the app's paths.
#[test]
fn patched_with_flags_is_clean() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: localhost/rofs-e2e-nginx:bookworm\n        volumeMounts: [{name: conf, mountPath: /etc/nginx/conf.d}]\n      volumes: [{name: conf, configMap: {name: web}}]\n";
    std::fs::write(tmp.path().join("web.yaml"), deploy).expect("write");
    let web = tmp.path().join("web.yaml");
    for flags in [
        &["--writable-volume", "conf", "--reload", "signal:HUP:nginx"][..],
        &["--writable-volume", "conf", "--kube-version", "1.28"],
        &["--seeder", "shell", "--agent-image", "localhost/rofs:dev"],
    ] {
        let mut all = vec!["--profile", "auto"];
        all.extend_from_slice(flags);
        std::fs::write(tmp.path().join("out.yaml"), rofs_patch(&all, &web)).expect("write");
        let out = audit_in(tmp.path(), &["out.yaml"]);
        assert_eq!(text(&out.stdout), "no findings\n", "{flags:?}");
    }
}
