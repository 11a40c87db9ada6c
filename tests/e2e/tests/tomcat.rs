//! Debian Tomcat 10 (`localhost/rofs-e2e-tomcat:bookworm`, Debian layout, port 8080).
//!
//! Under a read-only root Tomcat does not exit: it logs
//! `java.io.FileNotFoundException: /var/lib/tomcat10/logs/catalina.<date>.log (Read-only file system)`
//! and SEVERE errors, serves static files, and answers 500 for JSPs (their compiled
//! classes go to the work dir, /var/cache/tomcat10).

use std::time::Duration;

use rofs_e2e::{
    PlayOptions, Pod, TOMCAT_IMAGE, free_port, http_get, require, unique_name, wait_http,
};

/// Tomcat needs ~5-10 s (2 cores) to answer; give it room when the machine is busy.
const START: Duration = Duration::from_secs(120);

fn pod_yaml(name: &str, port: u16, read_only: bool, extra: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: tomcat}}
spec:
  containers:
  - name: tomcat
    image: {TOMCAT_IMAGE}
    ports:
    - {{containerPort: 8080, hostPort: {port}}}
    securityContext:
      readOnlyRootFilesystem: {read_only}
{extra}"#
    )
}

#[test]
fn readonly_root_fails_with_erofs() {
    require!(TOMCAT_IMAGE);
    let name = unique_name("e2e-tomcat-ro");
    let port = free_port();
    let pod = Pod::play(&pod_yaml(&name, port, true, ""));
    let log = pod.wait_log("tomcat", "Server startup in", START);
    assert!(
        log.contains("java.io.FileNotFoundException: /var/lib/tomcat10/logs/catalina.")
            && log.contains(".log (Read-only file system)"),
        "expected the EROFS FileNotFoundException in:\n{log}"
    );
    let (status, body) = http_get(port, "/rofs-e2e.jsp").expect("GET /rofs-e2e.jsp");
    assert_eq!(
        status, 500,
        "a JSP cannot compile under a read-only root: {body}"
    );
}

#[test]
fn writable_root_serves() {
    require!(TOMCAT_IMAGE);
    let name = unique_name("e2e-tomcat-rw");
    let port = free_port();
    let pod = Pod::play(&pod_yaml(&name, port, false, ""));
    wait_http(port, "/", 200, START, Some((&pod, "tomcat")));
    let body = wait_http(
        port,
        "/rofs-e2e.jsp",
        200,
        Duration::from_secs(60),
        Some((&pod, "tomcat")),
    );
    assert!(body.contains("rofs-e2e-tomcat jsp ok 42"), "{body}");
    let log = pod.logs("tomcat");
    assert!(!log.contains("Read-only file system"), "{log}");
}

/// The profile's paths as explicit flags.
pub const WRITABLE_FLAGS: &[&str] = &[
    "--writable",
    "/var/log/tomcat10",
    "--writable",
    "/var/cache/tomcat10",
    "--writable",
    "/tmp:empty",
];

/// The Debian `tomcat` user and group of the image (uid/gid 997, /etc/passwd); the group
/// is needed to read /etc/tomcat10 (root:tomcat 0640).
pub const NON_ROOT: &str = "      runAsUser: 997\n      runAsGroup: 997\n      runAsNonRoot: true\n      allowPrivilegeEscalation: false\n      capabilities: {drop: [ALL]}\n";

/// The JSP answers 200 (compiled into the work dir); returns once it does.
pub fn wait_jsp(pod: &Pod, port: u16) {
    let body = wait_http(port, "/rofs-e2e.jsp", 200, START, Some((pod, "tomcat")));
    assert!(body.contains("rofs-e2e-tomcat jsp ok 42"), "{body}");
}

fn access_log(pod: &Pod) -> String {
    pod.sh("tomcat", "cat /var/log/tomcat10/localhost_access_log.*")
}

/// `rofs patch ARGS` on the failing manifest, then on the real pod: the JSP answers 200
/// with the root still read-only and no EROFS in the log; a request in Tomcat's access log
/// survives a container restart and a pod replay (the seed runs again and skips).
fn patched_case(prefix: &str, how: &[&str], security: &str, uid: &str) {
    let agent_image = rofs_e2e::rofs_image();
    require!(TOMCAT_IMAGE, &agent_image);
    let name = unique_name(prefix);
    let port = free_port();
    let input = pod_yaml(&name, port, true, security);
    let mut args = how.to_vec();
    args.extend(["--agent-image", &agent_image]);
    let patched = rofs_e2e::rofs_patch(&args, &input);
    let opts = PlayOptions {
        keep_init_containers: true,
    };
    let pod = Pod::try_play_with(&patched, opts).unwrap_or_else(|e| panic!("{e}"));
    wait_jsp(&pod, port);
    pod.assert_root_read_only("tomcat");
    assert_eq!(pod.sh("tomcat", "id -u").trim(), uid);
    let log = pod.logs("tomcat");
    assert!(!log.contains("Read-only file system"), "{log}");

    wait_http(port, "/before-restart", 404, Duration::from_secs(5), None);
    pod.restart("tomcat");
    wait_jsp(&pod, port);
    assert!(
        access_log(&pod).contains("GET /before-restart"),
        "the access log lost a request across the restart"
    );

    pod.replay().unwrap_or_else(|e| panic!("{e}"));
    wait_jsp(&pod, port);
    let seed_log = pod.logs("rofs-seed-tomcat");
    assert!(
        seed_log.contains("already seeded"),
        "the seed should skip on replay:\n{seed_log}"
    );
    assert!(
        access_log(&pod).contains("GET /before-restart"),
        "the seed re-run clobbered the access log"
    );
}

#[test]
fn patched_with_profile_serves_jsp() {
    patched_case("e2e-tomcat-prof", &["--profile", "tomcat"], "", "0");
}

#[test]
fn patched_with_writable_flags_serves_jsp() {
    patched_case("e2e-tomcat-flags", WRITABLE_FLAGS, "", "0");
}

#[test]
fn patched_with_profile_serves_jsp_as_non_root() {
    patched_case(
        "e2e-tomcat-prof-nr",
        &["--profile", "tomcat"],
        NON_ROOT,
        "997",
    );
}

#[test]
fn patched_with_writable_flags_serves_jsp_as_non_root() {
    patched_case("e2e-tomcat-flags-nr", WRITABLE_FLAGS, NON_ROOT, "997");
}

/// The profile and the same paths as flags give the same bytes.
#[test]
fn profile_equals_flags() {
    let input = pod_yaml("same", 8080, true, NON_ROOT);
    let a = rofs_e2e::rofs_patch(&["--profile", "tomcat", "--agent-image", "x"], &input);
    let mut args = WRITABLE_FLAGS.to_vec();
    args.extend(["--agent-image", "x"]);
    assert_eq!(a, rofs_e2e::rofs_patch(&args, &input));
}

// ---------------------------------------------------------------------------------
// A WAR deployment: what Debian users do (drop app.war into webapps/), and what the
// article's application server does.

/// `localhost/rofs-e2e-tomcat:bookworm` plus `webapps/hello.war`, built by [`war_image`].
pub const WAR_IMAGE: &str = "localhost/rofs-e2e-tomcat-war:bookworm";

/// `hello.war`: `index.jsp` (`rofs-e2e-war jsp ok 42`) and `tmp.jsp`, which creates a
/// temporary file in `java.io.tmpdir` (`/tmp`, `CATALINA_TMPDIR`) the way upload libraries
/// do (`rofs-e2e-war tmp ok`).
pub fn hello_war() -> Vec<u8> {
    zip_stored(&[
        (
            "index.jsp",
            "<%@ page contentType=\"text/plain; charset=UTF-8\" %>rofs-e2e-war jsp ok <%= 6 * 7 %>\n",
        ),
        (
            "tmp.jsp",
            "<%@ page contentType=\"text/plain; charset=UTF-8\" %><% java.io.File f = java.io.File.createTempFile(\"rofs-e2e\", \".tmp\"); f.delete(); %>rofs-e2e-war tmp ok\n",
        ),
    ])
}

/// Builds [`WAR_IMAGE`] (once per test run; kept while its base image and the WAR are the
/// same: label `dev.rofs.inputs`). `FROM` a local image and `COPY`: offline, ~2 s.
pub fn war_image() -> &'static str {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        use std::hash::{Hash, Hasher};
        let war = hello_war();
        let base = rofs_e2e::podman_ok(&["image", "inspect", "--format", "{{.Id}}", TOMCAT_IMAGE]);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (base.trim(), &war, "war-v1").hash(&mut h);
        let hash = format!("{:016x}", h.finish());
        let have = rofs_e2e::podman(&[
            "image",
            "inspect",
            "--format",
            "{{index .Labels \"dev.rofs.inputs\"}}",
            WAR_IMAGE,
        ]);
        if String::from_utf8_lossy(&have.stdout).trim() == hash {
            return;
        }
        let ctx = std::env::temp_dir().join(format!("rofs-e2e-war-{}", std::process::id()));
        std::fs::create_dir_all(&ctx).expect("build context");
        std::fs::write(ctx.join("hello.war"), &war).expect("write hello.war");
        std::fs::write(
            ctx.join("Containerfile"),
            format!("FROM {TOMCAT_IMAGE}\nCOPY hello.war /var/lib/tomcat10/webapps/hello.war\n"),
        )
        .expect("write Containerfile");
        let label = format!("dev.rofs.inputs={hash}");
        let dir = ctx.to_string_lossy().into_owned();
        let file = ctx.join("Containerfile").to_string_lossy().into_owned();
        rofs_e2e::podman_ok(&[
            "build", "-q", "--label", &label, "-f", &file, "-t", WAR_IMAGE, &dir,
        ]);
        let _ = std::fs::remove_dir_all(&ctx);
    });
    WAR_IMAGE
}

/// A zip archive of `(name, content)` entries, stored (no compression): enough for a WAR.
fn zip_stored(entries: &[(&str, &str)]) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let (mut out, mut central) = (Vec::new(), Vec::new());
    for (name, content) in entries {
        let (name, data) = (name.as_bytes(), content.as_bytes());
        let crc = crc32(data);
        let offset = out.len() as u32;
        // version 2.0, no flags, stored, DOS date 1980-01-01 00:00
        let common = |v: &mut Vec<u8>| {
            v.extend_from_slice(&20u16.to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes());
            v.extend_from_slice(&0x21u16.to_le_bytes());
            v.extend_from_slice(&crc.to_le_bytes());
            v.extend_from_slice(&(data.len() as u32).to_le_bytes());
            v.extend_from_slice(&(data.len() as u32).to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes());
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut out);
        out.extend_from_slice(name);
        out.extend_from_slice(data);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // made by
        common(&mut central);
        central.extend_from_slice(&[0; 10]); // comment len, disk, internal (2 each), external attr (4)
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name);
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // disk numbers
    let n = entries.len() as u16;
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

#[test]
fn hello_war_is_a_valid_zip() {
    let war = hello_war();
    let path = std::env::temp_dir().join(format!("rofs-e2e-hello-{}.war", std::process::id()));
    std::fs::write(&path, &war).expect("write");
    // python's zipfile checks CRCs and the central directory (skip when python is missing)
    let out = std::process::Command::new("python3")
        .args(["-m", "zipfile", "-t"])
        .arg(&path)
        .output();
    let _ = std::fs::remove_file(&path);
    if let Ok(out) = out {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
