//! Issue 9 item 10: inputs kubectl accepts are accepted, through the binary: a `kind: List` of
//! 6,000 Deployments (2.5 MB) as YAML, and the same Deployments as a KRM ResourceList, in
//! YAML and in JSON; an object over the API server's request limit is refused by name.

use crate::run::rofs;

use serde_json::Value;

fn deployment(i: usize) -> Value {
    serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": format!("web-{i}"), "labels": {"app": format!("web-{i}"), "tier": "frontend"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": format!("web-{i}")}},
            "template": {"metadata": {"labels": {"app": format!("web-{i}")}},
                "spec": {"containers": [{"name": "app", "image": "registry.example/web:1.2.3",
                    "ports": [{"containerPort": 8080}], "env": [{"name": "MODE", "value": "production"}]}]}}}
    })
}

fn items(n: usize) -> Vec<Value> {
    (0..n).map(deployment).collect()
}

fn all_read_only(items: &Value, n: usize) {
    let items = items.as_array().expect("items");
    assert_eq!(items.len(), n);
    for item in items {
        let c = &item["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true, "{c}");
    }
}

fn yaml(v: &Value) -> String {
    rofs_manifest::yaml::to_string(v).expect("yaml")
}

#[test]
fn a_list_of_6000_deployments_is_patched_as_yaml() {
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items(6000)});
    let text = yaml(&list);
    assert!(text.len() > 2_000_000, "{}", text.len());
    let out = rofs(&["patch", "-w", "/tmp"], &text);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = rofs_manifest::yaml::from_str(&String::from_utf8_lossy(&out.stdout)).expect("yaml");
    all_read_only(&v["items"], 6000);
}

#[test]
fn krm_takes_a_resource_list_of_6000_deployments_as_yaml_and_json() {
    let list = serde_json::json!({
        "apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList",
        "functionConfig": {"apiVersion": "rofs.io/v1alpha1", "kind": "RofsPatch", "metadata": {"name": "r"},
            "spec": {"writable": ["/tmp"]}},
        "items": items(6000),
    });
    for text in [yaml(&list), list.to_string()] {
        let out = rofs(&["krm"], &text);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v = rofs_manifest::yaml::from_str(&String::from_utf8_lossy(&out.stdout)).expect("yaml");
        all_read_only(&v["items"], 6000);
    }
}

#[test]
fn an_object_over_the_request_limit_is_refused_by_name() {
    let big = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "huge"},
        "data": {"big": "x".repeat((3 << 20) + 1)}});
    let out = rofs(
        &["patch", "-w", "/tmp"],
        &format!("kind: A\n---\n{}", yaml(&big)),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty());
    assert!(
        err.contains("<stdin>: document 2")
            && err.contains("ConfigMap huge")
            && err.contains("3 MiB"),
        "{err}"
    );
    let list = serde_json::json!({"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList", "items": [big]});
    let out = rofs(&["krm"], &list.to_string());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("ConfigMap huge") && err.contains("3 MiB"),
        "{err}"
    );
}
