//! `rofs discover` on real images: the fixture whose writes are known exactly
//! (tests/e2e/src/bin/rofs-e2e-discover-fixture.rs), the Debian nginx image, and bad input.
//!
//! The expected answers are derived by hand from the fixture's source and the nginx profile,
//! never copied from discover's output.

use std::path::PathBuf;
use std::process::Output;

use rofs_e2e::{NGINX_IMAGE, check_env, rofs, rofs_image, workspace_root};

pub(crate) const FIXTURE_IMAGE: &str = "localhost/rofs-e2e-discover:dev";

/// Like `require!`, and also loud under ROFS_REQUIRE_TOOLS=1 (podman missing is a failure).
fn can_run(test: &str, images: &[&str]) -> bool {
    let strict = std::env::var("ROFS_REQUIRE_TOOLS").as_deref() == Ok("1");
    if strict && let Err(why) = check_env(images) {
        panic!("e2e test {test} cannot run with ROFS_REQUIRE_TOOLS=1: {why}");
    }
    rofs_e2e::ready(test, images)
}

/// The fixture binary on the host (the exercise's HTTP client), built by build-images.sh.
fn fixture_bin() -> PathBuf {
    let p =
        workspace_root().join("target/rofs-e2e/x86_64-unknown-linux-gnu/rofs-e2e-discover-fixture");
    assert!(
        p.is_file(),
        "{} missing: run scripts/build-images.sh discover",
        p.display()
    );
    p
}

fn discover(args: &[&str]) -> Output {
    let agent = rofs_image();
    let mut full = vec!["discover", "--agent-image", &agent];
    full.extend_from_slice(args);
    rofs(&full, "")
}

fn ok(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "rofs discover failed ({}):\n{stderr}",
        out.status
    );
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

/// The `writable` list of a config file, as strings.
fn writable_of(config: &str) -> Vec<String> {
    let v: serde_json::Value = serde_saphyr::from_str(config).expect("the config file is YAML");
    v["writable"]
        .as_array()
        .unwrap_or_else(|| panic!("no writable list in:\n{config}"))
        .iter()
        .map(|p| p.as_str().expect("a string").to_string())
        .collect()
}

/// The comment line above `- PATH` in the config output.
fn why_of<'a>(config: &'a str, spec: &str) -> &'a str {
    let lines: Vec<&str> = config.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.trim() == format!("- {spec}"))
        .unwrap_or_else(|| panic!("{spec} not in:\n{config}"));
    lines[i - 1]
}

#[test]
fn fixture_gives_exactly_the_expected_settings() {
    if !can_run(module_path!(), &[FIXTURE_IMAGE, &rofs_image()]) {
        return;
    }
    fixture_check(&[]);
}

/// The fixture test's run and checks; `engine`: extra arguments (`--engine docker`), the
/// expected answer is the same for every engine.
pub(crate) fn fixture_check(engine: &[&str]) {
    let exercise = format!("{} get $ROFS_DISCOVER_PORT /work", fixture_bin().display());
    let mut args = vec![
        FIXTURE_IMAGE,
        "--ready",
        "http://127.0.0.1:8080/",
        "--exercise",
        &exercise,
    ];
    args.extend_from_slice(engine);
    let out = discover(&args);
    let config = ok(&out);
    // From the fixture's source, step by step (sorted as discover sorts: by path):
    let expected = [
        "/data",                    // 6. appends /data/journal; the image has initial.txt (VOLUME)
        "/etc/fixture",             // 2. rewrites app.conf, the image's
        "/home/fixture",            // 0. probe created and deleted: found by verification only
        "/opt/fixture/cache",       // 7. optional hint (not needed for readiness)
        "/run:memory:1Mi:empty",    // 5. fixture.pid, a few bytes
        "/srv/fixture/spool",       // /work: only the exercise writes there
        "/tmp:empty",               // 5. fixture.tmp
        "/var/cache/fixture:empty", // 4. the image has /var/cache only
        "/var/lib/fixture",         // 1. reads seed.txt (seeded), writes state
        "/var/log/fixture",         // 3. deletes old.log, writes new.log
    ];
    assert_eq!(writable_of(&config), expected, "\n{config}");
    assert!(
        config.contains("verified read-only in 2 rounds"),
        "the probe needs a second round:\n{config}"
    );
    assert!(
        why_of(&config, "/home/fixture").starts_with(
            "  # added by verification: fixture: write /home/fixture/.probe: Read-only file system"
        ),
        "no diff saw the probe, so nothing written comes before the verification's evidence:\n{config}"
    );
    assert!(
        why_of(&config, "/opt/fixture/cache").contains("not needed for readiness"),
        "{config}"
    );
    for needed in expected.iter().filter(|p| !p.starts_with("/opt/")) {
        assert!(
            why_of(&config, needed).contains("verified: needed"),
            "{needed}:\n{config}"
        );
    }
    let log = why_of(&config, "/var/log/fixture");
    assert!(
        log.contains("1 file written") && log.contains("1 deleted"),
        "{log}"
    );
    assert!(
        why_of(&config, "/var/cache/fixture:empty").contains("64.0 KiB"),
        "{config}"
    );
    assert!(
        config.contains("# NOTE: /etc/fixture/app.conf: a config file the app rewrites"),
        "{config}"
    );
    // The answer is a valid config for rofs patch.
    // Unique per call: the docker test runs this too, maybe at the same time.
    let dir = std::env::temp_dir().join(rofs_e2e::unique_name("rofs-e2e-discover"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("fixture.yaml");
    std::fs::write(&file, &config).expect("write config");
    let pod = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: f}}\nspec:\n  containers:\n  - name: f\n    image: {FIXTURE_IMAGE}\n"
    );
    let patched = rofs(&["patch", "--config", file.to_str().expect("utf-8")], &pod);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        patched.status.success(),
        "{}",
        String::from_utf8_lossy(&patched.stderr)
    );
}

#[test]
fn nginx_gives_the_nginx_profile_paths() {
    if !can_run(module_path!(), &[NGINX_IMAGE, &rofs_image()]) {
        return;
    }
    nginx_check(&[]);
}

/// The nginx test's run and checks; `engine` as for [`fixture_check`].
pub(crate) fn nginx_check(engine: &[&str]) {
    let mut args = vec![
        NGINX_IMAGE,
        "--ready",
        "http://127.0.0.1:80/",
        "--format",
        "profile",
        "--name",
        "nginx",
    ];
    args.extend_from_slice(engine);
    let out = discover(&args);
    let profile = ok(&out);
    let v: serde_json::Value = serde_saphyr::from_str(&profile).expect("YAML");
    let paths: Vec<&str> = v["writable"]
        .as_array()
        .expect("writable")
        .iter()
        .map(|p| p["path"].as_str().expect("path"))
        .collect();
    // The built-in nginx profile (docs/reference.md), in path order.
    assert_eq!(
        paths,
        ["/run:memory:1Mi:empty", "/var/lib/nginx", "/var/log/nginx"],
        "\n{profile}"
    );
    assert_eq!(v["name"], "nginx");
    assert_eq!(v["proven"]["image"], NGINX_IMAGE);
    assert_eq!(v["proven"]["ready"], "http://127.0.0.1:80/");
    assert_eq!(v["proven"]["discover"]["rounds"], 1);
    let packages = v["proven"]["packages"].as_array().expect("packages");
    assert!(
        packages
            .iter()
            .any(|p| p.as_str().is_some_and(|p| p.starts_with("nginx-common="))),
        "nginx-common owns /var/lib/nginx and /var/log/nginx: {packages:?}"
    );
    for p in v["writable"].as_array().expect("writable") {
        let why = p["why"].as_str().expect("why");
        assert!(why.contains("verified: needed"), "{why}");
    }
}

/// An exercise run in the container whose write no diff shows (a file created and removed):
/// only the read-only run's failing exercise names it, and discover adds its directory.
#[test]
fn exercise_in_container_is_proven() {
    if !can_run(module_path!(), &[NGINX_IMAGE, &rofs_image()]) {
        return;
    }
    let out = discover(&[
        NGINX_IMAGE,
        "--ready",
        "http://127.0.0.1:80/",
        "--no-minimality",
        "--exercise-in-container",
        "--exercise",
        "echo hi > /etc/nginx/probe && rm /etc/nginx/probe",
    ]);
    let config = ok(&out);
    assert_eq!(
        writable_of(&config),
        [
            "/etc/nginx",
            "/run:memory:1Mi:empty",
            "/var/lib/nginx",
            "/var/log/nginx"
        ],
        "\n{config}"
    );
    assert!(
        config.contains("verified read-only in 2 rounds"),
        "{config}"
    );
    assert!(
        why_of(&config, "/etc/nginx")
            .contains("cannot create /etc/nginx/probe: Read-only file system"),
        "{config}"
    );
    // `/bin/sh: 1: cannot create ...` names the shell too: a program, not a refused path.
    assert!(!config.contains("NOTE"), "{config}");
}

fn failed_with(out: &Output, says: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "no partial output on error");
    for s in says {
        assert!(stderr.contains(s), "expected {s:?} in:\n{stderr}");
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    if !can_run(module_path!(), &[FIXTURE_IMAGE]) {
        return;
    }
    // No such image: discover never pulls.
    failed_with(
        &discover(&["localhost/rofs-e2e-no-such-image:1"]),
        &[
            "image localhost/rofs-e2e-no-such-image:1 not found",
            "does not pull",
        ],
    );
    // The app exits at once: the fixture's usage error, exit status 1, and its output.
    failed_with(
        &discover(&[FIXTURE_IMAGE, "--", "bogus"]),
        &[
            "the app exited with status 1 before it was ready",
            "usage: rofs-e2e-discover-fixture",
        ],
    );
    // Readiness never comes: the log tail says what the app did.
    failed_with(
        &discover(&[
            FIXTURE_IMAGE,
            "--ready",
            "log:never printed",
            "--ready-timeout",
            "3s",
        ]),
        &["was not ready after 3s", "fixture: serving on 0.0.0.0:8080"],
    );
    // Verification cannot converge in one round: the fixture's probe (step 0) is only found
    // by the first read-only run.
    failed_with(
        &discover(&[
            FIXTURE_IMAGE,
            "--ready",
            "http://127.0.0.1:8080/",
            "--max-rounds",
            "1",
        ]),
        &[
            "verification did not converge: still failing after --max-rounds 1",
            "fixture: write /home/fixture/.probe: Read-only file system",
        ],
    );
    // No engine: the one named does not exist.
    failed_with(
        &discover(&[FIXTURE_IMAGE, "--engine", "/nonexistent/podman"]),
        &[
            "no container engine found",
            "/nonexistent/podman",
            "--engine",
        ],
    );
    // Bad flags name themselves.
    failed_with(
        &discover(&[FIXTURE_IMAGE, "--ready", "http://10.0.0.1:80/"]),
        &["--ready", "127.0.0.1"],
    );
}
