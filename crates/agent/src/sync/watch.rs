//! The watching loop of `sync`: one inotify instance, `poll(2)` with the
//! earliest deadline as timeout (no deadline: no wakeup at all). Each turn:
//! wait, then inotify events, signals, test hooks, the periodic resync, the
//! due syncs (debounced events and retries), the reload hooks.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Instant;

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};
use rustix::event::{PollFd, PollFlags, Timespec};

use super::debounce::{Debouncer, Trigger, classify};
use super::fsio;
use super::log::Logger;
use super::model::{RELOAD_URL_TIMEOUT, RunReport, SyncError, SyncOptions, control};
use super::pair::{Pair, sync_and_log};
use super::plan::ConflictPolicy;
use super::reload;

pub(super) const WATCH_MASK: WatchMask = WatchMask::CREATE
    .union(WatchMask::DELETE)
    .union(WatchMask::MOVED_TO)
    .union(WatchMask::MOVED_FROM)
    .union(WatchMask::CLOSE_WRITE)
    .union(WatchMask::ATTRIB)
    .union(WatchMask::DELETE_SELF)
    .union(WatchMask::MOVE_SELF)
    .union(WatchMask::ONLYDIR);

pub(super) fn ensure_watches(
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

/// The loop's state besides the pairs.
pub(super) struct Watch<'a> {
    pub opts: &'a SyncOptions,
    pub log: &'a Logger,
    pub inotify: Inotify,
    pub wds: Vec<(WatchDescriptor, usize)>,
    sig_rx: UnixStream,
    control: Option<UnixStream>,
    reload: Debouncer,
    next_resync: Option<Instant>,
    /// Test hook: inotify events are read and dropped.
    dropping: bool,
}

/// What a turn of the loop found.
enum Turn {
    Continue,
    Stop,
}

impl<'a> Watch<'a> {
    /// SIGTERM/SIGINT write to a self-pipe that poll watches.
    pub fn new(
        opts: &'a SyncOptions,
        log: &'a Logger,
        inotify: Inotify,
        wds: Vec<(WatchDescriptor, usize)>,
        mut control: Option<UnixStream>,
    ) -> Result<Self, SyncError> {
        let (sig_rx, sig_tx) = UnixStream::pair().map_err(SyncError::Watch)?;
        sig_rx.set_nonblocking(true).map_err(SyncError::Watch)?;
        for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            let tx = sig_tx.try_clone().map_err(SyncError::Watch)?;
            signal_hook::low_level::pipe::register(sig, tx).map_err(SyncError::Watch)?;
        }
        if let Some(c) = control.as_mut() {
            c.set_nonblocking(true).map_err(SyncError::Watch)?;
        }
        Ok(Watch {
            opts,
            log,
            inotify,
            wds,
            sig_rx,
            control,
            reload: Debouncer::new(opts.debounce, opts.debounce * 10),
            next_resync: opts.resync.map(|d| Instant::now() + d),
            dropping: false,
        })
    }

    /// Watches until SIGTERM/SIGINT or a [`control::STOP`] byte.
    /// `first_pass_changed`: the app may have read the old copy: reload.
    pub fn run(
        mut self,
        pairs: &mut [Pair],
        first_pass_changed: bool,
        report: &mut RunReport,
    ) -> Result<(), SyncError> {
        self.log_start(pairs.len());
        if first_pass_changed && self.hooks() {
            self.reload.on_event(Trigger::Change, Instant::now());
        }
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            self.wait(pairs)?;
            let now = Instant::now();
            self.read_inotify(pairs, report, now)?;
            if let Turn::Stop = self.read_signals_and_control(pairs, report, now) {
                return Ok(());
            }
            self.resync_if_due(pairs, now);
            self.due_syncs(pairs, report, &mut buf, now);
            if self.reload.on_tick(Instant::now()) {
                report.reloads += 1;
                run_hooks(self.opts, self.log);
            }
        }
    }

    fn log_start(&self, pairs: usize) {
        let opts = self.opts;
        self.log.line(
            "info",
            &format!(
                "watching {pairs} source(s); resync {}, debounce {} ms, conflicts: {}",
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
    }

    /// Some reload hook is configured.
    fn hooks(&self) -> bool {
        !self.opts.signal_hooks.is_empty() || !self.opts.url_hooks.is_empty()
    }

    /// Sleeps in `poll` until an fd is ready or the earliest deadline.
    fn wait(&self, pairs: &[Pair]) -> Result<(), SyncError> {
        let now = Instant::now();
        let deadline = pairs
            .iter()
            .flat_map(|p| [p.debouncer.deadline(), p.retry.map(|r| r.0)])
            .chain([self.reload.deadline(), self.next_resync])
            .flatten()
            .min();
        let timeout = deadline.map(|d| {
            let left = d.saturating_duration_since(now);
            Timespec {
                tv_sec: left.as_secs() as _,
                tv_nsec: left.subsec_nanos() as _,
            }
        });
        let mut fds = vec![
            PollFd::new(&self.inotify, PollFlags::IN),
            PollFd::new(&self.sig_rx, PollFlags::IN),
        ];
        if let Some(c) = self.control.as_ref() {
            fds.push(PollFd::new(c, PollFlags::IN));
        }
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(_) | Err(rustix::io::Errno::INTR) => Ok(()),
            Err(e) => Err(SyncError::Watch(e.into())),
        }
    }

    /// inotify, always first (see [`control::OVERFLOW`]): events feed the
    /// pairs' debouncers; an overflow feeds them all.
    fn read_inotify(
        &mut self,
        pairs: &mut [Pair],
        report: &mut RunReport,
        now: Instant,
    ) -> Result<(), SyncError> {
        let mut ev_buf = [0u8; 4096];
        loop {
            let events = match self.inotify.read_events(&mut ev_buf) {
                Ok(ev) => ev,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(SyncError::Watch(e)),
            };
            for ev in events {
                if self.dropping {
                    continue;
                }
                let overflow = ev.mask.contains(EventMask::Q_OVERFLOW);
                if overflow {
                    report.overflows += 1;
                    self.log.line(
                        "warn",
                        "inotify queue overflow: full resync",
                        &[("event", "overflow".into())],
                    );
                }
                let owner = self.wds.iter().find(|(w, _)| *w == ev.wd).map(|(_, i)| *i);
                for (i, p) in pairs.iter_mut().enumerate() {
                    if !overflow && owner != Some(i) {
                        continue;
                    }
                    if let Some(t) = classify(ev.mask.bits(), ev.name, p.atomic) {
                        p.debouncer.on_event(t, now);
                    }
                }
                if ev.mask.contains(EventMask::IGNORED) {
                    self.wds.retain(|(w, _)| *w != ev.wd);
                }
            }
        }
    }

    /// Signals stop the loop; test hooks (see [`control`]) are handled and
    /// acknowledged.
    fn read_signals_and_control(
        &mut self,
        pairs: &mut [Pair],
        report: &mut RunReport,
        now: Instant,
    ) -> Turn {
        let mut b = [0u8; 16];
        if matches!(self.sig_rx.read(&mut b), Ok(n) if n > 0) {
            self.log
                .line("info", "stopping (signal)", &[("event", "stop".into())]);
            return Turn::Stop;
        }
        let Some(c) = self.control.as_mut() else {
            return Turn::Continue;
        };
        let n = match c.read(&mut b) {
            Ok(0) => {
                self.control = None;
                return Turn::Continue;
            }
            Ok(n) => n,
            Err(_) => return Turn::Continue,
        };
        for &byte in &b[..n] {
            match byte {
                control::STOP => return Turn::Stop,
                control::DROP_EVENTS => self.dropping = true,
                control::OVERFLOW => {
                    self.dropping = false;
                    report.overflows += 1;
                    self.log.line(
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
        if let Some(c) = self.control.as_mut() {
            let _ = c.write_all(&b[..n]);
        }
        Turn::Continue
    }

    fn resync_if_due(&mut self, pairs: &mut [Pair], now: Instant) {
        if let (Some(_), Some(every)) = (self.next_resync.filter(|at| *at <= now), self.opts.resync)
        {
            for p in pairs.iter_mut() {
                p.debouncer.on_event(Trigger::Commit, now);
            }
            self.next_resync = Some(now + every);
        }
    }

    /// Syncs the pairs whose debounce or retry is due; a pass with a failed
    /// action is retried with the backoff.
    fn due_syncs(
        &mut self,
        pairs: &mut [Pair],
        report: &mut RunReport,
        buf: &mut [u8],
        now: Instant,
    ) {
        for (i, pair) in pairs.iter_mut().enumerate() {
            let since = pair.debouncer.pending_since();
            let due_retry = pair.retry.is_some_and(|(at, _)| at <= now);
            if !pair.debouncer.on_tick(now) && !due_retry {
                continue;
            }
            match sync_and_log(pair, self.opts, self.log, buf, since, report, false) {
                Ok((r, source)) => {
                    pair.schedule_retry(r.errors > 0, Instant::now());
                    ensure_watches(&mut self.inotify, &mut self.wds, i, pair, &source);
                    // No hook, no reload timer: no wakeup after each sync.
                    if r.touched() && self.hooks() {
                        self.reload.on_event(Trigger::Change, Instant::now());
                    }
                }
                Err(_) => pair.schedule_retry(true, Instant::now()),
            }
        }
    }
}

fn run_hooks(opts: &SyncOptions, log: &Logger) {
    for h in &opts.signal_hooks {
        match reload::send_signal(h, &opts.proc_root) {
            Ok(s) => {
                let (level, msg) = signal_outcome(h, &s);
                log.line(level, &msg, &[("event", "reload".into())]);
            }
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

/// The log line of a signal hook. nginx-like apps: the master (the app's
/// user) takes the signal, its workers run as another user and ignore it
/// anyway. Only a signal that reached nobody fails.
fn signal_outcome(h: &reload::SignalHook, s: &reload::Signalled) -> (&'static str, String) {
    let (name, process, uid) = (
        &h.signal_name,
        &h.process,
        rustix::process::getuid().as_raw(),
    );
    match (s.sent, s.denied) {
        (0, 0) => (
            "warn",
            format!("reload: no process named {process:?} to send {name} to"),
        ),
        (sent, 0) => (
            "info",
            format!("reload: sent {name} to {sent} process(es) named {process:?}"),
        ),
        (0, denied) => (
            "error",
            format!(
                "reload: sent {name} to 0 process(es) named {process:?}, not permitted for \
                 {denied} (EPERM: they run as another user than this sidecar, uid {uid})"
            ),
        ),
        (sent, denied) => (
            "info",
            format!(
                "reload: sent {name} to {sent} process(es) named {process:?} ({denied} more \
                 run as another user than this sidecar, uid {uid}, and were not signalled)"
            ),
        ),
    }
}
