//! The review handler on arbitrary bytes: never panics; a patch always applies to the request's
//! object, gives exactly the core's rewrite, and the patched pod reviewed again gets no patch.
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use rofs_webhook::{Config, review_bytes};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let config = Config::default();
    let Ok(reviewed) = review_bytes(data, &config) else {
        return;
    };
    let Some(b64) = &reviewed.response.response.patch else {
        return;
    };
    let request: Value = serde_json::from_slice(data).expect("accepted, so JSON");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    let patch: json_patch::Patch = serde_json::from_slice(&bytes).expect("patch");
    let object = request["request"]["object"].clone();
    let mut patched = object.clone();
    json_patch::patch(&mut patched, &patch).expect("applies");
    let mut expected = object;
    rofs_core::rewrite_pod_template(&mut expected, "", None, &config.defaults).expect("core");
    assert_eq!(patched, expected);
    let mut again = request;
    again["request"]["object"] = patched;
    let second = review_bytes(again.to_string().as_bytes(), &config).expect("review");
    assert!(second.response.response.patch.is_none(), "not idempotent");
});
