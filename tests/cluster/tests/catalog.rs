//! Every proven catalog entry (`catalog/*.yaml`) on the kubelet: the entry's image, patched
//! with `rofs patch --profile NAME` (the catalog embedded in rofs, not the file's paths),
//! runs with a read-only root and becomes ready (the entry's check as a readinessProbe),
//! logs no `Read-only file system`, and writing to `/` fails with EROFS. All pods run at
//! once in one namespace, so the test costs about the slowest app's start.
//! The list comes from the catalog files (`rofs_e2e::catalog`): a new entry is tested
//! without a change here. The ablation (each path is needed) runs on podman:
//! tests/e2e/tests/catalog.rs.
//!
//! Env: `ROFS_CATALOG_ONLY=a,b` tests only those entries; `ROFS_CATALOG_PATCH=flags` patches
//! with the file's paths as `--writable` flags instead of `--profile NAME`.

use std::time::{Duration, Instant};

use rofs_cluster::{Namespace, rofs_image, rofs_patch};
use rofs_e2e::catalog::{self, Ready, erofs_lines};

/// All pods start at once on 2 cores: the JVM apps need up to a minute then.
const START: Duration = Duration::from_secs(300);

#[test]
fn catalog_entries_patched_with_their_profile_run_read_only() {
    let entries = catalog::selected();
    assert!(!entries.is_empty(), "no proven entry in catalog/*.yaml");
    let rofs = rofs_image();
    let mut images: Vec<&str> = entries.iter().map(|e| e.image.as_str()).collect();
    images.push(&rofs);
    if !rofs_cluster::ready(module_path!(), &images) {
        assert!(
            std::env::var("ROFS_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "cluster or catalog images missing and ROFS_REQUIRE_TOOLS=1"
        );
        return;
    }
    let ns = Namespace::create("catalog", &[]);
    let t0 = Instant::now();
    // ROFS_CATALOG_PATCH=flags: the entry's paths as `--writable` flags instead of
    // `--profile NAME`, to prove a catalog file on the kubelet before rofs embeds it
    let flags = std::env::var("ROFS_CATALOG_PATCH").as_deref() == Ok("flags");
    for e in &entries {
        let mut args: Vec<String> = if flags {
            e.writable_args(None)
        } else {
            vec!["--profile".into(), e.name.clone()]
        };
        args.extend(["--agent-image".into(), rofs.clone()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let patched = rofs_patch(&args, &e.pod(&e.name, None));
        ns.kubectl_ok(&["create", "-f", "-"], Some(&patched));
    }
    let mut report = Vec::new();
    for e in &entries {
        match &e.ready {
            Ready::Tcp(_) | Ready::Http(..) => {
                ns.wait_ready(&e.name, START);
            }
            Ready::Log(text) => {
                let start = Instant::now();
                while !ns.logs(&e.name, "app").contains(text.as_str()) {
                    assert!(
                        start.elapsed() < START,
                        "{}: {text:?} not logged after {START:?}\n{}",
                        e.name,
                        ns.diagnose(&e.name)
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
            Ready::After(d) => {
                ns.wait_ready(&e.name, START);
                let start = Instant::now();
                while start.elapsed() < *d {
                    std::thread::sleep(Duration::from_millis(200));
                }
                assert!(
                    rofs_cluster::pod_ready(&ns.pod(&e.name)),
                    "{}: not running after {d:?}\n{}",
                    e.name,
                    ns.diagnose(&e.name)
                );
            }
        }
        report.push(format!(
            "{:<12} ready {:.0?} after the pods were created",
            e.name,
            t0.elapsed()
        ));
    }
    for e in &entries {
        let pod = ns.pod(&e.name);
        let mounts: Vec<&str> = pod["spec"]["containers"][0]["volumeMounts"]
            .as_array()
            .map(|m| m.iter().filter_map(|m| m["mountPath"].as_str()).collect())
            .unwrap_or_default();
        for w in &e.writable {
            assert!(
                mounts.contains(&w.path()),
                "{}: {} is not mounted in the patched pod (mounts: {mounts:?})",
                e.name,
                w.path()
            );
        }
        ns.assert_root_read_only(&e.name, "app");
        let log = ns.logs(&e.name, "app");
        let erofs = erofs_lines(&log);
        assert!(
            erofs.is_empty(),
            "{}: refused writes with the profile: {erofs:?}",
            e.name
        );
    }
    for r in &report {
        eprintln!("catalog: {r}");
    }
    eprintln!(
        "catalog: {} entries ready in {:.0?}",
        entries.len(),
        t0.elapsed()
    );
}
