//! Snapshot tests over `tests/fixtures/`: the patched stream and its warnings, reviewed by
//! hand (each `.snap` is the expected result), plus checks that hold for every fixture:
//! idempotence, untouched documents byte for byte, and the target design of PRODUCT.md.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use rofs_core::{StatusAnnotation, annotations};
use serde_json::Value;

use crate::harness::{self, Fixture, describe, documents, flatten, pod_template};

/// What a snapshot shows: the flags, the warnings, then the output stream.
fn render(f: &Fixture, patched: &rofs_manifest::Patched) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "args: {}",
        if f.args.is_empty() {
            "(none)".to_string()
        } else {
            f.args.join(" ")
        }
    );
    let _ = writeln!(s, "summary: {}", rofs_manifest::summary(patched));
    if patched.warnings.is_empty() {
        s.push_str("warnings: none\n");
    } else {
        s.push_str("warnings:\n");
        for w in &patched.warnings {
            let _ = writeln!(s, "- {w}");
        }
    }
    s.push_str("===== output =====\n");
    s.push_str(&patched.output);
    s
}

#[test]
fn fixtures() {
    insta::glob!("../fixtures", "*.{yaml,json}", |path| {
        let f = Fixture::load(path);
        let patched = f.patch(&f.input);
        insta::assert_snapshot!(render(&f, &patched));
    });
}

#[test]
fn every_fixture_is_idempotent() {
    for f in harness::all() {
        let once = f.patch(&f.input);
        let twice = f.patch(&once.output);
        assert!(
            once.output == twice.output,
            "{}: patching the output again changed it:\n--- once\n{}\n--- twice\n{}",
            f.name,
            once.output,
            twice.output
        );
        assert_eq!(twice.changed, 0, "{}: second run reports changes", f.name);
    }
}

/// Documents that hold no pod template (and skipped or unchanged workloads) are copied byte
/// for byte, comments and all.
#[test]
fn untouched_documents_pass_through_byte_for_byte() {
    for f in harness::all()
        .into_iter()
        .filter(|f| !f.name.ends_with(".json"))
    {
        let out = f.patch(&f.input).output;
        for raw in rofs_manifest::yaml::split_documents(&f.input) {
            let Ok(doc) = rofs_manifest::yaml::from_str(raw.text) else {
                continue;
            };
            let skipped = [
                "/metadata/annotations/rofs.io~1skip",
                "/spec/template/metadata/annotations/rofs.io~1skip",
            ]
            .iter()
            .any(|p| doc.pointer(p) == Some(&Value::String("true".into())));
            let list = rofs_core::workload::is_list(&doc);
            if (pod_template(&doc).is_none() && !list) || skipped {
                assert!(
                    out.contains(raw.text),
                    "{}: document at line {} is not in the output byte for byte:\n{}",
                    f.name,
                    raw.first_line,
                    raw.text
                );
            }
        }
    }
}

/// The target design, checked on every pod template of every output.
#[test]
fn outputs_follow_the_target_design() {
    let mut problems = Vec::new();
    for f in harness::all() {
        let out = f.patch(&f.input).output;
        for doc in flatten(documents(&out)) {
            if let Some(tpl) = pod_template(&doc) {
                let claims: Vec<&str> = list(&doc["spec"], "volumeClaimTemplates")
                    .iter()
                    .filter_map(|c| c.pointer("/metadata/name").and_then(Value::as_str))
                    .collect();
                for p in design_problems(tpl, &claims) {
                    problems.push(format!("{}: {}: {p}", f.name, describe(&doc)));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn list<'a>(spec: &'a Value, key: &str) -> &'a [Value] {
    spec.get(key).and_then(Value::as_array).map_or(&[], |v| v)
}

fn name(v: &Value) -> &str {
    v.get("name").and_then(Value::as_str).unwrap_or_default()
}

/// Everything that is wrong with one rewritten pod template.
/// `claims`: the volumeClaimTemplates of a StatefulSet, volumes too.
pub fn design_problems(tpl: &Value, claims: &[&str]) -> Vec<String> {
    let mut p = Vec::new();
    let spec = &tpl["spec"];
    let containers = list(spec, "containers");
    let inits = list(spec, "initContainers");
    let volumes = list(spec, "volumes");

    // Names: unique DNS labels.
    let mut seen = BTreeSet::new();
    for c in containers.iter().chain(inits) {
        if !seen.insert(name(c)) {
            p.push(format!("container name {:?} used twice", name(c)));
        }
    }
    let mut vols: BTreeSet<&str> = claims.iter().copied().collect();
    for v in volumes {
        if !vols.insert(name(v)) {
            p.push(format!("volume name {:?} used twice", name(v)));
        }
        if !rofs_core::settings::is_dns_label(name(v)) {
            p.push(format!("volume name {:?} is not a DNS label", name(v)));
        }
    }
    // Mounts: existing volumes, one per path.
    for c in containers.iter().chain(inits) {
        let mut paths = BTreeSet::new();
        for m in list(c, "volumeMounts") {
            if !vols.contains(name(m)) {
                p.push(format!(
                    "container {:?} mounts unknown volume {:?}",
                    name(c),
                    name(m)
                ));
            }
            let path = m["mountPath"].as_str().unwrap_or_default();
            if !paths.insert(path.trim_end_matches('/')) {
                p.push(format!("container {:?} mounts {path} twice", name(c)));
            }
        }
    }

    let Some(status) = tpl
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(annotations::STATUS))
    else {
        return p;
    };
    let status: StatusAnnotation = match status.as_str().map(serde_json::from_str) {
        Some(Ok(s)) => s,
        _ => {
            p.push(format!("unreadable status annotation {status}"));
            return p;
        }
    };
    // Injected initContainers first, in the order of the status.
    let first: Vec<&str> = inits
        .iter()
        .take(status.init_containers.len())
        .map(name)
        .collect();
    if first != status.init_containers {
        p.push(format!(
            "injected initContainers {:?} are not first: {first:?}",
            status.init_containers
        ));
    }
    let find = |n: &str| containers.iter().chain(inits).find(|c| name(c) == n);
    // Every target: read-only root, an emptyDir mounted at each writable path.
    for (cname, paths) in &status.writable {
        let Some(c) = find(cname) else {
            p.push(format!(
                "status names container {cname:?} that is not there"
            ));
            continue;
        };
        if c.pointer("/securityContext/readOnlyRootFilesystem") != Some(&Value::Bool(true)) {
            p.push(format!("{cname}: readOnlyRootFilesystem is not true"));
        }
        for wp in paths {
            let mount = list(c, "volumeMounts")
                .iter()
                .find(|m| m["mountPath"].as_str() == Some(wp.path.as_str()));
            let Some(mount) = mount else {
                p.push(format!("{cname}: nothing mounted at {}", wp.path));
                continue;
            };
            let vol = volumes.iter().find(|v| name(v) == name(mount));
            let Some(ed) = vol.and_then(|v| v.get("emptyDir")) else {
                p.push(format!("{cname}: {} is not an emptyDir", wp.path));
                continue;
            };
            let memory = ed.get("medium").and_then(Value::as_str) == Some("Memory");
            if memory != (wp.medium == rofs_core::Medium::Memory) {
                p.push(format!("{cname}: {}: wrong medium {ed}", wp.path));
            }
            let size = wp.size_limit.as_ref().map(ToString::to_string);
            if ed.get("sizeLimit").and_then(Value::as_str) != size.as_deref() {
                p.push(format!("{cname}: {}: wrong sizeLimit {ed}", wp.path));
            }
        }
        // Its seed initContainer: same image, the app's securityContext and more.
        let seeded = paths.iter().any(|w| w.seed);
        let seed_name = format!("rofs-seed-{cname}");
        let seed = inits.iter().find(|i| name(i) == seed_name);
        match (seeded, seed) {
            (true, None) => p.push(format!("{cname}: seeded paths but no seed initContainer")),
            (false, Some(s)) => p.push(format!("{cname}: needless {:?}", name(s))),
            (true, Some(s)) => {
                if s.get("image") != c.get("image") {
                    p.push(format!("{}: not the image of {cname}", name(s)));
                }
                let app_sc = c["securityContext"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                for (k, v) in &app_sc {
                    if [
                        "privileged",
                        "readOnlyRootFilesystem",
                        "allowPrivilegeEscalation",
                    ]
                    .contains(&k.as_str())
                    {
                        continue;
                    }
                    if s.pointer(&format!("/securityContext/{k}")) != Some(v) {
                        p.push(format!(
                            "{}: securityContext.{k} differs from {cname}'s",
                            name(s)
                        ));
                    }
                }
            }
            (false, None) => {}
        }
    }
    for n in &status.init_containers {
        let Some(c) = find(n) else { continue };
        for (k, v) in [
            ("readOnlyRootFilesystem", true),
            ("allowPrivilegeEscalation", false),
        ] {
            if c.pointer(&format!("/securityContext/{k}")) != Some(&Value::Bool(v)) {
                p.push(format!("injected {n}: securityContext.{k} is not {v}"));
            }
        }
    }
    p
}
