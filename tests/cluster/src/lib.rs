//! Harness for rofs' tests on a real single-node Kubernetes cluster (`scripts/kube-up.sh`,
//! docs/cluster.md): kube-apiserver + etcd + controller-manager + scheduler + a kubelet on
//! containerd, all on this machine.
//!
//! What it gives a test:
//! - [`require_cluster!`]: skip (locally) or fail loudly (`CI=true`) when the cluster is not
//!   up or an image is not loaded into its containerd;
//! - [`Namespace`]: a namespace of its own (with labels), deleted on drop, also when the test
//!   panics; `kubectl` in it, waits for pods with the pod's description, events and logs on
//!   failure, `kubectl exec`, a container restart through containerd;
//! - [`http_get`] / [`wait_http`]: plain HTTP to a pod IP (the pods' bridge is on this host);
//! - `rofs` itself through [`rofs_e2e`] (`rofs_patch`, `rofs_bin`, image names).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub use rofs_e2e::{
    NGINX_IMAGE, NOSHELL_IMAGE, TOMCAT_IMAGE, rofs, rofs_bin, rofs_image, rofs_patch, unique_name,
    workspace_root,
};

/// Timeout of one kubectl call (a server-side apply or a dry run takes well under a second).
const KUBECTL_TIMEOUT_SECS: u32 = 120;

/// The cluster's state directory (`ROFS_KUBE_STATE`, default /var/lib/rofs-kube).
pub fn state_dir() -> PathBuf {
    std::env::var_os("ROFS_KUBE_STATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/rofs-kube"))
}

/// The admin kubeconfig: `KUBECONFIG`, else the one kube-up.sh wrote.
pub fn kubeconfig() -> PathBuf {
    std::env::var_os("KUBECONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| state_dir().join("admin.kubeconfig"))
}

/// `ROFS_KUBECTL`, else the kubectl built with the cluster (same version as the API server),
/// else `kubectl` on PATH.
pub fn kubectl_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("ROFS_KUBECTL") {
        return PathBuf::from(p);
    }
    std::fs::read_to_string(state_dir().join("bin-dir"))
        .ok()
        .map(|d| PathBuf::from(d.trim()).join("kubectl"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("kubectl"))
}

/// containerd's socket of the cluster (scripts/kube-env.sh).
pub const CONTAINERD_SOCK: &str = "/run/rofs-kube/containerd.sock";

fn text(out: &Output) -> String {
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    s
}

fn run(cmd: &mut Command, stdin: Option<&str>) -> Output {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let writer = stdin.map(|data| {
        let mut input = child.stdin.take().expect("stdin");
        let data = data.to_string();
        std::thread::spawn(move || {
            let _ = input.write_all(data.as_bytes());
        })
    });
    let out = child.wait_with_output().expect("wait for child");
    if let Some(w) = writer {
        let _ = w.join();
    }
    out
}

/// `timeout 120 kubectl --kubeconfig K ARGS` with `stdin`; the output whatever the status.
pub fn kubectl(args: &[&str], stdin: Option<&str>) -> Output {
    let kubeconfig = kubeconfig();
    let mut cmd = Command::new("timeout");
    cmd.arg(KUBECTL_TIMEOUT_SECS.to_string())
        .arg(kubectl_bin())
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(args);
    run(&mut cmd, stdin)
}

/// [`kubectl`], panicking with its output when it fails; returns stdout.
pub fn kubectl_ok(args: &[&str], stdin: Option<&str>) -> String {
    let out = kubectl(args, stdin);
    assert!(
        out.status.success(),
        "kubectl {} failed ({}):\n{}",
        args.join(" "),
        out.status,
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `kubectl ARGS -o json`, parsed.
pub fn kubectl_json(args: &[&str]) -> Value {
    let mut full = args.to_vec();
    full.extend(["-o", "json"]);
    let out = kubectl_ok(&full, None);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("kubectl {args:?}: not JSON ({e}): {out}"))
}

/// `ctr --address <cluster socket> -n k8s.io ARGS`.
pub fn ctr(args: &[&str]) -> Output {
    let mut cmd = Command::new("timeout");
    cmd.args(["60", "ctr", "--address", CONTAINERD_SOCK, "-n", "k8s.io"])
        .args(args);
    run(&mut cmd, None)
}

// ---------------------------------------------------------------------------------
// Environment checks

fn in_ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true") | Ok("1"))
}

/// `Ok(())` when the API server is ready, the node Ready, and every image loaded.
pub fn check_cluster(images: &[&str]) -> Result<(), String> {
    let out = kubectl(&["get", "--raw", "/readyz"], None);
    if !out.status.success() || String::from_utf8_lossy(&out.stdout).trim() != "ok" {
        return Err(format!(
            "the API server is not ready ({}); start the cluster with scripts/kube-up.sh",
            text(&out).trim()
        ));
    }
    let node = kubectl(
        &[
            "get",
            "nodes",
            "-o",
            "jsonpath={.items[*].status.conditions[?(@.type==\"Ready\")].status}",
        ],
        None,
    );
    if String::from_utf8_lossy(&node.stdout).trim() != "True" {
        return Err(format!("the node is not Ready: {}", text(&node).trim()));
    }
    if !images.is_empty() {
        let have = ctr(&["images", "ls", "-q"]);
        let have = String::from_utf8_lossy(&have.stdout);
        let missing: Vec<&str> = images
            .iter()
            .copied()
            .filter(|i| !have.lines().any(|l| l == *i))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "images {missing:?} are not in the cluster's containerd; run scripts/build-images.sh \
                 and scripts/kube-load-image.sh {}",
                missing.join(" ")
            ));
        }
    }
    Ok(())
}

/// `true` when the test can run. Otherwise: with `CI=true` it panics (a CI run must not
/// silently skip), else it prints why and the test returns.
pub fn ready(test: &str, images: &[&str]) -> bool {
    match check_cluster(images) {
        Ok(()) => true,
        Err(why) if in_ci() => panic!("cluster test {test} cannot run in CI: {why}"),
        Err(why) => {
            eprintln!("SKIPPED cluster test {test}: {why} (set CI=true to make this an error)");
            false
        }
    }
}

/// `require_cluster!(IMAGE, ...)` at the top of a test: returns early (skip) or panics in CI.
#[macro_export]
macro_rules! require_cluster {
    ($($img:expr),* $(,)?) => {
        if !$crate::ready(module_path!(), &[$($img),*]) {
            return;
        }
    };
}

// ---------------------------------------------------------------------------------
// Namespaces

/// A namespace of the test's own; deleted (without waiting) when dropped, also on panic.
/// `ROFS_KUBE_KEEP=1` keeps it for a look.
pub struct Namespace {
    pub name: String,
}

impl Namespace {
    /// Creates `<prefix>-<pid>-<n>` with `labels`, and waits for its `default`
    /// ServiceAccount (pods are refused until the controller-manager made it).
    pub fn create(prefix: &str, labels: &[(&str, &str)]) -> Namespace {
        let name = unique_name(prefix);
        let mut yaml = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n");
        if !labels.is_empty() {
            yaml.push_str("  labels:\n");
            for (k, v) in labels {
                yaml.push_str(&format!("    {k}: \"{v}\"\n"));
            }
        }
        kubectl_ok(&["create", "-f", "-"], Some(&yaml));
        let ns = Namespace { name };
        let start = Instant::now();
        while !ns
            .kubectl(&["get", "serviceaccount", "default"], None)
            .status
            .success()
        {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no ServiceAccount default in {} after 60 s",
                ns.name
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        ns
    }

    /// `kubectl -n NS ARGS`.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        kubectl(&full, stdin)
    }

    /// `kubectl -n NS ARGS`, panicking with the output on failure; returns stdout.
    pub fn kubectl_ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        kubectl_ok(&full, stdin)
    }

    /// `kubectl -n NS ARGS -o json`, parsed.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        kubectl_json(&full)
    }

    /// `kubectl apply -f -` of `yaml` in this namespace.
    pub fn apply(&self, yaml: &str) -> String {
        self.kubectl_ok(&["apply", "-f", "-"], Some(yaml))
    }

    /// The pod's description, the namespace's events and every container's log: what a test
    /// failure needs to say.
    pub fn diagnose(&self, pod: &str) -> String {
        let describe = self.kubectl(&["describe", "pod", pod], None);
        let events = self.kubectl(&["get", "events", "--sort-by=.lastTimestamp"], None);
        let logs = self.kubectl(
            &["logs", pod, "--all-containers", "--prefix", "--tail=40"],
            None,
        );
        let prev = self.kubectl(
            &[
                "logs",
                pod,
                "--all-containers",
                "--prefix",
                "--previous",
                "--tail=20",
            ],
            None,
        );
        format!(
            "--- kubectl describe pod {pod} ---\n{}\n--- events of {} ---\n{}\n--- logs ---\n{}\n--- previous logs ---\n{}",
            text(&describe),
            self.name,
            text(&events),
            text(&logs),
            text(&prev)
        )
    }

    /// The pod object.
    pub fn pod(&self, pod: &str) -> Value {
        self.json(&["get", "pod", pod])
    }

    /// Names of the pods matching the label selector.
    pub fn pods(&self, selector: &str) -> Vec<String> {
        let list = self.json(&["get", "pods", "-l", selector]);
        list["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits (bounded) for exactly one pod matching `selector`; returns its name.
    pub fn wait_one_pod(&self, selector: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            let pods = self.pods(selector);
            if pods.len() == 1 {
                return pods[0].clone();
            }
            if start.elapsed() >= timeout {
                let events = self.kubectl(&["get", "events"], None);
                panic!(
                    "{} pods {pods:?} for {selector} in {} after {timeout:?}; events:\n{}",
                    pods.len(),
                    self.name,
                    text(&events)
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Waits (bounded) until the pod is Ready; returns the pod object. Fails early, with the
    /// diagnosis, when a container cannot start (image, config) or crash-loops.
    pub fn wait_ready(&self, pod: &str, timeout: Duration) -> Value {
        let start = Instant::now();
        loop {
            let p = self.kubectl(&["get", "pod", pod, "-o", "json"], None);
            if p.status.success() {
                let p: Value = serde_json::from_slice(&p.stdout).expect("pod JSON");
                if pod_ready(&p) {
                    return p;
                }
                if let Some(why) = stuck(&p) {
                    panic!("pod {pod} cannot start: {why}\n{}", self.diagnose(pod));
                }
            }
            if start.elapsed() >= timeout {
                panic!(
                    "pod {pod} not Ready after {timeout:?}\n{}",
                    self.diagnose(pod)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `kubectl exec POD -c C -- ARGS`.
    pub fn exec(&self, pod: &str, c: &str, args: &[&str]) -> Output {
        let mut full = vec!["exec", pod, "-c", c, "--"];
        full.extend_from_slice(args);
        self.kubectl(&full, None)
    }

    /// `kubectl exec POD -c C -- /bin/sh -c SCRIPT`: stdout + stderr, whatever the status.
    pub fn sh(&self, pod: &str, c: &str, script: &str) -> String {
        text(&self.exec(pod, c, &["/bin/sh", "-c", script]))
    }

    /// `kubectl logs POD -c C`.
    pub fn logs(&self, pod: &str, c: &str) -> String {
        text(&self.kubectl(&["logs", pod, "-c", c], None))
    }

    /// Asserts that writing to `/` in the container fails with EROFS.
    pub fn assert_root_read_only(&self, pod: &str, c: &str) {
        let out = self.exec(pod, c, &["/bin/sh", "-c", "touch /rofs-cluster-probe"]);
        let err = text(&out);
        assert!(
            !out.status.success() && err.contains("Read-only file system"),
            "writing / in {pod}/{c} must fail with EROFS: {err}"
        );
    }

    /// A container restart as the kubelet does it after a crash: the container's task is
    /// killed through containerd, the kubelet starts a new container in the same pod (same
    /// volumes, init containers do not run again). Returns the Ready pod with the restart
    /// counted.
    pub fn kill_container(&self, pod: &str, c: &str, timeout: Duration) -> Value {
        let p = self.pod(pod);
        let status = container_status(&p, c)
            .unwrap_or_else(|| panic!("no status of container {c} in {pod}"));
        let restarts = status["restartCount"].as_u64().unwrap_or(0);
        let id = status["containerID"]
            .as_str()
            .and_then(|id| id.strip_prefix("containerd://"))
            .unwrap_or_else(|| panic!("no containerd ID for {c}: {status}"))
            .to_string();
        let out = ctr(&["tasks", "kill", "-s", "SIGKILL", &id]);
        assert!(out.status.success(), "ctr tasks kill {id}: {}", text(&out));
        let start = Instant::now();
        loop {
            let p = self.pod(pod);
            let counted = container_status(&p, c)
                .and_then(|s| s["restartCount"].as_u64())
                .unwrap_or(0)
                > restarts;
            if counted && pod_ready(&p) {
                return p;
            }
            assert!(
                start.elapsed() < timeout,
                "{pod}/{c} not restarted and Ready after {timeout:?}\n{}",
                self.diagnose(pod)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        if std::env::var_os("ROFS_KUBE_KEEP").is_some() {
            eprintln!("ROFS_KUBE_KEEP: leaving namespace {}", self.name);
            return;
        }
        let _ = kubectl(
            &[
                "delete",
                "namespace",
                &self.name,
                "--wait=false",
                "--ignore-not-found",
            ],
            None,
        );
    }
}

/// The status of container (or init container) `c`.
pub fn container_status<'a>(pod: &'a Value, c: &str) -> Option<&'a Value> {
    ["containerStatuses", "initContainerStatuses"]
        .iter()
        .filter_map(|k| pod["status"][k].as_array())
        .flatten()
        .find(|s| s["name"].as_str() == Some(c))
}

/// `status.conditions[Ready]` is True.
pub fn pod_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// Why the pod will not become Ready by waiting longer, if it can tell.
fn stuck(pod: &Value) -> Option<String> {
    const FATAL: &[&str] = &[
        "ErrImageNeverPull",
        "ErrImagePull",
        "ImagePullBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
        "InvalidImageName",
        "CrashLoopBackOff",
        "RunContainerError",
    ];
    if pod["status"]["phase"] == "Failed" {
        return Some("phase Failed".into());
    }
    ["containerStatuses", "initContainerStatuses"]
        .iter()
        .filter_map(|k| pod["status"][k].as_array())
        .flatten()
        .find_map(|s| {
            let reason = s["state"]["waiting"]["reason"].as_str()?;
            FATAL.contains(&reason).then(|| {
                format!(
                    "container {} waiting: {reason}: {}",
                    s["name"], s["state"]["waiting"]["message"]
                )
            })
        })
}

/// The pod's IP (on the cluster's bridge, on this host).
pub fn pod_ip(pod: &Value) -> String {
    pod["status"]["podIP"]
        .as_str()
        .unwrap_or_else(|| panic!("pod without IP: {}", pod["status"]))
        .to_string()
}

// ---------------------------------------------------------------------------------
// HTTP

/// One `GET path` over HTTP/1.0 to `ip:port`: `(status, body)`.
pub fn http_get(ip: &str, port: u16, path: &str) -> Result<(u16, String), String> {
    let addr: SocketAddr = format!("{ip}:{port}")
        .parse()
        .map_err(|e| format!("{ip}:{port}: {e}"))?;
    rofs_e2e::http_get_at(addr, path)
}

/// Retries [`http_get`] until the status is `want` or `timeout` passes; returns the body.
/// On timeout panics with the last answer and `diagnose()`.
pub fn wait_http(
    ip: &str,
    port: u16,
    path: &str,
    want: u16,
    timeout: Duration,
    diagnose: impl Fn() -> String,
) -> String {
    let start = Instant::now();
    loop {
        let last = http_get(ip, port, path);
        if let Ok((status, body)) = &last {
            if *status == want {
                return body.clone();
            }
        }
        if start.elapsed() >= timeout {
            panic!(
                "GET {ip}:{port}{path}: wanted {want}, last answer {last:?} after {timeout:?}\n{}",
                diagnose()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The YAML documents of `text`, as JSON values (null documents dropped).
pub fn documents(text: &str) -> Vec<Value> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(text).unwrap_or_else(|e| panic!("not valid YAML: {e}\n{text}"));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}
