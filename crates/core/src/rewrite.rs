//! The rewrite: a pod template and settings in, the pod template that runs with a read-only
//! root filesystem out. Pure: no I/O, no clock, no randomness; every front end calls this.
//!
//! Steps: read the settings from the annotations, check and strip what an earlier rewrite
//! injected ([`crate::status`]), read the pod ([`crate::pod`]), plan ([`crate::plan`]), emit
//! ([`crate::emit`]), record the new status. Layout produced (see docs/reference.md):
//! - each selected container: `securityContext.readOnlyRootFilesystem: true`;
//! - per path, an emptyDir volume `rofs-<container>-<path>` mounted at the path;
//! - when some paths are seeded, initContainers first in the list, before the workload's own:
//!   `rofs-install` (agent image, copies the static agent into the `rofs` volume) and
//!   `rofs-seed-<container>` (the app's image and securityContext, runs the agent: copies the
//!   image's files of each path into its volume, mounted at `/.rofs/dst/<volume>`);
//! - writable copies of configMap/secret volumes and their sync containers;
//! - the annotation `rofs.io/status` records what was injected, so that rewriting the output
//!   again first removes it and then produces the same result (idempotence).

use std::borrow::Cow;
use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::annotations;
use crate::error::{ErrorKind, Location, RewriteError};
use crate::model::Request;
use crate::plan::plan;
use crate::pod::{Pod, annotations_mut};
use crate::settings::Settings;
use crate::status::StatusAnnotation;
use crate::workload;

/// kubectl's annotation naming a pod's main container.
const DEFAULT_CONTAINER: &str = "kubectl.kubernetes.io/default-container";

/// What a rewrite did, besides changing the document.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RewriteReport {
    /// The document held a pod template (whether or not it changed).
    pub workload: bool,
    pub changed: bool,
    /// Things the user should know (printed on stderr by the CLI, returned as admission
    /// warnings by the webhook). Each names the container and path concerned.
    pub warnings: Vec<String>,
    /// Names of all containers seen, to report settings that name a container nowhere.
    pub containers: BTreeSet<String>,
    /// Names of all volumes seen, to report writable volumes that name a volume nowhere.
    pub volumes: BTreeSet<String>,
}

/// Rewrite one document in place, whatever its kind. Documents that hold no pod template
/// (Services, ConfigMaps, CRDs...) are left untouched. `kind: List` is handled by the caller.
pub fn rewrite_document(
    doc: &mut Value,
    settings: &Settings,
) -> Result<RewriteReport, RewriteError> {
    let Some((api_version, kind)) = workload::type_meta(doc) else {
        return Ok(RewriteReport::default());
    };
    let Some(path) = workload::pod_template_path(api_version, kind) else {
        return Ok(RewriteReport::default());
    };
    let kind = kind.to_string();
    let workload_annotations = if path.is_empty() {
        None
    } else {
        doc.pointer("/metadata/annotations")
            .and_then(Value::as_object)
            .cloned()
    };
    let mut at = Location::root();
    let mut template = &mut *doc;
    for key in path {
        at = at.key(key);
        template = template.get_mut(*key).ok_or_else(|| {
            let kind = kind.clone();
            RewriteError::new(at.clone(), ErrorKind::MissingPodTemplate { kind })
        })?;
    }
    rewrite_pod_template(template, &at, workload_annotations.as_ref(), settings)
}

/// Rewrite a pod template (an object with `metadata` and `spec`, or a whole Pod).
///
/// `at` is the template's place in its document, for error messages (root for a Pod).
/// `workload_annotations` are the owning workload's annotations; the template's own win.
pub fn rewrite_pod_template(
    template: &mut Value,
    at: &Location,
    workload_annotations: Option<&Map<String, Value>>,
    settings: &Settings,
) -> Result<RewriteReport, RewriteError> {
    rewrite_pod_template_keeping_spec(template, at, workload_annotations, settings)
        .map(|(report, _)| report)
}

/// [`rewrite_pod_template`], also giving back the template's `spec` as it was before (`None`
/// when the template was left alone: `rofs.io/skip`).
///
/// A rewrite changes nothing but `spec` and `metadata.annotations` (it creates `metadata` and
/// `annotations` for its status, and removes them again when it had created them and the
/// status goes): with the spec it gives back and the annotations as they were, a caller tells
/// every change apart without a copy of the whole template (the webhook's JSON Patch). The
/// rewrite needs that copy of the spec anyway (fields the API server defaulted are kept).
pub fn rewrite_pod_template_keeping_spec(
    template: &mut Value,
    at: &Location,
    workload_annotations: Option<&Map<String, Value>>,
    settings: &Settings,
) -> Result<(RewriteReport, Option<Value>), RewriteError> {
    let tpl = template
        .as_object_mut()
        .ok_or_else(|| RewriteError::new(at.clone(), ErrorKind::TemplateNotAMap))?;
    let annotations_at = at.key("metadata").key("annotations");
    let own = template_annotations(tpl, at)?;
    let all = match workload_annotations {
        None => Cow::Borrowed(&own),
        Some(workload) => {
            let mut all = workload.clone();
            all.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
            Cow::Owned(all)
        }
    };
    let ann = annotations::parse(&all)
        .map_err(|e| RewriteError::new(annotations_at.clone(), ErrorKind::Annotation(e)))?;
    let mut report = RewriteReport {
        workload: true,
        ..RewriteReport::default()
    };
    if ann.skip {
        return Ok((report, None));
    }
    // Whether the user's template had these maps without rofs's annotation in them.
    let had_annotations = own.keys().any(|k| k != annotations::STATUS);
    let had_metadata = had_annotations
        || tpl.get("metadata").is_some_and(|m| {
            m.as_object()
                .is_none_or(|m| m.keys().any(|k| k != "annotations"))
        });
    let previous: StatusAnnotation = match own.get(annotations::STATUS) {
        None => StatusAnnotation::default(),
        Some(v) => (v.as_str())
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or_else(|| {
                RewriteError::new(annotations_at.clone(), ErrorKind::UnreadableStatus)
            })?,
    };
    let spec_at = at.key("spec");
    let spec = tpl
        .get_mut("spec")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| RewriteError::new(spec_at.clone(), ErrorKind::MissingSpec))?;
    let before = spec.clone();
    previous.verify(spec, &annotations_at)?;
    previous.strip(spec);
    let pod = Pod::read(spec, &spec_at)?;
    report.containers.extend(pod.names().map(String::from));
    report.volumes.extend(pod.volumes.keys().cloned());
    let request = Request {
        settings,
        annotations: &ann.settings,
        previous: &previous,
        default_container: own.get(DEFAULT_CONTAINER).and_then(Value::as_str),
        annotations_at: &annotations_at,
    };
    let plan = plan(&pod, &request, &mut report.warnings)?;
    let status = crate::emit::emit(spec, &plan, &mut report.warnings);
    let names: Vec<&str> = (status.init_containers.iter())
        .chain(&status.containers)
        .map(String::as_str)
        .collect();
    let volumes: Vec<&str> = status.volumes.iter().map(String::as_str).collect();
    crate::api_defaults::keep(&before, spec, &names, &volumes);
    let spec_changed = !same_maps(spec, &before);
    let status_changed = record_status(tpl, &status, &previous, had_metadata, had_annotations);
    let spec = tpl.get("spec").unwrap_or(&Value::Null);
    report
        .warnings
        .extend(crate::warnings::memory_warnings_of(spec, &status));
    report.changed = spec_changed || status_changed;
    Ok((report, Some(Value::Object(before))))
}

/// `a == b` for two maps, faster when their keys are in the same order (a spec and the
/// rewrite of it: the rewrite keeps the keys where they were): keys are compared in step,
/// looked up by hash only where they are not.
fn same_maps(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut in_order = b.iter().peekable();
    a.iter().all(|(key, x)| {
        let y = match in_order.next_if(|(k, _)| *k == key) {
            Some((_, y)) => Some(y),
            None => b.get(key),
        };
        y.is_some_and(|y| same(x, y))
    })
}

/// `a == b`, with maps compared as [`same_maps`] does.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => same_maps(a, b),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        _ => a == b,
    }
}

/// The template's own annotations (`metadata: null` and `annotations: null` are empty).
fn template_annotations(
    tpl: &Map<String, Value>,
    at: &Location,
) -> Result<Map<String, Value>, RewriteError> {
    let not_a_map = |at: Location| Err(RewriteError::new(at, ErrorKind::NotAMap));
    match tpl.get("metadata") {
        None | Some(Value::Null) => return Ok(Map::new()),
        Some(Value::Object(_)) => {}
        Some(_) => return not_a_map(at.key("metadata")),
    }
    match tpl.get("metadata").and_then(|m| m.get("annotations")) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(_) => not_a_map(at.key("metadata").key("annotations")),
    }
}

/// Record what was injected; drop the annotation again when nothing was. Maps that rofs
/// created only for it go too; the user's own (even empty) stay as they were. True when the
/// template changed.
fn record_status(
    tpl: &mut Map<String, Value>,
    status: &StatusAnnotation,
    previous: &StatusAnnotation,
    keep_metadata: bool,
    keep_annotations: bool,
) -> bool {
    if *status != StatusAnnotation::default() {
        let text = Value::String(serde_json::to_string(status).unwrap_or_default());
        let annotations = annotations_mut(tpl);
        if annotations.get(annotations::STATUS) == Some(&text) {
            return false;
        }
        annotations.insert(annotations::STATUS.to_string(), text);
        return true;
    }
    if *previous == StatusAnnotation::default() {
        return false;
    }
    let mut changed = false;
    if let Some(meta) = tpl.get_mut("metadata").and_then(Value::as_object_mut) {
        if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            changed |= a.shift_remove(annotations::STATUS).is_some();
            if a.is_empty() && !keep_annotations {
                meta.shift_remove("annotations");
            }
        }
        if meta.is_empty() && !keep_metadata {
            tpl.shift_remove("metadata");
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `same` is `==`: keys in another order, added, gone, renamed; nested; lists by index.
    #[test]
    fn same_is_equality_whatever_the_order_of_keys() {
        let base = json!({"a": 1, "b": {"x": [1, {"y": "z"}], "w": null}, "c": "s"});
        let cases = [
            (
                json!({"b": {"w": null, "x": [1, {"y": "z"}]}, "c": "s", "a": 1}),
                true,
            ),
            (
                json!({"a": 1, "b": {"x": [1, {"y": "z"}], "w": null}, "c": "s"}),
                true,
            ),
            (
                json!({"a": 1, "b": {"x": [1, {"y": "Z"}], "w": null}, "c": "s"}),
                false,
            ),
            (
                json!({"a": 1, "b": {"x": [{"y": "z"}, 1], "w": null}, "c": "s"}),
                false,
            ),
            (
                json!({"a": 1, "b": {"x": [1, {"y": "z"}], "v": null}, "c": "s"}),
                false,
            ),
            (
                json!({"a": 1, "b": {"x": [1, {"y": "z"}], "w": null}}),
                false,
            ),
            (
                json!({"a": 1, "b": {"x": [1, {"y": "z"}], "w": null}, "c": "s", "d": 0}),
                false,
            ),
            (
                json!({"c": "s", "a": 1, "b": {"x": [1, {"y": "z"}]}}),
                false,
            ),
        ];
        for (other, equal) in cases {
            assert_eq!(base == other, equal, "{other}");
            assert_eq!(same(&base, &other), equal, "{other}");
            assert_eq!(same(&other, &base), equal, "{other}");
        }
    }
}
