//! Behaviours found wrong while writing this suite, reported to the owner of the rewrite,
//! and fixed since (or found right after all): each test asserts the correct behaviour.

use rofs_manifest::{Format, Input, yaml};
use serde_json::Value;

fn patch(text: &str) -> Result<String, String> {
    let settings = crate::harness::settings_from_args(&["-w".into(), "/tmp:empty".into()])?;
    rofs_manifest::patch(&[Input { name: "t", text }], &settings, Format::Auto)
        .map(|p| p.output)
        .map_err(|e| e.to_string())
}

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: app\n    image: x\n";

/// `0o17` is the number 15 to Kubernetes too: sigs.k8s.io/yaml (go-yaml v2) parses plain
/// integers with Go's `strconv.ParseInt(s, 0, 64)`, which takes the `0o` prefix since Go
/// 1.13 (sigs.k8s.io/yaml v1.6.0 printed 15 on 2026-11-30; tests/kube_yaml.rs checks it
/// live). Once filed here as a bug on the belief that kubectl reads the string "0o17".
#[test]
fn yaml12_octal_is_the_number_kubernetes_reads() {
    let out = patch(&format!(
        "{POD}    env:\n    - name: A\n      value: 0o17\n"
    ))
    .expect("patched");
    let v = yaml::from_str(&out).expect("yaml");
    assert_eq!(
        v.pointer("/spec/containers/0/env/0/value"),
        Some(&Value::from(15)),
        "{out}"
    );
}

/// kubectl reads the map key `on` as the boolean true, i.e. the label key "true"; rofs
/// read it as the string "on", so the rewritten pod had another label. Fixed: map keys are
/// read as Kubernetes reads them (crates/manifest/src/yaml/keys.rs).
#[test]
fn yaml11_boolean_keys_mean_what_kubectl_reads() {
    let text = POD.replace("  name: p\n", "  name: p\n  labels:\n    on: x\n");
    let out = patch(&text).expect("patched");
    let v = yaml::from_str(&out).expect("yaml");
    assert_eq!(
        v.pointer("/metadata/labels/true"),
        Some(&Value::from("x")),
        "{out}"
    );
}

/// A `%YAML 1.1` directive before `---` is valid YAML; it belongs to the document after it.
#[test]
fn yaml_directive_is_accepted() {
    patch(&format!("%YAML 1.1\n---\n{POD}")).expect("valid YAML stream");
}

/// A stream whose first document is written as JSON and the next as YAML is valid YAML
/// (`kubectl apply` takes it); rofs takes the whole input for JSON.
#[test]
fn json_then_yaml_stream_is_accepted() {
    let json = r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"}}"#;
    patch(&format!("{json}\n---\n{POD}")).expect("valid YAML stream");
}

/// The workload's own initContainers get the writable paths mounted but keep a writable
/// root: a policy that checks initContainers too (Gatekeeper's
/// k8spspreadonlyrootfilesystem does) still rejects the patched pod.
#[test]
fn own_init_containers_get_a_read_only_root() {
    let text = POD.replace(
        "  containers:\n",
        "  initContainers:\n  - name: init\n    image: y\n  containers:\n",
    );
    let out = patch(&text).expect("patched");
    let v = yaml::from_str(&out).expect("yaml");
    let init = v["spec"]["initContainers"]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["name"] == "init"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        init.pointer("/securityContext/readOnlyRootFilesystem"),
        Some(&Value::Bool(true)),
        "{out}"
    );
}
