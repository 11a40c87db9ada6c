//! A pod rofs already patched, as the API server stores and sends it (defaulted), is left
//! unchanged: seen on the real cluster (docs/cluster.md), where the webhook answered such a pod
//! with a JSON Patch removing `terminationMessagePath` and `resources: {}` from rofs's own
//! containers, which the API server then defaulted again.

use rofs_core::settings::parse_writable_list;
use rofs_core::{Settings, rewrite_document};
use serde_json::{Value, json};

/// What the API server adds to every container (SetDefaults_Container, and `resources`,
/// which it always serializes).
fn default_container(c: &mut Value) {
    let c = c.as_object_mut().expect("container is a map");
    c.entry("terminationMessagePath")
        .or_insert(json!("/dev/termination-log"));
    c.entry("terminationMessagePolicy").or_insert(json!("File"));
    c.entry("imagePullPolicy").or_insert(json!("IfNotPresent"));
    c.entry("resources").or_insert(json!({}));
}

fn default_pod(pod: &mut Value) {
    for list in ["initContainers", "containers"] {
        if let Some(cs) = pod
            .pointer_mut(&format!("/spec/{list}"))
            .and_then(Value::as_array_mut)
        {
            cs.iter_mut().for_each(default_container);
        }
    }
}

fn settings() -> Settings {
    Settings {
        writable: parse_writable_list("/var/lib/app,/run:memory:1Mi:empty").expect("paths"),
        writable_volumes: vec!["config".into()],
        ..Settings::default()
    }
}

fn pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web"},
        "spec": {
            "containers": [{"name": "app", "image": "app:1",
                            "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}]}],
            "volumes": [{"name": "config", "configMap": {"name": "app"}}]
        }
    })
}

#[test]
fn a_defaulted_patched_pod_is_unchanged() {
    let mut doc = pod();
    default_pod(&mut doc);
    let first = rewrite_document(&mut doc, &settings()).expect("first rewrite");
    assert!(first.changed);
    // The API server stores it: every container, rofs's own too, gets its defaults.
    default_pod(&mut doc);
    let stored = doc.clone();
    let again = rewrite_document(&mut doc, &settings()).expect("second rewrite");
    assert_eq!(doc, stored, "the defaulted pod changed");
    assert!(!again.changed);
}

#[test]
fn values_that_are_not_the_defaults_are_rofs_s_to_decide() {
    let mut doc = pod();
    rewrite_document(&mut doc, &settings()).expect("first rewrite");
    let clean = doc.clone();
    // Someone edited rofs's seed container: not what the API server would have set.
    let seed = doc
        .pointer_mut("/spec/initContainers")
        .and_then(Value::as_array_mut)
        .and_then(|cs| cs.iter_mut().find(|c| c["name"] == "rofs-seed-app"))
        .expect("seed container");
    seed["terminationMessagePath"] = json!("/tmp/elsewhere");
    seed["resources"] = json!({"limits": {"memory": "1Gi"}});
    rewrite_document(&mut doc, &settings()).expect("second rewrite");
    assert_eq!(doc, clean);
}
