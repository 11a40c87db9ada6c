//! The selection of live objects over API responses recorded from the 1.34 test cluster
//! (tests/fixtures/cluster/README.md).

use super::*;
use serde_json::json;

/// The items of every recorded list, with apiVersion and kind set as the client sets them.
fn recorded() -> Vec<Value> {
    let lists = [
        (
            "deployments",
            include_str!("../../tests/fixtures/cluster/deployments.json"),
        ),
        (
            "statefulsets",
            include_str!("../../tests/fixtures/cluster/statefulsets.json"),
        ),
        (
            "daemonsets",
            include_str!("../../tests/fixtures/cluster/daemonsets.json"),
        ),
        (
            "replicasets",
            include_str!("../../tests/fixtures/cluster/replicasets.json"),
        ),
        (
            "cronjobs",
            include_str!("../../tests/fixtures/cluster/cronjobs.json"),
        ),
        (
            "jobs",
            include_str!("../../tests/fixtures/cluster/jobs.json"),
        ),
        (
            "pods",
            include_str!("../../tests/fixtures/cluster/pods.json"),
        ),
    ];
    let mut out = Vec::new();
    for (resource, text) in lists {
        let &(api, _, kind) = RESOURCES
            .iter()
            .find(|r| r.1 == resource)
            .expect("a listed resource");
        let list: Value = serde_json::from_str(text).expect("recorded JSON");
        for mut item in list["items"].as_array().cloned().unwrap_or_default() {
            item["apiVersion"] = json!(api);
            item["kind"] = json!(kind);
            out.push(item);
        }
    }
    out
}

fn names(objects: &[Value]) -> Vec<String> {
    objects
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap_or(""),
                o["metadata"]["name"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn recorded_cluster_keeps_what_users_write() {
    let all = recorded();
    // What the cluster holds: 1 Deployment, 1 ReplicaSet, 1 CronJob, 1 Job, 3 pods.
    assert_eq!(all.len(), 7, "{:?}", names(&all));
    assert_eq!(
        names(&top_level(all)),
        ["Deployment/web", "CronJob/nightly", "Pod/debug"]
    );
}

#[test]
fn owners_of_other_apis_do_not_hide_a_pod() {
    let pod = |owner: Value| json!({"kind": "Pod", "metadata": {"name": "p", "ownerReferences": [owner]}});
    let kept = top_level(vec![
        pod(json!({"apiVersion": "v1", "kind": "Node", "name": "n"})),
        pod(json!({"apiVersion": "example.com/v1", "kind": "ReplicaSet", "name": "x"})),
        pod(json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "s"})),
        json!({"kind": "ReplicaSet", "metadata": {"name": "bare"}}),
        json!({"kind": "Job", "metadata": {"name": "j", "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "c"}]}}),
    ]);
    assert_eq!(names(&kept), ["Pod/p", "Pod/p", "ReplicaSet/bare"]);
}

#[test]
fn stream_drops_managed_fields_and_status() {
    let text = to_stream(&[json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "managedFields": [{"manager": "kubectl"}]},
        "spec": {}, "status": {"phase": "Running"}
    })]);
    let v: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(
        v,
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}})
    );
}

#[test]
fn live_fix_gets_patches_and_applies() {
    let source = source_name("admin@rofs");
    assert!(is_cluster_source(&source));
    assert!(!is_cluster_source("cluster.yaml"));
    assert_eq!(
        live_fix_command(
            &format!(
                "rofs patch --profile nginx=nginx {}",
                crate::fix::shell_word(&source)
            ),
            &source,
            "Deployment",
            Some("prod"),
            "web"
        ),
        "kubectl get deployment -n prod web -o yaml | rofs patch --profile nginx=nginx - | kubectl apply -f -"
    );
    assert_eq!(
        live_fix_command(
            &format!("rofs patch {source}"),
            &source,
            "Pod",
            None,
            "debug"
        ),
        "kubectl get pod debug -o yaml | rofs patch - | kubectl replace --force -f -"
    );
    assert!(
        live_fix_command(
            &format!("rofs patch {source}"),
            &source,
            "Job",
            Some("a"),
            "j"
        )
        .starts_with("kubectl get job -n a j -o yaml | rofs patch - | cat > job.yaml  # ")
    );
}
