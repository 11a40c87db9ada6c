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
//! - `pair`: one SRC → DST pair: a pass (read, settle, plan, act, save).
//! - `watch`: the loop: one inotify instance, `poll(2)` with the earliest
//!   deadline as timeout (no deadline: no wakeup at all).
//! - [`run`]: set up the pairs, the first pass, then the loop.

pub mod cli;
pub mod debounce;
pub mod fault;
pub mod fsio;
mod log;
mod model;
mod pair;
pub mod plan;
pub mod reload;
mod watch;

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::Instant;

use inotify::{Inotify, WatchDescriptor};

use log::Logger;
pub use model::{
    DEFAULT_DEBOUNCE, DEFAULT_RESYNC, PassReport, RELOAD_URL_TIMEOUT, RunReport, SyncError,
    SyncOptions, control,
};
use pair::{Pair, sync_and_log};
use watch::{WATCH_MASK, Watch, ensure_watches};

/// Runs `sync` with `args` (after the word `sync`).
pub fn main_with_args(args: Vec<OsString>) -> ExitCode {
    match cli::parse(args) {
        Err(msg) => cli::usage(&msg),
        Ok(cli::Parsed::Help) => {
            let _ = std::io::stdout().write_all(cli::SYNC_HELP.as_bytes());
            ExitCode::SUCCESS
        }
        Ok(cli::Parsed::Run(opts)) => match run(&opts, None) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "rofs sync: error: {e}");
                ExitCode::FAILURE
            }
        },
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
    let mut pairs = open_pairs(opts)?;
    // Watch before the first pass, so nothing between the two is missed.
    let mut watching = if opts.once {
        None
    } else {
        Some(watch_sources(&pairs)?)
    };
    let (failed, changed) = first_pass(opts, &log, &mut pairs, watching.as_mut(), &mut report)?;
    let Some((inotify, wds)) = watching else {
        return if failed > 0 {
            Err(SyncError::Incomplete { count: failed })
        } else {
            Ok(report)
        };
    };
    Watch::new(opts, &log, inotify, wds, control)?.run(&mut pairs, changed, &mut report)?;
    Ok(report)
}

/// Checks every SRC, creates every DST, loads the state files.
fn open_pairs(opts: &SyncOptions) -> Result<Vec<Pair>, SyncError> {
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
    Ok(pairs)
}

type Watches = (Inotify, Vec<(WatchDescriptor, usize)>);

fn watch_sources(pairs: &[Pair]) -> Result<Watches, SyncError> {
    let ino = Inotify::init().map_err(SyncError::Watch)?;
    let mut wds = Vec::new();
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
    Ok((ino, wds))
}

/// The first pass over every pair. Returns how many failed and whether DST
/// changed: a first pass that changed DST (the source moved on since
/// `--once`, or while this sidecar was restarting) must reach the app too
/// (the app may have read the old copy).
fn first_pass(
    opts: &SyncOptions,
    log: &Logger,
    pairs: &mut [Pair],
    mut watching: Option<&mut Watches>,
    report: &mut RunReport,
) -> Result<(usize, bool), SyncError> {
    let mut buf = vec![0u8; 32 * 1024];
    let mut failed = 0;
    let mut changed = false;
    for (i, pair) in pairs.iter_mut().enumerate() {
        match sync_and_log(pair, opts, log, &mut buf, None, report, true) {
            Ok((r, source)) => {
                failed += r.errors;
                changed |= r.touched();
                // A pass with a failed action is not a success: retried.
                pair.schedule_retry(r.errors > 0, Instant::now());
                if let Some((ino, wds)) = watching.as_deref_mut() {
                    ensure_watches(ino, wds, i, pair, &source);
                }
            }
            Err(e) if opts.once => return Err(e),
            Err(_) => {
                failed += 1;
                pair.schedule_retry(true, Instant::now());
            }
        }
    }
    Ok((failed, changed))
}
