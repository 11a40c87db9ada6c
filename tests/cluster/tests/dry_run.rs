//! Issue 11, item 1: every fixture and example manifest that `rofs patch` outputs is accepted
//! by the API server (`kubectl create --dry-run=server --validate=strict`: its own validation,
//! defaulting and admission, unknown fields refused; `create`, not `apply`, because a fixture
//! uses `generateName`).
//!
//! Two fixtures are about YAML text handling and hold what no API server accepts, already in
//! the input (`yaml11-touched.yaml`: an integer beyond 2^53 in `activeDeadlineSeconds`;
//! `yaml11-untouched.yaml`: a custom resource without its CRD). For a refused output the
//! input is dry-run too: the output passes when the API server says exactly the same about
//! both, i.e. rofs added no error of its own.

use std::path::Path;

use rofs_cluster::{Namespace, require_cluster, rofs, workspace_root};

/// The `# rofs-args:` header of a fixture (crates/manifest/tests/rewrite/harness.rs) and the
/// rest of the file.
fn split_header(text: &str) -> (Vec<String>, String) {
    let mut args = Vec::new();
    let mut rest = text;
    while let Some(line) = rest.lines().next() {
        let Some(a) = line.strip_prefix("# rofs-args:") else {
            break;
        };
        args.extend(a.split_whitespace().map(String::from));
        rest = rest.get(line.len() + 1..).unwrap_or_default();
    }
    (args, rest.to_string())
}

/// Points `metadata.namespace: X` (YAML or JSON, any indentation) at `ns`, so each test runs
/// in its own namespace; returns how many were changed.
fn retarget_namespace(text: &str, ns: &str) -> (String, usize) {
    let mut n = 0;
    let out = text
        .lines()
        .map(|l| {
            let t = l.trim_start();
            let indent = &l[..l.len() - t.len()];
            if t.starts_with("namespace: ") {
                n += 1;
                format!("{indent}namespace: {ns}")
            } else if t.starts_with("\"namespace\": ") {
                n += 1;
                let comma = if t.ends_with(',') { "," } else { "" };
                format!("{indent}\"namespace\": \"{ns}\"{comma}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    (out + "\n", n)
}

fn patch(name: &str, args: &[String], input: &str) -> String {
    let mut full: Vec<&str> = vec!["patch"];
    full.extend(args.iter().map(String::as_str));
    let out = rofs(&full, input);
    assert!(
        out.status.success(),
        "{name}: rofs {} failed:\n{}",
        full.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// Server-side dry run of `manifest` in `ns`; the error text when refused (also when the
/// server warns about an unknown or duplicate field, which kubectl prints without failing).
fn dry_run(ns: &Namespace, manifest: &str) -> Result<String, String> {
    let out = ns.kubectl(
        &[
            "create",
            "--dry-run=server",
            "--validate=strict",
            "-o",
            "name",
            "-f",
            "-",
        ],
        Some(manifest),
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let field_warning = stderr.lines().any(|l| {
        l.starts_with("Warning:") && (l.contains("unknown field") || l.contains("duplicate field"))
    });
    if out.status.success() && !field_warning {
        if !stderr.is_empty() {
            eprintln!("{stderr}");
        }
        Ok(stdout)
    } else {
        Err(format!("{stdout}{stderr}"))
    }
}

#[test]
fn fixture_and_example_outputs_pass_server_side_dry_run() {
    require_cluster!();
    let ns = Namespace::create("dry-run", &[]);
    let root = workspace_root();
    let mut cases: Vec<(String, Vec<String>, String)> = Vec::new();
    let dir = root.join("crates/manifest/tests/fixtures");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    assert!(paths.len() >= 20, "fixtures missing in {}", dir.display());
    for p in &paths {
        let (args, input) = split_header(&std::fs::read_to_string(p).expect("read fixture"));
        cases.push((file_name(p), args, input));
    }
    for (app, profile) in [("nginx", "nginx"), ("tomcat", "tomcat")] {
        let p = root.join(format!("examples/{app}/deployment.yaml"));
        let args = ["--profile", profile, "--agent-image", "localhost/rofs:dev"];
        cases.push((
            format!("examples/{app}"),
            args.iter().map(|s| s.to_string()).collect(),
            std::fs::read_to_string(&p).expect("read example"),
        ));
    }
    let mut failures = Vec::new();
    let mut objects = 0;
    let mut refused_as_input = 0;
    for (name, args, input) in &cases {
        let patched = patch(name, args, input);
        let (manifest, _) = retarget_namespace(&patched, &ns.name);
        match dry_run(&ns, &manifest) {
            Ok(out) => objects += out.lines().count(),
            Err(e) => {
                let (input, _) = retarget_namespace(input, &ns.name);
                match dry_run(&ns, &input) {
                    Err(e_in) if e_in == e => {
                        eprintln!("{name}: refused as its input is (rofs added nothing): {e}");
                        refused_as_input += 1;
                    }
                    other => failures.push(format!(
                        "--- {name} (rofs patch {}) refused:\n{e}\n(the input: {other:?})",
                        args.join(" ")
                    )),
                }
            }
        }
    }
    eprintln!(
        "{} manifests, {objects} objects accepted by the API server",
        cases.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        refused_as_input <= 2,
        "{refused_as_input} manifests refused (as their inputs are): only the two YAML 1.1 \
         fixtures should be"
    );
    assert!(
        objects >= cases.len() - refused_as_input,
        "fewer objects than manifests"
    );
}

/// The check can fail: a field the API server does not know is refused.
#[test]
fn dry_run_refuses_an_unknown_field() {
    require_cluster!();
    let ns = Namespace::create("dry-run-neg", &[]);
    let bad = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: x\n    securityContext: {readOnlyRootFilesytem: true}\n";
    let err = dry_run(&ns, bad).expect_err("an unknown field must be refused");
    assert!(err.contains("readOnlyRootFilesytem"), "{err}");
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn retarget_namespace_yaml_and_json() {
    let (y, n) = retarget_namespace("metadata:\n  namespace: default\n  name: x\n", "t");
    assert_eq!(
        (y.as_str(), n),
        ("metadata:\n  namespace: t\n  name: x\n", 1)
    );
    let (j, n) = retarget_namespace("{\n  \"namespace\": \"a\",\n  \"b\": 1\n}", "t");
    assert_eq!(
        (j.as_str(), n),
        ("{\n  \"namespace\": \"t\",\n  \"b\": 1\n}\n", 1)
    );
}
