//! Bad input to `rofs patch`: a clear message naming the input, document and place, exit
//! code 1, nothing written to `-o FILE` (an existing file is left as it was), never a panic.

use crate::run::rofs;
use std::path::Path;

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: app\n    image: x\n";

/// Run `rofs patch ARGS -` on `input`; assert a clean failure and return stderr.
fn fails(args: &[&str], input: &str) -> String {
    let mut all = vec!["patch"];
    all.extend_from_slice(args);
    let out = rofs(&all, input);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "exit code for {args:?}; stderr:\n{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout on error: {:?}",
        out.stdout
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.starts_with("rofs: error: "), "{stderr}");
    stderr
}

fn contains_all(stderr: &str, parts: &[&str]) {
    for p in parts {
        assert!(stderr.contains(p), "expected {p:?} in:\n{stderr}");
    }
}

#[test]
fn malformed_yaml_names_document_line_and_column() {
    let input = format!("{POD}---\napiVersion: v1\nkind: Pod\nmetadata: {{name: [x\n");
    let e = fails(&["-w", "/tmp"], &input);
    contains_all(&e, &["<stdin>", "document 2", "line 12", "column"]);
}

#[test]
fn malformed_json_names_document_line_and_column() {
    let input = "{\"apiVersion\": \"v1\", \"kind\": \"Service\"}\n{\"apiVersion\": \"v1\",\n  \"kind\": }\n";
    let e = fails(&["-w", "/tmp"], input);
    contains_all(&e, &["document 2", "line 3", "column"]);
}

#[test]
fn duplicate_keys_are_refused() {
    let e = fails(&["-w", "/tmp"], &format!("{POD}kind: Pod\n"));
    contains_all(&e, &["document 1", "duplicate"]);
}

#[test]
fn non_object_documents_are_refused() {
    for (input, found) in [
        ("- a\n- b\n", "a list"),
        ("just text\n", "a string"),
        ("42\n", "a number"),
    ] {
        let e = fails(&["-w", "/tmp"], input);
        contains_all(&e, &["document 1", "expected a Kubernetes object", found]);
    }
}

#[test]
fn pod_template_without_containers_is_refused() {
    let input = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n      containers: []\n";
    let e = fails(&["-w", "/tmp"], input);
    contains_all(
        &e,
        &[
            "Deployment d",
            "spec.template.spec.containers",
            "at least one container",
        ],
    );
    let input =
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: 1\n";
    let e = fails(&["-w", "/tmp"], input);
    contains_all(&e, &["Deployment d", "spec.template", "pod template"]);
}

#[test]
fn bad_annotation_values_are_refused() {
    for (annotation, expect) in [
        ("rofs.io/writable: var/lib", "must be absolute"),
        ("rofs.io/writable: /run:fast", "unknown option"),
        ("rofs.io/skip: \"yes\"", "expected \"true\""),
        ("rofs.io/skip: true", "must be a string"),
        ("rofs.io/profile: ngnix", "unknown profile"),
        ("rofs.io/writeable: /x", "unknown rofs annotation"),
        ("writable.rofs.io/nope: /x", "container \"nope\""),
        ("rofs.io/containers: nope", "container \"nope\""),
    ] {
        let input = POD.replace(
            "  name: web\n",
            &format!("  name: web\n  annotations:\n    {annotation}\n"),
        );
        let e = fails(&[], &input);
        contains_all(&e, &["Pod web", "metadata.annotations", expect]);
    }
}

#[test]
fn unknown_container_names_in_flags_are_refused() {
    let e = fails(&["-w", "/tmp", "--container", "nope"], POD);
    contains_all(&e, &["\"nope\"", "containers seen: app"]);
    let e = fails(&["-w", "nope=/tmp"], POD);
    contains_all(&e, &["\"nope\"", "containers seen: app"]);
    let e = fails(&["-w", "Bad_Name=/tmp"], POD);
    contains_all(&e, &["invalid container name"]);
}

#[test]
fn bad_flag_values_are_refused() {
    for (args, expect) in [
        (&["-w", "relative"][..], "must be absolute"),
        (&["-w", "/"], "root directory"),
        (&["-w", "/var/../etc"], "`..`"),
        (&["-w", "/proc/x"], "kernel filesystem"),
        (&["-w", "/run:64MB"], "invalid size"),
        (&["--profile", "ngnix"], "unknown profile"),
        (&["--seeder", "rsync"], "unknown seeder"),
        (
            &["--kube-version", "one"],
            "--kube-version: invalid Kubernetes version",
        ),
        (
            &["--sync-conflict", "both"],
            "--sync-conflict: unknown conflict policy",
        ),
        (
            &["--reload", "signal:KILLME:x"],
            "--reload: invalid reload hook",
        ),
    ] {
        let e = fails(args, POD);
        contains_all(&e, &[expect]);
    }
}

#[test]
fn name_clash_with_rofs_volume_is_refused() {
    let input = POD.replace(
        "    image: x\n",
        "    image: x\n  volumes:\n  - name: rofs-app-tmp\n    emptyDir: {}\n",
    );
    let e = fails(&["-w", "/tmp"], &input);
    contains_all(&e, &["rofs-app-tmp", "rename"]);
}

fn output_file_untouched(dir: &Path, existing: Option<&str>) {
    let out = dir.join("out.yaml");
    if let Some(text) = existing {
        std::fs::write(&out, text).expect("write");
    }
    let input = dir.join("in.yaml");
    std::fs::write(&input, format!("{POD}---\nnot: [valid\n")).expect("write");
    let o = rofs(
        &[
            "patch",
            "-w",
            "/tmp",
            "-o",
            out.to_str().expect("utf-8"),
            input.to_str().expect("utf-8"),
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(1));
    match existing {
        Some(text) => assert_eq!(std::fs::read_to_string(&out).expect("still there"), text),
        None => assert!(!out.exists(), "-o FILE written on error"),
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "in.yaml" && n != "out.yaml")
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn output_file_is_not_written_on_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    output_file_untouched(dir.path(), None);
    let dir = tempfile::tempdir().expect("tempdir");
    output_file_untouched(dir.path(), Some("previous: content\n"));
}

#[test]
fn unreadable_input_is_an_error_not_a_panic() {
    let e = fails(&["-w", "/tmp", "/nonexistent/rofs-input.yaml"], "");
    contains_all(&e, &["/nonexistent/rofs-input.yaml"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("bin.yaml");
    std::fs::write(&bin, [0xff, 0xfe, 0x00, 0x41]).expect("write");
    let e = fails(&["-w", "/tmp", bin.to_str().expect("utf-8")], "");
    contains_all(&e, &["not UTF-8"]);
}

/// Odd but valid or invalid inputs: any outcome but a crash.
#[test]
fn never_panics_on_odd_input() {
    let inputs = [
        "",
        "---\n",
        "...\n",
        "---\n---\n",
        "~\n",
        "{}\n",
        "[]\n",
        "\"\"\n",
        "!!binary aGk=\n",
        "apiVersion: v1\n",
        "kind: Pod\n",
        "apiVersion: v1\nkind: Pod\n",
        "apiVersion: v1\nkind: Pod\nspec: 3\n",
        "apiVersion: v1\nkind: Pod\nspec:\n  containers: {}\n",
        "apiVersion: v1\nkind: Pod\nspec:\n  containers: [3]\n",
        "apiVersion: v1\nkind: Pod\nspec:\n  containers: [{name: a, volumeMounts: 3}]\n",
        "apiVersion: v1\nkind: Pod\nspec:\n  containers: [{name: a, securityContext: 3}]\n",
        "apiVersion: v1\nkind: Pod\nspec:\n  containers: [{name: a}]\n  volumes: {}\n",
        "apiVersion: v1\nkind: Pod\nmetadata: 3\nspec:\n  containers: [{name: a}]\n",
        "apiVersion: v1\nkind: Pod\nmetadata: {annotations: {rofs.io/status: '{'}}\nspec:\n  containers: [{name: a}]\n",
        "apiVersion: v1\nkind: List\nitems: [3, {kind: Pod}]\n",
        "apiVersion: batch/v1\nkind: CronJob\nspec:\n  jobTemplate: 3\n",
        "a: &a [*a]\n",
        "a: .nan\n",
        "a: 1e999\n",
        "\u{feff}a: 1\n",
        "\t- x\n",
        "{\"a\": 1e999}\n",
        "[1, 2\n",
        "{\"a\":\n",
    ];
    for input in inputs {
        let out = rofs(&["patch", "-w", "/tmp"], input);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "input {input:?}: exit {:?}\n{stderr}",
            out.status.code()
        );
        assert!(!stderr.contains("panicked"), "input {input:?}:\n{stderr}");
    }
}

/// Issue 9 item 2: 20,000 writable paths (a 149 KB annotation) are refused with the limit,
/// from a flag and from an annotation.
#[test]
fn too_many_writable_paths_are_refused() {
    let paths: Vec<String> = (0..20_000).map(|i| format!("/d{i}")).collect();
    let mut args: Vec<&str> = Vec::new();
    for p in paths.iter().take(300) {
        args.extend(["-w", p.as_str()]);
    }
    let e = fails(&args, POD);
    contains_all(
        &e,
        &["--writable", "300 writable paths", "at most 256 per pod"],
    );
    let input = POD.replace(
        "  name: web\n",
        &format!(
            "  name: web\n  annotations:\n    rofs.io/writable: \"{}\"\n",
            paths.join(",")
        ),
    );
    let e = fails(&[], &input);
    contains_all(&e, &["rofs.io/writable", "at most 256 per pod", "Pod web"]);
}

/// Pod-wide paths are mounted into every initContainer of the workload: 256 paths in 4000
/// initContainers would be a million mounts. Refused with the count, the limit and where the
/// paths come from, nothing written. Also a path over PATH_MAX and a profile named 450,000 times.
#[test]
fn hostile_path_settings_are_refused_through_the_binary() {
    let paths: Vec<String> = (0..256).map(|i| format!("/w{i}:empty")).collect();
    let inits: String = (0..4000)
        .map(|i| format!("  - name: i{i}\n    image: x\n"))
        .collect();
    let input = POD
        .replace(
            "  name: web\n",
            &format!(
                "  name: web\n  annotations:\n    rofs.io/writable: \"{}\"\n",
                paths.join(",")
            ),
        )
        .replace("spec:\n", &format!("spec:\n  initContainers:\n{inits}"));
    let e = fails(&[], &input);
    contains_all(
        &e,
        &[
            "Pod web",
            "1024256 volumeMounts",
            "more than 4096",
            "4000 initContainers",
            "rofs.io/writable",
        ],
    );

    let long = format!("/x{}", "/a".repeat(5000));
    let e = fails(&["-w", &long], POD);
    contains_all(
        &e,
        &["--writable", "10002 bytes long", "at most 4096 bytes"],
    );

    let input = POD.replace(
        "  name: web\n",
        &format!(
            "  name: web\n  annotations:\n    rofs.io/profile: \"{}\"\n",
            "nginx,".repeat(450_000)
        ),
    );
    let e = fails(&[], &input);
    contains_all(
        &e,
        &["rofs.io/profile", "450000 profile names", "at most 64"],
    );
}

/// Issue 9 item 1: a `rofs.io/status` that lists a mesh's containers and a PVC rofs never
/// injected. `rofs patch` refuses the document like any invalid one: exit 1, nothing written,
/// so the pod is left as it is, and the message names the entry.
#[test]
fn forged_status_is_refused_and_nothing_is_stripped() {
    let input = "\
apiVersion: v1
kind: Pod
metadata:
  name: victim
  annotations:
    rofs.io/status: '{\"initContainers\":[\"istio-init\"],\"containers\":[\"istio-proxy\"],\"volumes\":[\"precious\"]}'
spec:
  initContainers:
  - name: istio-init
    image: proxyv2
  containers:
  - name: app
    image: app
    volumeMounts:
    - name: precious
      mountPath: /data
  - name: istio-proxy
    image: proxyv2
  volumes:
  - name: precious
    persistentVolumeClaim:
      claimName: precious
";
    let e = fails(&["-w", "/tmp:empty"], input);
    contains_all(
        &e,
        &[
            "Pod victim",
            "metadata.annotations",
            "rofs.io/status",
            "\"istio-init\"",
            "rofs leaves this pod alone",
        ],
    );
}

/// Issue 10: the exec plugin (`rofs krm CONFIG`) checks the names its settings give, like
/// `rofs patch` and the KRM function: a writable volume no pod has is an error.
#[test]
fn exec_plugin_refuses_unknown_writable_volumes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("rofs.yaml");
    std::fs::write(
        &config,
        "apiVersion: rofs.io/v1alpha1\nkind: RofsPatch\nmetadata:\n  name: fix\nspec:\n  writableVolumes: [nope]\n",
    )
    .expect("write");
    let out = rofs(&["krm", config.to_str().expect("utf-8")], POD);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing on stdout on error");
    contains_all(&stderr, &["RofsPatch \"fix\"", "\"nope\""]);
}

/// Every typed settings flag accepts a valid value through the binary (a field type that
/// does not match its clap parser panics only when the flag is used).
#[test]
fn every_settings_flag_accepts_a_valid_value() {
    let input = POD.replace(
        "    image: x\n",
        "    image: x\n    volumeMounts:\n    - name: c\n      mountPath: /etc/c\n  volumes:\n  - name: c\n    configMap:\n      name: c\n",
    );
    for args in [
        &["--seeder", "shell", "-w", "/var/lib/x"][..],
        &["--seeder", "agent", "-w", "app=/var/lib/x:memory:1Mi"],
        &["--reload", "signal:HUP:x", "--writable-volume", "c"],
        &[
            "--reload",
            "http://127.0.0.1:8080/-/reload",
            "--writable-volume",
            "c",
        ],
        &["--sync-conflict", "source", "--writable-volume", "c"],
        &["--kube-version", "1.28", "--writable-volume", "c"],
        &[
            "-p",
            "app=tmp",
            "-c",
            "app",
            "--agent-image",
            "example.org/rofs:1",
        ],
        &["--rollout-on-change", "--format", "json"],
    ] {
        let mut all = vec!["patch"];
        all.extend_from_slice(args);
        let out = rofs(&all, &input);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert!(!out.stdout.is_empty(), "{args:?}");
    }
}

/// Issue 14: documents are read on several threads (`--jobs`). On a stream long enough for
/// all of them, an error in any document still writes nothing (stdout, or `-o FILE` left as
/// it was), names the first bad document in input order, and does not depend on `--jobs`;
/// a valid stream comes out the same whatever `--jobs` is.
#[test]
fn long_streams_write_nothing_on_error_whatever_the_threads() {
    let good: Vec<String> = (0..600)
        .map(|i| POD.replace("name: web", &format!("name: web-{i}")))
        .collect();
    let one = rofs(&["patch", "-w", "/tmp", "--jobs", "1"], &good.join("---\n"));
    assert!(
        one.status.success(),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
    for jobs in ["0", "2", "3"] {
        let many = rofs(
            &["patch", "-w", "/tmp", "--jobs", jobs],
            &good.join("---\n"),
        );
        assert!(many.status.success());
        assert!(one.stdout == many.stdout, "--jobs {jobs}: other output");
    }
    for bad in [&[599][..], &[0], &[300, 599], &[599, 7]] {
        let mut docs = good.clone();
        for &i in bad {
            docs[i] = format!("not: [valid{i}\n");
        }
        let first = bad.iter().min().expect("one") + 1;
        let mut messages = Vec::new();
        for jobs in ["0", "1", "2", "8"] {
            let e = fails(&["-w", "/tmp", "--jobs", jobs], &docs.join("---\n"));
            assert!(e.contains(&format!("<stdin>: document {first} ")), "{e}");
            messages.push(e);
        }
        assert!(messages.windows(2).all(|w| w[0] == w[1]), "{messages:?}");
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("out.yaml");
        std::fs::write(&out, "previous: content\n").expect("write");
        let o = rofs(
            &[
                "patch",
                "-w",
                "/tmp",
                "-o",
                out.to_str().expect("utf-8"),
                "-",
            ],
            &docs.join("---\n"),
        );
        assert_eq!(o.status.code(), Some(1));
        assert_eq!(
            std::fs::read_to_string(&out).expect("still there"),
            "previous: content\n"
        );
    }
}
