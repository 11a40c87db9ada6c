//! `rofs audit --cluster`: which live objects are audited, and how they become the audit's
//! input. Pure: the API calls are in the CLI (crates/cli/src/audit_cluster.rs, kube-rs).
//!
//! Every pod is audited once, through the object a user writes: a Deployment, not its
//! ReplicaSets or pods. So the lists read are Deployments, StatefulSets, DaemonSets,
//! ReplicaSets, Jobs, CronJobs and Pods, and of those are dropped:
//! - ReplicaSets owned by a Deployment (the Deployment is audited);
//! - Jobs owned by a CronJob;
//! - Pods owned by a ReplicaSet, StatefulSet, DaemonSet, Job or CronJob of the `apps/v1` or
//!   `batch/v1` API (their owner, or its owner, is audited).
//!
//! Pods owned by anything else (another controller, a static pod's Node) are audited as pods.
//! The objects are audited as they are stored (what the API server and its webhooks made of
//! them), without `metadata.managedFields` (noise in diffs) and `status`.

use serde_json::Value;

/// The lists `rofs audit --cluster` reads: (API group version, resource, kind), in the order
/// their objects are audited. docs/audit.md's ClusterRole grants `list` on these.
pub const RESOURCES: &[(&str, &str, &str)] = &[
    ("apps/v1", "deployments", "Deployment"),
    ("apps/v1", "statefulsets", "StatefulSet"),
    ("apps/v1", "daemonsets", "DaemonSet"),
    ("apps/v1", "replicasets", "ReplicaSet"),
    ("batch/v1", "cronjobs", "CronJob"),
    ("batch/v1", "jobs", "Job"),
    ("v1", "pods", "Pod"),
];

/// The prefix of an audit source that is a cluster, not a file (`cluster://CONTEXT`): the
/// SARIF log gives such findings no file location, only their logical location.
pub const SOURCE_PREFIX: &str = "cluster://";

/// The audit source name of a cluster read through kubeconfig context `context`.
pub fn source_name(context: &str) -> String {
    format!("{SOURCE_PREFIX}{context}")
}

/// Whether an audit source is a cluster.
pub fn is_cluster_source(file: &str) -> bool {
    file.starts_with(SOURCE_PREFIX)
}

/// Whether `obj` is owned by a controller of the given (API group, kind)s.
fn owned_by(obj: &Value, owners: &[(&str, &str)]) -> bool {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|r| {
            let kind = r.get("kind").and_then(Value::as_str).unwrap_or("");
            let group = r
                .get("apiVersion")
                .and_then(Value::as_str)
                .map_or("", |v| v.rsplit_once('/').map_or("", |(g, _)| g));
            owners.iter().any(|&(g, k)| g == group && k == kind)
        })
}

/// Keep the objects a user writes (see the module doc), in their order.
pub fn top_level(objects: Vec<Value>) -> Vec<Value> {
    objects
        .into_iter()
        .filter(|o| match o.get("kind").and_then(Value::as_str) {
            Some("ReplicaSet") => !owned_by(o, &[("apps", "Deployment")]),
            Some("Job") => !owned_by(o, &[("batch", "CronJob")]),
            Some("Pod") => !owned_by(
                o,
                &[
                    ("apps", "ReplicaSet"),
                    ("apps", "StatefulSet"),
                    ("apps", "DaemonSet"),
                    ("batch", "Job"),
                    ("batch", "CronJob"),
                ],
            ),
            _ => true,
        })
        .collect()
}

/// The objects as one JSON stream (one pretty-printed document each), the audit's input:
/// without `metadata.managedFields` and `status`, with their `apiVersion` and `kind`.
pub fn to_stream(objects: &[Value]) -> String {
    let mut out = String::new();
    for o in objects {
        let mut o = o.clone();
        if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("managedFields");
        }
        if let Some(m) = o.as_object_mut() {
            m.remove("status");
        }
        out.push_str(&serde_json::to_string_pretty(&o).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// The fix of a live object: `kubectl get` it, `rofs patch` it (with the flags of `command`,
/// a `rofs patch FLAGS SOURCE` line), `kubectl apply` the result. A Pod's spec cannot change
/// in place: it is replaced (`kubectl replace --force` deletes and creates it; checked on
/// Kubernetes 1.34). A Job's pod template cannot change either, and a replaced Job is refused
/// (its selector and labels carry the old Job's uid): the command writes the patched Job and
/// says so.
pub fn live_fix_command(
    command: &str,
    source: &str,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
) -> String {
    let flags = command
        .strip_prefix("rofs patch")
        .map(|rest| {
            let rest = rest.trim_end();
            rest.strip_suffix(&crate::fix::shell_word(source))
                .unwrap_or(rest)
                .trim()
                .to_string()
        })
        .unwrap_or_default();
    let ns = namespace
        .map(|n| format!(" -n {}", crate::fix::shell_word(n)))
        .unwrap_or_default();
    let patch = if flags.is_empty() {
        "rofs patch -".to_string()
    } else {
        format!("rofs patch {flags} -")
    };
    let write = match kind {
        "Pod" => "kubectl replace --force -f -",
        "Job" => {
            "cat > job.yaml  # a Job's pod template cannot change: create a new Job from \
             job.yaml without its generated selector and controller-uid labels, or fix the \
             manifest it came from"
        }
        _ => "kubectl apply -f -",
    };
    format!(
        "kubectl get {}{ns} {} -o yaml | {patch} | {write}",
        kind.to_ascii_lowercase(),
        crate::fix::shell_word(name)
    )
}

#[cfg(test)]
mod tests;
