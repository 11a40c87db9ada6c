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

/// Rewrite `pod`, expecting an error; its text.
fn refused(mut pod: serde_json::Value) -> String {
    rewrite_pod_template(&mut pod, &Location::root(), None, &Settings::default())
        .expect_err("must be refused")
        .to_string()
}

/// Rewrite `pod`, expecting success; the rewritten pod.
fn accepted(mut pod: serde_json::Value) -> serde_json::Value {
    rewrite_pod_template(&mut pod, &Location::root(), None, &Settings::default())
        .expect("must be accepted");
    pod
}

/// A pod with `annotations`, `inits` initContainers i0.. and `apps` containers c0...
fn pod_with(annotations: serde_json::Value, inits: usize, apps: usize) -> serde_json::Value {
    let init: Vec<_> = (0..inits)
        .map(|i| json!({"name": format!("i{i}"), "image": "x"}))
        .collect();
    let app: Vec<_> = (0..apps)
        .map(|i| json!({"name": format!("c{i}"), "image": "nginx:1"}))
        .collect();
    json!({
        "metadata": {"annotations": annotations},
        "spec": {"initContainers": init, "containers": app}
    })
}

fn count_mounts(pod: &serde_json::Value) -> usize {
    ["initContainers", "containers"]
        .iter()
        .flat_map(|l| pod["spec"][l].as_array().into_iter().flatten())
        .map(|c| c["volumeMounts"].as_array().map_or(0, Vec::len))
        .sum()
}

#[test]
fn pod_wide_paths_times_many_init_containers_are_refused_before_they_are_mounted() {
    // 256 paths (the limit) mounted into 4000 initContainers: a million mounts.
    let paths: Vec<String> = (0..256).map(|i| format!("/w{i}:empty")).collect();
    let text = refused(pod_with(
        json!({"rofs.io/writable": paths.join(",")}),
        4000,
        1,
    ));
    assert!(text.contains("1024256 volumeMounts"), "{text}");
    assert!(text.contains("more than 4096"), "{text}");
    assert!(
        text.contains("256 writable paths of container \"c0\""),
        "{text}"
    );
    assert!(text.contains("4000 initContainers"), "{text}");
    assert!(text.contains("rofs.io/writable"), "{text}");
}

#[test]
fn the_mount_budget_is_accepted_exactly() {
    // 16 empty paths: 16 mounts in the app, 16 in each of 255 initContainers = 4096.
    let paths: Vec<String> = (0..16).map(|i| format!("/w{i}:empty")).collect();
    let ann = json!({"rofs.io/writable": paths.join(",")});
    let pod = accepted(pod_with(ann.clone(), 255, 1));
    assert_eq!(count_mounts(&pod), 4096);
    let text = refused(pod_with(ann, 256, 1));
    assert!(text.contains("4112 volumeMounts"), "{text}");

    // Seeded paths: the seed container's and rofs-install's mounts count too. 2 seeded
    // tmpfs paths: app 2 + seed 3 (the agent, each path) + install 1 = 6, + 2 per init.
    let ann = json!({"rofs.io/writable": "/a:memory,/b:memory"});
    let pod = accepted(pod_with(ann.clone(), 2045, 1));
    assert_eq!(count_mounts(&pod), 4096);
    let text = refused(pod_with(ann, 2046, 1));
    assert!(text.contains("4098 volumeMounts"), "{text}");
    // On disk, the seed container also mounts the durable state: one more.
    let ann = json!({"rofs.io/writable": "/a,/b"});
    let pod = accepted(pod_with(ann.clone(), 2044, 1));
    assert_eq!(count_mounts(&pod), 4095);
    let text = refused(pod_with(ann, 2045, 1));
    assert!(text.contains("4097 volumeMounts"), "{text}");

    // A writable copy: the two sync containers mount the agent, the source and the copy
    // (6), rofs-install the agent (1), the app its path (1): 8, + 1 per init. The app's own
    // mount of the configMap is renamed, not added.
    let copy_pod = |inits| {
        let mut pod = pod_with(
            json!({"rofs.io/writable": "/w:empty", "rofs.io/writable-volumes": "cfg"}),
            inits,
            1,
        );
        pod["spec"]["volumes"] = json!([{"name": "cfg", "configMap": {"name": "cfg"}}]);
        pod["spec"]["containers"][0]["volumeMounts"] =
            json!([{"name": "cfg", "mountPath": "/etc/cfg"}]);
        pod
    };
    let pod = accepted(copy_pod(4088));
    assert_eq!(count_mounts(&pod), 4096 + 1);
    let text = refused(copy_pod(4089));
    assert!(text.contains("4097 volumeMounts"), "{text}");
}

#[test]
fn a_path_longer_than_path_max_is_refused_and_one_at_it_accepted() {
    // Reproducer: two paths of ~640 KB each, one inside the other, in 10 containers.
    let a = format!("/x{}", "/a".repeat(320_000));
    let q = format!("{a}{}", "/a".repeat(320_000));
    let text = refused(pod_with(
        json!({"rofs.io/writable": format!("{a},{q}")}),
        0,
        10,
    ));
    assert!(text.contains("rofs.io/writable"), "{text}");
    assert!(text.contains("640002 bytes long"), "{text}");
    assert!(text.contains("at most 4096 bytes"), "{text}");
    assert!(
        text.len() < 1000,
        "the error does not repeat the value: {text}"
    );

    // 4096 bytes exactly, nested in a shorter one: accepted, folded into it.
    let long = format!("/x{}", "/a".repeat(2047));
    assert_eq!(long.len(), 4096);
    let short = format!("/x{}", "/a".repeat(1000));
    let pod = accepted(pod_with(
        json!({"rofs.io/writable": format!("{long}:empty,{short}:empty")}),
        0,
        1,
    ));
    let mounts = pod["spec"]["containers"][0]["volumeMounts"]
        .as_array()
        .expect("mounts");
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0]["mountPath"], short.as_str());
    let text = refused(pod_with(
        json!({"rofs.io/writable": format!("{long}a")}),
        0,
        1,
    ));
    assert!(text.contains("4097 bytes long"), "{text}");
}

#[test]
fn a_component_longer_than_name_max_is_refused_and_one_at_it_accepted() {
    let name = "n".repeat(255);
    let pod = accepted(pod_with(
        json!({"rofs.io/writable": format!("/data/{name}:empty")}),
        0,
        1,
    ));
    assert_eq!(
        pod["spec"]["containers"][0]["volumeMounts"][0]["mountPath"],
        format!("/data/{name}").as_str()
    );
    let text = refused(pod_with(
        json!({"rofs.io/writable": format!("/data/{name}n")}),
        0,
        1,
    ));
    assert!(text.contains("rofs.io/writable"), "{text}");
    assert!(text.contains("256-byte component"), "{text}");
    assert!(text.contains("at most 255 bytes"), "{text}");
}

#[test]
fn a_profile_named_many_times_is_refused_and_a_few_times_counted_once() {
    // Reproducer: "nginx," 450,000 times, in 80 containers.
    let text = refused(pod_with(
        json!({"rofs.io/profile": "nginx,".repeat(450_000)}),
        0,
        80,
    ));
    assert!(text.contains("rofs.io/profile"), "{text}");
    assert!(text.contains("450000 profile names"), "{text}");
    assert!(text.contains("at most 64"), "{text}");

    // 64 names: accepted, each profile's paths once.
    let pod = accepted(pod_with(
        json!({"rofs.io/profile": "nginx,tmp,".repeat(32)}),
        0,
        1,
    ));
    let mounts = pod["spec"]["containers"][0]["volumeMounts"]
        .as_array()
        .expect("mounts");
    assert_eq!(mounts.len(), 4, "{mounts:?}");
    let text = refused(pod_with(
        json!({"profile.rofs.io/c0": "nginx,".repeat(65)}),
        0,
        1,
    ));
    assert!(text.contains("profile.rofs.io/c0"), "{text}");
    assert!(text.contains("65 profile names"), "{text}");

    // The same in settings (flags, config file, webhook defaults).
    let s = Settings {
        profiles: vec!["nginx".parse().expect("known"); 65],
        ..Settings::default()
    };
    let e = s.validate().expect_err("65 profile names");
    assert!(e.to_string().contains("at most 64"), "{e}");
}

#[test]
fn nested_paths_count_toward_the_limit_before_they_are_folded() {
    // 256 paths, 255 of them inside /d: accepted (one mount); 257: refused.
    let mut paths = vec!["/d".to_string()];
    paths.extend((0..255).map(|i| format!("/d/{i}")));
    let pod = accepted(pod_with(json!({"rofs.io/writable": paths.join(",")}), 0, 1));
    let mounts = pod["spec"]["containers"][0]["volumeMounts"]
        .as_array()
        .expect("mounts");
    assert_eq!(mounts.len(), 1);
    // Paths from a profile count too: nginx's 3 on top of 254.
    let text = refused(pod_with(
        json!({"rofs.io/writable": paths[..254].join(","), "rofs.io/profile": "nginx"}),
        0,
        1,
    ));
    assert!(text.contains("more than 256 writable paths"), "{text}");
}
