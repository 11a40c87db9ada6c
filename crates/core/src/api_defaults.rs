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

use serde_json::{Map, Value};

/// Copy into each container of `after` the defaulted fields of the same-named container of
/// `before` (both pod specs), for the containers named in `names` (rofs's own).
pub(crate) fn keep(before: &Map<String, Value>, after: &mut Map<String, Value>, names: &[&str]) {
    for list in ["initContainers", "containers"] {
        let Some(new) = after.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in new.iter_mut().filter_map(Value::as_object_mut) {
            let Some(name) = c.get("name").and_then(Value::as_str) else {
                continue;
            };
            if !names.contains(&name) {
                continue;
            }
            if let Some(old) = same_named(before, list, name) {
                carry_defaults(old, c);
            }
        }
    }
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
