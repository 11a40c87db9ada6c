//! The proof: run the image again with a read-only root and the proposed paths seeded exactly
//! as rofs seeds them. The pod rofs would emit for these paths (rofs_core's own rewrite of a
//! one-container pod) is run container by container: its `rofs-install` and `rofs-seed-*`
//! initContainers with their command, mounts and read-only root, then the app with its
//! mounts; every emptyDir is a fresh host directory (mode 0777, like the kubelet's).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::engine::{Engine, Fs, RunSpec};
use crate::plan::{self, Change, Plan, Write};
use crate::{
    AgentSource, Container, Error, Options, Waited, exercise, progress, tail, unique_name,
    wait_ready,
};

/// The agent image name written into the emitted pod when the agent comes from a host file
/// (its install container is replaced by a copy).
const HOST_AGENT: &str = "rofs-discover-host-agent";

/// What one read-only run showed.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub ready: bool,
    /// Exit status, when the app stopped by itself before the end.
    pub exited: Option<i32>,
    /// Exit status when stopped, when it differs from the writable run's.
    pub stopped_otherwise: Option<i32>,
    /// The `--exercise` failed (it passed in the writable run).
    pub exercise_failed: Option<String>,
    /// The HTTP ready check answered 500: the first line of the answer.
    pub error_answer: Option<String>,
    /// Output lines that say a write hit the read-only root.
    pub erofs: Vec<String>,
    pub logs: String,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.ready
            && self.exited.is_none()
            && self.error_answer.is_none()
            && self.erofs.is_empty()
            && self.stopped_otherwise.is_none()
            && self.exercise_failed.is_none()
    }

    fn why(&self) -> String {
        if !self.erofs.is_empty() {
            format!("{} read-only error(s)", self.erofs.len())
        } else if let Some(c) = self.exited {
            format!("the app exited with status {c}")
        } else if let Some(a) = &self.error_answer {
            format!("the ready check answered 500: {a}")
        } else if !self.ready {
            "the app was never ready".to_string()
        } else if let Some(e) = &self.exercise_failed {
            format!("the exercise failed: {e}")
        } else if let Some(c) = self.stopped_otherwise {
            format!(
                "stopped with status {c}, unlike the writable run (a write at shutdown failed?)"
            )
        } else {
            "ok".to_string()
        }
    }
}

/// A line of output that reports a write refused by the read-only root.
pub fn is_erofs(line: &str) -> bool {
    let l = line.to_ascii_lowercase();
    l.contains("read-only file system") || line.contains("EROFS")
}

/// Absolute paths named in an EROFS line (`open() "/run/nginx.pid" failed (30: ...)`).
pub fn paths_in(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let starts = bytes[i] == b'/'
            && (i == 0
                || matches!(
                    bytes[i - 1],
                    b' ' | b'"' | b'\'' | b'(' | b'`' | b'=' | b'[' | b':' | b'\t'
                ));
        if !starts {
            i += 1;
            continue;
        }
        let end = line[i..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ')' | '`' | ',' | ']'))
            .map_or(line.len(), |e| i + e);
        let p = line[i..end].trim_end_matches([':', '.', ';']);
        if p.len() > 1 && !p.contains("//") && !p.split('/').any(|c| c == "..") {
            out.push(p.trim_end_matches('/').to_string());
        }
        i = end;
    }
    out
}

/// The verification loop: run, and while a write is refused, add its directory and run
/// again; at most `opts.max_rounds` runs. Returns the rounds run.
pub fn converge(
    opts: &Options,
    engine: &Engine,
    image: &Fs,
    writes: &mut Vec<Write>,
    plan: &mut Plan,
) -> Result<u32, Error> {
    let mut added: BTreeMap<String, String> = BTreeMap::new();
    let mut last = String::new();
    for round in 1..=opts.max_rounds {
        let specs: Vec<String> = plan.paths.iter().map(plan::Proposal::spec).collect();
        progress(&format!(
            "verification round {round}: read-only root, {} paths seeded as rofs does",
            specs.len()
        ));
        let outcome = run_read_only(opts, engine, &specs, &format!("v{round}"))?;
        if outcome.ok() {
            progress(&format!(
                "verification round {round}: ready, no read-only errors"
            ));
            return Ok(round);
        }
        let mut new = Vec::new();
        for line in &outcome.erofs {
            for p in paths_in(line) {
                let Some(p) = crate::collect::resolve(image, &p) else {
                    continue;
                };
                // A program naming itself (`/bin/sh: 1: cannot create ...`), not the path.
                if is_program(image, &p) {
                    continue;
                }
                if plan.paths.iter().any(|x| plan::within(&p, &x.path)) {
                    continue;
                }
                // A directory the image has: the app writes into it; else the path itself.
                let path = if plan::ImageView::is_dir(image, &p) {
                    format!("{p}/(a file)")
                } else {
                    p.clone()
                };
                // The same refusal logged again (at every readiness poll...) is one.
                if new.iter().any(|w: &Write| w.path == path) {
                    continue;
                }
                new.push(Write {
                    path,
                    change: Change::Refused,
                    is_dir: false,
                    bytes: 0,
                });
                added.insert(p, line.trim().to_string());
            }
        }
        // A failure that names no path rofs can add: apps create and remove temporary files
        // at once (lock files, heartbeats), so no diff shows them and their errors often name
        // no file ("Unable to create lock file", "No usable temporary directory found"). The
        // standard temporary directories are tried, one per round; the minimality check then
        // shows each is needed.
        if new.is_empty()
            && let Some(t) = temp_fallback(plan, image)
        {
            new.push(Write {
                path: format!("{t}/(a temporary file)"),
                change: Change::Refused,
                is_dir: false,
                bytes: 0,
            });
            let what = outcome
                .erofs
                .first()
                .map_or_else(|| outcome.why(), |l| l.trim().to_string());
            added.insert(
                t.to_string(),
                format!(
                    "the read-only run failed naming no path rofs could add ({what}); tried \
                     {t}, the standard temporary directory (files created and removed at once \
                     are in no diff)"
                ),
            );
        }
        if new.is_empty() {
            let detail = if outcome.erofs.is_empty() {
                String::new()
            } else {
                format!(
                    "; read-only errors without a path rofs can make writable:\n{}",
                    tail(&outcome.erofs.join("\n"), 10)
                )
            };
            return Err(Error::NotConverged(format!(
                "round {round}: {}{detail}; last lines of its output:\n{}",
                outcome.why(),
                tail(&outcome.logs, 20)
            )));
        }
        let why = outcome.why();
        last = format!(
            "round {round}: {}:\n{}",
            outcome.why(),
            tail(&outcome.erofs.join("\n"), 10)
        );
        writes.extend(new);
        let before: Vec<String> = plan.paths.iter().map(|p| p.path.clone()).collect();
        *plan = plan::plan(writes, image);
        let mut grown = Vec::new();
        for p in &mut plan.paths {
            if !before.contains(&p.path) {
                p.from_verification = added
                    .iter()
                    .find(|(a, _)| plan::within(a, &p.path))
                    .map(|(_, line)| line.clone());
                grown.push(p.spec());
            }
        }
        progress(&format!(
            "verification round {round}: {why}; paths now: {}",
            if grown.is_empty() {
                "(wider directories)".to_string()
            } else {
                format!("+ {}", grown.join(" "))
            }
        ));
    }
    Err(Error::NotConverged(format!(
        "still failing after --max-rounds {} (the last round added paths it did not get to \
         prove); {last}",
        opts.max_rounds
    )))
}

/// The temporary directories tried, in order, when a read-only run fails without naming a
/// path (see [`converge`]).
pub const TEMP_FALLBACK: &[&str] = &["/tmp", "/var/tmp"];

/// The first of [`TEMP_FALLBACK`] the image has as a directory and the plan does not cover.
pub fn temp_fallback(plan: &Plan, image: &dyn plan::ImageView) -> Option<&'static str> {
    TEMP_FALLBACK
        .iter()
        .copied()
        .find(|t| image.is_dir(t) && !plan.paths.iter().any(|p| plan::within(t, &p.path)))
}

/// An executable file of the image.
fn is_program(image: &Fs, path: &str) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::symlink_metadata(image.at(path))
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Remove each path in turn; a path without which the app is still ready (and writes
/// nothing refused) is marked `not_needed_for_readiness`. It stays in the answer (the app did
/// write there; the comment says so). Runs `opts.jobs` at a time.
pub fn minimality(opts: &Options, engine: &Engine, plan: &mut Plan) -> Result<(), Error> {
    let all: Vec<String> = plan.paths.iter().map(plan::Proposal::spec).collect();
    progress(&format!(
        "minimality: {} runs without one path each, {} at a time",
        all.len(),
        opts.jobs.max(1)
    ));
    let mut results: Vec<Option<Result<Outcome, Error>>> = (0..all.len()).map(|_| None).collect();
    for chunk in (0..all.len()).collect::<Vec<_>>().chunks(opts.jobs.max(1)) {
        std::thread::scope(|s| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|&i| {
                    let without: Vec<String> = all
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| *j != i)
                        .map(|(_, p)| p.clone())
                        .collect();
                    let tag = format!("m{i}");
                    (
                        i,
                        s.spawn(move || run_read_only(opts, engine, &without, &tag)),
                    )
                })
                .collect();
            for (i, h) in handles {
                results[i] = Some(h.join().unwrap_or_else(|_| {
                    Err(Error::Engine("a minimality run panicked".to_string()))
                }));
            }
        });
    }
    for (p, r) in plan.paths.iter_mut().zip(results) {
        let outcome = r.unwrap_or_else(|| Err(Error::Engine("no result".to_string())))?;
        p.not_needed_for_readiness = outcome.ok();
        progress(&format!(
            "minimality: without {}: {}",
            p.path,
            if outcome.ok() {
                "still ready (not needed for readiness; kept: the app wrote there)".to_string()
            } else {
                outcome.why()
            }
        ));
    }
    Ok(())
}

/// The pod rofs emits for `specs` on a one-container pod of the image.
pub fn emitted_pod(opts: &Options, specs: &[String]) -> Result<Value, Error> {
    let mut settings = rofs_core::Settings::default();
    for s in specs {
        settings
            .add_writable(s)
            .map_err(|e| Error::NotConverged(format!("{s}: {e}")))?;
    }
    settings.agent_image = Some(match &opts.agent {
        AgentSource::Image(i) => i.clone(),
        AgentSource::Path(_) => HOST_AGENT.to_string(),
    });
    let mut doc = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "discover"},
        "spec": {"containers": [{"name": "app", "image": opts.image}]},
    });
    rofs_core::rewrite_document(&mut doc, &settings)
        .map_err(|e| Error::NotConverged(format!("rofs cannot emit these paths: {e}")))?;
    Ok(doc)
}

/// A container of the emitted pod as a run spec: command, mounts onto the volumes' host
/// directories, read-only root, no new privileges.
fn spec_of(
    c: &Value,
    dirs: &BTreeMap<String, PathBuf>,
    name: String,
    user: Option<String>,
) -> Result<RunSpec, Error> {
    let mut binds = Vec::new();
    for m in c["volumeMounts"].as_array().into_iter().flatten() {
        let (Some(v), Some(at)) = (m["name"].as_str(), m["mountPath"].as_str()) else {
            continue;
        };
        let dir = dirs
            .get(v)
            .ok_or_else(|| Error::Engine(format!("emitted mount of unknown volume {v}")))?;
        binds.push((dir.clone(), at.to_string()));
    }
    let command: Vec<String> = c["command"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect();
    let sc = &c["securityContext"];
    Ok(RunSpec {
        name,
        image: c["image"].as_str().unwrap_or_default().to_string(),
        user,
        read_only: sc["readOnlyRootFilesystem"] == Value::Bool(true),
        ignore_image_volumes: true,
        no_new_privileges: sc["allowPrivilegeEscalation"] == Value::Bool(false),
        binds,
        entrypoint: command.first().cloned(),
        args: command.iter().skip(1).cloned().collect(),
        stop_timeout: 10,
        publish: None,
    })
}

/// Host directories removed on drop.
struct Dirs(PathBuf);

impl Drop for Dirs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One read-only run of the emitted pod with `specs`.
pub fn run_read_only(
    opts: &Options,
    engine: &Engine,
    specs: &[String],
    tag: &str,
) -> Result<Outcome, Error> {
    let doc = emitted_pod(opts, specs)?;
    let spec = &doc["spec"];
    let work = std::env::temp_dir().join(unique_name(tag));
    let _cleanup = Dirs(work.clone());
    let mut dirs = BTreeMap::new();
    for v in spec["volumes"].as_array().into_iter().flatten() {
        let name = v["name"].as_str().unwrap_or_default().to_string();
        let dir = work.join(&name);
        make_dir(&dir)?;
        dirs.insert(name, dir);
    }
    for c in spec["initContainers"].as_array().into_iter().flatten() {
        let cname = c["name"].as_str().unwrap_or_default();
        let rofs = dirs.get(rofs_core::names::AGENT_VOLUME);
        if cname == rofs_core::names::INSTALL_CONTAINER
            && let Some(rofs) = rofs
        {
            let host = match &opts.agent {
                AgentSource::Path(agent) => Some(agent.clone()),
                AgentSource::Image(image) => installed_agent(image),
            };
            if let Some(agent) = host {
                install_host_agent(&agent, rofs)?;
                continue;
            }
        }
        let user = if c["image"].as_str() == Some(opts.image.as_str()) {
            opts.user.clone()
        } else {
            None
        };
        let run = spec_of(c, &dirs, unique_name(&format!("{tag}-{cname}")), user)?;
        let out = engine.run_once(&run, Duration::from_secs(300))?;
        if !out.ok {
            return Err(Error::Seed(format!(
                "{cname} ({} {}) exited with status {}:\n{}",
                run.entrypoint.as_deref().unwrap_or_default(),
                run.args.join(" "),
                out.code.map_or("killed".to_string(), |c| c.to_string()),
                tail(&format!("{}{}", out.stdout, out.stderr), 20)
            )));
        }
        if cname == rofs_core::names::INSTALL_CONTAINER
            && let (AgentSource::Image(image), Some(rofs)) = (&opts.agent, rofs)
        {
            remember_agent(image, &rofs.join("bin/rofs-agent"));
        }
    }
    let app = &spec["containers"][0];
    let name = unique_name(&format!("{tag}-app"));
    let host_port = opts
        .ready
        .port()
        .map(|_| crate::ready::free_port())
        .transpose()
        .map_err(|e| Error::Engine(format!("no free port: {e}")))?;
    let mut run = spec_of(app, &dirs, name.clone(), opts.user.clone())?;
    run.entrypoint = None;
    run.args = opts.command.clone();
    run.publish = opts.ready.port().zip(host_port).map(|(p, h)| (h, p));
    run.stop_timeout = opts.stop_timeout;
    engine.create(&run)?;
    let _ctr = Container {
        engine,
        name: name.clone(),
    };
    engine.start(&name)?;
    let started = Instant::now();
    let waited = wait_ready(
        engine,
        &name,
        &opts.ready,
        host_port,
        opts.ready_timeout,
        true,
    )?;
    let mut stopped_otherwise = None;
    let mut exercise_failed: Option<String> = None;
    let mut exited = match waited {
        Waited::Exited(c) => Some(c),
        _ => None,
    };
    let answer = match &waited {
        Waited::ErrorAnswer(body) => Some(body.clone()),
        _ => None,
    };
    if waited == Waited::Ready {
        // An exercise that fails read-only is part of the evidence: its own output may name
        // the refused path (an exercise in the container writes there itself).
        if let Err(e) = exercise(opts, engine, &name, host_port) {
            exercise_failed = Some(e.to_string());
        }
        let (running, code) = engine.state(&name)?;
        if !running {
            exited = Some(code);
        } else {
            engine.stop(&name, opts.stop_timeout)?;
            let (_, code) = engine.state(&name)?;
            stopped_otherwise = opts.stop_status.filter(|s| *s != code).map(|_| code);
        }
    }
    let _ = started;
    let logs = engine.logs(&name);
    let mut erofs: Vec<String> = logs
        .lines()
        .filter(|l| is_erofs(l))
        .map(str::to_string)
        .collect();
    // Apps that log to files (redis, mariadb) report refused writes there: read the text
    // files the app has in its writable paths.
    for (host, at) in &run.binds {
        erofs.extend(erofs_in_files(host, at));
    }
    if let Some(e) = &exercise_failed {
        erofs.extend(e.lines().filter(|l| is_erofs(l)).map(str::to_string));
    }
    // An app may name the refused write in its answer rather than its log.
    if let Some(body) = &answer {
        erofs.extend(body.lines().filter(|l| is_erofs(l)).map(str::to_string));
    }
    Ok(Outcome {
        ready: waited == Waited::Ready,
        error_answer: answer.as_deref().map(answer_summary),
        exited,
        stopped_otherwise,
        exercise_failed,
        erofs,
        logs,
    })
}

/// One line for a failing HTTP answer: an HTML page's title, else the body's first line
/// (200 characters at most).
pub fn answer_summary(body: &str) -> String {
    let lower = body.to_ascii_lowercase();
    let title = lower.find("<title>").and_then(|i| {
        let from = i + "<title>".len();
        lower[from..]
            .find("</title>")
            .map(|j| body[from..from + j].trim())
    });
    let line = title
        .or_else(|| body.lines().map(str::trim).find(|l| !l.is_empty()))
        .unwrap_or("(empty body)");
    line.chars().take(200).collect()
}

/// The agent each agent image installed, kept on the host: `rofs-install` runs once per
/// discover (the first verification run); later runs get the same file copied in, as that
/// container would (it only copies the binary).
static AGENTS: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());

fn installed_agent(image: &str) -> Option<PathBuf> {
    AGENTS.lock().ok()?.get(image).cloned()
}

fn remember_agent(image: &str, installed: &Path) {
    let keep = std::env::temp_dir().join(unique_name("agent"));
    if std::fs::copy(installed, &keep).is_ok()
        && let Ok(mut agents) = AGENTS.lock()
    {
        agents.insert(image.to_string(), keep);
    }
}

/// Remove the kept agents (end of a discover).
pub fn forget_agents() {
    if let Ok(mut agents) = AGENTS.lock() {
        for (_, p) in std::mem::take(&mut *agents) {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Read-only error lines in the files under `host` (mounted at `at`): text files up to
/// 4 MiB, each line prefixed with the file's path in the container.
pub fn erofs_in_files(host: &Path, at: &str) -> Vec<String> {
    let mut out = Vec::new();
    crate::collect::walk(host, &mut |rel, m| {
        if m.is_file()
            && m.len() <= 4 << 20
            && let Ok(bytes) = std::fs::read(host.join(rel))
            && !bytes.contains(&0)
        {
            let text = String::from_utf8_lossy(&bytes);
            for line in text.lines().filter(|l| is_erofs(l)) {
                out.push(format!("{at}/{}: {}", rel.display(), line.trim()));
            }
        }
        out.len() < 100
    });
    out
}

fn make_dir(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Io(dir.into(), e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))
        .map_err(|e| Error::Io(dir.into(), e))
}

/// What `rofs-install` does, from a host file: the agent at `bin/rofs-agent` in the volume.
fn install_host_agent(agent: &Path, rofs: &Path) -> Result<(), Error> {
    let bin = rofs.join("bin");
    make_dir(&bin)?;
    let dst = bin.join("rofs-agent");
    std::fs::copy(agent, &dst).map_err(|e| Error::Io(agent.into(), e))?;
    std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::Io(dst, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erofs_lines_and_their_paths() {
        let nginx = r#"2026/11/30 08:44:01 [emerg] 1#1: open() "/run/nginx.pid" failed (30: Read-only file system)"#;
        assert!(is_erofs(nginx));
        assert_eq!(paths_in(nginx), ["/run/nginx.pid"]);
        let py = "OSError: [Errno 30] Read-only file system: '/var/cache/app/x.tmp'";
        assert!(is_erofs(py));
        assert_eq!(paths_in(py), ["/var/cache/app/x.tmp"]);
        let sh = "touch: /data/f: Read-only file system";
        assert_eq!(paths_in(sh), ["/data/f"]);
        let go = "mkdir /var/lib/app/: read-only file system";
        assert!(is_erofs(go));
        assert_eq!(paths_in(go), ["/var/lib/app"]);
        assert!(!is_erofs("GET /index.html 200"));
        assert!(paths_in("no path here: EROFS").is_empty());
        assert!(paths_in("http://x/y 1/2 EROFS").is_empty());
    }

    #[test]
    fn failing_answers_in_one_line() {
        assert_eq!(
            answer_summary(
                "<!doctype html><html><head><title>HTTP Status 500 – Internal Server Error</title><style>b {}</style>"
            ),
            "HTTP Status 500 – Internal Server Error"
        );
        assert_eq!(
            answer_summary("\nEROFS: read-only file system, mkdtemp '/tmp/x'\nmore"),
            "EROFS: read-only file system, mkdtemp '/tmp/x'"
        );
        assert_eq!(answer_summary(""), "(empty body)");
        assert_eq!(answer_summary(&"x".repeat(500)).len(), 200);
    }

    /// An image with the given directories.
    struct Dirs(&'static [&'static str]);

    impl plan::ImageView for Dirs {
        fn is_dir(&self, path: &str) -> bool {
            self.0.contains(&path)
        }
        fn content(&self, _: &str) -> (usize, u64) {
            (0, 0)
        }
        fn owner_mode(&self, _: &str) -> Option<(u32, u32)> {
            None
        }
    }

    /// /tmp first, then /var/tmp; only what the image has and the plan does not cover.
    #[test]
    fn temporary_directories_tried_in_order_when_no_path_is_named() {
        let image = Dirs(&["/tmp", "/var/tmp"]);
        assert_eq!(
            temp_fallback(&Plan::of_paths(&["/run"]), &image),
            Some("/tmp")
        );
        assert_eq!(
            temp_fallback(&Plan::of_paths(&["/tmp", "/run"]), &image),
            Some("/var/tmp")
        );
        assert_eq!(
            temp_fallback(&Plan::of_paths(&["/tmp", "/var"]), &image),
            None
        );
        assert_eq!(
            temp_fallback(&Plan::of_paths(&[]), &Dirs(&["/var/tmp"])),
            Some("/var/tmp")
        );
        assert_eq!(temp_fallback(&Plan::of_paths(&[]), &Dirs(&[])), None);
    }
}

#[cfg(test)]
mod file_tests {
    use super::*;

    #[test]
    fn erofs_lines_in_the_apps_log_files() {
        let host = std::env::temp_dir().join(format!("rofs-discover-logs-{}", std::process::id()));
        std::fs::create_dir_all(host.join("sub")).expect("mkdir");
        std::fs::write(
            host.join("redis-server.log"),
            "1:M 30 Nov 2026 * Ready to accept connections\n\
             1:M 30 Nov 2026 # Failed opening the temp RDB file temp-1.rdb (in server root dir /var/lib/redis) for saving: Read-only file system\n",
        )
        .expect("write");
        std::fs::write(host.join("sub/bin"), b"\0Read-only file system").expect("write");
        let lines = erofs_in_files(&host, "/var/log/redis");
        let _ = std::fs::remove_dir_all(&host);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with("/var/log/redis/redis-server.log: 1:M"),
            "{lines:?}"
        );
        assert_eq!(
            paths_in(&lines[0]),
            ["/var/log/redis/redis-server.log", "/var/lib/redis"]
        );
    }
}
