//! `rofs webhook` end to end: the pod the webhook patches runs under podman.
//!
//! The test makes certificates with `rofs webhook certs`, starts `rofs webhook` on a free
//! loopback port, and sends it what the API server would: an `admission.k8s.io/v1`
//! AdmissionReview (Pod CREATE) over HTTPS, with curl trusting only the printed `caBundle`
//! and connecting to the Service name the serving certificate is for (`--resolve` to
//! 127.0.0.1). The returned base64 JSONPatch is applied (RFC 6902, the `json-patch` crate) to
//! the pod that was sent; the result must be exactly `rofs patch` of the same pod, must need
//! no further patch when reviewed again (reinvocation), and must serve with its root read-only.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use rofs_e2e::{
    NGINX_IMAGE, PlayOptions, Pod, free_port, require, rofs, rofs_bin, rofs_image, unique_name,
    wait_http,
};
use serde_json::{Value, json};

/// The Service the certificate is made for (`rofs webhook certs` defaults); curl resolves it
/// to 127.0.0.1, as the API server resolves it to the webhook's pods.
const SERVICE: &str = "rofs-webhook";
const NAMESPACE: &str = "rofs-system";

/// The nginx pod of `nginx.rs` (read-only root, `hostPort`), opted in by annotations.
fn pod_yaml(name: &str, port: u16, agent_image: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: nginx}}
  annotations:
    rofs.io/profile: nginx
    rofs.io/agent-image: {agent_image}
spec:
  containers:
  - name: nginx
    image: {NGINX_IMAGE}
    ports:
    - {{containerPort: 80, hostPort: {port}}}
    securityContext:
      readOnlyRootFilesystem: true
"#
    )
}

/// A directory removed on drop (unless `ROFS_E2E_KEEP`).
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> TempDir {
        let dir = std::env::temp_dir().join(unique_name(prefix));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("ROFS_E2E_KEEP").is_some() {
            eprintln!("ROFS_E2E_KEEP: leaving {}", self.0.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `rofs webhook` as a child process; killed (and reaped) on drop, also on panic.
struct Webhook {
    child: Child,
    port: u16,
    ca: PathBuf,
    log: PathBuf,
}

impl Webhook {
    /// Certificates into `dir` with `rofs webhook certs` (the printed caBundle, decoded, is
    /// the CA curl trusts), then the server on 127.0.0.1:<free port>, waited for on /readyz.
    fn start(dir: &Path) -> Webhook {
        let certs = dir.join("certs");
        let certs_s = certs.to_string_lossy().into_owned();
        let out = rofs(
            &[
                "webhook",
                "certs",
                "--out",
                &certs_s,
                "--service",
                SERVICE,
                "--namespace",
                NAMESPACE,
            ],
            "",
        );
        assert!(
            out.status.success(),
            "rofs webhook certs failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let bundle = String::from_utf8_lossy(&out.stdout);
        let ca_pem = base64::engine::general_purpose::STANDARD
            .decode(bundle.trim())
            .unwrap_or_else(|e| panic!("the printed caBundle is not base64 ({e}): {bundle:?}"));
        assert_eq!(
            ca_pem,
            std::fs::read(certs.join("ca.crt")).expect("read ca.crt"),
            "the printed caBundle is ca.crt"
        );
        let ca = dir.join("ca-bundle.pem");
        std::fs::write(&ca, &ca_pem).expect("write the caBundle");

        let port = free_port();
        let log = dir.join("webhook.log");
        let child = Command::new(rofs_bin())
            .args(["webhook", "--tls-cert"])
            .arg(certs.join("tls.crt"))
            .arg("--tls-key")
            .arg(certs.join("tls.key"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--log-level", "debug"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("create webhook.log"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", rofs_bin().display()));
        let mut webhook = Webhook {
            child,
            port,
            ca,
            log,
        };
        webhook.wait_ready(Duration::from_secs(30));
        webhook
    }

    fn wait_ready(&mut self, timeout: Duration) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("rofs webhook exited ({status}):\n{}", self.log());
            }
            let (ok, out) = self.curl(&["/readyz"]);
            if ok {
                return;
            }
            assert!(
                start.elapsed() < timeout,
                "rofs webhook not ready after {timeout:?}: {out}\n--- webhook log ---\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `curl` over HTTPS to `https://rofs-webhook.rofs-system.svc:<port><path>`, trusting
    /// only the caBundle; `args[0]` is the path, the rest extra curl arguments.
    /// `(success, stdout + stderr)`.
    fn curl(&self, args: &[&str]) -> (bool, String) {
        let host = format!("{SERVICE}.{NAMESPACE}.svc");
        let out = Command::new("curl")
            .args(["-sS", "--fail-with-body", "--max-time", "10", "--cacert"])
            .arg(&self.ca)
            .args(["--resolve", &format!("{host}:{}:127.0.0.1", self.port)])
            .args(&args[1..])
            .arg(format!("https://{host}:{}{}", self.port, args[0]))
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run curl ({e}): run scripts/setup-podman.sh"));
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    /// POSTs an AdmissionReview around `pod` to /mutate; returns the review's `response`.
    fn review(&self, pod: &Value, dir: &Path) -> Value {
        let uid = fresh_uid();
        let review = json!({
            "kind": "AdmissionReview",
            "apiVersion": "admission.k8s.io/v1",
            "request": {
                "uid": uid,
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
                "requestResource": {"group": "", "version": "v1", "resource": "pods"},
                "name": pod["metadata"]["name"],
                "namespace": "default",
                "operation": "CREATE",
                "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]},
                "object": pod,
                "oldObject": null,
                "dryRun": false,
                "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1", "fieldManager": "kubectl-client-side-apply"}
            }
        });
        let file = dir.join(format!("review-{uid}.json"));
        std::fs::write(&file, serde_json::to_vec(&review).expect("serialize")).expect("write");
        let (ok, out) = self.curl(&[
            "/mutate?timeout=2s",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &format!("@{}", file.display()),
        ]);
        assert!(
            ok,
            "POST /mutate failed: {out}\n--- webhook log ---\n{}",
            self.log()
        );
        let answer: Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("the answer is not JSON ({e}): {out}"));
        assert_eq!(answer["apiVersion"], "admission.k8s.io/v1", "{answer:#}");
        assert_eq!(answer["kind"], "AdmissionReview", "{answer:#}");
        let response = answer["response"].clone();
        assert_eq!(response["uid"], uid.as_str(), "the response echoes the uid");
        assert_eq!(response["allowed"], true, "{answer:#}");
        response
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A UUID-shaped uid, new for every review (the API server sends a v4 UUID).
fn fresh_uid() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as u64;
    let n = N.fetch_add(1, Ordering::SeqCst);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        std::process::id(),
        n & 0xffff,
        (nanos >> 48) & 0xfff,
        (nanos >> 36) & 0xfff,
        nanos & 0xffff_ffff_ffff
    )
}

/// The decoded JSONPatch of an allowed response (`patchType: JSONPatch`).
fn patch_of(response: &Value) -> json_patch::Patch {
    assert_eq!(response["patchType"], "JSONPatch", "{response:#}");
    let b64 = response["patch"].as_str().expect("patch is a string");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("patch is base64");
    serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "patch is not a JSONPatch ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    })
}

#[test]
fn webhook_patched_pod_serves_with_readonly_root() {
    let agent_image = rofs_image();
    require!(NGINX_IMAGE, &agent_image);
    let dir = TempDir::new("rofs-e2e-webhook");
    let webhook = Webhook::start(&dir.0);

    let name = unique_name("e2e-webhook-nginx");
    let port = free_port();
    let pod: Value =
        serde_saphyr::from_str(&pod_yaml(&name, port, &agent_image)).expect("parse the pod");

    // the API server's review -> the webhook's patch, applied to the pod it sent
    let response = webhook.review(&pod, &dir.0);
    let patch = patch_of(&response);
    assert!(!patch.0.is_empty(), "no patch for an opted-in pod");
    assert_eq!(
        response.get("warnings"),
        None,
        "unexpected warnings: {response:#}"
    );
    let mut patched = pod.clone();
    json_patch::patch(&mut patched, &patch)
        .unwrap_or_else(|e| panic!("the patch does not apply ({e}): {response:#}"));

    // exactly what `rofs patch` makes of the same pod (settings from the same annotations)
    let input = serde_json::to_string_pretty(&pod).expect("serialize");
    let out = rofs(&["patch"], &input);
    assert!(
        out.status.success(),
        "rofs patch failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: Value = serde_json::from_slice(&out.stdout).expect("rofs patch prints JSON for JSON");
    let (from_webhook, from_cli) = (
        serde_json::to_string_pretty(&patched).expect("serialize"),
        serde_json::to_string_pretty(&cli).expect("serialize"),
    );
    assert_eq!(
        from_webhook, from_cli,
        "the webhook's pod differs from `rofs patch`"
    );

    // reinvocation: the patched pod needs nothing more
    let again = webhook.review(&patched, &dir.0);
    assert!(
        again.get("patch").is_none() || patch_of(&again).0.is_empty(),
        "a second review patched again: {again:#}"
    );

    // and it runs: 200 from nginx, root read-only, seeded by the agent of `agent_image`
    let opts = PlayOptions {
        keep_init_containers: true,
    };
    let pod = Pod::try_play_with(&from_webhook, opts).unwrap_or_else(|e| panic!("{e}"));
    let body = wait_http(
        port,
        "/rofs-e2e.txt",
        200,
        Duration::from_secs(30),
        Some((&pod, "nginx")),
    );
    assert_eq!(body, "rofs-e2e-nginx ok\n");
    wait_http(port, "/", 200, Duration::from_secs(5), None);
    pod.assert_root_read_only("nginx");
    let seed_log = pod.logs("rofs-seed-nginx");
    assert!(
        seed_log.contains("/var/lib/nginx -> ") && seed_log.contains(": done: "),
        "{seed_log}"
    );
    let install = pod.yaml.contains(&format!("\"image\": \"{agent_image}\""));
    assert!(install, "the agent image is {agent_image}:\n{}", pod.yaml);

    // the server logged the review as patched
    let log = webhook.log();
    assert!(log.contains("patched"), "webhook log:\n{log}");
}
