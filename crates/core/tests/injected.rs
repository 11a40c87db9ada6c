//! Issue 9 items 13 and 7: what the injected containers get: no SYS_ADMIN in any spelling;
//! seed markers kept on a disk volume next to disk-backed data, so they survive a node reboot.

use rofs_core::{Location, Settings, rewrite_pod_template};
use serde_json::{Value, json};

fn settings(paths: &[&str]) -> Settings {
    Settings {
        writable: paths
            .iter()
            .map(|p| p.parse().expect("valid path"))
            .collect(),
        ..Settings::default()
    }
}

#[test]
fn sys_admin_is_dropped_from_injected_containers_in_any_case() {
    let mut pod = json!({
        "spec": {"containers": [{"name": "app", "image": "app", "securityContext": {
            "capabilities": {"add": ["sys_admin", "Cap_Sys_Admin", "SYS_ADMIN", "CAP_SYS_ADMIN", "NET_BIND_SERVICE"]}
        }}]}
    });
    rewrite_pod_template(
        &mut pod,
        &Location::root(),
        None,
        &settings(&["/var/lib/app"]),
    )
    .expect("rewrite");
    for c in pod["spec"]["initContainers"].as_array().expect("injected") {
        assert_eq!(
            c.pointer("/securityContext/capabilities/add"),
            Some(&json!(["NET_BIND_SERVICE"])),
            "{c:#}"
        );
    }
}

fn init_container<'a>(pod: &'a Value, name: &str) -> &'a Value {
    pod["spec"]["initContainers"]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no {name} in {pod:#}"))
}

fn has_mount(c: &Value, name: &str, path: &str) -> bool {
    c["volumeMounts"]
        .as_array()
        .is_some_and(|m| m.contains(&json!({"name": name, "mountPath": path})))
}

#[test]
fn disk_seeded_paths_keep_their_markers_on_a_disk_volume() {
    let mut pod = json!({"spec": {"containers": [
        {"name": "app", "image": "app"},
        {"name": "cache", "image": "cache"}
    ]}});
    let mut s = settings(&[]);
    s.per_container.entry("app".into()).or_default().writable = vec![
        "/var/lib/app".parse().expect("valid"),
        "/run:memory:1Mi".parse().expect("valid"),
    ];
    s.per_container.entry("cache".into()).or_default().writable =
        vec!["/cache:memory:8Mi".parse().expect("valid")];
    rewrite_pod_template(&mut pod, &Location::root(), None, &s).expect("rewrite");
    let volumes = pod["spec"]["volumes"].as_array().expect("volumes");
    let state = volumes
        .iter()
        .find(|v| v["name"] == "rofs-state")
        .unwrap_or_else(|| panic!("no rofs-state volume: {pod:#}"));
    assert_eq!(state["emptyDir"], json!({"sizeLimit": "1Mi"}));
    let app = init_container(&pod, "rofs-seed-app");
    let command: Vec<&str> = app["command"]
        .as_array()
        .expect("command")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let at = command
        .iter()
        .position(|a| *a == "--durable-state-dir")
        .unwrap_or_else(|| panic!("no --durable-state-dir in {command:?}"));
    assert_eq!(command[at + 1], "/.rofs/durable");
    assert!(has_mount(app, "rofs-state", "/.rofs/durable"), "{app:#}");
    // Only memory paths: markers stay in the memory volume, as before.
    let cache = init_container(&pod, "rofs-seed-cache");
    assert!(
        !cache["command"].to_string().contains("durable"),
        "{cache:#}"
    );
    assert!(
        !has_mount(cache, "rofs-state", "/.rofs/durable"),
        "{cache:#}"
    );
    let status = pod
        .pointer("/metadata/annotations/rofs.io~1status")
        .and_then(Value::as_str)
        .expect("status");
    assert!(status.contains("\"rofs-state\""), "{status}");

    // No disk-backed seeded path at all: no state volume.
    let mut pod = json!({"spec": {"containers": [{"name": "app", "image": "app"}]}});
    rewrite_pod_template(
        &mut pod,
        &Location::root(),
        None,
        &settings(&["/run:memory", "/tmp:empty"]),
    )
    .expect("rewrite");
    assert!(!pod.to_string().contains("rofs-state"), "{pod:#}");
}

#[test]
fn shell_seeder_keeps_a_marker_per_path_with_its_data() {
    let mut pod = json!({"spec": {"containers": [{"name": "app", "image": "app"}]}});
    let mut s = settings(&["/var/lib/app", "/run:memory:1Mi"]);
    s.seeder = Some("shell".parse().expect("valid"));
    rewrite_pod_template(&mut pod, &Location::root(), None, &s).expect("rewrite");
    let seed = init_container(&pod, "rofs-seed-app");
    let script = seed["command"][2].as_str().expect("script");
    assert!(
        script.contains("/.rofs/durable/rofs-app-var-lib-app.done"),
        "{script}"
    );
    assert!(
        script.contains("/.rofs/state/rofs-app-run.done"),
        "{script}"
    );
    assert!(has_mount(seed, "rofs-state", "/.rofs/durable"), "{seed:#}");
}
