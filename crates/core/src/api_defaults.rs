//! Fields the API server sets on every container it stores, which rofs never writes.
//!
//! A pod that rofs already patched comes back *defaulted*: the webhook sees it so on
//! reinvocation and when a manifest fixed by `rofs patch` is applied, and `kubectl get -o yaml`
//! shows it so. Its injected containers then carry `terminationMessagePath`,
//! `terminationMessagePolicy`, `imagePullPolicy` and `resources: {}` (Kubernetes'
//! `SetDefaults_Container`, and `resources` which the API always serializes). The re-emitted
//! containers lack them: dropping them would be a change, a JSON Patch that the API server
//! undoes by defaulting again, and the webhook would count an already patched pod as mutated.
//! So a container that rofs emits again under the same name keeps such a field when the
//! previous one had it with the value the API server would have set, and rofs does not set
//! that field itself. Any other value is rofs's to decide and is not carried over.
//!
//! Admission plugins, which run before any webhook, also mount volumes into every container,
//! rofs's own too: the ServiceAccount plugin adds a read-only mount of the token's projected
//! volume (`kube-api-access-…` at `/var/run/secrets/kubernetes.io/serviceaccount`), CSI or
//! secret injectors do the same. Re-emitted without it, the webhook's answer would be a patch
//! removing the mount, which the plugin adds again. So a re-emitted container also keeps the
//! mounts of the previous one that such a plugin can have added (the rule of
//! [`crate::status`]: `readOnly: true`, not under `/.rofs`), when their volume is still in the
//! pod and is not one of rofs's own and the new container has no mount of that name or path,
//! appended after rofs's own mounts in their previous order.
//!
//! The plugins append their mount (and volume) after rofs's when a pod that `rofs patch` wrote
//! is applied, while rofs re-emitting its mounts into an app container (and its volumes into
//! the pod) appends them after the app's, the plugin's included. So the pod's volumes and any
//! container's mounts (the app's too) that are the same as before but in another order keep
//! the previous order.

use serde_json::{Map, Value};

/// Copy into each container of `after` the defaulted fields and admission-added mounts of the
/// same-named container of `before` (both pod specs), for the containers named in `names`
/// (rofs's own); `volumes` are rofs's own volumes.
pub(crate) fn keep(
    before: &Map<String, Value>,
    after: &mut Map<String, Value>,
    names: &[&str],
    volumes: &[&str],
) {
    // The volumes, apart (taken out, not copied; put back below): `after`'s containers are
    // borrowed mutably meanwhile.
    let pod_volumes: Map<String, Value> = after
        .get_mut("volumes")
        .map(|v| ("volumes".to_string(), std::mem::take(v)))
        .into_iter()
        .collect();
    for list in ["initContainers", "containers"] {
        let Some(new) = after.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in new.iter_mut().filter_map(Value::as_object_mut) {
            let Some(name) = c.get("name").and_then(Value::as_str) else {
                continue;
            };
            let Some(old) = same_named(before, list, name) else {
                continue;
            };
            if names.contains(&name) {
                carry_defaults(old, c);
                carry_mounts(old, c, &pod_volumes, volumes);
            }
            keep_order(old.get("volumeMounts"), c.get_mut("volumeMounts"));
        }
    }
    if let Some((_, volumes)) = pod_volumes.into_iter().next() {
        after.insert("volumes".to_string(), volumes);
    }
    keep_order(before.get("volumes"), after.get_mut("volumes"));
}

fn same_named<'a>(
    spec: &'a Map<String, Value>,
    list: &str,
    name: &str,
) -> Option<&'a Map<String, Value>> {
    spec.get(list)?
        .as_array()?
        .iter()
        .filter_map(Value::as_object)
        .find(|c| c.get("name").and_then(Value::as_str) == Some(name))
}

fn carry_defaults(old: &Map<String, Value>, new: &mut Map<String, Value>) {
    let pull = default_pull_policy(new.get("image").and_then(Value::as_str).unwrap_or_default());
    let defaults = [
        (
            "terminationMessagePath",
            Value::from("/dev/termination-log"),
        ),
        ("terminationMessagePolicy", Value::from("File")),
        ("imagePullPolicy", Value::from(pull)),
        ("resources", Value::Object(Map::new())),
    ];
    for (key, default) in defaults {
        if !new.contains_key(key) && old.get(key) == Some(&default) {
            new.insert(key.to_string(), default);
        }
    }
}

/// Append the previous container's admission-added mounts (see the module doc) that the new
/// one lacks. `spec` is the new pod spec, `ours` rofs's own volumes.
fn carry_mounts(
    old: &Map<String, Value>,
    new: &mut Map<String, Value>,
    spec: &Map<String, Value>,
    ours: &[&str],
) {
    let field = |m: &Value, k: &str| m.get(k).and_then(Value::as_str).map(String::from);
    let kept: Vec<Value> = {
        let have = new.get("volumeMounts").and_then(Value::as_array);
        let has = |key: &str, value: &str| {
            have.into_iter()
                .flatten()
                .any(|m| field(m, key).as_deref() == Some(value))
        };
        let mut kept: Vec<Value> = Vec::new();
        for m in old
            .get("volumeMounts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(name), Some(path)) = (field(m, "name"), field(m, "mountPath")) else {
                continue;
            };
            let taken = |v: &Value| {
                field(v, "name").as_deref() == Some(name.as_str())
                    || field(v, "mountPath").as_deref() == Some(path.as_str())
            };
            if crate::status::admission_added(m, spec)
                && !ours.contains(&name.as_str())
                && !has("name", &name)
                && !has("mountPath", &path)
                && !kept.iter().any(taken)
            {
                kept.push(m.clone());
            }
        }
        kept
    };
    if kept.is_empty() {
        return;
    }
    match new
        .entry("volumeMounts")
        .or_insert_with(|| Value::Array(Vec::new()))
    {
        Value::Array(mounts) => mounts.extend(kept),
        other => *other = Value::Array(kept),
    }
}

/// When list `after` has the same items as `before` (as many times each), `before`'s order.
fn keep_order(before: Option<&Value>, after: Option<&mut Value>) {
    let (Some(Value::Array(before)), Some(Value::Array(after))) = (before, after) else {
        return;
    };
    let sorted = |l: &[Value]| {
        let mut l: Vec<String> = l.iter().map(Value::to_string).collect();
        l.sort();
        l
    };
    // Lists of different lengths are not the same items: not worth sorting.
    if before.len() == after.len() && before != after && sorted(before) == sorted(after) {
        after.clone_from(before);
    }
}

/// The API server's default: `Always` for an image without a tag or with `:latest` (and no
/// digest), else `IfNotPresent`.
fn default_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        None | Some((_, "latest")) => "Always",
        Some(_) => "IfNotPresent",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pull_policy_defaults_follow_the_tag() {
        assert_eq!(default_pull_policy("nginx"), "Always");
        assert_eq!(default_pull_policy("nginx:latest"), "Always");
        assert_eq!(default_pull_policy("registry:5000/nginx"), "Always");
        assert_eq!(
            default_pull_policy("registry:5000/nginx:1.27"),
            "IfNotPresent"
        );
        assert_eq!(default_pull_policy("nginx@sha256:abc"), "IfNotPresent");
    }

    #[test]
    fn only_default_values_of_rofs_containers_are_carried_over() {
        let before = json!({
            "initContainers": [
                {"name": "rofs-seed-app", "image": "app:1", "terminationMessagePath": "/dev/termination-log",
                 "resources": {}, "imagePullPolicy": "IfNotPresent", "terminationMessagePolicy": "File"},
                {"name": "user-init", "image": "app:1", "terminationMessagePath": "/dev/termination-log"}
            ],
            "containers": [{"name": "rofs-sync", "image": "app:1", "terminationMessagePath": "/elsewhere",
                            "resources": {"limits": {"memory": "1Gi"}}}]
        });
        let mut after = json!({
            "initContainers": [
                {"name": "rofs-seed-app", "image": "app:1", "terminationMessagePolicy": "FallbackToLogsOnError"},
                {"name": "user-init", "image": "app:1"}
            ],
            "containers": [{"name": "rofs-sync", "image": "app:1"}]
        });
        let names = ["rofs-seed-app", "rofs-sync"];
        keep(
            before.as_object().expect("map"),
            after.as_object_mut().expect("map"),
            &names,
            &[],
        );
        assert_eq!(
            after,
            json!({
                "initContainers": [
                    {"name": "rofs-seed-app", "image": "app:1", "terminationMessagePolicy": "FallbackToLogsOnError",
                     "terminationMessagePath": "/dev/termination-log", "imagePullPolicy": "IfNotPresent",
                     "resources": {}},
                    {"name": "user-init", "image": "app:1"}
                ],
                "containers": [{"name": "rofs-sync", "image": "app:1"}]
            })
        );
    }
}
