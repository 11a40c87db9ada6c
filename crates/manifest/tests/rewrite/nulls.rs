//! Issue 9 item 14: what Helm renders for an empty block (`annotations:` with nothing under
//! it is `null`) must be an empty map, through the whole YAML pipeline: status and checksum
//! written, and the output patched again unchanged.

use rofs_manifest::{Format, Input, yaml};
use serde_json::Value;

const STREAM: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: conf
data:
  a: b
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
spec:
  template:
    metadata:
      labels:
      annotations:
    spec:
      initContainers:
      volumes:
      containers:
      - name: app
        image: app
        securityContext:
        volumeMounts:
        envFrom:
        - configMapRef:
            name: conf
";

#[test]
fn helm_empty_blocks_are_empty_maps() {
    let settings = crate::harness::settings_from_args(&[
        "-w".into(),
        "/var/lib/app".into(),
        "--rollout-on-change".into(),
    ])
    .expect("settings");
    let patch = |text: &str| {
        rofs_manifest::patch(&[Input { name: "t", text }], &settings, Format::Auto)
            .expect("patched")
            .output
    };
    let once = patch(STREAM);
    let docs: Vec<Value> = yaml::split_documents(&once)
        .iter()
        .map(|d| yaml::from_str(d.text).expect("yaml"))
        .collect();
    let annotations = &docs[1]["spec"]["template"]["metadata"]["annotations"];
    assert!(annotations["rofs.io/status"].is_string(), "{once}");
    assert!(annotations["rofs.io/config-checksum"].is_string(), "{once}");
    assert_eq!(patch(&once), once, "patching the output again changed it");
}

#[test]
fn checksum_alone_is_written_under_null_annotations() {
    let settings =
        crate::harness::settings_from_args(&["--rollout-on-change".into()]).expect("settings");
    let out = rofs_manifest::patch(
        &[Input {
            name: "t",
            text: STREAM,
        }],
        &settings,
        Format::Auto,
    )
    .expect("patched")
    .output;
    let docs: Vec<Value> = yaml::split_documents(&out)
        .iter()
        .map(|d| yaml::from_str(d.text).expect("yaml"))
        .collect();
    let annotations = &docs[1]["spec"]["template"]["metadata"]["annotations"];
    assert!(annotations["rofs.io/config-checksum"].is_string(), "{out}");
}
