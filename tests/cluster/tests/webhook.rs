//! Issue 11, items 4 and 5: the webhook installed from deploy/webhook (and from the Helm
//! chart rendered by the Helm engine), really called by the API server.
//!
//! The installation in rofs-system is shared by the tests of this module, which run one at a
//! time (`WEBHOOK`): the rotation and "webhook down" cases change it for everyone.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use rofs_cluster::{
    NGINX_IMAGE, Namespace, kubectl, kubectl_json, kubectl_ok, require_cluster, rofs, rofs_image,
    rofs_patch, workspace_root,
};
use serde_json::{Value, json};

const SYSTEM_NS: &str = "rofs-system";
const INJECT: (&str, &str) = ("rofs.io/inject", "enabled");
const RESTRICTED: (&str, &str) = ("pod-security.kubernetes.io/enforce", "restricted");

static WEBHOOK: Mutex<()> = Mutex::new(());
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();

/// Serializes the webhook tests and installs the webhook once per test process.
fn webhook() -> MutexGuard<'static, ()> {
    let guard = WEBHOOK.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(e) = INSTALLED.get_or_init(install) {
        panic!("installing the webhook failed: {e}");
    }
    guard
}

fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rofs-cluster-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// `rofs webhook certs --out DIR`; returns the printed caBundle.
fn certs(dir: &Path, service: &str, namespace: &str) -> String {
    let out = rofs(
        &[
            "webhook",
            "certs",
            "--out",
            &dir.to_string_lossy(),
            "--service",
            service,
            "--namespace",
            namespace,
        ],
        "",
    );
    assert!(
        out.status.success(),
        "rofs webhook certs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The TLS Secret, created or replaced (`kubectl create --dry-run=client | kubectl apply`).
fn apply_tls_secret(ns: &str, name: &str, dir: &Path) {
    let secret = kubectl_ok(
        &[
            "-n",
            ns,
            "create",
            "secret",
            "tls",
            name,
            "--cert",
            &dir.join("tls.crt").to_string_lossy(),
            "--key",
            &dir.join("tls.key").to_string_lossy(),
            "--dry-run=client",
            "-o",
            "yaml",
        ],
        None,
    );
    kubectl_ok(&["apply", "-f", "-"], Some(&secret));
}

/// A deploy/webhook file with the test's image (the locally built rofs image, never pulled)
/// and the config's agent image set to it too.
fn deploy_file(name: &str) -> String {
    let text = std::fs::read_to_string(workspace_root().join("deploy/webhook").join(name))
        .unwrap_or_else(|e| panic!("deploy/webhook/{name}: {e}"));
    let image = rofs_image();
    text.replace(
        "image: ghcr.io/rofs-dev/rofs:0.1.0",
        &format!("image: {image}"),
    )
    .replace("imagePullPolicy: IfNotPresent", "imagePullPolicy: Never")
    .replace(
        "    onInvalid: deny\n",
        &format!("    onInvalid: deny\n    agentImage: {image}\n"),
    )
}

/// The install of docs/webhook.md ("With `rofs webhook certs`"), from scratch.
fn install() -> Result<(), String> {
    // a leftover of an earlier run (its Secret and caBundle do not match new certificates)
    kubectl(
        &[
            "delete",
            "mutatingwebhookconfiguration",
            "rofs",
            "--ignore-not-found",
        ],
        None,
    );
    kubectl(
        &[
            "delete",
            "namespace",
            SYSTEM_NS,
            "--ignore-not-found",
            "--timeout=120s",
        ],
        None,
    );
    let dir = tmp_dir("certs");
    let ca_bundle = certs(&dir, "rofs-webhook", SYSTEM_NS);
    kubectl_ok(
        &["apply", "-f", "-"],
        Some(&deploy_file("00-namespace.yaml")),
    );
    apply_tls_secret(SYSTEM_NS, "rofs-webhook-tls", &dir);
    for f in [
        "10-serviceaccount.yaml",
        "20-configmap.yaml",
        "30-deployment.yaml",
        "40-pdb.yaml",
        "50-service.yaml",
    ] {
        kubectl_ok(&["apply", "-f", "-"], Some(&deploy_file(f)));
    }
    rollout(SYSTEM_NS, "rofs-webhook")?;
    let mwc = deploy_file("60-mutatingwebhookconfiguration.yaml")
        .replace("caBundle: \"\"", &format!("caBundle: {ca_bundle}"));
    kubectl_ok(&["apply", "-f", "-"], Some(&mwc));
    // the configuration is live once a pod in an opted-in namespace comes back patched
    let probe = Namespace::create("wh-probe", &[INJECT]);
    wait_patched(&probe, Duration::from_secs(60))
}

fn rollout(ns: &str, deployment: &str) -> Result<(), String> {
    let out = kubectl(
        &[
            "-n",
            ns,
            "rollout",
            "status",
            &format!("deployment/{deployment}"),
            "--timeout=180s",
        ],
        None,
    );
    if out.status.success() {
        return Ok(());
    }
    let describe = kubectl(&["-n", ns, "describe", "pods"], None);
    let logs = kubectl(
        &[
            "-n",
            ns,
            "logs",
            "-l",
            "app.kubernetes.io/name=rofs-webhook",
            "--tail=30",
        ],
        None,
    );
    Err(format!(
        "rollout of {ns}/{deployment}: {}{}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&describe.stdout),
        String::from_utf8_lossy(&logs.stdout)
    ))
}

/// A pod rofs changes when called: nginx with the nginx profile by annotation, meeting the
/// "restricted" Pod Security standard, no service account token (so the API server adds no
/// volume of its own and the stored pod can be compared as a whole).
fn app_pod(name: &str, labels: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: wh-test{labels}}}
  annotations:
    rofs.io/profile: nginx
spec:
  automountServiceAccountToken: false
  securityContext:
    runAsNonRoot: true
    runAsUser: 33
    runAsGroup: 33
    seccompProfile: {{type: RuntimeDefault}}
    sysctls: [{{name: net.ipv4.ip_unprivileged_port_start, value: "0"}}]
  containers:
  - name: nginx
    image: {NGINX_IMAGE}
    imagePullPolicy: Never
    securityContext:
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
      capabilities: {{drop: [ALL]}}
"#
    )
}

/// Is this pod rewritten by rofs (its seed init container is there)?
fn is_patched(pod: &Value) -> bool {
    pod["spec"]["initContainers"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["name"] == "rofs-seed-nginx"))
}

/// Server-side dry-run create of a pod (the API server runs admission, webhooks included, and
/// stores nothing); the pod as it would be stored.
fn dry_run_create(ns: &Namespace, yaml: &str) -> Result<Value, String> {
    let out = ns.kubectl(
        &["create", "--dry-run=server", "-o", "json", "-f", "-"],
        Some(yaml),
    );
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

fn wait_patched(ns: &Namespace, timeout: Duration) -> Result<(), String> {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < timeout {
        match dry_run_create(ns, &app_pod("probe", "")) {
            Ok(pod) if is_patched(&pod) => return Ok(()),
            Ok(_) => last = "admitted unpatched".into(),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Err(format!(
        "no pod came back patched within {timeout:?}: {last}"
    ))
}

/// Sum of a metric (all label sets) over the webhook pods of `ns`, read through the API
/// server's pod proxy (loopback only).
fn metric(ns: &str, name: &str) -> u64 {
    let pods = kubectl_json(&[
        "-n",
        ns,
        "get",
        "pods",
        "-l",
        "app.kubernetes.io/name=rofs-webhook",
    ]);
    let mut sum = 0;
    for p in pods["items"].as_array().into_iter().flatten() {
        if p["status"]["phase"] != "Running" {
            continue;
        }
        let pod = p["metadata"]["name"].as_str().unwrap_or_default();
        let text = kubectl_ok(
            &[
                "get",
                "--raw",
                &format!("/api/v1/namespaces/{ns}/pods/https:{pod}:8443/proxy/metrics"),
            ],
            None,
        );
        sum += text
            .lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64;
    }
    sum
}

/// What a pod's spec and annotations look like apart from what differs between any two pods
/// (names, uids, node, times, the ReplicaSet's hash label, the token volume's name).
fn comparable(pod: &Value) -> Value {
    let mut spec = pod["spec"].clone();
    if let Some(s) = spec.as_object_mut() {
        s.remove("nodeName");
    }
    same_token_volume_name(&mut spec);
    json!({
        "annotations": pod["metadata"]["annotations"],
        "spec": spec,
    })
}

/// The service account token's volume is `kube-api-access-` and 5 random characters, another
/// in every pod: one name for all, so that two pods compare.
fn same_token_volume_name(v: &mut Value) {
    match v {
        Value::String(s) if s.starts_with("kube-api-access-") => *s = "kube-api-access-*".into(),
        Value::Array(items) => items.iter_mut().for_each(same_token_volume_name),
        Value::Object(map) => map.values_mut().for_each(same_token_volume_name),
        _ => {}
    }
}

/// Item 5: a pod in a namespace that did not opt in, a `restricted` one among them, is
/// admitted exactly as written and the webhook is not even called for it.
#[test]
fn not_opted_in_namespaces_are_untouched_and_not_called() {
    require_cluster!(NGINX_IMAGE, &rofs_image());
    let _lock = webhook();
    let plain = Namespace::create("wh-plain", &[]);
    let restricted = Namespace::create("wh-restricted", &[RESTRICTED]);
    let before = metric(SYSTEM_NS, "rofs_webhook_requests_total");
    for ns in [&plain, &restricted] {
        let written = app_pod("app", "");
        let created: Value = serde_json::from_str(
            &ns.kubectl_ok(&["create", "-o", "json", "-f", "-"], Some(&written)),
        )
        .expect("JSON");
        let expected = dry_run_like_written(&written);
        assert_eq!(
            comparable(&created),
            comparable(&expected),
            "{}: the pod was changed at admission",
            ns.name
        );
        assert!(!is_patched(&created));
    }
    let after = metric(SYSTEM_NS, "rofs_webhook_requests_total");
    assert_eq!(
        before, after,
        "the webhook was called for pods that did not opt in"
    );

    // the check can fail: the same pod in an opted-in namespace is changed, and counted
    let opted = Namespace::create("wh-opted", &[INJECT, RESTRICTED]);
    let created: Value = serde_json::from_str(&opted.kubectl_ok(
        &["create", "-o", "json", "-f", "-"],
        Some(&app_pod("app", "")),
    ))
    .expect("JSON");
    assert!(is_patched(&created), "opted-in pod not patched: {created}");
    assert!(metric(SYSTEM_NS, "rofs_webhook_requests_total") > after);
}

/// The pod as the API server stores it without any webhook: a dry run (nothing stored) in
/// `default`, which no test labels for opt-in.
fn dry_run_like_written(written: &str) -> Value {
    let out = kubectl(
        &[
            "-n",
            "default",
            "create",
            "--dry-run=server",
            "-o",
            "json",
            "-f",
            "-",
        ],
        Some(written),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// An nginx Deployment with the profile by annotation, restricted, non-root.
fn deployment(name: &str) -> String {
    let pod = app_pod("x", "");
    let spec = pod.split_once("spec:\n").map(|(_, s)| s).expect("pod spec");
    let spec: String = spec.lines().map(|l| format!("    {l}\n")).collect();
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
      annotations:
        rofs.io/profile: nginx
    spec:
{spec}"#
    )
}

/// Item 4: a Deployment in an opted-in namespace gets pods identical to those of the
/// `rofs patch`ed Deployment (in a namespace not opted in), and they run.
#[test]
fn deployment_pods_equal_rofs_patch_output_and_run() {
    require_cluster!(NGINX_IMAGE, &rofs_image());
    let _lock = webhook();
    let opted = Namespace::create("wh-deploy", &[INJECT, RESTRICTED]);
    let plain = Namespace::create("wh-patched", &[RESTRICTED]);
    let yaml = deployment("web");
    opted.apply(&yaml);
    let patched = rofs_patch(&["--agent-image", &rofs_image()], &yaml);
    plain.apply(&patched);
    let a = opted.wait_one_pod("app=web", Duration::from_secs(60));
    let b = plain.wait_one_pod("app=web", Duration::from_secs(60));
    let a = opted.wait_ready(&a, Duration::from_secs(120));
    let b = plain.wait_ready(&b, Duration::from_secs(120));
    assert!(is_patched(&a), "{a}");
    assert_eq!(
        comparable(&a),
        comparable(&b),
        "webhook-patched pod (left) differs from the rofs patch pod (right)"
    );
    let name = a["metadata"]["name"].as_str().expect("name");
    opted.assert_root_read_only(name, "nginx");
    let ip = rofs_cluster::pod_ip(&a);
    rofs_cluster::wait_http(
        &ip,
        80,
        "/rofs-e2e.txt",
        200,
        Duration::from_secs(30),
        || opted.diagnose(name),
    );
}

/// Item 4: the webhook's own output (what it sees on reinvocation, or a manifest already
/// fixed by `rofs patch`) is admitted unchanged: the webhook is called, answers with no patch
/// (`rofs_webhook_unchanged_total` +1, `rofs_webhook_mutations_total` not), and the stored pod
/// is the pod as written.
///
/// The API server sends the pod *after defaulting* (`terminationMessagePath`, `resources: {}`
/// in rofs's own containers): before the core kept those defaults (crates/core/src/
/// api_defaults.rs) the webhook answered with a JSON Patch removing them, which only a real API
/// server showed. See docs/cluster.md.
#[test]
fn already_patched_pod_is_admitted_unchanged() {
    require_cluster!(NGINX_IMAGE, &rofs_image());
    let _lock = webhook();
    admitted_unchanged("wh-again", &app_pod("app", ""));
}

/// The same with the service account token mounted, as by default: the API server's
/// ServiceAccount admission plugin (before any webhook) adds a read-only mount of its projected
/// `kube-api-access-…` volume to every container, rofs's own too. Before rofs took such a mount
/// for its own containers' (crates/core/src/status.rs), it refused the pod as carrying a forged
/// `rofs.io/status` and the webhook denied it; before it kept the mount on the containers it
/// re-emits (crates/core/src/api_defaults.rs) it would have answered with a patch removing it.
#[test]
fn already_patched_pod_with_service_account_token_is_admitted_unchanged() {
    require_cluster!(NGINX_IMAGE, &rofs_image());
    let _lock = webhook();
    let written = with_token(&app_pod("app", ""));
    let created = admitted_unchanged("wh-token", &written);
    for list in ["initContainers", "containers"] {
        let containers = created["spec"][list].as_array().expect("containers");
        for c in containers {
            let mounts = c["volumeMounts"].as_array().into_iter().flatten();
            assert!(
                mounts.clone().any(|m| m["mountPath"] == SA_TOKEN_PATH
                    && m["readOnly"] == json!(true)
                    && m["name"]
                        .as_str()
                        .is_some_and(|n| n.starts_with(SA_TOKEN_VOLUME))),
                "{list} {}: no service account token mount, the test does not test it: {c:#}",
                c["name"]
            );
        }
    }
}

/// Where the ServiceAccount admission plugin mounts the token, and its volume's name prefix.
const SA_TOKEN_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
const SA_TOKEN_VOLUME: &str = "kube-api-access-";

/// `pod` (from [`app_pod`]) with the default `automountServiceAccountToken`.
fn with_token(pod: &str) -> String {
    let line = "  automountServiceAccountToken: false\n";
    assert!(pod.contains(line), "{pod}");
    pod.replacen(line, "", 1)
}

/// `rofs patch` `written`, create it in a new opted-in namespace: the webhook is called and
/// answers with no patch, and the stored pod is the patched pod as the API server stores it
/// without rofs (a server-side dry run in `default`). Returns the created pod.
fn admitted_unchanged(prefix: &str, written: &str) -> Value {
    let opted = Namespace::create(prefix, &[INJECT, RESTRICTED]);
    let patched = rofs_patch(&["--agent-image", &rofs_image()], written);
    let expected = dry_run_like_written(&patched);
    let requests = metric(SYSTEM_NS, "rofs_webhook_requests_total");
    let unchanged = metric(SYSTEM_NS, "rofs_webhook_unchanged_total");
    let mutations = metric(SYSTEM_NS, "rofs_webhook_mutations_total");
    let created: Value = serde_json::from_str(
        &opted.kubectl_ok(&["create", "-o", "json", "-f", "-"], Some(&patched)),
    )
    .expect("JSON");
    assert_eq!(
        metric(SYSTEM_NS, "rofs_webhook_requests_total"),
        requests + 1,
        "the webhook was not called"
    );
    assert_eq!(
        metric(SYSTEM_NS, "rofs_webhook_mutations_total"),
        mutations,
        "the webhook answered the already patched pod with a patch"
    );
    assert_eq!(
        metric(SYSTEM_NS, "rofs_webhook_unchanged_total"),
        unchanged + 1
    );
    assert_eq!(
        comparable(&created),
        comparable(&expected),
        "the already patched pod was changed at admission"
    );
    created
}

/// Item 4: with the webhook down, `failurePolicy: Ignore` admits the pod as written.
#[test]
fn webhook_down_admits_unchanged() {
    require_cluster!(NGINX_IMAGE, &rofs_image());
    let _lock = webhook();
    let opted = Namespace::create("wh-down", &[INJECT]);
    let scale = |n: &str| {
        kubectl_ok(
            &[
                "-n",
                SYSTEM_NS,
                "scale",
                "deployment/rofs-webhook",
                &format!("--replicas={n}"),
            ],
            None,
        )
    };
    scale("0");
    // restore the webhook whatever happens below
    struct Restore;
    impl Drop for Restore {
        fn drop(&mut self) {
            kubectl(
                &[
                    "-n",
                    SYSTEM_NS,
                    "scale",
                    "deployment/rofs-webhook",
                    "--replicas=2",
                ],
                None,
            );
            let _ = rollout(SYSTEM_NS, "rofs-webhook");
            let probe = Namespace::create("wh-probe", &[INJECT]);
            let _ = wait_patched(&probe, Duration::from_secs(60));
        }
    }
    let _restore = Restore;
    let start = Instant::now();
    while !rofs_cluster::documents(&kubectl_ok(
        &["-n", SYSTEM_NS, "get", "pods", "-o", "yaml"],
        None,
    ))[0]["items"]
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "webhook pods still there"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let written = app_pod("app", "");
    let out = opted.kubectl(&["create", "-o", "json", "-f", "-"], Some(&written));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(
        !is_patched(&created),
        "patched although the webhook is down?"
    );
    assert_eq!(
        comparable(&created),
        comparable(&dry_run_like_written(&written))
    );
}

/// Item 4: a certificate rotation while pods are being created loses no admission. The
/// rotation of docs/webhook.md with a new CA, done without a gap: caBundle = old + new CA,
/// new Secret (the kubelet swaps the volume, rofs reloads), then caBundle = new CA.
#[test]
fn certificate_rotation_loses_no_admission() {
    require_cluster!(NGINX_IMAGE, &rofs_image());
    let _lock = webhook();
    let opted = Namespace::create("wh-rotate", &[INJECT, RESTRICTED]);
    let reloads = metric(SYSTEM_NS, "rofs_webhook_tls_reloads_total");
    let replicas = 2;
    let old_ca = mwc_ca_bundle();
    let dir = tmp_dir("rotated");
    let new_ca = certs(&dir, "rofs-webhook", SYSTEM_NS);
    let both = base64_of_concat(&old_ca, &new_ca);

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let creator = {
        let stop = stop.clone();
        let ns_name = opted.name.clone();
        std::thread::spawn(move || {
            let (mut ok, mut lost) = (0u32, Vec::new());
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                i += 1;
                let out = kubectl(
                    &[
                        "-n",
                        &ns_name,
                        "create",
                        "--dry-run=server",
                        "-o",
                        "json",
                        "-f",
                        "-",
                    ],
                    Some(&app_pod(&format!("rot-{i}"), "")),
                );
                match serde_json::from_slice::<Value>(&out.stdout) {
                    Ok(p) if out.status.success() && is_patched(&p) => ok += 1,
                    _ => lost.push(format!("pod {i}: {}", String::from_utf8_lossy(&out.stderr))),
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            (ok, lost)
        })
    };
    set_mwc_ca_bundle(&both);
    apply_tls_secret(SYSTEM_NS, "rofs-webhook-tls", &dir);
    let start = Instant::now();
    while metric(SYSTEM_NS, "rofs_webhook_tls_reloads_total") < reloads + replicas {
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "the webhook pods did not reload the rotated certificate in 180 s"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    eprintln!(
        "rotation: Secret applied to both pods reloaded in {:.1?}",
        start.elapsed()
    );
    set_mwc_ca_bundle(&new_ca);
    std::thread::sleep(Duration::from_secs(5));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (ok, lost) = creator.join().expect("creator thread");
    eprintln!("rotation: {ok} pods admitted and patched during the rotation");
    assert!(
        lost.is_empty(),
        "admissions lost during the rotation:\n{}",
        lost.join("\n")
    );
    assert!(ok >= 10, "too few pods created during the rotation: {ok}");
}

fn mwc_ca_bundle() -> String {
    let mwc = kubectl_json(&["get", "mutatingwebhookconfiguration", "rofs"]);
    mwc["webhooks"][0]["clientConfig"]["caBundle"]
        .as_str()
        .expect("caBundle")
        .to_string()
}

fn set_mwc_ca_bundle(b64: &str) {
    let patch = json!([
        {"op": "replace", "path": "/webhooks/0/clientConfig/caBundle", "value": b64},
        {"op": "replace", "path": "/webhooks/1/clientConfig/caBundle", "value": b64},
    ]);
    kubectl_ok(
        &[
            "patch",
            "mutatingwebhookconfiguration",
            "rofs",
            "--type=json",
            "-p",
            &patch.to_string(),
        ],
        None,
    );
}

/// base64(PEM(a) + PEM(b)) from two base64 PEM bundles.
fn base64_of_concat(a: &str, b: &str) -> String {
    let decode = |s: &str| {
        let out = Command::new("base64")
            .arg("-d")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().expect("stdin").write_all(s.as_bytes())?;
                c.wait_with_output()
            })
            .expect("base64 -d");
        out.stdout
    };
    let mut pem = decode(a);
    pem.extend(decode(b));
    let out = Command::new("base64")
        .arg("-w0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(&pem)?;
            c.wait_with_output()
        })
        .expect("base64");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Item 4, the Helm chart: rendered by the Helm engine (helm-python-sdk, as in
/// crates/webhook/tests/manifests.rs), applied, and called by the API server for a namespace
/// with the chart's opt-in label (its own label here, so it never overlaps the plain install).
#[test]
fn helm_chart_install_is_called_by_the_api_server() {
    require_cluster!(NGINX_IMAGE, &rofs_image());
    let _lock = webhook();
    let release_ns = Namespace::create("rofs-helm", &[RESTRICTED]);
    let out_dir = tmp_dir("helm");
    let (repo, tag) = rofs_image()
        .rsplit_once(':')
        .map(|(r, t)| (r.to_string(), t.to_string()))
        .expect("image with a tag");
    let values = json!({
        "image": {"repository": repo, "tag": tag, "pullPolicy": "Never"},
        "replicas": 1,
        "config": {"agentImage": rofs_image()},
        "webhook": {"optInLabel": "rofs.io/inject-helm"},
    });
    let script = workspace_root().join("tests/cluster/render_chart.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(workspace_root().join("deploy/webhook/chart"))
        .arg(&out_dir)
        .arg(&release_ns.name)
        .arg(values.to_string())
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "rendering the chart failed (pip install helm-python-sdk): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut rendered = String::new();
    let mut files: Vec<_> = std::fs::read_dir(&out_dir)
        .expect("rendered dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    for f in &files {
        rendered.push_str(&std::fs::read_to_string(f).expect("read"));
        rendered.push_str("\n---\n");
    }
    let mwc_name = format!("{}-rofs-webhook", "rofs-helm");
    struct DeleteMwc(String);
    impl Drop for DeleteMwc {
        fn drop(&mut self) {
            kubectl(
                &[
                    "delete",
                    "mutatingwebhookconfiguration",
                    &self.0,
                    "--ignore-not-found",
                ],
                None,
            );
        }
    }
    let _mwc = DeleteMwc(mwc_name.clone());
    release_ns.apply(&rendered);
    kubectl_ok(&["get", "mutatingwebhookconfiguration", &mwc_name], None);
    rollout(&release_ns.name, &mwc_name).unwrap_or_else(|e| panic!("{e}"));
    let opted = Namespace::create("wh-helm-app", &[("rofs.io/inject-helm", "enabled")]);
    wait_patched(&opted, Duration::from_secs(60)).unwrap_or_else(|e| panic!("{e}"));
    assert!(metric(&release_ns.name, "rofs_webhook_mutations_total") >= 1);
}

/// The second webhook of the reinvocation test (`mesh_webhook.py`, a service-mesh stand-in on
/// 127.0.0.1) and its configuration; both removed on drop.
struct Mesh {
    child: std::process::Child,
    config: String,
}

impl Drop for Mesh {
    fn drop(&mut self) {
        kubectl(
            &[
                "delete",
                "mutatingwebhookconfiguration",
                &self.config,
                "--ignore-not-found",
            ],
            None,
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Mesh {
    /// Starts the mesh webhook for namespaces labelled `rofs-test/mesh=enabled`. Its
    /// configuration's name sorts after `rofs`, so the API server calls rofs first, then the
    /// mesh, then rofs again (`reinvocationPolicy: IfNeeded`).
    fn start() -> Mesh {
        let dir = tmp_dir("mesh");
        let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
        let out = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args(["-nodes", "-days", "1", "-subj", "/CN=mesh"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port_file = dir.join("port");
        let child = Command::new("python3")
            .arg(workspace_root().join("tests/cluster/mesh_webhook.py"))
            .args([&cert, &key])
            .arg(rofs_cluster::NOSHELL_IMAGE)
            .arg(&port_file)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start mesh_webhook.py");
        let config = "zz-rofs-test-mesh".to_string();
        let mut mesh = Mesh { child, config };
        let start = Instant::now();
        let port = loop {
            if let Some(p) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|p| p.trim().parse::<u16>().ok())
            {
                break p;
            }
            assert!(
                mesh.child.try_wait().ok().flatten().is_none(),
                "mesh_webhook.py exited"
            );
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "mesh webhook did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let ca = base64_file(&cert);
        let mwc = format!(
            r#"apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: {name}
webhooks:
  - name: mesh.rofs-test.io
    admissionReviewVersions: ["v1"]
    clientConfig:
      url: https://127.0.0.1:{port}/mutate
      caBundle: {ca}
    rules:
      - operations: ["CREATE"]
        apiGroups: [""]
        apiVersions: ["v1"]
        resources: ["pods"]
    namespaceSelector:
      matchLabels: {{rofs-test/mesh: enabled}}
    failurePolicy: Fail
    sideEffects: None
    timeoutSeconds: 5
    reinvocationPolicy: Never
"#,
            name = mesh.config
        );
        kubectl_ok(&["apply", "-f", "-"], Some(&mwc));
        mesh
    }
}

fn base64_file(p: &Path) -> String {
    let out = Command::new("base64")
        .arg("-w0")
        .arg(p)
        .output()
        .expect("base64");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn container_names(pod: &Value) -> Vec<String> {
    pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(String::from))
        .collect()
}

/// Item 4, reinvocation for real: another mutating webhook called after rofs adds a container
/// (a service mesh's sidecar); the API server calls rofs again (`reinvocationPolicy:
/// IfNeeded`), which rewrites the pod so that the added container is read-only too. The pod
/// stored is the one `rofs patch` makes of the manifest with that container already in it.
#[test]
fn reinvocation_after_another_webhook_equals_rofs_patch_of_the_result() {
    require_cluster!(NGINX_IMAGE, &rofs_image());
    let _lock = webhook();
    let _mesh = Mesh::start();
    let ns = Namespace::create("wh-mesh", &[INJECT, ("rofs-test/mesh", "enabled")]);
    let start = Instant::now();
    let got = loop {
        let got = dry_run_create(&ns, &app_pod("app", ""));
        match got {
            Ok(p) if container_names(&p).len() == 2 => break p,
            other => assert!(
                start.elapsed() < Duration::from_secs(30),
                "the mesh webhook is not called: {other:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(container_names(&got), ["nginx", "mesh"]);
    let mesh = &got["spec"]["containers"][1];
    assert_eq!(
        mesh["securityContext"]["readOnlyRootFilesystem"], true,
        "rofs was not reinvoked after the mesh webhook: {mesh}"
    );
    let with_mesh = format!(
        "{}  - name: mesh\n    image: {}\n    imagePullPolicy: Never\n    securityContext:\n      allowPrivilegeEscalation: false\n      capabilities: {{drop: [ALL]}}\n",
        app_pod("app", ""),
        rofs_cluster::NOSHELL_IMAGE
    );
    let expected = dry_run_like_written(&rofs_patch(&["--agent-image", &rofs_image()], &with_mesh));
    assert_eq!(
        comparable(&got),
        comparable(&expected),
        "reinvoked (left) differs from rofs patch of the manifest with the mesh container (right)"
    );
}
