//! Issue 9 item 2: settings too large to resolve cheaply are refused with the documented
//! limit, naming where they came from.

use rofs_core::{Location, Settings, rewrite_pod_template};
use serde_json::json;

#[test]
fn twenty_thousand_paths_are_refused_with_the_limit() {
    let paths: Vec<String> = (0..20_000).map(|i| format!("/d{i}")).collect();
    let mut pod = json!({
        "metadata": {"annotations": {"rofs.io/writable": paths.join(",")}},
        "spec": {"containers": [{"name": "app", "image": "app"}]}
    });
    let error = rewrite_pod_template(&mut pod, &Location::root(), None, &Settings::default())
        .expect_err("20,000 paths must be refused");
    let text = error.to_string();
    assert!(text.contains("rofs.io/writable"), "{text}");
    assert!(text.contains("256"), "{text}");

    // The same through settings (flags, config file, webhook defaults).
    let s = Settings {
        writable: paths.iter().map(|p| p.parse().expect("valid")).collect(),
        ..Settings::default()
    };
    let error = s.validate().expect_err("too many paths in settings");
    assert!(error.to_string().contains("256"), "{error}");
}

#[test]
fn too_many_writable_volumes_are_refused() {
    let names: Vec<String> = (0..65).map(|i| format!("v{i}")).collect();
    let mut pod = json!({
        "metadata": {"annotations": {"rofs.io/writable-volumes": names.join(",")}},
        "spec": {"containers": [{"name": "app", "image": "app"}]}
    });
    let error = rewrite_pod_template(&mut pod, &Location::root(), None, &Settings::default())
        .expect_err("65 writable volumes must be refused");
    let text = error.to_string();
    assert!(text.contains("rofs.io/writable-volumes"), "{text}");
    assert!(text.contains("64"), "{text}");
    let s = Settings {
        writable_volumes: names,
        ..Settings::default()
    };
    assert!(
        s.validate()
            .expect_err("too many")
            .to_string()
            .contains("64")
    );
}
