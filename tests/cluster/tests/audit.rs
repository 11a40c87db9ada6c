//! `rofs audit --cluster` against the real API server (issue 13): workloads created with
//! kubectl, their controllers' ReplicaSets, Jobs and pods made by the cluster, then read back
//! by rofs through kube-rs with the admin kubeconfig, and with a ServiceAccount bound to
//! docs/audit.md's ClusterRole (and without it: exit 2, forbidden).

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rofs_cluster::{
    Namespace, kubeconfig, kubectl_ok, require_cluster, rofs_bin, rofs_image, rofs_patch,
    unique_name, workspace_root,
};
use serde_json::Value;

/// An image that is never pulled (`imagePullPolicy: Never`): the audit reads stored objects,
/// the pods need not run.
const IMAGE: &str = "localhost/rofs-audit-absent:never";

fn deployment(name: &str, annotations: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
{annotations}spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
        - name: app
          image: {IMAGE}
          imagePullPolicy: Never
"
    )
}

const CRONJOB: &str = "apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
spec:
  schedule: \"0 3 * * *\"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: task
              image: localhost/rofs-audit-absent:never
              imagePullPolicy: Never
              securityContext:
                readOnlyRootFilesystem: true
";

fn audit(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(rofs_bin())
        .arg("audit")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .expect("run rofs audit")
}

fn text(o: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// (rule, kind/name, container, counts) of each finding.
fn findings(o: &Output) -> Vec<(String, String, String, bool)> {
    let report: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not a JSON report ({e}): {}", text(o)));
    report["findings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap_or("").to_string(),
                format!(
                    "{}/{}",
                    f["kind"].as_str().unwrap_or(""),
                    f["name"].as_str().unwrap_or("")
                ),
                f["container"].as_str().unwrap_or("").to_string(),
                f["suppressed"].is_null(),
            )
        })
        .collect()
}

/// The ClusterRole of docs/audit.md (the YAML block after `<!-- audit-clusterrole -->`).
fn documented_cluster_role() -> String {
    let doc =
        std::fs::read_to_string(workspace_root().join("docs/audit.md")).expect("docs/audit.md");
    let after = doc
        .split("<!-- audit-clusterrole -->")
        .nth(1)
        .expect("docs/audit.md marks its ClusterRole with <!-- audit-clusterrole -->");
    let block = after.split("```yaml\n").nth(1).expect("a yaml block");
    block.split("```").next().expect("closed block").to_string()
}

/// Deletes a cluster-scoped object when dropped.
struct ClusterScoped(&'static str, String);

impl Drop for ClusterScoped {
    fn drop(&mut self) {
        let _ = rofs_cluster::kubectl(&["delete", self.0, &self.1, "--wait=false"], None);
    }
}

#[test]
fn cluster_findings_of_live_workloads() {
    require_cluster!();
    let ns = Namespace::create("audit", &[]);
    // Patched with a flag (a writable path) that only its status records.
    let patched = rofs_patch(
        &["--agent-image", &rofs_image(), "-w", "/tmp"],
        &deployment("patched", ""),
    );
    ns.apply(&patched);
    ns.apply(&deployment("plain", ""));
    ns.apply(&deployment(
        "ignored",
        "  annotations:\n    rofs.io/audit-ignore: \"a vendor image, tracked in TICKET-1\"\n",
    ));
    ns.apply(CRONJOB);
    ns.kubectl_ok(&["create", "job", "once", "--from=cronjob/nightly"], None);
    // Wait for the controllers: 3 ReplicaSets, 4 pods (3 from them, 1 from the Job).
    let start = Instant::now();
    loop {
        let pods = ns.kubectl_ok(&["get", "pods", "-o", "name"], None);
        let rs = ns.kubectl_ok(&["get", "replicasets", "-o", "name"], None);
        if pods.lines().count() >= 4 && rs.lines().count() >= 3 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "the controllers made no pods in 90 s: {pods}{rs}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    let out = audit(
        &kubeconfig(),
        &["--cluster", "-n", &ns.name, "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let found = findings(&out);
    // The unpatched Deployment is flagged once (not its ReplicaSet or pod).
    assert_eq!(
        found.iter().filter(|f| f.3).cloned().collect::<Vec<_>>(),
        [(
            "ROFS-A001".to_string(),
            "Deployment/plain".to_string(),
            "app".to_string(),
            true
        )],
        "only the unpatched Deployment counts: {found:?}"
    );
    // The suppressed one is there, suppressed, with its reason.
    assert!(
        found.contains(&(
            "ROFS-A001".into(),
            "Deployment/ignored".into(),
            "app".into(),
            false
        )),
        "{found:?}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let ignored = report["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["name"] == "ignored"))
        .expect("a finding of the ignored Deployment");
    assert_eq!(
        ignored["suppressed"]["reason"],
        "a vendor image, tracked in TICKET-1"
    );
    // The patched Deployment, as the API server stored it (defaults added), is clean; the
    // CronJob's container is read-only; nothing is reported for an owned object.
    assert!(
        found
            .iter()
            .all(|(_, w, _, _)| w == "Deployment/plain" || w == "Deployment/ignored"),
        "{found:?}"
    );
    let fix = report["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["name"] == "plain"))
        .and_then(|f| f["fix"]["command"].as_str())
        .unwrap_or("");
    assert_eq!(
        fix,
        format!(
            "kubectl get deployment -n {} plain -o yaml | rofs patch - | kubectl apply -f -",
            ns.name
        )
    );

    // The fix works: applying it leaves the Deployment clean.
    let live = ns.kubectl_ok(&["get", "deployment", "plain", "-o", "yaml"], None);
    ns.apply(&rofs_patch(&["--agent-image", &rofs_image()], &live));
    let out = audit(
        &kubeconfig(),
        &["--cluster", "-n", &ns.name, "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(0), "after the fix: {}", text(&out));
}

#[test]
fn service_account_needs_the_documented_cluster_role() {
    require_cluster!();
    let ns = Namespace::create("audit-rbac", &[]);
    ns.apply(&deployment("plain", ""));
    ns.kubectl_ok(&["create", "serviceaccount", "auditor"], None);
    let token = ns.kubectl_ok(&["create", "token", "auditor"], None);
    let server = kubectl_ok(
        &[
            "config",
            "view",
            "--minify",
            "--raw",
            "-o",
            "jsonpath={.clusters[0].cluster.server}",
        ],
        None,
    );
    let ca = kubectl_ok(
        &[
            "config",
            "view",
            "--minify",
            "--raw",
            "-o",
            "jsonpath={.clusters[0].cluster.certificate-authority-data}",
        ],
        None,
    );
    let dir = std::env::temp_dir().join(unique_name("rofs-audit-kubeconfig"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let kc = dir.join("config");
    std::fs::write(
        &kc,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\n\
             users:\n- name: auditor\n  user:\n    token: {}\ncontexts:\n- name: auditor\n  context:\n    cluster: c\n    user: auditor\n    namespace: {}\n\
             current-context: auditor\n",
            token.trim(),
            ns.name
        ),
    )
    .expect("write kubeconfig");

    // No RBAC: forbidden, exit 2, nothing on stdout.
    let out = audit(&kc, &["--cluster"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "forbidden to list deployments in namespace {}",
            ns.name
        )),
        "{err}"
    );

    // The documented ClusterRole, bound in the namespace: the audit runs.
    let role = unique_name("rofs-audit-reader");
    let _guard = ClusterScoped("clusterrole", role.clone());
    let yaml =
        documented_cluster_role().replace("name: rofs-audit-reader", &format!("name: {role}"));
    assert!(
        yaml.contains(&role),
        "the documented ClusterRole is named rofs-audit-reader:\n{yaml}"
    );
    kubectl_ok(&["apply", "-f", "-"], Some(&yaml));
    ns.kubectl_ok(
        &[
            "create",
            "rolebinding",
            "auditor",
            &format!("--clusterrole={role}"),
            &format!("--serviceaccount={}:auditor", ns.name),
        ],
        None,
    );
    // RBAC caches are updated within a moment; retry for up to 30 s.
    let start = Instant::now();
    let out = loop {
        let out = audit(&kc, &["--cluster", "--format", "json"]);
        if out.status.code() != Some(2) || start.elapsed() > Duration::from_secs(30) {
            break out;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        findings(&out).contains(&(
            "ROFS-A001".into(),
            "Deployment/plain".into(),
            "app".into(),
            true
        )),
        "{}",
        text(&out)
    );
}
