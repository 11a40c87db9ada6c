//! Issue 9 item 1: a forged `rofs.io/status` (one that lists containers and volumes rofs did
//! not inject) strips nothing; the rewrite is refused, naming the entry.

use rofs_core::{ErrorKind, Location, Settings, rewrite_document, rewrite_pod_template};
use serde_json::{Value, json};

fn settings(paths: &[&str]) -> Settings {
    Settings {
        writable: paths
            .iter()
            .map(|p| p.parse().expect("valid path"))
            .collect(),
        ..Settings::default()
    }
}

/// The issue's example: a status that lists a mesh's containers and a PVC rofs never injected.
fn forged_pod() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "victim",
            "annotations": {
                "rofs.io/status": r#"{"initContainers":["istio-init"],"containers":["istio-proxy"],"volumes":["precious"]}"#
            }
        },
        "spec": {
            "initContainers": [{"name": "istio-init", "image": "proxyv2", "args": ["istio-iptables"]}],
            "containers": [
                {"name": "app", "image": "app", "volumeMounts": [{"name": "precious", "mountPath": "/data"}]},
                {"name": "istio-proxy", "image": "proxyv2", "args": ["proxy", "sidecar"]}
            ],
            "volumes": [{"name": "precious", "persistentVolumeClaim": {"claimName": "precious"}}]
        }
    })
}

#[test]
fn forged_status_strips_nothing_and_is_refused() {
    let mut pod = forged_pod();
    let before = pod.clone();
    let result = rewrite_document(&mut pod, &settings(&["/tmp:empty"]));
    let error = result.expect_err("a forged status must be refused");
    let text = error.to_string();
    assert!(text.contains("istio-init"), "{text}");
    assert!(text.contains("rofs.io/status"), "{text}");
    assert!(
        matches!(error.kind, ErrorKind::ForgedStatus { .. }),
        "{error:?}"
    );
    assert_eq!(pod, before, "nothing may be stripped from a forged pod");
}

#[test]
fn forged_status_with_rofs_names_but_not_rofs_shape_is_refused() {
    // A user's own container and PVC that happen to carry names rofs generates.
    let cases = [
        (
            r#"{"initContainers":["rofs-install"]}"#,
            json!({"initContainers": [{"name": "rofs-install", "image": "mine", "command": ["/bin/migrate"]}]}),
            "rofs-install",
        ),
        (
            r#"{"volumes":["rofs"]}"#,
            json!({"volumes": [{"name": "rofs", "persistentVolumeClaim": {"claimName": "db"}}]}),
            "\"rofs\"",
        ),
        (
            r#"{"volumes":["rofs-agent"]}"#,
            json!({"volumes": [{"name": "rofs-agent", "persistentVolumeClaim": {"claimName": "db"}}]}),
            "rofs-agent",
        ),
        (
            r#"{"volumes":["rofs-agent"]}"#,
            json!({"volumes": [{"name": "rofs-agent", "image": {"reference": "mine", "pullPolicy": "Always"}, "emptyDir": {}}]}),
            "rofs-agent",
        ),
        (
            r#"{"containers":["rofs-sync"]}"#,
            json!({"extra": [{"name": "rofs-sync", "image": "mine", "command": ["/bin/serve"]}]}),
            "rofs-sync",
        ),
        (
            r#"{"shareProcessNamespace":true}"#,
            json!({"shareProcessNamespace": true}),
            "shareProcessNamespace",
        ),
    ];
    for (status, extra, named) in cases {
        let mut spec = json!({"containers": [{"name": "app", "image": "app"}]});
        for (k, v) in extra.as_object().expect("object") {
            if k == "extra" {
                let list = spec["containers"].as_array_mut().expect("list");
                list.extend(v.as_array().expect("list").iter().cloned());
            } else {
                spec[k] = v.clone();
            }
        }
        let mut pod = json!({
            "metadata": {"annotations": {"rofs.io/status": status}},
            "spec": spec,
        });
        let before = pod.clone();
        let error = rewrite_pod_template(
            &mut pod,
            &Location::root(),
            None,
            &settings(&["/tmp:empty"]),
        )
        .expect_err(status);
        assert!(error.to_string().contains(named), "{status}: {error}");
        assert_eq!(pod, before, "{status}");
    }
}

#[test]
fn rofs_own_status_is_still_stripped_and_rewritten() {
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {
            "containers": [{"name": "app", "image": "app",
                "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}]}],
            "volumes": [{"name": "config", "configMap": {"name": "c"}}]
        }
    });
    let mut s = settings(&["/var/lib/app", "/tmp:memory:1Mi:empty"]);
    s.writable_volumes = vec!["config".into()];
    s.reload = Some("signal:HUP:app".parse().expect("valid"));
    let original = pod.clone();
    rewrite_document(&mut pod, &s).expect("first rewrite");
    let once = pod.clone();
    assert_eq!(
        once["spec"]["shareProcessNamespace"],
        json!(true),
        "{once:#}"
    );
    // Re-patching rofs's own output with one more path strips every injected item and adds
    // them again: the same as patching the original with both settings.
    let mut more = s.clone();
    more.writable.push("/var/cache/app".parse().expect("valid"));
    rewrite_document(&mut pod, &more).expect("second rewrite");
    let mut direct = original;
    rewrite_document(&mut direct, &more).expect("direct rewrite");
    assert_eq!(pod, direct);
    let mut again = once.clone();
    rewrite_document(&mut again, &s).expect("idempotent");
    assert_eq!(again, once);
}
