//! `rofs-agent sync`'s command line (hand-written, like the rest of the
//! agent's). The forms are fixed by the pod rewrite:
//!
//! ```text
//! /rofs-agent sync --once --state-dir /.rofs/sync SRC1 DST1 [SRC2 DST2 ...]
//! /rofs-agent sync --state-dir /.rofs/sync [--conflict app|source]
//!     [--reload-signal SIG:PROCESS] [--reload-url URL] [--debounce-ms N]
//!     [--resync-seconds N] SRC1 DST1 [SRC2 DST2 ...]
//! ```

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::model::SyncOptions;
use super::plan::ConflictPolicy;
use super::reload;
use crate::args::{Args, pairs};

/// `rofs-agent sync --help`.
pub const SYNC_HELP: &str = "\
Usage: rofs-agent sync [OPTIONS] SRC DST [SRC DST ...]

Keeps each writable directory DST a copy of the read-only directory SRC (a
ConfigMap, Secret or projected volume): copies it once, then watches SRC
with inotify and propagates additions, changes and deletions as they come.
Understands the kubelet's AtomicWriter layout (timestamped data directory,
`..data` symlink swapped by rename, visible names are symlinks through
`..data`): a sync starts the moment `..data` is renamed, and reads the data
directory it points to, never a half-updated set. A plain directory works
too (changes are debounced). DST gets regular files (never symlinks), each
replaced atomically (temporary file + rename), with the source file's mode.

The app's own edits are never lost: a state file remembers what sync last
wrote to each DST file. A DST file the app edited is left alone while the
source keeps its version; if the source changed it too, that is a conflict
(logged; --conflict decides). A file the app created is never deleted; a
file deleted from the source is deleted from DST only if the app did not
edit it.

Safe under races and crashes: each replace checks, atomically
(renameat2 RENAME_EXCHANGE / RENAME_NOREPLACE), that the app did not change
the file while it was copied (else: a conflict, --conflict decides); each
write is in the state file before it replaces anything. A pass in which a
file failed (no space, an unreadable key: named in the error, the others
synced) is retried after 1 s, doubling to 60 s. Symlinks in SRC that lead
out of SRC are not followed (logged).

Options:
  --once                One sync pass, then exit (the init container form).
  --state-dir DIR       Keep the state files in DIR (created if missing),
                        one per DST: DIR/<DST as a name>-<hash>.sync. In a
                        pod: a volume that lives as long as the pod and that
                        the app does not see, e.g. /.rofs/sync. Without it:
                        DST/.rofs-sync.state.
  --conflict app|source The app edited a file that the source changed too:
                        keep the app's version (app, the default) or write
                        the source's (source). Logged either way.
  --reload-signal SIG:PROCESS
                        After a sync that changed something, send SIG (HUP,
                        USR1, USR2, INT, QUIT, TERM, WINCH, CONT) to every
                        process whose name (/proc/PID/comm or argv[0]'s
                        basename) is PROCESS, e.g. HUP:nginx. The pod needs
                        shareProcessNamespace: true. Repeatable.
  --reload-url URL      After a sync that changed something, POST to URL:
                        http://127.0.0.1:PORT/PATH, http://[::1]:PORT/PATH or
                        http://localhost:PORT/PATH (loopback only, no DNS;
                        2 s timeouts). Repeatable.
  --debounce-ms N       Quiet time before a plain directory's changes are
                        synced and before the reload hooks run (default 100).
                        A `..data` swap is synced at once: it is complete.
  --resync-seconds N    Full resync every N seconds as a safety net
                        (default 300; 0 turns it off: no wakeup at all while
                        nothing changes). Every sync compares everything.
  --log-format plain|json
                        Log lines as text (default) or one JSON object each,
                        with `ts` (Unix seconds, to the microsecond).
  -q, --quiet           Print errors only.
  -h, --help            Print this help.

Logs (stderr): one line per sync that changed DST (files added, changed,
removed, conflicts, the time from the event to done), one per conflict.

Exit status: --once: 0 every pair synced, 1 an error; the watching form runs
until SIGTERM (exit 0); 1 on an error at start; 2 usage.
";

/// A usage error: the message, the usage line, exit status 2.
pub fn usage(msg: &str) -> ExitCode {
    let line = SYNC_HELP.lines().next().unwrap_or_default();
    let _ = writeln!(
        std::io::stderr(),
        "rofs-agent: {msg}\n{line}\nTry --help for more."
    );
    ExitCode::from(2)
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Parsed {
    Help,
    Run(Box<SyncOptions>),
}

fn number(name: &str, v: &OsString, max: u64) -> Result<u64, String> {
    v.to_str()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|n| *n <= max)
        .ok_or_else(|| format!("{name}: {v:?} is not a number from 0 to {max}"))
}

/// Parses `sync`'s arguments.
pub fn parse(args: Vec<OsString>) -> Result<Parsed, String> {
    let mut opts = SyncOptions::default();
    let mut args = Args::new(args);
    while let Some(mut opt) = args.next_option()? {
        let name = opt.name.clone();
        let text = |v: OsString| {
            v.into_string()
                .map_err(|v| format!("{name}: {v:?} is not UTF-8"))
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--once" => opts.once = true,
            "--state-dir" => opts.state_dir = Some(PathBuf::from(args.value(&mut opt)?)),
            "--conflict" => {
                opts.policy = match text(args.value(&mut opt)?)?.as_str() {
                    "app" => ConflictPolicy::App,
                    "source" => ConflictPolicy::Source,
                    v => return Err(format!("--conflict: {v:?} is not app or source")),
                }
            }
            "--reload-signal" => {
                let v = text(args.value(&mut opt)?)?;
                opts.signal_hooks.push(reload::parse_signal_hook(&v)?);
            }
            "--reload-url" => {
                let v = text(args.value(&mut opt)?)?;
                opts.url_hooks.push(reload::parse_url_hook(&v)?);
            }
            "--debounce-ms" => {
                let n = number(&name, &args.value(&mut opt)?, 60_000)?;
                opts.debounce = Duration::from_millis(n);
            }
            "--resync-seconds" => {
                let n = number(&name, &args.value(&mut opt)?, 86_400 * 365)?;
                opts.resync = (n > 0).then(|| Duration::from_secs(n));
            }
            "--log-format" => {
                opts.json = match text(args.value(&mut opt)?)?.as_str() {
                    "plain" => false,
                    "json" => true,
                    v => return Err(format!("--log-format: {v:?} is not plain or json")),
                }
            }
            "-q" | "--quiet" => opts.log = false,
            _ => return Err(format!("unknown option {name}")),
        }
    }
    for (src, dst) in pairs(&args.positional)? {
        if dst.starts_with(&src) || src.starts_with(&dst) {
            return Err(format!(
                "SRC {} and DST {} must not contain each other",
                src.display(),
                dst.display()
            ));
        }
        opts.pairs.push((src, dst));
    }
    Ok(Parsed::Run(Box::new(opts)))
}
