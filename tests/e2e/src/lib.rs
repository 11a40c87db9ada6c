//! Harness for rofs' end-to-end tests: real pods under `podman kube play`.
//!
//! What it gives a test:
//! - [`require!`]: skip (locally) or fail loudly (`CI=true`) when podman or an image is
//!   missing;
//! - [`Pod`]: plays a pod YAML and ALWAYS tears it down on drop (pod and volumes), also
//!   when the test panics;
//! - logs, exit codes, `podman exec`, pod restart and "replay" (init containers re-run
//!   over the existing volumes);
//! - [`http_get`] / [`wait_http`]: plain std HTTP/1.0 on 127.0.0.1;
//! - [`rofs`] / [`rofs_patch`]: run the `rofs` binary of this workspace;
//! - [`unique_name`] / [`free_port`]: distinct names and ports per test.
//!
//! ## Where podman 4.3 is not a kubelet, and what the harness does about it
//!
//! [`Pod::play`] rewrites the manifest (see [`podmanize`]) so that podman behaves like
//! Kubernetes where it matters for rofs; every point was observed on Debian 12's
//! podman 4.3.1:
//! 1. **emptyDir is not empty**: podman creates a volume and *copies the image's
//!    contents* at the mount path into it (Docker-style copy-up). A test would then pass
//!    without any seeding. The harness pre-creates every emptyDir as a named volume with
//!    `--opt nocopy` (really empty), `uid=0,gid=0` (podman otherwise chowns the volume to
//!    the first container's user) and mode 0777 like the kubelet.
//! 2. **emptyDirs are shared between pods by name**: the volume is named after the
//!    `volumes[].name`, so two pods with an emptyDir `data` see the same files. The
//!    harness renames each emptyDir to `<pod>--<name>` (mounts updated).
//! 3. **`medium: Memory` and `sizeLimit` are ignored** (the volume is on disk). A podman
//!    tmpfs volume is no substitute: it is unmounted, and so emptied, whenever no container
//!    uses it (between two init containers). The harness mounts a tmpfs of `sizeLimit`
//!    under /run/rofs-e2e/ for the pod's lifetime and binds it as the volume.
//! 4. **`restartPolicy: Always` (also the default when unset) re-runs init containers**
//!    in a loop (~200 runs in 5 s) while the app starts. The harness sets
//!    `restartPolicy: OnFailure` when it is `Always` or unset.
//! 5. Init containers are removed once they have run (podman's "once" init containers):
//!    their logs are gone after `kube play` returns. A failing init container makes
//!    `kube play` fail; its output is in the error.
//! 6. A pod whose last container exits is stopped (pod exit policy `stop`), so
//!    `podman restart <one container>` fails ("cannot get namespace path"). Use
//!    [`Pod::restart`] (`podman pod restart`): containers restart, init containers do not
//!    re-run, volumes keep their data — a Kubernetes container restart. Use
//!    [`Pod::replay`] for a Kubernetes pod-sandbox restart (init containers run again
//!    over the existing emptyDirs).
//! 7. **Annotation values longer than 63 characters are refused** ("value length exceeds
//!    Kubernetetes max 63", the label-value limit wrongly applied), e.g. `rofs.io/status`.
//!    The harness drops such annotations from what it plays (with a note on stderr).
//! 8. A Deployment's replicas are all played, as pods `<name>-pod-0`, `<name>-pod-1`, ...
//!    (same hostPort: the second fails to bind). The harness plays `replicas: 1`.
//! 9. `imagePullPolicy: Always` tries to pull `localhost/...` (fails after ~6 s of
//!    retries); unset, `IfNotPresent` and `Never` use the local image, also for `:latest`.
//!
//! Podman's own ports: rootful podman with netavark forwards `hostPort` from
//! 127.0.0.1, so tests keep the image's port (nginx 80, Tomcat 8080) and pick a distinct
//! `hostPort` per test with [`free_port`]; no `hostNetwork` port clashes between tests.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub mod catalog;

/// Images built by `scripts/build-images.sh`.
pub const NGINX_IMAGE: &str = "localhost/rofs-e2e-nginx:bookworm";
pub const TOMCAT_IMAGE: &str = "localhost/rofs-e2e-tomcat:bookworm";
pub const NOSHELL_IMAGE: &str = "localhost/rofs-e2e-noshell:dev";
pub const BUSYBOX_IMAGE: &str = "localhost/rofs-e2e-busybox:latest";

/// The rofs image (`ROFS_IMAGE`, default `localhost/rofs:dev`).
pub fn rofs_image() -> String {
    std::env::var("ROFS_IMAGE").unwrap_or_else(|_| "localhost/rofs:dev".to_string())
}

/// Timeout for each podman command (kube play of a Tomcat pod takes ~1 s; start-up is
/// waited for separately).
const PODMAN_TIMEOUT_SECS: u32 = 120;

// ---------------------------------------------------------------------------------
// Environment checks

fn in_ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true") | Ok("1"))
}

/// `Ok(())` when podman works and every image exists; otherwise the reason.
pub fn check_env(images: &[&str]) -> Result<(), String> {
    let info = Command::new("timeout")
        .args([
            "60",
            "podman",
            "info",
            "--format",
            "{{.Host.OCIRuntime.Name}}",
        ])
        .output()
        .map_err(|e| format!("cannot run podman: {e}"))?;
    if !info.status.success() {
        return Err(format!(
            "podman does not work ({}); run scripts/setup-podman.sh",
            String::from_utf8_lossy(&info.stderr).trim()
        ));
    }
    let missing: Vec<&str> = images
        .iter()
        .copied()
        .filter(|img| {
            !Command::new("timeout")
                .args(["60", "podman", "image", "exists", img])
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        })
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "missing images {missing:?}; run scripts/build-images.sh"
        ));
    }
    Ok(())
}

/// `true` when the test can run. Otherwise: with `CI=true` it panics (a CI run must not
/// silently skip the end-to-end tests), else it prints why and the test returns.
pub fn ready(test: &str, images: &[&str]) -> bool {
    match check_env(images) {
        Ok(()) => true,
        Err(why) if in_ci() => panic!("e2e test {test} cannot run in CI: {why}"),
        Err(why) => {
            eprintln!("SKIPPED e2e test {test}: {why} (set CI=true to make this an error)");
            false
        }
    }
}

/// `require!(IMAGE, ...)` at the top of a test: returns early (skip) or panics in CI.
#[macro_export]
macro_rules! require {
    ($($img:expr),* $(,)?) => {
        if !$crate::ready(module_path!(), &[$($img),*]) {
            return;
        }
    };
}

// ---------------------------------------------------------------------------------
// Names, ports, paths

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A DNS-label-safe pod name unique to this process and call: `<prefix>-<pid>-<n>`.
pub fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// A TCP port free on 127.0.0.1 right now (the kernel's pick), for a `hostPort`.
pub fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// The workspace root (`ROFS_WORKSPACE_ROOT`, else two levels above this crate).
pub fn workspace_root() -> PathBuf {
    if let Ok(p) = std::env::var("ROFS_WORKSPACE_ROOT") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `rofs` binary: `ROFS_BIN`, else the newest of the workspace's
/// `target/{x86_64-unknown-linux-gnu/release,release,debug}/rofs`.
pub fn rofs_bin() -> PathBuf {
    if let Ok(p) = std::env::var("ROFS_BIN") {
        return PathBuf::from(p);
    }
    let root = workspace_root();
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    [
        "x86_64-unknown-linux-gnu/release/rofs",
        "release/rofs",
        "debug/rofs",
    ]
    .iter()
    .map(|p| target.join(p))
    .filter_map(|p| p.metadata().and_then(|m| m.modified()).ok().map(|t| (t, p)))
    .max()
    .map(|(_, p)| p)
    .unwrap_or_else(|| {
        panic!(
            "no rofs binary under {}: build it or set ROFS_BIN",
            target.display()
        )
    })
}

/// Runs `rofs ARGS` with `stdin`; returns the output whatever the exit status.
pub fn rofs(args: &[&str], stdin: &str) -> Output {
    let bin = rofs_bin();
    let mut child = Command::new(&bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_string();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(data.as_bytes());
    });
    let out = child.wait_with_output().expect("wait for rofs");
    let _ = writer.join();
    out
}

/// `rofs patch ARGS` on `yaml` (stdin), returning the patched manifest; panics with
/// rofs' stderr when it fails. Pass `--agent-image` yourself (see [`rofs_image`]).
pub fn rofs_patch(args: &[&str], yaml: &str) -> String {
    let mut full = vec!["patch"];
    full.extend_from_slice(args);
    let out = rofs(&full, yaml);
    assert!(
        out.status.success(),
        "rofs {} failed ({}):\n{}",
        full.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("rofs patch output is UTF-8")
}

// ---------------------------------------------------------------------------------
// podman

/// Runs `timeout 120 podman ARGS`.
pub fn podman(args: &[&str]) -> Output {
    Command::new("timeout")
        .arg(PODMAN_TIMEOUT_SECS.to_string())
        .arg("podman")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run podman")
}

fn text(out: &Output) -> String {
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    s
}

/// Runs podman and panics with its output when it fails.
pub fn podman_ok(args: &[&str]) -> String {
    let out = podman(args);
    assert!(
        out.status.success(),
        "podman {} failed ({}):\n{}",
        args.join(" "),
        out.status,
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An emptyDir the harness creates as a podman volume (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct EmptyDir {
    /// podman volume name (`<pod>--<volume>`)
    pub volume: String,
    /// `medium: Memory`
    pub memory: bool,
    /// `sizeLimit` in bytes
    pub size_limit: Option<u64>,
    /// pod `securityContext.fsGroup`
    pub fs_group: Option<u64>,
}

/// Parses a Kubernetes quantity used for `sizeLimit` (`16Mi`, `1G`, `1048576`, `1e6`).
pub fn parse_quantity(q: &Value) -> Option<u64> {
    if let Some(n) = q.as_u64() {
        return Some(n);
    }
    let s = q.as_str()?.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let num: f64 = num.parse().ok()?;
    let mult: f64 = match suffix {
        "" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024f64.powi(4),
        s if s.starts_with('e') => 10f64.powi(s[1..].parse().ok()?),
        _ => return None,
    };
    Some((num * mult).ceil() as u64)
}

/// The pod spec(s) of a manifest document and the name podman gives the pod.
fn pod_specs(doc: &mut Value) -> Option<(String, &mut Value)> {
    let kind = doc.get("kind")?.as_str()?.to_string();
    let name = doc.pointer("/metadata/name")?.as_str()?.to_string();
    match kind.as_str() {
        "Pod" => Some((name, doc.get_mut("spec")?)),
        // podman 4.3 plays each replica of a Deployment as a pod `<name>-pod-<i>`; the
        // harness plays one (podmanize sets `replicas: 1`)
        "Deployment" => Some((
            format!("{name}-pod-0"),
            doc.pointer_mut("/spec/template/spec")?,
        )),
        _ => None,
    }
}

/// Rewrites a manifest for podman 4.3 (see the module docs): renames emptyDirs to
/// `<pod>--<name>` and collects them, drops annotations podman refuses, turns `restartPolicy: Always`/unset into
/// `OnFailure`. Returns the YAML to play, the pod names, and the emptyDirs to create.
pub fn podmanize(yaml: &str) -> (String, Vec<String>, Vec<EmptyDir>) {
    let mut docs: Vec<Value> = serde_saphyr::from_multiple(yaml)
        .unwrap_or_else(|e| panic!("test manifest is not valid YAML: {e}\n{yaml}"));
    let mut pods = Vec::new();
    let mut dirs = Vec::new();
    for doc in docs.iter_mut() {
        for ptr in [
            "/metadata/annotations",
            "/spec/template/metadata/annotations",
        ] {
            if let Some(ann) = doc.pointer_mut(ptr).and_then(Value::as_object_mut) {
                ann.retain(|k, v| {
                    let keep = v.as_str().is_none_or(|v| v.len() <= 63);
                    if !keep {
                        eprintln!("rofs-e2e: dropped annotation {k} for podman 4.3 (values over 63 characters are refused)");
                    }
                    keep
                });
            }
        }
        if doc.get("kind").and_then(Value::as_str) == Some("Deployment") {
            if let Some(spec) = doc.get_mut("spec").and_then(Value::as_object_mut) {
                spec.insert("replicas".into(), json!(1));
            }
        }
        let Some((pod, spec)) = pod_specs(doc) else {
            continue;
        };
        let fs_group = spec
            .pointer("/securityContext/fsGroup")
            .and_then(Value::as_u64);
        match spec.get("restartPolicy").and_then(Value::as_str) {
            None | Some("Always") => {
                spec["restartPolicy"] = json!("OnFailure");
            }
            _ => {}
        }
        let mut renames = Vec::new();
        if let Some(vols) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
            for v in vols {
                let Some(ed) = v.get("emptyDir") else {
                    continue;
                };
                let old = v["name"].as_str().unwrap_or_default().to_string();
                let new = format!("{pod}--{old}");
                dirs.push(EmptyDir {
                    volume: new.clone(),
                    memory: ed.get("medium").and_then(Value::as_str) == Some("Memory"),
                    size_limit: ed.get("sizeLimit").and_then(parse_quantity),
                    fs_group,
                });
                v["name"] = json!(new.clone());
                renames.push((old, new));
            }
        }
        for list in ["initContainers", "containers"] {
            let Some(ctrs) = spec.get_mut(list).and_then(Value::as_array_mut) else {
                continue;
            };
            for c in ctrs {
                let Some(mounts) = c.get_mut("volumeMounts").and_then(Value::as_array_mut) else {
                    continue;
                };
                for m in mounts {
                    if let Some((_, new)) = renames
                        .iter()
                        .find(|(old, _)| m["name"].as_str() == Some(old))
                    {
                        m["name"] = json!(new);
                    }
                }
            }
        }
        pods.push(pod);
    }
    let out = docs
        .iter()
        .map(|d| serde_json::to_string_pretty(d).expect("serialize JSON"))
        .collect::<Vec<_>>()
        .join("\n---\n");
    (out, pods, dirs)
}

/// Host mount point of the tmpfs behind a `medium: Memory` emptyDir.
fn memory_dir(volume: &str) -> PathBuf {
    PathBuf::from("/run/rofs-e2e").join(volume)
}

fn remove_volume(d: &EmptyDir) {
    let _ = podman(&["volume", "rm", "-f", &d.volume]);
    if d.memory {
        let dir = memory_dir(&d.volume);
        if dir.exists() {
            let _ = Command::new("umount")
                .arg(&dir)
                .stderr(Stdio::null())
                .status();
            let _ = std::fs::remove_dir(&dir);
        }
    }
}

fn create_volume(d: &EmptyDir) {
    let gid = d.fs_group.unwrap_or(0);
    // kubelet: emptyDir mode 0777; with fsGroup, group-owned and setgid.
    let mode = if d.fs_group.is_some() { "2777" } else { "0777" };
    let mut args: Vec<String> = vec![
        "volume".into(),
        "create".into(),
        "--opt".into(),
        "nocopy".into(),
    ];
    if d.memory {
        // A podman tmpfs volume is unmounted (and emptied) whenever no container uses it,
        // i.e. between two init containers. So the harness mounts the tmpfs itself, for the
        // pod's lifetime, and binds it as the volume.
        let dir = memory_dir(&d.volume);
        std::fs::create_dir_all(&dir).expect("create tmpfs mount point");
        let mut o = format!("uid=0,gid={gid},mode={mode}");
        if let Some(bytes) = d.size_limit {
            o.push_str(&format!(",size={bytes}"));
        }
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &o, "tmpfs"])
            .arg(&dir)
            .status()
            .expect("mount tmpfs");
        assert!(
            st.success(),
            "mount -t tmpfs -o {o} tmpfs {}",
            dir.display()
        );
        args.extend([
            "--opt".into(),
            "type=none".into(),
            "--opt".into(),
            // uid/gid (taken by podman, not passed to mount) stop podman from
            // re-owning and re-moding the volume like the image's directory
            format!("o=bind,uid=0,gid={gid}"),
        ]);
        args.extend(["--opt".into(), format!("device={}", dir.display())]);
    } else {
        args.extend(["--opt".into(), format!("o=uid=0,gid={gid}")]);
    }
    args.push(d.volume.clone());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    podman_ok(&refs);
    if !d.memory {
        let mp = podman_ok(&[
            "volume",
            "inspect",
            "--format",
            "{{.Mountpoint}}",
            &d.volume,
        ]);
        let mp = mp.trim();
        let st = Command::new("chmod")
            .args([mode, mp])
            .status()
            .expect("chmod");
        assert!(st.success(), "chmod {mode} {mp}");
    }
}

/// Options of [`Pod::try_play_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct PlayOptions {
    /// Keep init containers after they ran (podman's `always` init containers, set by the
    /// pod annotation `io.podman.annotations.init.container.type`), so their logs can be
    /// read with [`Pod::logs`] — also when one fails and `kube play` errors out (the error
    /// then includes them). By default podman removes them once run ("once" type), which
    /// is closer to a kubelet across container restarts.
    pub keep_init_containers: bool,
}

fn keep_init_containers(json_docs: &str) -> String {
    let mut docs: Vec<Value> =
        serde_saphyr::from_multiple(json_docs).expect("reparse podmanized manifest");
    for doc in docs.iter_mut() {
        let kind = doc
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        // podman 4.3 reads it from the Pod's metadata, and from the Deployment's own
        // metadata (not the pod template's)
        let metas: &[&str] = match kind.as_str() {
            "Pod" | "Deployment" => &["/metadata"],
            _ => &[],
        };
        for ptr in metas {
            if let Some(meta) = doc.pointer_mut(ptr).and_then(Value::as_object_mut) {
                let ann = meta.entry("annotations").or_insert_with(|| json!({}));
                ann["io.podman.annotations.init.container.type"] = json!("always");
            }
        }
    }
    docs.iter()
        .map(|d| serde_json::to_string_pretty(d).expect("serialize JSON"))
        .collect::<Vec<_>>()
        .join("\n---\n")
}

/// A pod played with `podman kube play`; torn down (pod + volumes) on drop.
pub struct Pod {
    /// podman's pod name (`metadata.name`, `<name>-pod-0` for a Deployment)
    pub name: String,
    /// the manifest as played (after [`podmanize`])
    pub yaml: String,
    file: PathBuf,
    volumes: Vec<EmptyDir>,
    /// when `podman kube play` was started (after the harness's volume set-up, which a
    /// kubelet does with a mkdir), and how long it took: it returns once the init
    /// containers have run and the containers are started
    pub played_at: Instant,
    pub kube_play_took: Duration,
}

impl Pod {
    /// Plays `yaml` (one Pod or Deployment, plus other documents such as ConfigMaps);
    /// panics when `kube play` fails. The pod is torn down when the guard drops.
    pub fn play(yaml: &str) -> Pod {
        Pod::try_play(yaml).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Pod::play`], returning `kube play`'s output as the error when it fails
    /// (e.g. a failing init container). Cleanup happens in both cases.
    pub fn try_play(yaml: &str) -> Result<Pod, String> {
        Pod::try_play_with(yaml, PlayOptions::default())
    }

    /// [`Pod::try_play`] with options.
    pub fn try_play_with(yaml: &str, opts: PlayOptions) -> Result<Pod, String> {
        let (mut played, pods, volumes) = podmanize(yaml);
        if opts.keep_init_containers {
            played = keep_init_containers(&played);
        }
        assert_eq!(
            pods.len(),
            1,
            "the manifest must hold exactly one Pod or Deployment"
        );
        let name = pods[0].clone();
        let file = std::env::temp_dir().join(format!("rofs-e2e-{name}.yaml"));
        std::fs::write(&file, &played).expect("write pod manifest");
        let mut pod = Pod {
            name,
            yaml: played,
            file,
            volumes,
            played_at: Instant::now(),
            kube_play_took: Duration::ZERO,
        };
        pod.teardown(); // leftovers of a killed earlier run
        for v in &pod.volumes {
            create_volume(v);
        }
        pod.played_at = Instant::now();
        let played = pod.kube_play();
        pod.kube_play_took = pod.played_at.elapsed();
        if let Err(e) = played {
            // kept init containers (PlayOptions) still have their logs: add them
            let mut msg = e;
            let ps = podman(&[
                "ps",
                "-a",
                "--filter",
                &format!("pod={}", pod.name),
                "--format",
                "{{.Names}}",
            ]);
            for ctr in String::from_utf8_lossy(&ps.stdout)
                .lines()
                .filter(|c| !c.ends_with("-infra"))
            {
                msg.push_str(&format!(
                    "\n--- log of {ctr} ---\n{}",
                    text(&podman(&["logs", ctr]))
                ));
            }
            return Err(msg);
        }
        Ok(pod)
    }

    fn kube_play(&self) -> Result<(), String> {
        let file = self.file.to_string_lossy().into_owned();
        let out = podman(&["kube", "play", &file]);
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "podman kube play {} failed ({}):\n{}\n--- manifest ---\n{}",
                file,
                out.status,
                text(&out),
                self.yaml
            ))
        }
    }

    /// `<pod>-<container>`, podman's name of a container of this pod.
    pub fn container(&self, c: &str) -> String {
        format!("{}-{c}", self.name)
    }

    /// The container's log (stdout and stderr).
    pub fn logs(&self, c: &str) -> String {
        text(&podman(&["logs", &self.container(c)]))
    }

    /// `(status, exit code)`, e.g. `("running", 0)`, `("exited", 1)`.
    pub fn state(&self, c: &str) -> (String, i32) {
        let out = podman_ok(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}}",
            &self.container(c),
        ]);
        let mut it = out.split_whitespace();
        let status = it.next().unwrap_or_default().to_string();
        let code = it.next().and_then(|c| c.parse().ok()).unwrap_or(-1);
        (status, code)
    }

    /// Waits (bounded) until the container is running.
    pub fn wait_running(&self, c: &str, timeout: Duration) {
        let start = Instant::now();
        loop {
            let (status, code) = self.state(c);
            if status == "running" {
                return;
            }
            assert!(
                start.elapsed() < timeout && status != "exited",
                "{} is {status} (exit code {code}), not running; log:\n{}",
                self.container(c),
                self.logs(c)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits (bounded) for the container to exit; returns its exit code.
    pub fn wait_exit(&self, c: &str, timeout: Duration) -> i32 {
        let start = Instant::now();
        loop {
            let (status, code) = self.state(c);
            if status == "exited" || status == "stopped" {
                return code;
            }
            assert!(
                start.elapsed() < timeout,
                "{} still {status} after {timeout:?}; log:\n{}",
                self.container(c),
                self.logs(c)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits (bounded) until the container's log contains `needle`; returns the log.
    pub fn wait_log(&self, c: &str, needle: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            let log = self.logs(c);
            if log.contains(needle) {
                return log;
            }
            assert!(
                start.elapsed() < timeout,
                "{:?} not in the log of {} after {timeout:?}:\n{log}",
                needle,
                self.container(c)
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// `podman exec <pod>-<c> ARGS` (the `kubectl exec` equivalent).
    pub fn exec(&self, c: &str, args: &[&str]) -> Output {
        let ctr = self.container(c);
        let mut full = vec!["exec", ctr.as_str()];
        full.extend_from_slice(args);
        podman(&full)
    }

    /// `podman exec <pod>-<c> /bin/sh -c SCRIPT`: stdout + stderr, whatever the exit status.
    pub fn sh(&self, c: &str, script: &str) -> String {
        text(&self.exec(c, &["/bin/sh", "-c", script]))
    }

    /// Asserts that writing to `/` in container `c` fails with EROFS (`touch` through the
    /// image's `/bin/sh`): the root file system is still read-only.
    pub fn assert_root_read_only(&self, c: &str) {
        let out = self.exec(c, &["/bin/sh", "-c", "touch /rofs-e2e-probe"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("Read-only file system"),
            "writing / in {} must fail with EROFS: {err}",
            self.container(c)
        );
    }

    /// A Kubernetes container restart, done as a pod stop + start (podman 4.3 cannot restart
    /// a single container of a kube pod: the pod stops when its last container stops, and
    /// `podman pod restart` races with that exit policy and often leaves the pod stopped).
    /// Init containers do not run again (podman removed them); emptyDir contents stay.
    /// Returns once container `c` has been running for a second.
    pub fn restart(&self, c: &str) {
        podman_ok(&["pod", "stop", "-t", "10", &self.name]);
        for attempt in 1..=5 {
            // let the exit-policy cleanup of the stopped containers finish first
            std::thread::sleep(Duration::from_millis(500 * attempt));
            podman_ok(&["pod", "start", &self.name]);
            std::thread::sleep(Duration::from_secs(1));
            if self.state(c).0 == "running" {
                return;
            }
        }
        panic!(
            "{} did not stay running after a pod restart; log:\n{}",
            self.container(c),
            self.logs(c)
        );
    }

    /// A Kubernetes pod-sandbox restart: the pod is removed and played again from the same
    /// manifest while its emptyDir volumes are kept, so the init containers run again over
    /// the existing contents (what the seed must survive).
    /// Returns once `kube play` returned (init containers done).
    pub fn replay(&self) -> Result<(), String> {
        podman(&["pod", "rm", "-f", "-t", "0", "--ignore", &self.name]);
        self.kube_play()
    }

    /// Removes the pod and its volumes; idempotent, never panics.
    fn teardown(&self) {
        let _ = podman(&["pod", "rm", "-f", "-t", "0", "--ignore", &self.name]);
        for v in &self.volumes {
            remove_volume(v);
        }
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        if std::env::var_os("ROFS_E2E_KEEP").is_some() {
            eprintln!(
                "ROFS_E2E_KEEP: leaving pod {} and {}",
                self.name,
                self.file.display()
            );
            return;
        }
        self.teardown();
        let _ = std::fs::remove_file(&self.file);
    }
}

// ---------------------------------------------------------------------------------
// HTTP

/// One `GET path` over HTTP/1.0 to 127.0.0.1:port: `(status, body)`.
pub fn http_get(port: u16, path: &str) -> Result<(u16, String), String> {
    http_get_at(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), path)
}

/// One `GET path` over HTTP/1.0 to `addr` (a local address: loopback, or a pod on this host's
/// bridge in the cluster suite): `(status, body)`.
pub fn http_get_at(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: rofs-tests\r\n\r\n"
    )
    .map_err(|e| format!("send: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| format!("read: {e}"))?;
    let raw = String::from_utf8_lossy(&raw);
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no HTTP status in {raw:?}"))?;
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Retries [`http_get`] until the status is `want` or `timeout` passes; returns the body.
/// Panics with the last answer (and the container's log, when given) on timeout.
pub fn wait_http(
    port: u16,
    path: &str,
    want: u16,
    timeout: Duration,
    pod: Option<(&Pod, &str)>,
) -> String {
    let start = Instant::now();
    loop {
        let last = http_get(port, path);
        if let Ok((status, body)) = &last {
            if *status == want {
                return body.clone();
            }
        }
        if start.elapsed() >= timeout {
            let log = pod
                .map(|(p, c)| format!("\n--- log of {} ---\n{}", p.container(c), p.logs(c)))
                .unwrap_or_default();
            panic!(
                "GET 127.0.0.1:{port}{path}: wanted {want}, last answer {last:?} after {timeout:?}{log}"
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity(&json!("16Mi")), Some(16 << 20));
        assert_eq!(parse_quantity(&json!("1G")), Some(1_000_000_000));
        assert_eq!(parse_quantity(&json!(512)), Some(512));
        assert_eq!(parse_quantity(&json!("1.5Ki")), Some(1536));
        assert_eq!(parse_quantity(&json!("1e3")), Some(1000));
        assert_eq!(parse_quantity(&json!("x")), None);
    }

    #[test]
    fn podmanize_renames_emptydirs_and_restart_policy() {
        let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: p1}
spec:
  securityContext: {fsGroup: 7}
  initContainers:
  - name: i
    image: x
    volumeMounts: [{name: data, mountPath: /d}]
  containers:
  - name: c
    image: x
    volumeMounts: [{name: data, mountPath: /d}, {name: cfg, mountPath: /c}, {name: mem, mountPath: /m}]
  volumes:
  - {name: data, emptyDir: {}}
  - {name: mem, emptyDir: {medium: Memory, sizeLimit: 8Mi}}
  - {name: cfg, configMap: {name: cfg}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {a: b}
"#;
        let (out, pods, dirs) = podmanize(yaml);
        assert_eq!(pods, vec!["p1"]);
        assert_eq!(
            dirs,
            vec![
                EmptyDir {
                    volume: "p1--data".into(),
                    memory: false,
                    size_limit: None,
                    fs_group: Some(7)
                },
                EmptyDir {
                    volume: "p1--mem".into(),
                    memory: true,
                    size_limit: Some(8 << 20),
                    fs_group: Some(7)
                },
            ]
        );
        let docs: Vec<Value> = serde_saphyr::from_multiple(&out).expect("reparse");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["spec"]["restartPolicy"], "OnFailure");
        assert_eq!(
            docs[0]["spec"]["initContainers"][0]["volumeMounts"][0]["name"],
            "p1--data"
        );
        assert_eq!(
            docs[0]["spec"]["containers"][0]["volumeMounts"][1]["name"],
            "cfg"
        );
        assert_eq!(
            docs[0]["spec"]["containers"][0]["volumeMounts"][2]["name"],
            "p1--mem"
        );
        assert_eq!(docs[1]["kind"], "ConfigMap");
    }

    #[test]
    fn podmanize_deployment() {
        let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: c, image: x}]\n";
        let (out, pods, dirs) = podmanize(yaml);
        assert_eq!(pods, vec!["d-pod-0"]);
        assert!(out.contains("\"replicas\": 1"), "{out}");
        assert!(dirs.is_empty());
        assert!(out.contains("\"Never\""));
    }
}
