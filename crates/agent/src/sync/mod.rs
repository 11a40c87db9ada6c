//! `sync`: keep writable copies of ConfigMap/Secret volumes in sync with
//! their read-only source (see docs/sync.md).
//!
//! - [`plan`]: the pure decision core (source, DST and state snapshots in,
//!   actions out; the conflict policy).
//! - [`debounce`]: the pure event classifier and debouncer (events and
//!   mocked time in, deadlines out).
//! - [`fsio`]: snapshots of the source (through the kubelet's `..data`) and
//!   of DST, atomic writes, the state file.
//! - [`reload`]: the reload hooks (signal by process name, loopback POST).
//! - [`run`]: the thin I/O shell: one inotify instance, `poll(2)` with the
//!   earliest deadline as timeout (no deadline: no wakeup at all).

pub mod cli;
pub mod debounce;
pub mod fault;
pub mod fsio;
mod pair;
pub mod plan;
pub mod reload;

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};
use rustix::event::{PollFd, PollFlags, Timespec};

pub use cli::main_with_args;
use debounce::{Debouncer, Trigger, classify};
use pair::Pair;
use plan::ConflictPolicy;
use reload::{SignalHook, UrlHook};

/// Default `--debounce-ms`.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(100);
/// Default `--resync-seconds`.
pub const DEFAULT_RESYNC: Duration = Duration::from_secs(300);
/// Timeout of each step (connect, send, receive) of `--reload-url`.
pub const RELOAD_URL_TIMEOUT: Duration = Duration::from_secs(2);

/// Everything `sync` needs.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// (SRC, DST) pairs.
    pub pairs: Vec<(PathBuf, PathBuf)>,
    /// Where the per-DST state files live; `None`: inside DST.
    pub state_dir: Option<PathBuf>,
    /// One pass, then return.
    pub once: bool,
    pub policy: ConflictPolicy,
    pub signal_hooks: Vec<SignalHook>,
    pub url_hooks: Vec<UrlHook>,
    /// Quiet time for changes in a plain directory, and for the reload.
    pub debounce: Duration,
    /// Periodic full resync; `None`: never (zero wakeups when idle).
    pub resync: Option<Duration>,
    pub log: bool,
    pub json: bool,
    /// `/proc` (tests point it elsewhere).
    pub proc_root: PathBuf,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            pairs: Vec::new(),
            state_dir: None,
            once: false,
            policy: ConflictPolicy::App,
            signal_hooks: Vec::new(),
            url_hooks: Vec::new(),
            debounce: DEFAULT_DEBOUNCE,
            resync: Some(DEFAULT_RESYNC),
            log: true,
            json: false,
            proc_root: PathBuf::from("/proc"),
        }
    }
}

/// A failure that stops `sync` (errors during the loop are logged and
/// retried instead).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("source {}: {source}", path.display())]
    Source { path: PathBuf, source: io::Error },
    #[error("{}: {source}", path.display())]
    Dst { path: PathBuf, source: io::Error },
    #[error("state file {}: {source}", path.display())]
    State { path: PathBuf, source: io::Error },
    #[error("inotify: {0}")]
    Watch(io::Error),
    #[error("{count} file(s) could not be synced (see the log)")]
    Incomplete { count: usize },
}

/// What one sync of one pair did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
    pub modes: usize,
    pub conflicts: usize,
    pub errors: usize,
}

impl PassReport {
    /// DST was modified.
    pub fn touched(&self) -> bool {
        self.added + self.changed + self.removed + self.modes > 0
    }
}

/// Counters of a whole run (returned when the loop stops).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Sync passes (all pairs).
    pub syncs: u64,
    /// Passes that modified DST.
    pub changed_syncs: u64,
    /// Overflows seen (real or injected).
    pub overflows: u64,
    pub conflicts: u64,
    pub reloads: u64,
    pub errors: u64,
}

/// Test hooks of the loop, written as single bytes to the control socket
/// given to [`run`].
pub mod control {
    /// Stop the loop (like SIGTERM).
    pub const STOP: u8 = b'q';
    /// Read and discard every inotify event from now on, as the kernel does
    /// when its queue overflows.
    pub const DROP_EVENTS: u8 = b'd';
    /// Behave as if an `IN_Q_OVERFLOW` had arrived (and stop dropping).
    pub const OVERFLOW: u8 = b'o';
    /// Nothing; acknowledged like every byte but [`STOP`]: the loop writes
    /// each byte back once it has handled it (and read inotify before).
    pub const PING: u8 = b'p';
}

struct Logger {
    on: bool,
    json: bool,
}

impl Logger {
    fn line(&self, level: &str, msg: &str, fields: &[(&str, String)]) {
        if !self.on && level != "error" {
            return;
        }
        let text = if self.json {
            let mut s = format!(
                "{{\"level\":\"{level}\",\"cmd\":\"sync\",\"msg\":\"{}\"",
                json_escape(msg)
            );
            for (k, v) in fields {
                s.push_str(&format!(",\"{k}\":\"{}\"", json_escape(v)));
            }
            s.push('}');
            s
        } else if level == "info" {
            format!("rofs sync: {msg}")
        } else {
            format!("rofs sync: {level}: {msg}")
        };
        let _ = writeln!(io::stderr(), "{text}");
    }
}

fn json_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn summary(pair: &Pair, r: &PassReport, took: Duration, since: Option<Duration>) -> String {
    let mut s = format!(
        "{}: {} added, {} changed, {} removed",
        pair.dst.display(),
        r.added,
        r.changed,
        r.removed
    );
    if r.modes > 0 {
        s.push_str(&format!(", {} mode(s)", r.modes));
    }
    s.push_str(&format!(", {} conflict(s)", r.conflicts));
    if r.errors > 0 {
        s.push_str(&format!(", {} error(s)", r.errors));
    }
    s.push_str(&format!("; sync {} ms", ms(took)));
    if let Some(l) = since {
        s.push_str(&format!(", {} ms from the event", ms(l)));
    }
    s
}

fn sync_and_log(
    pair: &mut Pair,
    opts: &SyncOptions,
    log: &Logger,
    buf: &mut [u8],
    since: Option<Instant>,
    report: &mut RunReport,
    verbose_noop: bool,
) -> Result<(PassReport, fsio::Source), SyncError> {
    let t0 = Instant::now();
    let result = pair.sync(opts.policy, log, buf);
    report.syncs += 1;
    match &result {
        Ok((r, _)) => {
            let done = Instant::now();
            report.conflicts += r.conflicts as u64;
            report.errors += r.errors as u64;
            if r.touched() {
                report.changed_syncs += 1;
            }
            if r.touched() || r.conflicts > 0 || r.errors > 0 || verbose_noop {
                log.line(
                    "info",
                    &summary(pair, r, done - t0, since.map(|s| done - s)),
                    &[
                        ("event", "sync".into()),
                        ("dst", pair.dst.display().to_string()),
                        ("added", r.added.to_string()),
                        ("changed", r.changed.to_string()),
                        ("removed", r.removed.to_string()),
                        ("conflicts", r.conflicts.to_string()),
                        ("errors", r.errors.to_string()),
                        ("sync_ms", ms(done - t0)),
                        (
                            "latency_ms",
                            since.map(|s| ms(done - s)).unwrap_or_default(),
                        ),
                    ],
                );
            }
        }
        Err(e) => {
            report.errors += 1;
            log.line("error", &e.to_string(), &[]);
        }
    }
    result
}

const WATCH_MASK: WatchMask = WatchMask::CREATE
    .union(WatchMask::DELETE)
    .union(WatchMask::MOVED_TO)
    .union(WatchMask::MOVED_FROM)
    .union(WatchMask::CLOSE_WRITE)
    .union(WatchMask::ATTRIB)
    .union(WatchMask::DELETE_SELF)
    .union(WatchMask::MOVE_SELF)
    .union(WatchMask::ONLYDIR);

fn ensure_watches(
    inotify: &mut Inotify,
    wds: &mut Vec<(WatchDescriptor, usize)>,
    idx: usize,
    pair: &Pair,
    source: &fsio::Source,
) {
    let dirs: Vec<&Path> = if source.atomic {
        vec![pair.src.as_path()]
    } else {
        source.dirs.iter().map(PathBuf::as_path).collect()
    };
    for d in dirs {
        let Ok(wd) = inotify.watches().add(d, WATCH_MASK) else {
            continue;
        };
        if !wds.iter().any(|(w, _)| *w == wd) {
            wds.push((wd, idx));
        }
    }
}

/// Runs `sync`: one pass over every pair, then (unless `once`) watches the
/// sources until SIGTERM/SIGINT or a [`control::STOP`] byte on `control`.
pub fn run(opts: &SyncOptions, control: Option<UnixStream>) -> Result<RunReport, SyncError> {
    let log = Logger {
        on: opts.log,
        json: opts.json,
    };
    let mut report = RunReport::default();
    let mut buf = vec![0u8; 32 * 1024];
    let mut pairs = Vec::with_capacity(opts.pairs.len());
    for (src, dst) in &opts.pairs {
        if let Err(source) = std::fs::metadata(src) {
            return Err(SyncError::Source {
                path: src.clone(),
                source,
            });
        }
        if let Err(source) = std::fs::DirBuilder::new().recursive(true).create(dst) {
            return Err(SyncError::Dst {
                path: dst.clone(),
                source,
            });
        }
        pairs.push(Pair::new(src, dst, opts)?);
    }

    // Watch before the first pass, so nothing between the two is missed.
    let mut inotify = if opts.once {
        None
    } else {
        Some(Inotify::init().map_err(SyncError::Watch)?)
    };
    let mut wds: Vec<(WatchDescriptor, usize)> = Vec::new();
    if let Some(ino) = inotify.as_mut() {
        for (i, p) in pairs.iter().enumerate() {
            let wd = ino
                .watches()
                .add(&p.src, WATCH_MASK)
                .map_err(|source| SyncError::Source {
                    path: p.src.clone(),
                    source,
                })?;
            wds.push((wd, i));
        }
    }

    let mut failed = 0;
    // A first pass that changed DST (the source moved on since `--once`, or while this
    // sidecar was restarting) must reach the app too: the app may have read the old copy.
    let mut first_pass_changed = false;
    for (i, pair) in pairs.iter_mut().enumerate() {
        match sync_and_log(pair, opts, &log, &mut buf, None, &mut report, true) {
            Ok((r, source)) => {
                failed += r.errors;
                first_pass_changed |= r.touched();
                // A pass with a failed action is not a success: retried.
                pair.schedule_retry(r.errors > 0, Instant::now());
                if let Some(ino) = inotify.as_mut() {
                    ensure_watches(ino, &mut wds, i, pair, &source);
                }
            }
            Err(e) if opts.once => return Err(e),
            Err(_) => {
                failed += 1;
                pair.schedule_retry(true, Instant::now());
            }
        }
    }
    let Some(mut inotify) = inotify else {
        return if failed > 0 {
            Err(SyncError::Incomplete { count: failed })
        } else {
            Ok(report)
        };
    };

    // SIGTERM/SIGINT write to a self-pipe that poll watches.
    let (mut sig_rx, sig_tx) = UnixStream::pair().map_err(SyncError::Watch)?;
    sig_rx.set_nonblocking(true).map_err(SyncError::Watch)?;
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        let tx = sig_tx.try_clone().map_err(SyncError::Watch)?;
        signal_hook::low_level::pipe::register(sig, tx).map_err(SyncError::Watch)?;
    }
    let mut control = control;
    if let Some(c) = control.as_mut() {
        c.set_nonblocking(true).map_err(SyncError::Watch)?;
    }

    log.line(
        "info",
        &format!(
            "watching {} source(s); resync {}, debounce {} ms, conflicts: {}",
            pairs.len(),
            match opts.resync {
                Some(d) => format!("every {} s", d.as_secs()),
                None => "off".into(),
            },
            opts.debounce.as_millis(),
            match opts.policy {
                ConflictPolicy::App => "the app wins",
                ConflictPolicy::Source => "the source wins",
            }
        ),
        &[("event", "start".into())],
    );

    let mut reload = Debouncer::new(opts.debounce, opts.debounce * 10);
    if first_pass_changed {
        reload.on_event(Trigger::Change, Instant::now());
    }
    let mut next_resync = opts.resync.map(|d| Instant::now() + d);
    let mut dropping = false;
    let mut ev_buf = [0u8; 4096];
    loop {
        let now = Instant::now();
        let deadline = pairs
            .iter()
            .flat_map(|p| [p.debouncer.deadline(), p.retry.map(|r| r.0)])
            .chain([reload.deadline(), next_resync])
            .flatten()
            .min();
        let timeout = deadline.map(|d| {
            let left = d.saturating_duration_since(now);
            Timespec {
                tv_sec: left.as_secs() as _,
                tv_nsec: left.subsec_nanos() as _,
            }
        });
        {
            let mut fds = vec![
                PollFd::new(&inotify, PollFlags::IN),
                PollFd::new(&sig_rx, PollFlags::IN),
            ];
            if let Some(c) = control.as_ref() {
                fds.push(PollFd::new(c, PollFlags::IN));
            }
            match rustix::event::poll(&mut fds, timeout.as_ref()) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(SyncError::Watch(e.into())),
            }
        }
        let now = Instant::now();

        // 1. inotify, always first (see control::OVERFLOW).
        loop {
            let events = match inotify.read_events(&mut ev_buf) {
                Ok(ev) => ev,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(SyncError::Watch(e)),
            };
            for ev in events {
                if dropping {
                    continue;
                }
                let overflow = ev.mask.contains(EventMask::Q_OVERFLOW);
                if overflow {
                    report.overflows += 1;
                    log.line(
                        "warn",
                        "inotify queue overflow: full resync",
                        &[("event", "overflow".into())],
                    );
                }
                let owner = wds.iter().find(|(w, _)| *w == ev.wd).map(|(_, i)| *i);
                for (i, p) in pairs.iter_mut().enumerate() {
                    if !overflow && owner != Some(i) {
                        continue;
                    }
                    if let Some(t) = classify(ev.mask.bits(), ev.name, p.atomic) {
                        p.debouncer.on_event(t, now);
                    }
                }
                if ev.mask.contains(EventMask::IGNORED) {
                    wds.retain(|(w, _)| *w != ev.wd);
                }
            }
        }

        // 2. signals.
        let mut b = [0u8; 16];
        if matches!(sig_rx.read(&mut b), Ok(n) if n > 0) {
            log.line("info", "stopping (signal)", &[("event", "stop".into())]);
            return Ok(report);
        }

        // 3. test hooks.
        if let Some(c) = control.as_mut() {
            match c.read(&mut b) {
                Ok(0) => control = None,
                Ok(n) => {
                    for &byte in &b[..n] {
                        match byte {
                            control::STOP => return Ok(report),
                            control::DROP_EVENTS => dropping = true,
                            control::OVERFLOW => {
                                dropping = false;
                                report.overflows += 1;
                                log.line(
                                    "warn",
                                    "inotify queue overflow (injected): full resync",
                                    &[("event", "overflow".into())],
                                );
                                for p in pairs.iter_mut() {
                                    p.debouncer.on_event(Trigger::Commit, now);
                                }
                            }
                            _ => {}
                        }
                    }
                    // Acknowledge, once the bytes' effects are recorded.
                    let _ = c.write_all(&b[..n]);
                }
                Err(_) => {}
            }
        }

        // 4. the periodic resync.
        if let (Some(_), Some(every)) = (next_resync.filter(|at| *at <= now), opts.resync) {
            for p in pairs.iter_mut() {
                p.debouncer.on_event(Trigger::Commit, now);
            }
            next_resync = Some(now + every);
        }

        // 5. due syncs.
        for (i, pair) in pairs.iter_mut().enumerate() {
            let since = pair.debouncer.pending_since();
            let due_retry = pair.retry.is_some_and(|(at, _)| at <= now);
            if !pair.debouncer.on_tick(now) && !due_retry {
                continue;
            }
            match sync_and_log(pair, opts, &log, &mut buf, since, &mut report, false) {
                Ok((r, source)) => {
                    pair.schedule_retry(r.errors > 0, Instant::now());
                    ensure_watches(&mut inotify, &mut wds, i, pair, &source);
                    if r.touched() {
                        reload.on_event(Trigger::Change, Instant::now());
                    }
                }
                Err(_) => pair.schedule_retry(true, Instant::now()),
            }
        }

        // 6. the reload hooks.
        if reload.on_tick(Instant::now()) {
            report.reloads += 1;
            run_hooks(opts, &log);
        }
    }
}

fn run_hooks(opts: &SyncOptions, log: &Logger) {
    for h in &opts.signal_hooks {
        match reload::send_signal(h, &opts.proc_root) {
            // nginx-like apps: the master (the app's user) takes the signal, its workers run
            // as another user and ignore it anyway. Only a signal that reached nobody fails.
            Ok(s) if s.denied > 0 && s.sent > 0 => log.line(
                "info",
                &format!(
                    "reload: sent {} to {} process(es) named {:?} ({} more run as another user \
                     than this sidecar, uid {}, and were not signalled)",
                    h.signal_name,
                    s.sent,
                    h.process,
                    s.denied,
                    rustix::process::getuid().as_raw()
                ),
                &[("event", "reload".into())],
            ),
            Ok(s) if s.denied > 0 => log.line(
                "error",
                &format!(
                    "reload: sent {} to {} process(es) named {:?}, not permitted for {} \
                     (EPERM: they run as another user than this sidecar, uid {})",
                    h.signal_name,
                    s.sent,
                    h.process,
                    s.denied,
                    rustix::process::getuid().as_raw()
                ),
                &[("event", "reload".into())],
            ),
            Ok(s) if s.sent == 0 => log.line(
                "warn",
                &format!(
                    "reload: no process named {:?} to send {} to",
                    h.process, h.signal_name
                ),
                &[("event", "reload".into())],
            ),
            Ok(s) => log.line(
                "info",
                &format!(
                    "reload: sent {} to {} process(es) named {:?}",
                    h.signal_name, s.sent, h.process
                ),
                &[("event", "reload".into())],
            ),
            Err(e) => log.line(
                "error",
                &format!("reload: scanning {}: {e}", opts.proc_root.display()),
                &[],
            ),
        }
    }
    for h in &opts.url_hooks {
        let url = format!("http://{}{}", h.host, h.path);
        match reload::post(h, RELOAD_URL_TIMEOUT) {
            Ok(code) if (200..400).contains(&code) => log.line(
                "info",
                &format!("reload: POST {url}: {code}"),
                &[("event", "reload".into())],
            ),
            Ok(code) => log.line("warn", &format!("reload: POST {url}: HTTP {code}"), &[]),
            Err(e) => log.line("error", &format!("reload: POST {url}: {e}"), &[]),
        }
    }
}
