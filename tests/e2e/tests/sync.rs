//! Writable, synced ConfigMaps (`rofs patch --writable-volume`, the `rofs-sync` sidecar)
//! on Debian nginx.
//!
//! podman 4.3 neither updates ConfigMap volumes live nor runs native sidecars, so:
//! - the manifest is patched with a `configMap` volume (only configMap, secret, projected
//!   and downwardAPI volumes can be made writable; a hostPath is refused), then the patched
//!   manifest's volume source is swapped for a `hostPath` directory that the test updates
//!   exactly like the kubelet's AtomicWriter ([`AtomicWriter`]). Every mount rofs made of
//!   the volume (the source at `/.rofs/src/<volume>` in `rofs-sync-init` and `rofs-sync`)
//!   stays as rofs wrote it;
//! - the sidecar is the plain-container form (`--kube-version 1.28`).

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rofs_e2e::{NGINX_IMAGE, Pod, free_port, http_get, podman_ok, require, unique_name};
use serde_json::{Value, json};

/// The writable volume's name in the manifest.
const VOLUME: &str = "site";

/// nginx's server for the test, in the synced volume (Debian's nginx.conf includes
/// `/etc/nginx/conf.d/*.conf`); it serves the volume itself. `/version` only changes when
/// nginx re-reads its configuration, i.e. after the SIGHUP of the reload hook.
fn site_conf(version: &str) -> String {
    format!(
        "server {{\n    listen 8080;\n    root /etc/nginx/conf.d;\n    location = /version {{\n        default_type text/plain;\n        return 200 \"config {version}\\n\";\n    }}\n}}\n"
    )
}

/// The manifest as a user writes it: nginx with a read-only root and a ConfigMap at
/// `/etc/nginx/conf.d`; `security` is added to the container's securityContext.
fn pod_yaml(name: &str, port: u16, security: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  containers:
  - name: nginx
    image: {NGINX_IMAGE}
    ports:
    - {{containerPort: 8080, hostPort: {port}}}
    securityContext:
      readOnlyRootFilesystem: true
{security}    volumeMounts:
    - {{name: {VOLUME}, mountPath: /etc/nginx/conf.d}}
  volumes:
  - name: {VOLUME}
    configMap: {{name: {name}-site}}
"#
    )
}

/// Replaces the source of volume `volume` in the (single) Pod of `yaml` by a hostPath
/// directory; returns the manifest as JSON (which is YAML).
fn with_host_path(yaml: &str, volume: &str, dir: &Path) -> String {
    let mut pod: Value = serde_saphyr::from_str(yaml)
        .unwrap_or_else(|e| panic!("rofs patch output is not YAML: {e}\n{yaml}"));
    let vols = pod
        .pointer_mut("/spec/volumes")
        .and_then(Value::as_array_mut)
        .expect("the patched pod has volumes");
    let v = vols
        .iter_mut()
        .find(|v| v["name"] == volume)
        .unwrap_or_else(|| panic!("no volume {volume} in the patched pod:\n{yaml}"));
    assert!(
        v.get("configMap").is_some(),
        "rofs changed the source of {volume}: {v}"
    );
    *v = json!({
        "name": volume,
        "hostPath": {"path": dir.to_string_lossy(), "type": "Directory"},
    });
    serde_json::to_string_pretty(&pod).expect("serialize JSON")
}

/// The kubelet's AtomicWriter (`pkg/volume/util/atomic_writer.go`) on a host directory:
/// each [`AtomicWriter::write`] creates a new timestamped directory
/// `..2026_11_27_02_15_39.123456789` holding the whole payload, points `..data_tmp` at it,
/// renames `..data_tmp` over `..data` (the atomic switch), creates the visible symlinks
/// `name -> ..data/name`, removes those of names no longer in the payload, and removes the
/// old directory. Files are 0644 and directories 0755, like a ConfigMap's defaultMode.
/// The directory is removed on drop (kept with `ROFS_E2E_KEEP`).
struct AtomicWriter {
    dir: PathBuf,
}

impl AtomicWriter {
    fn new(name: &str) -> AtomicWriter {
        let dir = std::env::temp_dir().join(format!("rofs-e2e-{name}-src"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create the hostPath source");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod source");
        AtomicWriter { dir }
    }

    /// `..YYYY_MM_DD_HH_MM_SS.<9 digits>` (UTC), as the kubelet names them (its suffix
    /// is random; here the nanoseconds).
    fn ts_dir_name() -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970");
        let secs = now.as_secs();
        let (y, m, d) = civil_from_days((secs / 86_400) as i64);
        let s = secs % 86_400;
        format!(
            "..{y:04}_{m:02}_{d:02}_{:02}_{:02}_{:02}.{:09}",
            s / 3600,
            s / 60 % 60,
            s % 60,
            now.subsec_nanos()
        )
    }

    /// Publishes `files` (flat names) as the new payload; returns the instant right after
    /// the rename of `..data` (when the kubelet's update becomes visible).
    fn write(&mut self, files: &[(&str, &str)]) -> Instant {
        let data = self.dir.join("..data");
        let old = fs::read_link(&data).ok();
        let ts = Self::ts_dir_name();
        let ts_path = self.dir.join(&ts);
        fs::create_dir(&ts_path).expect("create timestamped dir");
        fs::set_permissions(&ts_path, fs::Permissions::from_mode(0o755)).expect("chmod");
        for (name, content) in files {
            let p = ts_path.join(name);
            fs::write(&p, content).expect("write payload file");
            fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).expect("chmod");
        }
        let tmp = self.dir.join("..data_tmp");
        symlink(&ts, &tmp).expect("symlink ..data_tmp");
        fs::rename(&tmp, &data).expect("rename ..data_tmp over ..data");
        let switched = Instant::now();
        for (name, _) in files {
            let visible = self.dir.join(name);
            if fs::symlink_metadata(&visible).is_err() {
                symlink(format!("..data/{name}"), &visible).expect("visible symlink");
            }
        }
        for ent in fs::read_dir(&self.dir).expect("read source dir") {
            let ent = ent.expect("dir entry");
            let n = ent.file_name().to_string_lossy().into_owned();
            if !n.starts_with("..") && !files.iter().any(|(f, _)| *f == n) {
                fs::remove_file(ent.path()).expect("remove stale visible symlink");
            }
        }
        if let Some(old) = old {
            fs::remove_dir_all(self.dir.join(old)).expect("remove old timestamped dir");
        }
        switched
    }
}

impl Drop for AtomicWriter {
    fn drop(&mut self) {
        if std::env::var_os("ROFS_E2E_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Polls `GET path` every 10 ms until it answers 200 with exactly `want`; returns the
/// time taken. Panics after `timeout` with the last answer and both containers' logs.
fn wait_body(pod: &Pod, port: u16, path: &str, want: &str, timeout: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let last = http_get(port, path);
        if matches!(&last, Ok((200, b)) if b == want) {
            return start.elapsed();
        }
        if start.elapsed() >= timeout {
            panic!(
                "GET {path}: wanted 200 {want:?}, last answer {last:?} after {timeout:?}\n\
                 --- rofs-sync ---\n{}\n--- nginx ---\n{}",
                pod.logs("rofs-sync"),
                pod.logs("nginx")
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn exec_ok(pod: &Pod, c: &str, script: &str) -> String {
    let out = pod.exec(c, &["/bin/sh", "-c", script]);
    assert!(
        out.status.success(),
        "{script} in {c} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits (bounded) until the sidecar has logged `n` reloads; returns its log.
fn wait_reloads(pod: &Pod, n: usize) -> String {
    let start = Instant::now();
    loop {
        let log = pod.logs("rofs-sync");
        let got = log.lines().filter(|l| l.contains("reload: ")).count();
        if got >= n {
            let sent = log
                .lines()
                .filter(|l| l.starts_with("rofs sync: reload: sent SIGHUP to "))
                .count();
            assert_eq!(sent, n, "reload hook failed (wanted {n} sent):\n{log}");
            return log;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{got} reload(s) logged, wanted {n}:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// See the tests below. `security`: extra lines of nginx's securityContext.
fn nginx_synced_configmap(prefix: &str, security: &str) {
    let agent_image = rofs_e2e::rofs_image();
    require!(NGINX_IMAGE, &agent_image);
    let name = unique_name(prefix);
    let port = free_port();
    let wait = Duration::from_secs(10);

    let mut src = AtomicWriter::new(&name); // declared first: dropped after the pod
    let v1 = site_conf("v1");
    src.write(&[
        ("rofs-site.conf", &v1),
        ("index.html", "page v1\n"),
        ("notes.txt", "notes from the ConfigMap\n"),
        ("removed.txt", "removed in v2\n"),
    ]);

    let patched = rofs_e2e::rofs_patch(
        &[
            "--profile",
            "nginx",
            "--agent-image",
            &agent_image,
            "--writable-volume",
            VOLUME,
            "--reload",
            "signal:HUP:nginx",
            "--kube-version",
            "1.28",
        ],
        &pod_yaml(&name, port, security),
    );
    let pod = Pod::play(&with_host_path(&patched, VOLUME, &src.dir));
    pod.wait_running("rofs-sync", Duration::from_secs(30));

    // (1) the initial content, copied by rofs-sync-init before nginx started
    wait_body(
        &pod,
        port,
        "/index.html",
        "page v1\n",
        Duration::from_secs(30),
    );
    wait_body(&pod, port, "/version", "config v1\n", wait);
    let copy = exec_ok(&pod, "nginx", "ls -lA /etc/nginx/conf.d/");
    assert!(
        copy.lines().skip(1).all(|l| l.starts_with('-')) && !copy.contains("..data"),
        "the copy must hold regular files only:\n{copy}"
    );

    // the app edits a synced file and creates its own file, in the writable copy
    exec_ok(
        &pod,
        "nginx",
        "echo 'edited by the app' > /etc/nginx/conf.d/notes.txt && \
         echo 'created by the app' > /etc/nginx/conf.d/app-own.txt",
    );
    wait_body(&pod, port, "/notes.txt", "edited by the app\n", wait);
    let master_pid = exec_ok(&pod, "nginx", "cat /run/nginx.pid");

    // (2) a page update: changed, added and removed at once; notes.txt unchanged in the
    // source. nginx serves new files without a reload.
    let switched = src.write(&[
        ("rofs-site.conf", &v1),
        ("index.html", "page v2\n"),
        ("notes.txt", "notes from the ConfigMap\n"),
        ("added.txt", "added in v2\n"),
    ]);
    wait_body(&pod, port, "/index.html", "page v2\n", wait);
    let page_latency = switched.elapsed();
    wait_body(&pod, port, "/added.txt", "added in v2\n", wait);
    assert_eq!(http_get(port, "/removed.txt").map(|r| r.0), Ok(404));
    // (3) the app's edit of another file, and the file only the app created, survive
    let app_files = || {
        assert_eq!(
            http_get(port, "/notes.txt"),
            Ok((200, "edited by the app\n".to_string()))
        );
        assert_eq!(
            http_get(port, "/app-own.txt"),
            Ok((200, "created by the app\n".to_string()))
        );
    };
    app_files();
    wait_reloads(&pod, 1); // the debounced hook (100 ms) after this sync

    // (2b) a config change, which nginx applies only when it reloads (SIGHUP). The source
    // also changes notes.txt, which the app edited: a conflict, the app's version stays.
    let switched = src.write(&[
        ("rofs-site.conf", &site_conf("v2")),
        ("index.html", "page v2\n"),
        ("notes.txt", "notes from the ConfigMap, v3\n"),
        ("added.txt", "added in v2\n"),
    ]);
    wait_body(&pod, port, "/version", "config v2\n", wait);
    let reload_latency = switched.elapsed();
    assert_eq!(
        exec_ok(&pod, "nginx", "cat /run/nginx.pid"),
        master_pid,
        "nginx was restarted, not reloaded"
    );
    app_files();
    let log = wait_reloads(&pod, 2);

    // one line per sync: the sidecar's start-up pass (nothing to do: rofs-sync-init made
    // the copy), then one per update, plus the conflict
    let prefix = format!("rofs sync: /.rofs/dst/rofs-copy-{VOLUME}: ");
    let lines: Vec<&str> = log.lines().filter(|l| l.starts_with(&prefix)).collect();
    assert_eq!(lines.len(), 3, "one line per sync expected:\n{log}");
    assert!(
        lines[0].contains(": 0 added, 0 changed, 0 removed, 0 conflict(s); sync "),
        "{log}"
    );
    assert!(
        lines[1].contains(": 1 added, 1 changed, 1 removed, 0 conflict(s); sync "),
        "{log}"
    );
    assert!(
        lines[2].contains(": 0 added, 1 changed, 0 removed, 1 conflict(s); sync "),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "rofs sync: warn: /.rofs/dst/rofs-copy-{VOLUME}/notes.txt: conflict: changed by \
             the app and in the source; kept the app's version"
        )),
        "{log}"
    );
    eprintln!(
        "page update served {page_latency:?} and config update {reload_latency:?} after the \
         ..data rename; rofs-sync log:\n{log}"
    );

    // (4) the root stays read-only, for nginx and the sidecar
    let out = pod.exec("nginx", &["/bin/sh", "-c", "touch /rofs-e2e-probe"]);
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("Read-only file system"),
        "writing / must fail with EROFS"
    );
    for c in ["nginx", "rofs-sync"] {
        let ro = podman_ok(&[
            "inspect",
            "--format",
            "{{.HostConfig.ReadonlyRootfs}}",
            &pod.container(c),
        ]);
        assert_eq!(ro.trim(), "true", "{c}: root not read-only");
    }
}

/// nginx serves a page and its config from a writable copy of a ConfigMap that `rofs-sync`
/// keeps in sync: the initial content; an AtomicWriter update (page changed, file added,
/// file removed) served within a bounded wait, while the app's own edit of another file
/// and a file only the app created survive; a config update that nginx applies only after
/// the hook's SIGHUP (same master PID: a reload, not a restart), where the source also
/// changes the file the app edited (conflict: the app's version is kept); one log line per
/// sync; the root stays read-only.
///
/// `runAsUser: 0` is explicit: the sidecar takes the app container's securityContext, and
/// without a `runAsUser` there it runs as the rofs image's user (65532), which may not
/// signal nginx's root master (EPERM) — see the ignored test below.
#[test]
fn synced_configmap_reloads_nginx_and_keeps_app_edits() {
    nginx_synced_configmap("e2e-sync-nginx", "      runAsUser: 0\n");
}

/// The same manifest as users write it, without `runAsUser` (Debian's nginx image runs as
/// root): the sync containers run the app's image, so they run as the image's user (root, with
/// no capabilities) and the SIGHUP reaches the nginx master (its workers, www-data, are not
/// signalled and need not be).
#[test]
fn synced_configmap_reloads_nginx_without_run_as_user() {
    nginx_synced_configmap("e2e-sync-nginx-img-user", "");
}
