//! The Pod Security "restricted" standard, as a small checker, and the rule that a pod
//! meeting it still meets it after the rewrite (every container, injected ones included).
//!
//! Rules transcribed from https://kubernetes.io/docs/concepts/security/pod-security-standards/
//! (policy version "latest", Kubernetes 1.29 to 1.33 unchanged): the Baseline controls
//! (host namespaces, privileged, capabilities, hostPath, host ports, AppArmor, SELinux,
//! /proc mount type, seccomp not Unconfined, sysctls) plus the Restricted ones (volume
//! types, privilege escalation, running as non-root, non-root user, seccomp, capabilities).
//! Windows-only and ephemeral-container details are left out: rofs never adds either.

use serde_json::{Value, json};

use crate::harness::{self, describe, documents, flatten, pod_template};

const CONTAINER_LISTS: [&str; 3] = ["initContainers", "containers", "ephemeralContainers"];
const ALLOWED_VOLUMES: [&str; 8] = [
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];
const SAFE_SYSCTLS: [&str; 9] = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
];
const SELINUX_TYPES: [&str; 4] = [
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

fn truthy(v: Option<&Value>) -> bool {
    v == Some(&Value::Bool(true))
}

/// Every way the pod template `tpl` breaks the restricted standard (empty: it complies).
pub fn restricted_violations(tpl: &Value) -> Vec<String> {
    let mut v = Vec::new();
    let spec = &tpl["spec"];
    let pod_sc = spec.get("securityContext").cloned().unwrap_or(json!({}));

    // Baseline: host namespaces.
    for k in ["hostNetwork", "hostPID", "hostIPC"] {
        if truthy(spec.get(k)) {
            v.push(format!("spec.{k} is true"));
        }
    }
    // Volume types (restricted; also rules out hostPath, the baseline rule).
    for vol in spec["volumes"].as_array().into_iter().flatten() {
        let kinds: Vec<&String> = vol
            .as_object()
            .into_iter()
            .flat_map(|o| o.keys())
            .filter(|k| *k != "name")
            .collect();
        for k in kinds {
            if !ALLOWED_VOLUMES.contains(&k.as_str()) {
                v.push(format!("volume {}: type {k} is not allowed", vol["name"]));
            }
        }
    }
    // Pod-level: sysctls, SELinux, AppArmor, seccomp, runAsUser.
    for s in pod_sc["sysctls"].as_array().into_iter().flatten() {
        let n = s["name"].as_str().unwrap_or_default();
        if !SAFE_SYSCTLS.contains(&n) {
            v.push(format!("sysctl {n} is not in the safe set"));
        }
    }
    check_common(&pod_sc, "spec.securityContext", &mut v);
    let pod_seccomp_ok = seccomp_ok(&pod_sc);
    let pod_non_root = truthy(pod_sc.get("runAsNonRoot"));
    for (k, val) in tpl["metadata"]["annotations"]
        .as_object()
        .into_iter()
        .flatten()
    {
        if k.starts_with("container.apparmor.security.beta.kubernetes.io/") {
            let val = val.as_str().unwrap_or_default();
            if val != "runtime/default" && !val.starts_with("localhost/") {
                v.push(format!("annotation {k}: {val}"));
            }
        }
    }

    for list in CONTAINER_LISTS {
        for c in spec[list].as_array().into_iter().flatten() {
            let at = format!("{list}[{}]", c["name"].as_str().unwrap_or("?"));
            let sc = c.get("securityContext").cloned().unwrap_or(json!({}));
            if truthy(sc.get("privileged")) {
                v.push(format!("{at}: privileged"));
            }
            if sc.get("allowPrivilegeEscalation") != Some(&Value::Bool(false)) {
                v.push(format!("{at}: allowPrivilegeEscalation is not false"));
            }
            match sc.get("runAsNonRoot") {
                Some(Value::Bool(false)) => v.push(format!("{at}: runAsNonRoot is false")),
                Some(Value::Bool(true)) => {}
                _ if pod_non_root => {}
                _ => v.push(format!("{at}: runAsNonRoot is not true (pod or container)")),
            }
            if sc.get("seccompProfile").is_some() {
                if !seccomp_ok(&sc) {
                    v.push(format!(
                        "{at}: seccompProfile is not RuntimeDefault/Localhost"
                    ));
                }
            } else if !pod_seccomp_ok {
                v.push(format!("{at}: no seccompProfile (pod or container)"));
            }
            let caps = &sc["capabilities"];
            let drops_all = caps["drop"]
                .as_array()
                .is_some_and(|d| d.iter().any(|x| x == "ALL"));
            if !drops_all {
                v.push(format!("{at}: capabilities.drop does not contain ALL"));
            }
            for add in caps["add"].as_array().into_iter().flatten() {
                if add != "NET_BIND_SERVICE" {
                    v.push(format!("{at}: adds capability {add}"));
                }
            }
            for port in c["ports"].as_array().into_iter().flatten() {
                if port.get("hostPort").and_then(Value::as_u64).unwrap_or(0) != 0 {
                    v.push(format!("{at}: hostPort {}", port["hostPort"]));
                }
            }
            if sc.get("procMount").is_some_and(|p| p != "Default") {
                v.push(format!("{at}: procMount {}", sc["procMount"]));
            }
            check_common(&sc, &at, &mut v);
        }
    }
    v
}

fn seccomp_ok(sc: &Value) -> bool {
    matches!(
        sc.pointer("/seccompProfile/type").and_then(Value::as_str),
        Some("RuntimeDefault" | "Localhost")
    )
}

/// Rules that apply alike to the pod's and to each container's securityContext.
fn check_common(sc: &Value, at: &str, v: &mut Vec<String>) {
    if sc.get("runAsUser").and_then(Value::as_i64) == Some(0) {
        v.push(format!("{at}: runAsUser is 0"));
    }
    if sc.pointer("/seccompProfile/type").and_then(Value::as_str) == Some("Unconfined") {
        v.push(format!("{at}: seccompProfile Unconfined"));
    }
    if truthy(sc.pointer("/windowsOptions/hostProcess")) {
        v.push(format!("{at}: windowsOptions.hostProcess"));
    }
    if let Some(t) = sc.pointer("/appArmorProfile/type").and_then(Value::as_str)
        && t != "RuntimeDefault"
        && t != "Localhost"
    {
        v.push(format!("{at}: appArmorProfile {t}"));
    }
    if let Some(se) = sc.get("seLinuxOptions") {
        if let Some(t) = se.get("type").and_then(Value::as_str)
            && !t.is_empty()
            && !SELINUX_TYPES.contains(&t)
        {
            v.push(format!("{at}: seLinuxOptions.type {t}"));
        }
        for k in ["user", "role"] {
            if se
                .get(k)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
            {
                v.push(format!("{at}: seLinuxOptions.{k} is set"));
            }
        }
    }
}

/// The PRODUCT.md rule, on every fixture: a pod template that met the restricted standard
/// before the rewrite still meets it after.
#[test]
fn restricted_pods_stay_restricted() {
    let mut checked = 0;
    for f in harness::all() {
        let before = flatten(documents(&f.input));
        let after = flatten(documents(&f.patch(&f.input).output));
        assert_eq!(before.len(), after.len(), "{}", f.name);
        for (b, a) in before.iter().zip(&after) {
            let (Some(tb), Some(ta)) = (pod_template(b), pod_template(a)) else {
                continue;
            };
            if restricted_violations(tb).is_empty() {
                checked += 1;
                let v = restricted_violations(ta);
                assert!(
                    v.is_empty(),
                    "{}: {}: restricted before the rewrite, not after:\n{}",
                    f.name,
                    describe(a),
                    v.join("\n")
                );
            }
        }
    }
    assert!(checked >= 1, "no fixture meets the restricted standard");
}

/// The restricted fixture: compliant before, patched with seeding (so rofs-install and a
/// seed initContainer are injected), compliant after.
#[test]
fn restricted_fixture_injects_containers_and_complies() {
    let f = harness::Fixture::load(&harness::fixtures_dir().join("restricted.yaml"));
    let before = documents(&f.input);
    let tb = pod_template(&before[0]).expect("a workload");
    assert_eq!(restricted_violations(tb), Vec::<String>::new());
    let after = documents(&f.patch(&f.input).output);
    let ta = pod_template(&after[0]).expect("a workload");
    let names: Vec<&str> = ta["spec"]["initContainers"]
        .as_array()
        .expect("initContainers")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(names.contains(&"rofs-install"), "{names:?}");
    assert!(
        names.iter().any(|n| n.starts_with("rofs-seed-")),
        "{names:?}"
    );
    assert_eq!(restricted_violations(ta), Vec::<String>::new());
}

/// A test of the test: the checker catches each rule broken on its own.
#[test]
fn checker_rejects_known_bad_pods() {
    let good = json!({
        "metadata": {},
        "spec": {
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "app", "image": "x",
                "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}
            }],
            "volumes": [{"name": "v", "emptyDir": {}}]
        }
    });
    assert_eq!(restricted_violations(&good), Vec::<String>::new());
    let c = "/spec/containers/0";
    let cases: &[(&str, Value, &str)] = &[
        ("/spec/hostNetwork", json!(true), "hostNetwork"),
        ("/spec/hostPID", json!(true), "hostPID"),
        (
            "/spec/volumes/0",
            json!({"name": "h", "hostPath": {"path": "/"}}),
            "hostPath",
        ),
        (
            "/spec/securityContext/runAsNonRoot",
            json!(false),
            "runAsNonRoot",
        ),
        (
            "/spec/securityContext/runAsUser",
            json!(0),
            "runAsUser is 0",
        ),
        (
            "/spec/securityContext/seccompProfile",
            json!({"type": "Unconfined"}),
            "seccomp",
        ),
        (
            "/spec/securityContext/sysctls",
            json!([{"name": "kernel.msgmax", "value": "1"}]),
            "sysctl",
        ),
        (
            &format!("{c}/securityContext/privileged"),
            json!(true),
            "privileged",
        ),
        (
            &format!("{c}/securityContext/allowPrivilegeEscalation"),
            json!(true),
            "allowPrivilegeEscalation",
        ),
        (
            &format!("{c}/securityContext/capabilities"),
            json!({"drop": ["NET_RAW"]}),
            "drop",
        ),
        (
            &format!("{c}/securityContext/capabilities/add"),
            json!(["SYS_ADMIN"]),
            "SYS_ADMIN",
        ),
        (
            &format!("{c}/securityContext/runAsNonRoot"),
            json!(false),
            "runAsNonRoot is false",
        ),
        (
            &format!("{c}/securityContext/seccompProfile"),
            json!({"type": "Unconfined"}),
            "seccomp",
        ),
        (
            &format!("{c}/securityContext/procMount"),
            json!("Unmasked"),
            "procMount",
        ),
        (
            &format!("{c}/securityContext/seLinuxOptions"),
            json!({"type": "spc_t"}),
            "seLinux",
        ),
        (
            &format!("{c}/ports"),
            json!([{"containerPort": 80, "hostPort": 80}]),
            "hostPort",
        ),
    ];
    for (pointer, value, expect) in cases {
        let mut bad = good.clone();
        set(&mut bad, pointer, value.clone());
        let v = restricted_violations(&bad);
        assert!(
            v.iter().any(|m| m.contains(expect)),
            "{pointer} = {value}: expected a violation mentioning {expect:?}, got {v:?}"
        );
    }
    // An injected-looking container without the rules is caught as any other.
    let mut bad = good.clone();
    set(
        &mut bad,
        "/spec/initContainers",
        json!([{"name": "rofs-seed-app", "image": "x", "securityContext": {"readOnlyRootFilesystem": true}}]),
    );
    let v = restricted_violations(&bad);
    assert!(
        v.iter()
            .any(|m| m.contains("initContainers[rofs-seed-app]")),
        "{v:?}"
    );
}

/// Set `pointer` in `v`, creating objects on the way (arrays must exist up to their index).
fn set(v: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
    if v.pointer(parent).is_none() {
        set(v, parent, json!({}));
    }
    match v.pointer_mut(parent).expect("parent exists") {
        Value::Object(o) => {
            o.insert(key.to_string(), value);
        }
        Value::Array(a) => {
            let i: usize = key.parse().expect("an index");
            a[i] = value;
        }
        other => panic!("cannot set {key} in {other}"),
    }
}
