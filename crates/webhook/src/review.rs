//! The admission review: an `admission.k8s.io/v1` AdmissionReview in, the response out. Pure:
//! no I/O, no clock; the HTTP server in [`crate::server`] is a thin shell around [`review`].
//!
//! The AdmissionReview types are written by hand (the handful of fields rofs reads, unknown
//! fields ignored) rather than taken from `kube`'s `admission` feature: that feature pulls in
//! `k8s-openapi`, which multiplied the release build time of a minimal webhook by ~6 (10 s ->
//! 59 s on this 2-core machine) for six fields. The response is serialized exactly as
//! `kube::core::admission::AdmissionResponse` does (`patchType: JSONPatch`, base64 `patch`).
//!
//! The JSONPatch goes from the pod as it came to the core's rewrite of it ([`crate::patch`]):
//! the pod the API server ends up with is, by construction, the one `rofs patch` prints for
//! the same input. The core is idempotent (`rofs.io/status`), so a second call (reinvocation,
//! or a pod that `rofs patch` already fixed) gives an empty patch.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{Config, OnInvalid};
use crate::patch;

/// The only AdmissionReview version rofs speaks (v1beta1 was removed in Kubernetes 1.22).
pub const API_VERSION: &str = "admission.k8s.io/v1";
pub const KIND: &str = "AdmissionReview";

/// A request that is not an AdmissionReview rofs can answer. The server answers it with HTTP
/// 400 and this message: without a well-formed request (and its `uid`) there is no valid
/// AdmissionReview response to give. The API server never sends these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadReview {
    #[error("the body is not valid JSON: {0}")]
    Json(String),
    #[error(
        "expected apiVersion {API_VERSION:?} and kind {KIND:?}, found {api_version:?} {kind:?}"
    )]
    TypeMeta { api_version: String, kind: String },
    #[error("the AdmissionReview has no `request`")]
    NoRequest,
    #[error("`request.uid` is missing or empty")]
    NoUid,
    #[error("invalid `request`: {0}")]
    Request(String),
}

/// The fields of an AdmissionRequest that rofs reads. Everything else is ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AdmissionRequest {
    pub uid: String,
    pub kind: GroupVersionKind,
    pub sub_resource: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub operation: String,
    /// Set by [`review`] (taken out of the request without a copy).
    #[serde(skip)]
    pub object: Option<Value>,
    pub dry_run: Option<bool>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct GroupVersionKind {
    pub group: String,
    pub version: String,
    pub kind: String,
}

/// The AdmissionReview sent back.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewOut {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub response: AdmissionResponse,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    pub uid: String,
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// base64 of the JSON Patch (RFC 6902).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<&'static str>,
    /// Shown by kubectl as `Warning: ...`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A `metav1.Status`: its `message` is what kubectl prints after
/// `admission webhook "..." denied the request: `.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    pub status: &'static str,
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
}

/// What happened to one review: for metrics and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed unchanged without looking: not a Pod CREATE (or rofs.io/skip, or no change).
    Ignored(&'static str),
    /// A Pod that needed nothing (already patched, or nothing to do).
    Unchanged,
    /// A Pod patched with this many JSON Patch operations.
    Mutated { operations: usize },
    /// Denied: the pod's rofs annotations are invalid.
    Denied { message: String },
    /// Invalid annotations, allowed unchanged with a warning (`--on-invalid allow`).
    InvalidAllowed { message: String },
}

/// The result of [`review`]: the response to send and what it means.
#[derive(Debug, Clone, PartialEq)]
pub struct Reviewed {
    pub response: ReviewOut,
    pub decision: Decision,
    /// `namespace/name` of the pod (`namespace/generateName*` before the name is assigned).
    pub object: String,
    pub operation: String,
    pub dry_run: bool,
}

/// Parse an AdmissionReview from the request body and review it.
///
/// One pass over the body: the fields rofs reads are kept (the pod as a `Value`), the others
/// (`userInfo`, `oldObject`, `options`...) are checked and skipped without being built. Any
/// error there is reported as [`review`] reports it, from the body parsed as a whole.
pub fn review_bytes(body: &[u8], config: &Config) -> Result<Reviewed, BadReview> {
    if let Some(request) = crate::parse::request(body) {
        return Ok(review_request(request, config));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| BadReview::Json(e.to_string()))?;
    review(value, config)
}

/// Review one AdmissionReview (as JSON). Pure: the same input and config give the same output.
pub fn review(admission_review: Value, config: &Config) -> Result<Reviewed, BadReview> {
    // Taken apart by hand rather than with `serde_json::from_value`, which would rebuild the
    // whole pod (a third of the review's time); serde's derived structs would also accept
    // arrays (`["admission.k8s.io/v1", ...]`).
    let Value::Object(mut top) = admission_review else {
        return Err(BadReview::Json(
            "not an AdmissionReview: expected a JSON object".to_string(),
        ));
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
    let (api_version, kind) = (text(top.get("apiVersion")), text(top.get("kind")));
    if api_version != API_VERSION || kind != KIND {
        return Err(BadReview::TypeMeta { api_version, kind });
    }
    let mut request = match top.remove("request") {
        None | Some(Value::Null) => return Err(BadReview::NoRequest),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(BadReview::Request("expected an object".to_string())),
    };
    let object = request.remove("object");
    // What is left is small (oldObject is null on CREATE, and ignored anyway).
    request.remove("oldObject");
    let mut request: AdmissionRequest = serde_json::from_value(Value::Object(request))
        .map_err(|e| BadReview::Request(e.to_string()))?;
    request.object = object.filter(|o| !o.is_null());
    if request.uid.is_empty() {
        return Err(BadReview::NoUid);
    }
    Ok(review_request(request, config))
}

fn allow(uid: String) -> AdmissionResponse {
    AdmissionResponse {
        uid,
        allowed: true,
        status: None,
        patch: None,
        patch_type: None,
        warnings: Vec::new(),
    }
}

fn describe(request: &AdmissionRequest) -> String {
    let meta = request.object.as_ref().and_then(|o| o.get("metadata"));
    let field = |f: &str| meta.and_then(|m| m.get(f)).and_then(Value::as_str);
    let name = match (
        request.name.as_deref().filter(|n| !n.is_empty()),
        field("name"),
    ) {
        (Some(n), _) | (None, Some(n)) => n.to_string(),
        (None, None) => match field("generateName") {
            Some(g) => format!("{g}*"),
            None => "(no name)".to_string(),
        },
    };
    match request
        .namespace
        .as_deref()
        .or_else(|| field("namespace"))
        .filter(|n| !n.is_empty())
    {
        Some(ns) => format!("{ns}/{name}"),
        None => name,
    }
}

/// Review a parsed request.
pub fn review_request(request: AdmissionRequest, config: &Config) -> Reviewed {
    let object = describe(&request);
    let operation = request.operation.clone();
    let dry_run = request.dry_run.unwrap_or(false);
    let (response, decision) = respond(request, config);
    Reviewed {
        response: ReviewOut {
            api_version: API_VERSION,
            kind: KIND,
            response,
        },
        decision,
        object,
        operation,
        dry_run,
    }
}

fn respond(request: AdmissionRequest, config: &Config) -> (AdmissionResponse, Decision) {
    let AdmissionRequest {
        uid,
        kind,
        sub_resource,
        operation,
        object,
        ..
    } = request;
    // Only Pod CREATE: a pod's containers, initContainers and volumes cannot change after
    // creation, so an UPDATE patch could only be rejected; subresources (binding, status,
    // ephemeralcontainers...) are not the pod rofs rewrites.
    if !(kind.group.is_empty() && kind.version == "v1" && kind.kind == "Pod") {
        return (allow(uid), Decision::Ignored("not a Pod"));
    }
    if sub_resource.as_deref().is_some_and(|s| !s.is_empty()) {
        return (allow(uid), Decision::Ignored("a subresource"));
    }
    if operation != "CREATE" {
        return (allow(uid), Decision::Ignored("not a CREATE"));
    }
    let Some(before) = object.filter(Value::is_object) else {
        return (allow(uid), Decision::Ignored("no object"));
    };
    let settings = config.settings_for(&before);
    // No copy of the pod: the core rewrites it in place and gives back its spec as it was;
    // the only other part it changes is the annotations, noted here.
    let metadata = patch::MetadataBefore::of(&before);
    let mut after = before;
    let at = rofs_core::Location::root();
    match rofs_core::rewrite_pod_template_keeping_spec(&mut after, &at, None, &settings) {
        Ok((outcome, spec_before)) => {
            let mut response = allow(uid);
            response.warnings = outcome
                .warnings
                .into_iter()
                .map(|w| format!("rofs: {w}"))
                .collect();
            let Some(spec_before) = spec_before else {
                return (response, Decision::Unchanged); // rofs.io/skip: left alone
            };
            let (patch, operations) = patch::diff(&metadata, &spec_before, &after);
            if operations == 0 {
                return (response, Decision::Unchanged);
            }
            response.patch = Some(base64::engine::general_purpose::STANDARD.encode(patch));
            response.patch_type = Some("JSONPatch");
            (response, Decision::Mutated { operations })
        }
        Err(error) => {
            let message = format!("rofs: {error}");
            match config.on_invalid {
                OnInvalid::Deny => {
                    let mut response = allow(uid);
                    response.allowed = false;
                    response.status = Some(Status {
                        status: "Failure",
                        code: 400,
                        reason: "BadRequest",
                        message: message.clone(),
                    });
                    (response, Decision::Denied { message })
                }
                OnInvalid::Allow => {
                    let mut response = allow(uid);
                    response.warnings = vec![format!("{message} (the pod was admitted unchanged)")];
                    (response, Decision::InvalidAllowed { message })
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(kind: &str, operation: &str, object: Value) -> Value {
        json!({
            "apiVersion": API_VERSION, "kind": KIND,
            "request": {
                "uid": "u-1",
                "kind": {"group": "", "version": "v1", "kind": kind},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "namespace": "ns", "operation": operation, "object": object,
            }
        })
    }

    fn pod(annotations: Value) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"generateName": "web-", "annotations": annotations},
            "spec": {"containers": [{"name": "app", "image": "nginx"}]}
        })
    }

    #[test]
    fn mutates_a_pod_create_and_names_it() {
        let r = review(req("Pod", "CREATE", pod(json!({}))), &Config::default()).expect("ok");
        assert!(matches!(r.decision, Decision::Mutated { .. }), "{r:?}");
        assert_eq!(r.object, "ns/web-*");
        assert_eq!(r.response.response.patch_type, Some("JSONPatch"));
        assert_eq!(r.response.response.uid, "u-1");
    }

    #[test]
    fn ignores_updates_and_other_kinds() {
        let r = review(req("Pod", "UPDATE", pod(json!({}))), &Config::default()).expect("ok");
        assert_eq!(r.decision, Decision::Ignored("not a CREATE"));
        let r = review(req("Service", "CREATE", json!({})), &Config::default()).expect("ok");
        assert_eq!(r.decision, Decision::Ignored("not a Pod"));
        assert!(r.response.response.allowed && r.response.response.patch.is_none());
    }

    #[test]
    fn invalid_annotations_deny_or_warn() {
        let bad = pod(json!({"rofs.io/writeable": "/x"}));
        let r = review(req("Pod", "CREATE", bad.clone()), &Config::default()).expect("ok");
        let Decision::Denied { message } = &r.decision else {
            panic!("{r:?}")
        };
        assert!(message.contains("rofs.io/writeable"), "{message}");
        assert!(!r.response.response.allowed);
        let config = Config {
            on_invalid: OnInvalid::Allow,
            ..Config::default()
        };
        let r = review(req("Pod", "CREATE", bad), &config).expect("ok");
        assert!(matches!(r.decision, Decision::InvalidAllowed { .. }));
        assert!(r.response.response.allowed && r.response.response.patch.is_none());
        assert_eq!(r.response.response.warnings.len(), 1);
    }

    #[test]
    fn bad_reviews() {
        let c = Config::default();
        assert!(matches!(review_bytes(b"{", &c), Err(BadReview::Json(_))));
        assert!(matches!(
            review(
                json!({"apiVersion": "admission.k8s.io/v1beta1", "kind": KIND}),
                &c
            ),
            Err(BadReview::TypeMeta { .. })
        ));
        assert_eq!(
            review(json!({"apiVersion": API_VERSION, "kind": KIND}), &c),
            Err(BadReview::NoRequest)
        );
        assert_eq!(
            review(
                json!({"apiVersion": API_VERSION, "kind": KIND, "request": {"uid": ""}}),
                &c
            ),
            Err(BadReview::NoUid)
        );
        assert!(matches!(
            review(
                json!({"apiVersion": API_VERSION, "kind": KIND, "request": {"uid": 5}}),
                &c
            ),
            Err(BadReview::Request(_))
        ));
    }
}
