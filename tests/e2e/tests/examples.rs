//! `examples/nginx` and `examples/tomcat`: the committed fixed manifests are exactly what
//! the documented `rofs patch` command produces, and the walk-through in each README is
//! what really happens: the failing manifest fails, the fixed one serves.
//!
//! `ROFS_UPDATE_EXAMPLES=1` rewrites the fixed manifests instead of failing.
//! `cargo test -p rofs-e2e examples:: -- --nocapture --test-threads=1` prints the
//! transcripts the READMEs quote.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use rofs_e2e::{
    NGINX_IMAGE, PlayOptions, Pod, TOMCAT_IMAGE, free_port, require, rofs, rofs_image, unique_name,
    wait_http, workspace_root,
};

/// One example: the failing manifest, the command, the fixed manifest.
struct Example {
    app: &'static str,
    /// Deployment and container name in the manifests
    deployment: &'static str,
    container: &'static str,
    port: u16,
    /// `rofs` arguments, as documented (run from the repository root)
    args: &'static [&'static str],
}

const NGINX: Example = Example {
    app: "nginx",
    deployment: "web",
    container: "nginx",
    port: 80,
    args: &[
        "patch",
        "--profile",
        "nginx",
        "--agent-image",
        "localhost/rofs:dev",
        "examples/nginx/deployment.yaml",
    ],
};

const TOMCAT: Example = Example {
    app: "tomcat",
    deployment: "tomcat",
    container: "tomcat",
    port: 8080,
    args: &[
        "patch",
        "--profile",
        "tomcat",
        "--agent-image",
        "localhost/rofs:dev",
        "examples/tomcat/deployment.yaml",
    ],
};

impl Example {
    fn dir(&self) -> PathBuf {
        workspace_root().join("examples").join(self.app)
    }

    fn failing(&self) -> String {
        std::fs::read_to_string(self.dir().join("deployment.yaml")).expect("read deployment.yaml")
    }

    fn fixed_path(&self) -> PathBuf {
        self.dir().join("deployment.patched.yaml")
    }

    fn fixed(&self) -> String {
        std::fs::read_to_string(self.fixed_path()).expect("read deployment.patched.yaml")
    }

    /// Runs the documented command from the repository root.
    fn run(&self) -> std::process::Output {
        let bin = rofs_e2e::rofs_bin();
        std::process::Command::new(&bin)
            .args(self.args)
            .current_dir(workspace_root())
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()))
    }

    /// The documented command's stdout.
    fn regenerate(&self) -> Vec<u8> {
        let out = self.run();
        assert!(
            out.status.success(),
            "rofs {} failed:\n{}",
            self.args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn check_up_to_date(&self) {
        let want = self.regenerate();
        let path = self.fixed_path();
        let have = std::fs::read(&path).unwrap_or_default();
        if have == want {
            return;
        }
        if std::env::var_os("ROFS_UPDATE_EXAMPLES").is_some() {
            std::fs::write(&path, &want).expect("write fixed manifest");
            eprintln!("updated {}", path.display());
            return;
        }
        panic!(
            "{} is not what `rofs {} > {}` gives; regenerate it with that command (or \
             ROFS_UPDATE_EXAMPLES=1 cargo test -p rofs-e2e examples::) and review the diff",
            path.display(),
            self.args.join(" "),
            path.strip_prefix(workspace_root())
                .unwrap_or(&path)
                .display()
        );
    }

    /// The manifest as the test plays it: a unique Deployment name and a `hostPort`, so the
    /// host can reach the pod (the committed files have neither; a cluster would use a
    /// Service or `kubectl port-forward`).
    fn for_podman(&self, yaml: &str, name: &str, host_port: u16) -> String {
        let port_line = format!("containerPort: {}", self.port);
        let indent = yaml
            .lines()
            .find_map(|l| l.find(&port_line))
            .unwrap_or_else(|| panic!("no {port_line} in:\n{yaml}"));
        yaml.replacen(
            &format!("  name: {}\n", self.deployment),
            &format!("  name: {name}\n"),
            1,
        )
        .replace(
            &port_line,
            &format!("{port_line}\n{}hostPort: {host_port}", " ".repeat(indent)),
        )
    }
}

#[test]
fn nginx_fixed_manifest_is_up_to_date() {
    NGINX.check_up_to_date();
}

#[test]
fn tomcat_fixed_manifest_is_up_to_date() {
    TOMCAT.check_up_to_date();
}

/// The fixed manifest never differs from `rofs patch` run on the failing one via stdin
/// (what a pipeline does: `kustomize build | rofs patch ...`).
#[test]
fn fixed_manifests_equal_stdin_form() {
    for ex in [&NGINX, &TOMCAT] {
        let args: Vec<&str> = ex.args[..ex.args.len() - 1].to_vec();
        let out = rofs(&args, &ex.failing());
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            ex.fixed(),
            "{}",
            ex.app
        );
    }
}

/// The raw response to `GET path` (status line, headers, body), as `curl -si` shows it.
fn curl_si(port: u16, path: &str) -> String {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    String::from_utf8_lossy(&raw).replace("\r\n", "\n")
}

/// A transcript printed for the README (`--nocapture`).
struct Transcript(String);

impl Transcript {
    /// A command (as its kubectl equivalent) and its real output (none for `apply`: the
    /// test played the manifest with `podman kube play`, whose output is container ids).
    fn cmd(&mut self, cmd: &str, output: &str) {
        self.0.push_str(&format!("$ {cmd}\n"));
        let output = output.trim_end();
        if !output.is_empty() {
            self.0.push_str(output);
            self.0.push('\n');
        }
        self.0.push('\n');
    }
    fn print(&self, title: &str) {
        eprintln!("===== {title} =====\n{}===== end =====", self.0);
    }
}

/// Lines of `log` containing any of `needles`, at most `max`.
fn grep(log: &str, needles: &[&str], max: usize) -> String {
    log.lines()
        .filter(|l| needles.iter().any(|n| l.contains(n)))
        .take(max)
        .collect::<Vec<_>>()
        .join("\n")
}

fn pod_status(pod: &Pod, c: &str) -> String {
    let (status, code) = pod.state(c);
    format!("{c}: {status} (exit code {code})")
}

/// The README walk-through for nginx, on real pods.
#[test]
fn nginx_walkthrough() {
    require!(NGINX_IMAGE, &rofs_image());
    let ex = &NGINX;
    let mut t = Transcript(String::new());

    let name = unique_name("e2e-ex-web");
    let port = free_port();
    let failing = Pod::play(&ex.for_podman(&ex.failing(), &name, port));
    let log = failing.wait_log(
        ex.container,
        "Read-only file system",
        Duration::from_secs(60),
    );
    assert!(
        log.contains(r#"mkdir() "/var/lib/nginx/body" failed (30: Read-only file system)"#),
        "{log}"
    );
    t.cmd("kubectl apply -f examples/nginx/deployment.yaml", "");
    t.cmd("kubectl logs deploy/web", &grep(&log, &["emerg"], 2));
    drop(failing);

    let out = ex.run();
    t.cmd(
        "rofs patch --profile nginx --agent-image localhost/rofs:dev examples/nginx/deployment.yaml > examples/nginx/deployment.patched.yaml",
        &String::from_utf8_lossy(&out.stderr),
    );

    let name = unique_name("e2e-ex-web");
    let port = free_port();
    let opts = PlayOptions {
        keep_init_containers: true,
    };
    let pod = Pod::try_play_with(&ex.for_podman(&ex.fixed(), &name, port), opts)
        .unwrap_or_else(|e| panic!("{e}"));
    wait_http(
        port,
        "/",
        200,
        Duration::from_secs(30),
        Some((&pod, "nginx")),
    );
    let took = pod.played_at.elapsed();
    t.cmd(
        "kubectl apply -f examples/nginx/deployment.patched.yaml",
        "",
    );
    t.cmd(
        "kubectl logs deploy/web -c rofs-install",
        &pod.logs("rofs-install"),
    );
    t.cmd(
        "kubectl logs deploy/web -c rofs-seed-nginx",
        &pod.logs("rofs-seed-nginx"),
    );
    let resp = curl_si(port, "/rofs-e2e.txt");
    assert!(resp.starts_with("HTTP/1.1 200 OK"), "{resp}");
    t.cmd(
        "kubectl port-forward deploy/web 8080:80 & curl -si localhost:8080/rofs-e2e.txt",
        &resp,
    );
    let touch = pod.sh("nginx", "touch /x");
    assert!(touch.contains("Read-only file system"), "{touch}");
    t.cmd("kubectl exec deploy/web -c nginx -- touch /x", &touch);
    t.cmd(
        "kubectl exec deploy/web -c nginx -- tail -n1 /var/log/nginx/access.log",
        &pod.sh("nginx", "tail -n1 /var/log/nginx/access.log"),
    );
    t.cmd(
        "kubectl exec deploy/web -c nginx -- df -h /var/lib/nginx /var/log/nginx /run",
        &pod.sh("nginx", "df -h /var/lib/nginx /var/log/nginx /run"),
    );
    t.0.push_str(&format!(
        "(podman {}: kube play to HTTP 200 in {:.1} s; {})\n",
        podman_version(),
        took.as_secs_f64(),
        pod_status(&pod, "nginx")
    ));
    t.print("nginx walk-through");
}

/// The README walk-through for Tomcat, on real pods.
#[test]
fn tomcat_walkthrough() {
    require!(TOMCAT_IMAGE, &rofs_image());
    let ex = &TOMCAT;
    let mut t = Transcript(String::new());
    let start_timeout = Duration::from_secs(120);

    let name = unique_name("e2e-ex-tomcat");
    let port = free_port();
    let failing = Pod::play(&ex.for_podman(&ex.failing(), &name, port));
    failing.wait_log(ex.container, "Server startup in", start_timeout);
    let jsp = curl_si(port, "/rofs-e2e.jsp");
    assert!(jsp.starts_with("HTTP/1.1 500"), "{jsp}");
    std::thread::sleep(Duration::from_secs(1));
    let log = failing.logs(ex.container);
    assert!(log.contains("(Read-only file system)"), "{log}");
    t.cmd("kubectl apply -f examples/tomcat/deployment.yaml", "");
    t.cmd(
        "kubectl logs deploy/tomcat | grep -E 'Read-only|SEVERE|Server startup'",
        &grep(&log, &["Read-only", "SEVERE", "Server startup"], 12),
    );
    t.cmd(
        "kubectl port-forward deploy/tomcat 8080 & curl -si localhost:8080/rofs-e2e.jsp | head -n1",
        jsp.lines().next().unwrap_or_default(),
    );
    drop(failing);

    let out = ex.run();
    t.cmd(
        "rofs patch --profile tomcat --agent-image localhost/rofs:dev examples/tomcat/deployment.yaml > examples/tomcat/deployment.patched.yaml",
        &String::from_utf8_lossy(&out.stderr),
    );

    let name = unique_name("e2e-ex-tomcat");
    let port = free_port();
    let opts = PlayOptions {
        keep_init_containers: true,
    };
    let pod = Pod::try_play_with(&ex.for_podman(&ex.fixed(), &name, port), opts)
        .unwrap_or_else(|e| panic!("{e}"));
    wait_http(
        port,
        "/rofs-e2e.jsp",
        200,
        start_timeout,
        Some((&pod, "tomcat")),
    );
    let took = pod.played_at.elapsed();
    t.cmd(
        "kubectl apply -f examples/tomcat/deployment.patched.yaml",
        "",
    );
    t.cmd(
        "kubectl logs deploy/tomcat -c rofs-seed-tomcat",
        &pod.logs("rofs-seed-tomcat"),
    );
    let log = pod.logs("tomcat");
    assert!(!log.contains("Read-only file system"), "{log}");
    t.cmd(
        "kubectl logs deploy/tomcat | grep -E 'Read-only|SEVERE|Server startup'",
        &grep(&log, &["Read-only", "SEVERE", "Server startup"], 12),
    );
    let resp = curl_si(port, "/rofs-e2e.jsp");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    t.cmd(
        "kubectl port-forward deploy/tomcat 8080 & curl -si localhost:8080/rofs-e2e.jsp",
        &resp,
    );
    let touch = pod.sh("tomcat", "id; touch /x");
    assert!(touch.contains("Read-only file system"), "{touch}");
    t.cmd("kubectl exec deploy/tomcat -- sh -c 'id; touch /x'", &touch);
    t.cmd(
        "kubectl exec deploy/tomcat -- ls /var/lib/tomcat10/logs/",
        &pod.sh("tomcat", "ls /var/lib/tomcat10/logs/"),
    );
    t.0.push_str(&format!(
        "(podman {}: kube play to the JSP's 200 in {:.1} s; {})\n",
        podman_version(),
        took.as_secs_f64(),
        pod_status(&pod, "tomcat")
    ));
    t.print("tomcat walk-through");
}

fn podman_version() -> String {
    rofs_e2e::podman_ok(&["version", "--format", "{{.Client.Version}}"])
        .trim()
        .to_string()
}
