//! `--rollout-on-change`: the Helm `checksum/config` trick, computed for the user.
//!
//! A pod template gets `rofs.io/config-checksum`: a hash over the ConfigMaps and Secrets of
//! the same input stream that it references (volumes, projected sources, envFrom, env
//! valueFrom), so that changing one changes the template and rolls the pods.

use std::collections::BTreeMap;

use rofs_core::annotations::CONFIG_CHECKSUM;
use rofs_core::workload;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// (namespace, kind, name) -> hash of the object's data.
pub type Index = BTreeMap<(String, String, String), String>;

fn namespace(doc: &Value) -> String {
    doc.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Record the ConfigMaps and Secrets of a document (recursing into Lists).
pub fn index(doc: &Value, out: &mut Index) {
    if workload::is_list(doc) {
        for item in doc["items"].as_array().into_iter().flatten() {
            index(item, out);
        }
        return;
    }
    let Some((api_version, kind)) = workload::type_meta(doc) else {
        return;
    };
    if api_version != "v1" || !matches!(kind, "ConfigMap" | "Secret") {
        return;
    }
    let Some(name) = doc.pointer("/metadata/name").and_then(Value::as_str) else {
        return;
    };
    // Key order must not matter: hash a sorted copy of the data fields.
    let mut content: BTreeMap<&str, BTreeMap<&str, &Value>> = BTreeMap::new();
    for field in ["data", "binaryData", "stringData"] {
        if let Some(m) = doc.get(field).and_then(Value::as_object) {
            content.insert(field, m.iter().map(|(k, v)| (k.as_str(), v)).collect());
        }
    }
    let text = serde_json::to_string(&content).unwrap_or_default();
    out.insert(
        (namespace(doc), kind.to_string(), name.to_string()),
        hex(&Sha256::digest(text.as_bytes())),
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The ConfigMaps and Secrets a pod spec references, as (kind, name).
fn references(spec: &Value) -> Vec<(&'static str, String)> {
    let mut refs = Vec::new();
    let mut add = |kind: &'static str, v: Option<&Value>| {
        if let Some(name) = v.and_then(Value::as_str) {
            refs.push((kind, name.to_string()));
        }
    };
    for v in spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        add("ConfigMap", v.pointer("/configMap/name"));
        add("Secret", v.pointer("/secret/secretName"));
        for s in v
            .pointer("/projected/sources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            add("ConfigMap", s.pointer("/configMap/name"));
            add("Secret", s.pointer("/secret/name"));
        }
    }
    for (_, _, c) in rofs_core::pod::containers(spec) {
        for e in c
            .get("envFrom")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            add("ConfigMap", e.pointer("/configMapRef/name"));
            add("Secret", e.pointer("/secretRef/name"));
        }
        for e in c.get("env").and_then(Value::as_array).into_iter().flatten() {
            add("ConfigMap", e.pointer("/valueFrom/configMapKeyRef/name"));
            add("Secret", e.pointer("/valueFrom/secretKeyRef/name"));
        }
    }
    refs.sort();
    refs.dedup();
    refs
}

/// Set the checksum annotation on the document's pod template(s). Returns true if it changed.
pub fn apply(doc: &mut Value, index: &Index) -> bool {
    if workload::is_list(doc) {
        let mut changed = false;
        for item in doc["items"].as_array_mut().into_iter().flatten() {
            changed |= apply(item, index);
        }
        return changed;
    }
    let Some((api_version, kind)) = workload::type_meta(doc) else {
        return false;
    };
    let Some(path) = workload::pod_template_path(api_version, kind) else {
        return false;
    };
    let ns = namespace(doc);
    let mut template = &mut *doc;
    for key in path {
        match template.get_mut(*key) {
            Some(t) => template = t,
            None => return false,
        }
    }
    let Some(spec) = template.get("spec") else {
        return false;
    };
    let mut summary = String::new();
    for (kind, name) in references(spec) {
        if let Some(hash) = index.get(&(ns.clone(), kind.to_string(), name.clone())) {
            summary.push_str(&format!("{kind}/{name}={hash}\n"));
        }
    }
    if summary.is_empty() {
        return false;
    }
    let value = Value::String(hex(&Sha256::digest(summary.as_bytes())));
    let Some(tpl) = template.as_object_mut() else {
        return false;
    };
    // `metadata: null` / `annotations: null` are empty maps (a string there is refused by
    // the rewrite, which runs first).
    if tpl
        .get("metadata")
        .is_some_and(|m| !(m.is_null() || m.is_object()))
    {
        return false;
    }
    let annotations = rofs_core::pod::annotations_mut(tpl);
    annotations.insert(CONFIG_CHECKSUM.to_string(), value.clone()) != Some(value)
}
