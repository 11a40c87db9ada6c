//! `rofs discover --engine docker` on a real docker daemon (Debian's docker.io, started by
//! scripts/setup-docker.sh): the fixture and nginx give the same answers as under podman
//! (the checks are discover.rs's own, so the expectation is the one derived by hand there).
//!
//! No registry is reachable: the images (and the rofs image, whose agent seeds the
//! verification runs) are copied in from podman (`podman save | docker load`) and removed
//! again at the end, unless docker already had that very image.

use std::process::{Command, Stdio};

use rofs_e2e::{NGINX_IMAGE, rofs_image};

use crate::discover::{FIXTURE_IMAGE, fixture_check, nginx_check};

/// The engine the test drives, as a user names it.
const DOCKER: &str = "docker";

fn strict() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true") | Ok("1"))
        || std::env::var("ROFS_REQUIRE_TOOLS").as_deref() == Ok("1")
}

/// `docker ARGS` under `timeout`; the output whatever the status.
fn docker(args: &[&str]) -> std::process::Output {
    Command::new("timeout")
        .arg("300")
        .arg(DOCKER)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run timeout {DOCKER}: {e}"))
}

/// `Ok(server version)` when a docker daemon answers.
fn docker_server() -> Result<String, String> {
    let out = docker(&["version", "--format", "{{.Server.Version}}"]);
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "docker does not answer ({}); run scripts/setup-docker.sh",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn image_id(engine: &str, image: &str) -> Option<String> {
    let out = Command::new("timeout")
        .args([
            "60", engine, "image", "inspect", "--format", "{{.Id}}", image,
        ])
        .output()
        .ok()?;
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // podman prints the bare digest, docker `sha256:` and the digest
    (out.status.success() && !id.is_empty()).then(|| id.trim_start_matches("sha256:").to_string())
}

/// The images this test copied into docker; removed (with any container left on them) when
/// dropped, also when the test fails.
struct Loaded(Vec<String>);

impl Loaded {
    /// Copies `image` from podman unless docker has the same image already.
    fn copy(&mut self, image: &str) {
        let podman_id = image_id("podman", image)
            .unwrap_or_else(|| panic!("{image} missing in podman; run scripts/build-images.sh"));
        if image_id(DOCKER, image).as_deref() == Some(podman_id.as_str()) {
            return;
        }
        let mut save = Command::new("timeout")
            .args(["300", "podman", "save", image])
            .stdout(Stdio::piped())
            .spawn()
            .expect("podman save");
        let load = Command::new("timeout")
            .args(["300", DOCKER, "load", "--quiet"])
            .stdin(save.stdout.take().expect("podman save's stdout"))
            .output()
            .expect("docker load");
        let saved = save.wait().expect("wait for podman save");
        assert!(
            saved.success() && load.status.success(),
            "podman save {image} | docker load failed ({saved}, {}): {}",
            load.status,
            String::from_utf8_lossy(&load.stderr)
        );
        self.0.push(image.to_string());
        assert_eq!(
            image_id(DOCKER, image).as_deref(),
            Some(podman_id.as_str()),
            "docker has another {image} than podman after the load"
        );
    }
}

impl Drop for Loaded {
    fn drop(&mut self) {
        for image in &self.0 {
            let out = docker(&[
                "ps",
                "--all",
                "--quiet",
                "--filter",
                &format!("ancestor={image}"),
            ]);
            for c in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = docker(&["rm", "--force", "--volumes", c]);
            }
            let _ = docker(&["image", "rm", image]);
        }
    }
}

/// Every container and volume docker has (discover's containers are `rofs-discover-...`, its
/// named volumes `rofs-discover-...-roN`, the anonymous ones a hash).
fn containers_and_volumes() -> Vec<String> {
    let mut all = Vec::new();
    for args in [
        &["ps", "--all", "--format", "container {{.Names}}"][..],
        &["volume", "ls", "--format", "volume {{.Name}}"][..],
    ] {
        let out = docker(args);
        assert!(
            out.status.success(),
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        all.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_string),
        );
    }
    all
}

/// One test, the two runs in turn: they share the images copied in, which are removed at the
/// end (two tests running at once would remove them under each other).
#[test]
fn discover_with_real_docker() {
    let test = module_path!();
    let server = match docker_server() {
        Ok(v) => v,
        Err(why) if strict() => {
            panic!("e2e test {test} cannot run (CI / ROFS_REQUIRE_TOOLS=1): {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED e2e test {test}: {why} (set CI=true to make this an error)");
            return;
        }
    };
    let agent = rofs_image();
    if !rofs_e2e::ready(test, &[FIXTURE_IMAGE, NGINX_IMAGE, &agent]) {
        return;
    }
    eprintln!("{test}: docker server {server}");
    let before = containers_and_volumes();
    let mut loaded = Loaded(Vec::new());
    for image in [FIXTURE_IMAGE, NGINX_IMAGE, agent.as_str()] {
        loaded.copy(image);
    }
    let engine = ["--engine", DOCKER];
    // The fixture: its VOLUME /data must come out "verified: needed" (fixture_check asserts
    // it for every path but /opt/fixture/cache), which needs the VOLUME read-only in the
    // verification runs, as podman's --image-volume=ignore makes it.
    fixture_check(&engine);
    nginx_check(&engine);
    // A missing agent image is refused before anything runs, as under podman.
    let out = rofs_e2e::rofs(
        &[
            "discover",
            "--engine",
            DOCKER,
            "--agent-image",
            "localhost/rofs-no-such-agent:1",
            FIXTURE_IMAGE,
            "--ready",
            "1s",
        ],
        "",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && stderr.contains("image localhost/rofs-no-such-agent:1 not found by docker")
            && stderr.contains("the agent image"),
        "a missing agent image under docker: {}\n{stderr}",
        out.status
    );
    assert!(
        !stderr.contains("started with a writable root"),
        "the missing agent image was found only after the discovery run:\n{stderr}"
    );
    let after: Vec<String> = containers_and_volumes()
        .into_iter()
        .filter(|n| !before.contains(n))
        .collect();
    assert!(
        after.is_empty(),
        "discover left containers or volumes in docker: {after:?}"
    );
    drop(loaded);
}
