//! `rofs audit --cluster` through kube-rs against a loopback API server that answers with
//! responses recorded from the 1.34 test cluster (crates/audit/tests/fixtures/cluster). The
//! real cluster test is tests/cluster/tests/audit.rs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../audit/tests/fixtures/cluster")
}

/// How the fake API server answers.
#[derive(Clone, Copy)]
enum Mode {
    Recorded,
    Forbidden,
}

/// A loopback HTTP/1.1 server answering list requests with the recorded lists; it records the
/// paths asked. Serves at most 64 connections, then stops.
struct ApiServer {
    url: String,
    paths: Arc<Mutex<Vec<String>>>,
}

impl ApiServer {
    fn start(mode: Mode) -> ApiServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let paths = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&paths);
        std::thread::spawn(move || {
            for conn in listener.incoming().take(64) {
                let Ok(conn) = conn else { continue };
                let seen = Arc::clone(&seen);
                std::thread::spawn(move || serve(conn, mode, &seen));
            }
        });
        ApiServer { url, paths }
    }

    fn paths(&self) -> Vec<String> {
        self.paths.lock().expect("lock").clone()
    }
}

/// Answer the requests of one keep-alive connection (at most 32).
fn serve(conn: TcpStream, mode: Mode, seen: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut conn = conn;
    for _ in 0..32 {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        let _ = reader.read_exact(&mut body);
        let path = target.split('?').next().unwrap_or("").to_string();
        seen.lock().expect("lock").push(target);
        let resource = path.rsplit('/').next().unwrap_or("");
        let (status, file) = match mode {
            Mode::Forbidden => ("403 Forbidden", "forbidden.json".to_string()),
            Mode::Recorded => ("200 OK", format!("{resource}.json")),
        };
        let (status, body) = match std::fs::read(fixtures().join(&file)) {
            Ok(b) => (status, b),
            Err(_) => ("404 Not Found", br#"{"kind":"Status","apiVersion":"v1","status":"Failure","code":404,"reason":"NotFound","message":"not recorded"}"#.to_vec()),
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        if conn.write_all(head.as_bytes()).is_err() || conn.write_all(&body).is_err() {
            return;
        }
    }
}

/// A kubeconfig whose current context is `server`, namespace `rofs-audit-rec`.
fn kubeconfig(dir: &Path, server: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: rec\n  cluster:\n    server: {server}\n\
             users:\n- name: u\n  user: {{}}\ncontexts:\n- name: recorded\n  context:\n    cluster: rec\n    user: u\n    namespace: rofs-audit-rec\n\
             current-context: recorded\n"
        ),
    )
    .expect("write kubeconfig");
    path
}

fn audit(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rofs"))
        .arg("audit")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .expect("run rofs")
}

fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn recorded_cluster_findings() {
    let server = ApiServer::start(Mode::Recorded);
    let dir = tempfile::tempdir().expect("tempdir");
    let kc = kubeconfig(dir.path(), &server.url);
    let out = audit(&kc, &["--cluster", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let findings: Vec<(String, String, String, bool)> = report["findings"]
        .as_array()
        .expect("findings")
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
        .collect();
    // The Deployment's nginx is flagged (not its ReplicaSet or pod); the CronJob's container is
    // read-only (its Job and pod are not audited apart); the bare pod is suppressed.
    assert!(
        findings.contains(&(
            "ROFS-A001".into(),
            "Deployment/web".into(),
            "nginx".into(),
            true
        )),
        "{findings:?}"
    );
    assert!(
        findings.contains(&(
            "ROFS-A001".into(),
            "Pod/debug".into(),
            "shell".into(),
            false
        )),
        "{findings:?}"
    );
    assert!(
        findings
            .iter()
            .all(|(_, w, _, _)| w == "Deployment/web" || w == "Pod/debug"),
        "only the Deployment and the bare pod have findings: {findings:?}"
    );
    let web = &report["findings"][0];
    assert_eq!(web["source"]["file"], "cluster://recorded");
    assert_eq!(
        web["fix"]["command"],
        "kubectl get deployment -n rofs-audit-rec web -o yaml | rofs patch --profile auto - | kubectl apply -f -"
    );
    // One list call per kind, in the kubeconfig context's namespace.
    let mut paths: Vec<String> = server
        .paths()
        .iter()
        .map(|p| p.split('?').next().unwrap_or("").to_string())
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/api/v1/namespaces/rofs-audit-rec/pods",
            "/apis/apps/v1/namespaces/rofs-audit-rec/daemonsets",
            "/apis/apps/v1/namespaces/rofs-audit-rec/deployments",
            "/apis/apps/v1/namespaces/rofs-audit-rec/replicasets",
            "/apis/apps/v1/namespaces/rofs-audit-rec/statefulsets",
            "/apis/batch/v1/namespaces/rofs-audit-rec/cronjobs",
            "/apis/batch/v1/namespaces/rofs-audit-rec/jobs",
        ]
    );
    assert!(
        server.paths().iter().all(|p| p.contains("limit=500")),
        "{:?}",
        server.paths()
    );
}

#[test]
fn namespace_flags_choose_the_paths() {
    let server = ApiServer::start(Mode::Recorded);
    let dir = tempfile::tempdir().expect("tempdir");
    let kc = kubeconfig(dir.path(), &server.url);
    let out = audit(&kc, &["--cluster", "-n", "other", "--fail-on", "never"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        server
            .paths()
            .iter()
            .all(|p| p.contains("/namespaces/other/")),
        "{:?}",
        server.paths()
    );
    let server = ApiServer::start(Mode::Recorded);
    let kc = kubeconfig(dir.path(), &server.url);
    let out = audit(
        &kc,
        &["--cluster", "--all-namespaces", "--fail-on", "never"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        server.paths().iter().all(|p| !p.contains("/namespaces/")) && server.paths().len() == 7,
        "{:?}",
        server.paths()
    );
    // --namespace without --cluster, or with files: usage errors.
    let out = audit(&kc, &["-n", "x", "a.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = audit(&kc, &["--cluster", "a.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn recorded_cluster_sarif_has_logical_locations_only() {
    let server = ApiServer::start(Mode::Recorded);
    let dir = tempfile::tempdir().expect("tempdir");
    let kc = kubeconfig(dir.path(), &server.url);
    let out = audit(&kc, &["--cluster", "--format", "sarif"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let log: Value = serde_json::from_slice(&out.stdout).expect("SARIF JSON");
    let r = &log["runs"][0]["results"][0];
    assert!(r["locations"][0].get("physicalLocation").is_none(), "{r}");
    assert!(r.get("fixes").is_none(), "no file to change: {r}");
    assert_eq!(
        r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
        "rofs-audit-rec/Deployment/web/containers/nginx"
    );
    assert_eq!(r["properties"]["source"], "cluster://recorded");
    assert_eq!(log["runs"][0]["invocations"][0]["exitCode"], 1);
}

#[test]
fn forbidden_is_exit_2_with_the_rbac_needed() {
    let server = ApiServer::start(Mode::Forbidden);
    let dir = tempfile::tempdir().expect("tempdir");
    let kc = kubeconfig(dir.path(), &server.url);
    let out = audit(&kc, &["--cluster"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(out.stdout.is_empty(), "no partial output: {}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "forbidden to list deployments in namespace rofs-audit-rec (context recorded)"
        ),
        "{err}"
    );
    assert!(
        err.contains("cannot list resource \\\"deployments\\\"")
            || err.contains("cannot list resource \"deployments\""),
        "{err}"
    );
    assert!(err.contains("docs/audit.md has a ClusterRole"), "{err}");
}

#[test]
fn unreachable_and_missing_kubeconfig_are_exit_2() {
    // A port nothing listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port();
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("http://127.0.0.1:{port}");
    let kc = kubeconfig(dir.path(), &url);
    let out = audit(&kc, &["--cluster"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot reach the API server at {url}")),
        "{err}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_rofs"))
        .args(["audit", "--cluster"])
        .env("KUBECONFIG", dir.path().join("missing"))
        .env("HOME", dir.path())
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .expect("run rofs");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--cluster: no kubeconfig"), "{err}");
}
