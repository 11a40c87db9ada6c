//! rofs-discover: `rofs discover IMAGE`. Runs the image with a writable root, collects every
//! path it writes, turns the writes into writable paths ([`plan`]), then proves them: runs the
//! image again with a read-only root and those paths seeded exactly as rofs seeds them
//! ([`verify`]), adds what is still missing, and checks each path is needed. See
//! docs/discover.md.
//!
//! The engine (podman, or docker) is driven through its command line ([`engine`]). Progress
//! goes to stderr, one line per step; the result is a [`Report`], written by [`output`].

pub mod collect;
pub mod engine;
pub mod output;
pub mod plan;
pub mod ready;
pub mod verify;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use engine::{Engine, Fs, RunSpec};
use plan::{Plan, Write};
use ready::Ready;

/// Where the seed containers get the agent from.
#[derive(Debug, Clone)]
pub enum AgentSource {
    /// An image with `/rofs-agent` (the rofs image): run as rofs's `rofs-install` is.
    Image(String),
    /// A static agent binary on the host, copied into the agent volume.
    Path(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Options {
    pub image: String,
    /// Replaces the image's CMD (like a Kubernetes container's `args`).
    pub command: Vec<String>,
    pub engine: Option<String>,
    pub user: Option<String>,
    pub ready: Ready,
    pub ready_timeout: Duration,
    pub exercise: Option<String>,
    pub exercise_in_container: bool,
    pub stop_timeout: u32,
    pub agent: AgentSource,
    pub max_rounds: u32,
    pub verify: bool,
    pub minimality: bool,
    /// Verification runs at the same time (minimality check).
    pub jobs: usize,
    /// The exit status of the writable run when stopped (set by [`discover`]): a read-only
    /// run must stop the same way (an app that fails to save at shutdown exits differently, or
    /// does not stop and is killed).
    pub stop_status: Option<i32>,
}

#[derive(Debug)]
pub enum Error {
    NoEngine(String),
    NoImage {
        image: String,
        engine: String,
        why: String,
    },
    Engine(String),
    Io(PathBuf, std::io::Error),
    /// The app stopped before it was ready.
    Exited {
        phase: &'static str,
        code: i32,
        tail: String,
    },
    NeverReady {
        phase: &'static str,
        after: Duration,
        tail: String,
    },
    Seed(String),
    NotConverged(String),
    Exercise(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::NoEngine(tried) => write!(
                f,
                "no container engine found ({tried}): install podman (or docker), or name one \
                 with --engine"
            ),
            Error::NoImage { image, engine, why } => write!(
                f,
                "image {image} not found by {engine} ({why}); discover does not pull: \
                 `{engine} pull {image}` or build it first"
            ),
            Error::Engine(m) => write!(f, "container engine: {m}"),
            Error::Io(p, e) => write!(f, "{}: {e}", p.display()),
            Error::Exited { phase, code, tail } => write!(
                f,
                "{phase}: the app exited with status {code} before it was ready; last lines of \
                 its output:\n{tail}"
            ),
            Error::NeverReady { phase, after, tail } => write!(
                f,
                "{phase}: the app was not ready after {}s (--ready, --ready-timeout); last \
                 lines of its output:\n{tail}",
                after.as_secs()
            ),
            Error::Seed(m) => write!(f, "verification: seeding failed: {m}"),
            Error::NotConverged(m) => write!(f, "verification did not converge: {m}"),
            Error::Exercise(m) => write!(f, "--exercise: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// What discover found and proved.
#[derive(Debug, Clone)]
pub struct Report {
    pub image: String,
    pub command: Vec<String>,
    pub user: Option<String>,
    pub ready: String,
    pub exercise: Option<String>,
    pub plan: Plan,
    /// Verification rounds run (0: not verified).
    pub rounds: u32,
    pub verified: bool,
    pub minimality_checked: bool,
    /// `name=version` of the Debian packages that own the paths and the command.
    pub packages: Vec<String>,
    pub date: String,
    pub seconds: u64,
}

static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

/// One progress line on stderr, with the seconds since the first one.
pub fn progress(msg: &str) {
    let t = START.get_or_init(Instant::now).elapsed().as_secs_f64();
    eprintln!("rofs discover: [{t:5.1}s] {msg}");
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A container name unique to this process and call.
pub fn unique_name(what: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("rofs-discover-{}-{what}-{n}", std::process::id())
}

/// Removes the agents kept by the verification runs when dropped, also on error.
struct ForgetAgents;

impl Drop for ForgetAgents {
    fn drop(&mut self) {
        verify::forget_agents();
    }
}

/// Removes its container (and anonymous volumes) when dropped, also on error.
pub struct Container<'a> {
    pub engine: &'a Engine,
    pub name: String,
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        self.engine.remove(&self.name);
    }
}

/// How waiting for readiness ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waited {
    Ready,
    Exited(i32),
    Timeout,
    /// The output already shows a write refused by the read-only root (read-only runs only:
    /// no need to wait for a readiness that may never come).
    ReadOnlyError,
    /// The HTTP check answered 500, the app failing rather than starting (read-only runs
    /// only): the answer's body.
    ErrorAnswer(String),
}

/// Poll the container until it is ready, exits, or `timeout` passes; with `stop_on_erofs`,
/// also until its output shows a read-only error (checked every half second).
pub fn wait_ready(
    engine: &Engine,
    name: &str,
    ready: &Ready,
    host_port: Option<u16>,
    timeout: Duration,
    stop_on_erofs: bool,
) -> Result<Waited, Error> {
    let start = Instant::now();
    let check = ready::Check::new(ready).map_err(Error::Engine)?;
    let mut next_log_check = Duration::ZERO;
    loop {
        let (running, code) = engine.state(name)?;
        if !running {
            return Ok(Waited::Exited(code));
        }
        match check.probe(host_port, || engine.logs(name), start.elapsed()) {
            ready::Probe::Passed => {
                // Exited between the state and the check (a duration check passes anyway).
                let (running, code) = engine.state(name)?;
                return Ok(if running {
                    Waited::Ready
                } else {
                    Waited::Exited(code)
                });
            }
            // 500 is an app failing (starting is 503 or no answer): in a read-only run, the
            // refused write is often named in the answer (nodejs, PHP).
            ready::Probe::ServerError(body) if stop_on_erofs => {
                return Ok(Waited::ErrorAnswer(body));
            }
            _ => {}
        }
        if stop_on_erofs && start.elapsed() >= next_log_check {
            next_log_check = start.elapsed() + Duration::from_millis(500);
            if engine.logs(name).lines().any(verify::is_erofs) {
                return Ok(Waited::ReadOnlyError);
            }
        }
        if start.elapsed() > timeout {
            return Ok(Waited::Timeout);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The last `n` lines of `s`, indented.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    let from = lines.len().saturating_sub(n);
    if lines.is_empty() {
        return "  (no output)".to_string();
    }
    lines[from..]
        .iter()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Run the `--exercise` command: on the host (with `ROFS_DISCOVER_HOST`, `_PORT`, `_CONTAINER`
/// in its environment) or in the container.
pub fn exercise(
    opts: &Options,
    engine: &Engine,
    name: &str,
    host_port: Option<u16>,
) -> Result<(), Error> {
    let Some(cmd) = &opts.exercise else {
        return Ok(());
    };
    let mut c;
    if opts.exercise_in_container {
        c = std::process::Command::new(&engine.bin);
        c.args(["exec", name, "/bin/sh", "-c", cmd]);
    } else {
        c = std::process::Command::new("/bin/sh");
        c.args(["-c", cmd]);
        c.env("ROFS_DISCOVER_HOST", "127.0.0.1")
            .env("ROFS_DISCOVER_CONTAINER", name)
            .env("ROFS_DISCOVER_ENGINE", &engine.bin);
        if let Some(p) = host_port {
            c.env("ROFS_DISCOVER_PORT", p.to_string());
        }
    }
    let out = engine::run_with_timeout(c, opts.ready_timeout.max(Duration::from_secs(60)))
        .map_err(|e| Error::Exercise(format!("{cmd}: {e}")))?;
    if !out.ok {
        return Err(Error::Exercise(format!(
            "{cmd} failed (status {}): {}",
            out.code.map_or("killed".to_string(), |c| c.to_string()),
            out.message()
        )));
    }
    Ok(())
}

/// The app container's run spec (writable or not: the caller sets binds and read_only).
pub fn app_spec(opts: &Options, name: &str, host_port: Option<u16>) -> RunSpec {
    RunSpec {
        name: name.to_string(),
        image: opts.image.clone(),
        user: opts.user.clone(),
        publish: opts.ready.port().zip(host_port).map(|(p, h)| (h, p)),
        args: opts.command.clone(),
        stop_timeout: opts.stop_timeout,
        ..RunSpec::default()
    }
}

/// `--ready` when not given: `tcp:` the lowest port the image exposes, else still running
/// after 5s.
pub fn default_ready(opts: &Options) -> Result<Ready, Error> {
    let engine = Engine::detect(opts.engine.as_deref())?;
    let config = engine.inspect_image(&opts.image)?;
    Ok(match config.exposed_ports.first() {
        Some(p) => Ready::Tcp(*p),
        None => Ready::After(Duration::from_secs(5)),
    })
}

/// The whole of `rofs discover`.
pub fn discover(opts: &Options) -> Result<Report, Error> {
    let t0 = Instant::now();
    let engine = Engine::detect(opts.engine.as_deref())?;
    let config = engine.inspect_image(&opts.image)?;
    progress(&format!(
        "{} with {}, user {}, ready when {}",
        opts.image,
        engine.bin,
        opts.user
            .as_deref()
            .or(config.user.as_deref())
            .unwrap_or("of the image (root)"),
        opts.ready
    ));
    if let (true, AgentSource::Image(agent)) = (opts.verify, &opts.agent)
        // `image inspect`: the one check both engines have (podman's `image exists` is not
        // docker's).
        && !engine
            .call(&["image", "inspect", "--format", "{{.Id}}", agent])
            .is_ok_and(|o| o.ok)
    {
        return Err(Error::NoImage {
            image: agent.clone(),
            engine: engine.bin.clone(),
            why: "the agent image, for the verification runs; --agent-image or --agent FILE"
                .to_string(),
        });
    }
    let scratch = std::env::temp_dir().join(unique_name("fs"));
    let image_fs = engine.image_fs(&opts.image, &scratch.join("image"))?;

    let (writes, stop_status) = run_writable(opts, &engine, &image_fs, &scratch)?;
    let opts = &Options {
        stop_status: Some(stop_status),
        ..opts.clone()
    };
    let mut plan = plan::plan(&writes, &image_fs);
    progress(&format!(
        "{} paths written -> {} writable paths: {}",
        writes.len(),
        plan.paths.len(),
        plan.paths
            .iter()
            .map(plan::Proposal::spec)
            .collect::<Vec<_>>()
            .join(" ")
    ));
    let mut rounds = 0;
    let mut minimality_checked = false;
    let _agents = ForgetAgents;
    if opts.verify {
        let mut writes = writes;
        rounds = verify::converge(opts, &engine, &image_fs, &mut writes, &mut plan)?;
        if opts.minimality && !plan.paths.is_empty() {
            verify::minimality(opts, &engine, &mut plan)?;
            minimality_checked = true;
        }
    }
    let packages = packages(&image_fs, &plan, &config, opts);
    drop(image_fs);
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(Report {
        image: opts.image.clone(),
        command: opts.command.clone(),
        user: opts.user.clone(),
        ready: opts.ready.to_string(),
        exercise: opts.exercise.clone(),
        plan,
        rounds,
        verified: opts.verify,
        minimality_checked,
        packages,
        date: today(),
        seconds: t0.elapsed().as_secs(),
    })
}

/// The discovery run: writable root, ready, exercised, stopped; every write.
fn run_writable(
    opts: &Options,
    engine: &Engine,
    image: &Fs,
    scratch: &std::path::Path,
) -> Result<(Vec<Write>, i32), Error> {
    let name = unique_name("run");
    let host_port = opts.ready.port().map(|_| ready::free_port()).transpose();
    let host_port = host_port.map_err(|e| Error::Engine(format!("no free port: {e}")))?;
    let spec = app_spec(opts, &name, host_port);
    engine.create(&spec)?;
    let ctr = Container {
        engine,
        name: name.clone(),
    };
    engine.start(&name)?;
    progress("started with a writable root; waiting until ready");
    let started = Instant::now();
    match wait_ready(
        engine,
        &name,
        &opts.ready,
        host_port,
        opts.ready_timeout,
        false,
    )? {
        Waited::Ready => {}
        Waited::Exited(code) => {
            return Err(Error::Exited {
                phase: "discovery run",
                code,
                tail: tail(&engine.logs(&name), 20),
            });
        }
        Waited::Timeout | Waited::ReadOnlyError | Waited::ErrorAnswer(_) => {
            return Err(Error::NeverReady {
                phase: "discovery run",
                after: opts.ready_timeout,
                tail: tail(&engine.logs(&name), 20),
            });
        }
    }
    progress(&format!(
        "ready after {:.1}s",
        started.elapsed().as_secs_f64()
    ));
    exercise(opts, engine, &name, host_port)?;
    // Files created and removed again before the end (pid files) are only in this diff.
    let fs = engine.container_fs(&name, &scratch.join("live")).ok();
    let live = engine.diff(&name)?;
    let live_writes = collect::writes_from_diff(&live, fs.as_ref(), image);
    drop(fs);
    engine.stop(&name, opts.stop_timeout)?;
    let (_, stop_status) = engine.state(&name)?;
    progress(&format!(
        "stopped with status {stop_status} (graceful: shutdown writes count)"
    ));
    let end = engine.diff(&name)?;
    let fs = engine.container_fs(&name, &scratch.join("end"))?;
    let mut all: BTreeMap<String, Write> = live_writes
        .into_iter()
        .map(|w| (w.path.clone(), w))
        .collect();
    for w in collect::writes_from_diff(&end, Some(&fs), image) {
        all.insert(w.path.clone(), w);
    }
    drop(fs);
    for (dest, source) in engine.volume_mounts(&name)? {
        let v = collect::writes_in_volume(&dest, &source, image);
        progress(&format!("VOLUME {dest}: {} paths written", v.len()));
        for w in v {
            all.insert(w.path.clone(), w);
        }
    }
    drop(ctr);
    Ok((all.into_values().collect(), stop_status))
}

/// Debian packages (`name=version`) that own the proposed paths or the command, from the
/// image's dpkg database (empty when the image has none).
fn packages(image: &Fs, plan: &Plan, config: &engine::ImageConfig, opts: &Options) -> Vec<String> {
    let status = match std::fs::read_to_string(image.at("/var/lib/dpkg/status")) {
        Ok(s) => s,
        Err(_) => return Vec::new(),
    };
    let mut versions = BTreeMap::new();
    for para in status.split("\n\n") {
        let field = |k: &str| {
            para.lines()
                .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
        };
        if let (Some(p), Some(v)) = (field("Package:"), field("Version:")) {
            versions.insert(p, v);
        }
    }
    let mut wanted: Vec<String> = plan.paths.iter().map(|p| p.path.clone()).collect();
    // The program: the ENTRYPOINT's, else the first word of COMMAND (it replaces CMD).
    let cmd = config.entrypoint.first().or(if opts.command.is_empty() {
        config.cmd.first()
    } else {
        opts.command.first()
    });
    // A bare name is looked up in the usual PATH (Debian's default) of the image.
    let program = cmd.and_then(|c| {
        if c.starts_with('/') {
            return Some(c.clone());
        }
        [
            "/usr/local/sbin",
            "/usr/local/bin",
            "/usr/sbin",
            "/usr/bin",
            "/sbin",
            "/bin",
        ]
        .iter()
        .map(|d| format!("{d}/{c}"))
        .find(|p| std::fs::symlink_metadata(image.at(p)).is_ok())
    });
    wanted.extend(program);
    let mut owners = std::collections::BTreeSet::new();
    let Ok(dir) = std::fs::read_dir(image.at("/var/lib/dpkg/info")) else {
        return Vec::new();
    };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pkg) = name.strip_suffix(".list") else {
            continue;
        };
        let Ok(list) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        if list.lines().any(|l| wanted.iter().any(|w| w == l)) {
            let pkg = pkg.split(':').next().unwrap_or(pkg).to_string();
            // Base directories every package lists (/run, /tmp) say nothing.
            if pkg != "base-files" {
                owners.insert(pkg);
            }
        }
    }
    owners
        .into_iter()
        .map(|p| match versions.get(&p) {
            Some(v) => format!("{p}={v}"),
            None => p,
        })
        .collect()
}

/// Today's date (UTC), `YYYY-MM-DD`.
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    civil_date((secs / 86_400) as i64)
}

/// Days since 1970-01-01 to `YYYY-MM-DD` (Howard Hinnant's civil_from_days).
pub fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(11_016), "2000-02-29");
        assert_eq!(civil_date(20_787), "2026-11-30");
    }

    /// The dpkg owners of the paths and of the program (a bare CMD name, found in PATH);
    /// base-files (it lists /run, /tmp) says nothing.
    #[test]
    fn packages_from_the_dpkg_database() {
        let root = std::env::temp_dir().join(unique_name("dpkg"));
        let w = |p: &str, text: &str| {
            let f = root.join(p);
            std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
            std::fs::write(f, text).expect("write");
        };
        w(
            "var/lib/dpkg/status",
            "Package: nginx-common\nStatus: install ok installed\nVersion: 1.22.1-9\n\n\
             Package: nginx-light\nVersion: 1.22.1-9+b1\n\nPackage: base-files\nVersion: 12\n",
        );
        w(
            "var/lib/dpkg/info/nginx-common.list",
            "/.\n/var\n/var/lib\n/var/lib/nginx\n",
        );
        w(
            "var/lib/dpkg/info/nginx-light:amd64.list",
            "/usr/sbin\n/usr/sbin/nginx\n",
        );
        w("var/lib/dpkg/info/base-files.list", "/run\n");
        w("usr/sbin/nginx", "");
        let fs = Fs::Extracted(root);
        let plan = Plan::of_paths(&["/var/lib/nginx", "/run"]);
        let config = engine::ImageConfig {
            cmd: vec!["nginx".into(), "-g".into(), "daemon off;".into()],
            ..engine::ImageConfig::default()
        };
        let opts = Options {
            image: "x".into(),
            command: vec![],
            engine: None,
            user: None,
            ready: Ready::After(Duration::from_secs(1)),
            ready_timeout: Duration::from_secs(1),
            exercise: None,
            exercise_in_container: false,
            stop_timeout: 1,
            agent: AgentSource::Image("a".into()),
            max_rounds: 1,
            verify: false,
            minimality: false,
            jobs: 1,
            stop_status: None,
        };
        assert_eq!(
            packages(&fs, &plan, &config, &opts),
            ["nginx-common=1.22.1-9", "nginx-light=1.22.1-9+b1"]
        );
    }

    #[test]
    fn tails() {
        assert_eq!(tail("a\nb\nc", 2), "  b\n  c");
        assert_eq!(tail("", 2), "  (no output)");
    }
}
