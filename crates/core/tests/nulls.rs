//! Issue 9 item 14: `null` maps and lists (what Helm renders for an empty block) are empty
//! maps and lists, on every workload kind: the output is valid and patching it again changes
//! nothing.

use rofs_core::{Settings, rewrite_document};
use serde_json::{Value, json};

/// Where each workload kind keeps its pod template.
const KINDS: [(&str, &str, &[&str]); 9] = [
    ("v1", "Pod", &[]),
    ("v1", "PodTemplate", &["template"]),
    ("v1", "ReplicationController", &["spec", "template"]),
    ("apps/v1", "Deployment", &["spec", "template"]),
    ("apps/v1", "StatefulSet", &["spec", "template"]),
    ("apps/v1", "DaemonSet", &["spec", "template"]),
    ("apps/v1", "ReplicaSet", &["spec", "template"]),
    ("batch/v1", "Job", &["spec", "template"]),
    (
        "batch/v1",
        "CronJob",
        &["spec", "jobTemplate", "spec", "template"],
    ),
];

/// Fields that Helm and real manifests render as `null`, as JSON pointers: from the document
/// root (`/`) or from the pod template (`T/`).
const NULLS: [&str; 16] = [
    "/metadata",
    "/metadata/annotations",
    "/metadata/labels",
    "/spec/jobTemplate/metadata",
    "T/metadata",
    "T/metadata/annotations",
    "T/metadata/labels",
    "T/spec/volumes",
    "T/spec/initContainers",
    "T/spec/securityContext",
    "T/spec/containers/0/volumeMounts",
    "T/spec/containers/0/securityContext",
    "T/spec/containers/0/securityContext/capabilities",
    "T/spec/containers/0/resources",
    "T/spec/containers/0/env",
    "T/spec/initContainers/0/volumeMounts",
];

fn workload(api_version: &str, kind: &str, path: &[&str]) -> Value {
    let template = json!({
        "metadata": {"labels": {"app": "web"}, "annotations": {"team": "a"}},
        "spec": {
            "securityContext": {"runAsNonRoot": true},
            "initContainers": [{"name": "init", "image": "app", "volumeMounts": [{"name": "data", "mountPath": "/init"}]}],
            "containers": [{
                "name": "app", "image": "app",
                "env": [{"name": "A", "value": "1"}],
                "resources": {"limits": {"memory": "128Mi"}},
                "securityContext": {"capabilities": {"drop": ["ALL"]}},
                "volumeMounts": [{"name": "data", "mountPath": "/data"}]
            }],
            "volumes": [{"name": "data", "emptyDir": {}}]
        }
    });
    let mut doc = json!({"apiVersion": api_version, "kind": kind,
        "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {"team": "a"}}});
    if path.is_empty() {
        doc["spec"] = template["spec"].clone();
        return doc;
    }
    let mut at = &mut doc;
    for key in &path[..path.len() - 1] {
        at = at
            .as_object_mut()
            .expect("object")
            .entry(*key)
            .or_insert_with(|| json!({"metadata": {"labels": {"app": "web"}}}));
    }
    at[path[path.len() - 1]] = template;
    doc
}

fn set_null(doc: &mut Value, path: &[&str], pointer: &str) -> bool {
    let (base, rest) = match pointer.strip_prefix('T') {
        Some(rest) => (
            path.iter().map(|k| format!("/{k}")).collect::<String>(),
            rest,
        ),
        None => (String::new(), pointer),
    };
    match doc.pointer_mut(&format!("{base}{rest}")) {
        Some(v) => {
            *v = Value::Null;
            true
        }
        None => false,
    }
}

fn template<'a>(doc: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(doc, |v, k| &v[*k])
}

/// Every place rofs writes must hold a map or a list, never `null`.
fn check_valid(doc: &Value, path: &[&str], what: &str) {
    let t = template(doc, path);
    let status = t
        .pointer("/metadata/annotations/rofs.io~1status")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{what}: no rofs.io/status:\n{doc:#}"));
    assert!(status.contains("/var/lib/app"), "{what}: {status}");
    let spec = &t["spec"];
    assert!(spec["volumes"].is_array(), "{what}: volumes\n{doc:#}");
    let lists = ["initContainers", "containers"];
    for c in lists
        .iter()
        .flat_map(|k| spec[*k].as_array().expect("list"))
    {
        assert!(
            c.get("volumeMounts").is_none_or(Value::is_array),
            "{what}: {c}"
        );
        assert_eq!(
            c.pointer("/securityContext/readOnlyRootFilesystem"),
            Some(&Value::Bool(true)),
            "{what}: {c}"
        );
        // rofs's own containers copy no `null` from the app's.
        if c["name"].as_str().is_some_and(|n| n.starts_with("rofs-")) {
            for key in ["image", "imagePullPolicy", "resources"] {
                assert!(
                    c.get(key) != Some(&Value::Null),
                    "{what}: {key} null in {c}"
                );
            }
        }
    }
    let names: Vec<&str> = spec["initContainers"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(names.contains(&"rofs-seed-app"), "{what}: {names:?}");
}

#[test]
fn null_maps_and_lists_are_empty_on_every_workload_kind() {
    let s = Settings {
        writable: ["/var/lib/app", "/tmp:memory:1Mi:empty"]
            .iter()
            .map(|p| p.parse().expect("valid"))
            .collect(),
        ..Settings::default()
    };
    let mut cases = 0;
    for (api_version, kind, path) in KINDS {
        let mut all = workload(api_version, kind, path);
        for pointer in NULLS.iter().copied().chain([""]) {
            let mut doc = workload(api_version, kind, path);
            if pointer.is_empty() {
                // Every null at once (deepest first, so each one is still there to set).
                for p in NULLS.iter().rev() {
                    set_null(&mut all, path, p);
                }
                doc = all.clone();
            } else if !set_null(&mut doc, path, pointer) {
                continue;
            }
            let what = format!("{kind} with {pointer} null");
            rewrite_document(&mut doc, &s).unwrap_or_else(|e| panic!("{what}: {e}"));
            check_valid(&doc, path, &what);
            let once = doc.clone();
            let again = rewrite_document(&mut doc, &s).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(!again.changed, "{what}: not idempotent");
            assert_eq!(doc, once, "{what}: not idempotent");
            cases += 1;
        }
    }
    assert!(cases >= 9 * 13, "{cases} cases");
}
