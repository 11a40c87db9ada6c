//! Where the pod template lives in each workload kind.

use serde_json::Value;

/// The pod template of a kind, as a path of object keys from the document root.
/// `Some(&[])` means the document itself is the pod (kind Pod).
pub fn pod_template_path(api_version: &str, kind: &str) -> Option<&'static [&'static str]> {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    match (group, kind) {
        ("", "Pod") => Some(&[]),
        ("", "PodTemplate") => Some(&["template"]),
        ("", "ReplicationController")
        | ("apps" | "extensions", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
        | ("batch", "Job") => Some(&["spec", "template"]),
        ("batch", "CronJob") => Some(&["spec", "jobTemplate", "spec", "template"]),
        _ => None,
    }
}

/// `apiVersion` and `kind` of a document, when both are strings.
pub fn type_meta(doc: &Value) -> Option<(&str, &str)> {
    Some((doc.get("apiVersion")?.as_str()?, doc.get("kind")?.as_str()?))
}

/// True for `kind: List` (and the `*List` kinds kubectl prints), whose `items` hold documents.
pub fn is_list(doc: &Value) -> bool {
    matches!(type_meta(doc), Some(("v1", kind)) if kind == "List" || kind.ends_with("List"))
        && doc.get("items").is_some_and(Value::is_array)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_every_workload_kind_and_its_group() {
        assert_eq!(pod_template_path("v1", "Pod"), Some(&[][..]));
        assert_eq!(
            pod_template_path("apps/v1", "Deployment"),
            Some(&["spec", "template"][..])
        );
        assert_eq!(
            pod_template_path("apps/v1", "StatefulSet"),
            Some(&["spec", "template"][..])
        );
        assert_eq!(
            pod_template_path("apps/v1", "DaemonSet"),
            Some(&["spec", "template"][..])
        );
        assert_eq!(
            pod_template_path("apps/v1", "ReplicaSet"),
            Some(&["spec", "template"][..])
        );
        assert_eq!(
            pod_template_path("v1", "ReplicationController"),
            Some(&["spec", "template"][..])
        );
        assert_eq!(
            pod_template_path("batch/v1", "Job"),
            Some(&["spec", "template"][..])
        );
        assert_eq!(
            pod_template_path("batch/v1", "CronJob"),
            Some(&["spec", "jobTemplate", "spec", "template"][..])
        );
        assert_eq!(
            pod_template_path("v1", "PodTemplate"),
            Some(&["template"][..])
        );
        assert_eq!(pod_template_path("example.com/v1", "Deployment"), None);
        assert_eq!(pod_template_path("v1", "ConfigMap"), None);
    }
}
