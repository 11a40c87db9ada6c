//! A pod rofs already patched, as the API server stores it, is left unchanged even though the
//! ServiceAccount admission plugin (which runs before any webhook, and by default) gave every
//! container, rofs's own too, a read-only mount of the service account token's projected
//! volume. Seen on review: rofs took its own containers for forged ones (a mount not under
//! `/.rofs`) and refused every such pod (`rofs patch` exit 1, the webhook denied it).

use rofs_core::{ErrorKind, Settings, rewrite_document};
use serde_json::{Value, json};

const SA_VOLUME: &str = "kube-api-access-x7k2p";
const SA_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

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

/// The projected volume the ServiceAccount admission plugin adds (with the API server's
/// defaults filled in, as `kubectl get pod -o yaml` shows it).
fn sa_volume() -> Value {
    json!({
        "name": SA_VOLUME,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace",
                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
            ]
        }
    })
}

/// The API server storing a pod spec: defaults, then the ServiceAccount plugin's volume and a
/// mount of it in every container and initContainer (it adds one to each that has none at
/// that path).
fn store(spec: &mut Value) {
    for list in ["initContainers", "containers"] {
        for c in spec
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            default_container(c);
            let mounts = c
                .as_object_mut()
                .expect("container is a map")
                .entry("volumeMounts")
                .or_insert(json!([]))
                .as_array_mut()
                .expect("mounts are a list");
            if !mounts.iter().any(|m| m["mountPath"] == SA_PATH) {
                mounts.push(json!({"name": SA_VOLUME, "mountPath": SA_PATH, "readOnly": true}));
            }
        }
    }
    let volumes = spec
        .as_object_mut()
        .expect("spec is a map")
        .entry("volumes")
        .or_insert(json!([]))
        .as_array_mut()
        .expect("volumes are a list");
    if !volumes.iter().any(|v| v["name"] == SA_VOLUME) {
        volumes.push(sa_volume());
    }
}

/// The reproducer: an nginx pod with the built-in profile.
fn nginx_pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "annotations": {"rofs.io/profile": "nginx"}},
        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}
    })
}

/// A pod with every kind of rofs container: install, seed, sync-init and the sync sidecar.
fn app_pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "app", "annotations": {
            "rofs.io/writable": "/var/lib/app,/run:memory:1Mi:empty",
            "rofs.io/writable-volumes": "config",
            "rofs.io/reload": "signal:HUP:app"
        }},
        "spec": {
            "containers": [{"name": "app", "image": "app:1",
                            "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}]}],
            "volumes": [{"name": "config", "configMap": {"name": "app"}}]
        }
    })
}

fn rofs_containers(spec: &Value) -> Vec<&Value> {
    ["initContainers", "containers"]
        .iter()
        .flat_map(|l| spec[l].as_array().into_iter().flatten())
        .filter(|c| c["name"].as_str().is_some_and(|n| n.starts_with("rofs-")))
        .collect()
}

/// Patch, store as the API server does, patch again: nothing changes.
fn stored_patched_doc_is_unchanged(doc: Value, spec_at: &str) {
    patched_stored_doc_is_unchanged(doc, spec_at, false);
}

/// With `admitted`, the plugin runs first (the webhook's order: the pod is created unpatched),
/// else the pod is patched first (`rofs patch`, then applied).
fn patched_stored_doc_is_unchanged(mut doc: Value, spec_at: &str, admitted: bool) {
    if admitted {
        store(doc.pointer_mut(spec_at).expect("spec"));
    }
    let first = rewrite_document(&mut doc, &Settings::default()).expect("first rewrite");
    assert!(first.changed);
    store(doc.pointer_mut(spec_at).expect("spec"));
    let stored = doc.clone();
    let spec = stored.pointer(spec_at).expect("spec");
    let rofs = rofs_containers(spec);
    assert!(!rofs.is_empty(), "{stored:#}");
    for c in rofs {
        assert_eq!(
            c["volumeMounts"].as_array().and_then(|m| m.last()),
            Some(&json!({"name": SA_VOLUME, "mountPath": SA_PATH, "readOnly": true})),
            "{c:#}"
        );
    }
    let again = rewrite_document(&mut doc, &Settings::default())
        .unwrap_or_else(|e| panic!("an already patched, stored pod is refused: {e}"));
    assert_eq!(doc, stored, "the stored pod changed");
    assert!(!again.changed);
}

#[test]
fn a_stored_patched_nginx_pod_is_unchanged() {
    stored_patched_doc_is_unchanged(nginx_pod(), "/spec");
}

#[test]
fn a_stored_patched_pod_with_every_rofs_container_is_unchanged() {
    let doc = app_pod();
    let mut probe = doc.clone();
    rewrite_document(&mut probe, &Settings::default()).expect("rewrite");
    let names: Vec<&str> = rofs_containers(&probe["spec"])
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "rofs-install",
            "rofs-seed-app",
            "rofs-sync-init",
            "rofs-sync"
        ],
        "{probe:#}"
    );
    stored_patched_doc_is_unchanged(doc, "/spec");
}

#[test]
fn a_deployment_template_with_token_mounts_is_unchanged() {
    let pod = nginx_pod();
    let doc = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}, "annotations": pod["metadata"]["annotations"]},
                "spec": pod["spec"]
            }
        }
    });
    stored_patched_doc_is_unchanged(doc, "/spec/template/spec");
}

#[test]
fn a_token_mount_does_not_make_a_forged_status_rofs_s_own() {
    // A status naming a mesh's container, which carries the token mount as every container
    // does: still refused, nothing stripped.
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "victim", "annotations": {
            "rofs.io/status": r#"{"initContainers":["rofs-install"],"containers":["istio-proxy"]}"#
        }},
        "spec": {
            "initContainers": [{"name": "rofs-install", "image": "ghcr.io/rofs-dev/rofs:0",
                "command": ["/rofs-agent", "install", "/.rofs/bin/rofs-agent"],
                "volumeMounts": [{"name": "rofs", "mountPath": "/.rofs"}]}],
            "containers": [
                {"name": "app", "image": "app"},
                {"name": "istio-proxy", "image": "proxyv2", "args": ["proxy", "sidecar"]}
            ],
            "volumes": [{"name": "rofs", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}]
        }
    });
    store(&mut pod["spec"]);
    let before = pod.clone();
    let error = rewrite_document(&mut pod, &Settings::default()).expect_err("forged");
    assert!(error.to_string().contains("istio-proxy"), "{error}");
    assert!(
        matches!(error.kind, ErrorKind::ForgedStatus { .. }),
        "{error:?}"
    );
    assert_eq!(pod, before);
}

#[test]
fn a_writable_mount_or_an_empty_dir_is_not_tolerated_on_a_rofs_container() {
    // rofs-install with rofs's command and mount, plus a mount that admission plugins do not
    // add: writable, or of an emptyDir. Not rofs's shape: refused.
    let extras = [
        (
            json!({"name": "precious", "mountPath": "/data"}),
            json!({"name": "precious", "persistentVolumeClaim": {"claimName": "precious"}}),
        ),
        (
            json!({"name": "scratch", "mountPath": "/scratch", "readOnly": true}),
            json!({"name": "scratch", "emptyDir": {}}),
        ),
    ];
    for (mount, volume) in extras {
        let mut pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "annotations": {
                "rofs.io/status": r#"{"initContainers":["rofs-install"]}"#
            }},
            "spec": {
                "initContainers": [{"name": "rofs-install", "image": "ghcr.io/rofs-dev/rofs:0",
                    "command": ["/rofs-agent", "install", "/.rofs/bin/rofs-agent"],
                    "volumeMounts": [{"name": "rofs", "mountPath": "/.rofs"}, mount]}],
                "containers": [{"name": "app", "image": "app"}],
                "volumes": [{"name": "rofs", "emptyDir": {}}, volume]
            }
        });
        let before = pod.clone();
        let error = rewrite_document(&mut pod, &Settings::default()).expect_err("forged");
        assert!(error.to_string().contains("rofs-install"), "{error}");
        assert_eq!(pod, before);
    }
}

#[test]
fn a_pod_the_plugin_mounted_before_rofs_patched_it_is_unchanged() {
    // The webhook's order: ServiceAccount plugin, then rofs; stored; then reinvoked.
    patched_stored_doc_is_unchanged(nginx_pod(), "/spec", true);
    patched_stored_doc_is_unchanged(app_pod(), "/spec", true);
}
