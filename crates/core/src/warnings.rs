//! Warnings about memory-backed volumes (kubernetes/website#36494: tmpfs counts against the
//! container's memory limit).

use serde_json::Value;

use crate::annotations;
use crate::pod::containers;
use crate::settings::{Medium, WritablePath};
use crate::status::StatusAnnotation;

/// Warnings about the memory volumes of a rewritten pod template (read from its status).
pub fn memory_warnings(template: &Value) -> Vec<String> {
    let Some(spec) = template.get("spec") else {
        return Vec::new();
    };
    let status: StatusAnnotation = template
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(annotations::STATUS))
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    memory_warnings_of(spec, &status)
}

/// [`memory_warnings`] with the status at hand (the rewrite just made it: no need to read
/// back the annotation it wrote).
pub(crate) fn memory_warnings_of(spec: &Value, status: &StatusAnnotation) -> Vec<String> {
    let mut out = Vec::new();
    if status.writable.is_empty() {
        return out;
    }
    for (_, _, c) in containers(spec) {
        let Some(name) = c.get("name").and_then(Value::as_str) else {
            continue;
        };
        let Some(paths) = status.writable.get(name) else {
            continue;
        };
        let memory: Vec<&WritablePath> = paths
            .iter()
            .filter(|p| p.medium == Medium::Memory)
            .collect();
        for p in memory.iter().filter(|p| p.size_limit.is_none()) {
            out.push(format!(
                "container {name:?}: {} is a memory volume without a size limit; what the app writes there counts against the container's memory limit and can get it OOMKilled: give it a size, e.g. {}:memory:64Mi",
                p.path, p.path
            ));
        }
        let total: f64 = memory
            .iter()
            .filter_map(|p| p.size_limit.as_ref().map(|q| q.bytes()))
            .sum();
        let limit = c
            .pointer("/resources/limits/memory")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<crate::quantity::Quantity>().ok());
        if let Some(limit) = limit
            && total > 0.0
            && total >= limit.bytes()
        {
            out.push(format!(
                "container {name:?}: its memory volumes may hold {} MiB but its memory limit is {limit}: full volumes alone would get it OOMKilled; raise the limit or lower the sizes",
                (total / 1048576.0).round()
            ));
        }
    }
    out
}
