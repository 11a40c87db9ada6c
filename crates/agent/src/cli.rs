//! The command line, hand-written: clap would double the binary's size. The
//! forms are fixed by the pod rewrite (crates/core generates them):
//!
//! ```text
//! rofs-agent install /.rofs/bin
//! /.rofs/bin/rofs-agent seed --state-dir /.rofs/state [--durable-state-dir /.rofs/durable]
//!     SRC1 DST1 [SRC2 DST2 ...]
//! /rofs-agent sync [--once] --state-dir /.rofs/sync [OPTIONS] SRC1 DST1 [...]
//! ```

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::args::{Args, pairs};
use crate::seed::SeedOptions;

const MAIN_HELP: &str = "\
rofs-agent: the in-pod agent of rofs (readOnlyRootFilesystem without pain)

Usage:
  rofs-agent seed [OPTIONS] SRC DST [SRC DST ...]
  rofs-agent install DIR
  rofs-agent sync [OPTIONS] SRC DST [SRC DST ...]
  rofs-agent --help | --version

Commands:
  seed      Copy each directory SRC of the image into DST, the mounted
            writable volume, exactly as `cp -a` run as root would; once per
            pod, safe to re-run after a crash.
  install   Copy this executable to DIR/rofs-agent (atomically, mode 0755),
            so that another container can run it.
  sync      Keep each writable DST a copy of the read-only SRC (a ConfigMap
            or Secret volume): inotify, atomic replaces, the app's edits
            kept; optional reload signal or URL.

Run `rofs-agent seed --help`, `rofs-agent install --help` or
`rofs-agent sync --help` for details.
";

const SEED_HELP: &str = "\
Usage: rofs-agent seed [OPTIONS] SRC DST [SRC DST ...]

Copies the contents of each directory SRC into the directory DST (like
`cp -a SRC/. DST/`: never DST/SRC, never data/data). Kept: file contents
(holes of sparse files too), directories, symlinks (never followed), hard
links, permission bits with setuid/setgid/sticky, owner and group, atime and
mtime with nanoseconds, extended attributes (user.*, security.capability when
permitted), FIFOs, names that are not UTF-8, paths of any length. Sockets and
device nodes are skipped with one warning each. A missing SRC is not an
error: DST stays empty. DST itself gets SRC's owner, mode and times where
permitted (it is usually a volume's mount point).

Not root? Seeding still succeeds: the copy belongs to the running user
(so the app running as that user can write it), the group is kept when the
user is a member, setuid/setgid bits are stripped where ownership could not
be kept, and one summary line says what could not be kept.

Options:
  --state-dir DIR   Keep the markers in DIR (created if missing): DIR/<id>.done
                    once DST is complete, DIR/<id>.started while copying; <id>
                    is DST's path made a file name plus a hash. In a pod: a
                    volume the app does not see, e.g. /.rofs/state.
                    Without it, the markers live inside DST, visible to the
                    app: .rofs-seeded (done) and .rofs-seeding (copying).
  --durable-state-dir DIR
                    Keep the markers of a disk-backed DST in DIR instead (a
                    small disk volume, e.g. /.rofs/durable): they survive a
                    node reboot with DST, so the copy is not refused as
                    \"not seeded by rofs\". DST is disk-backed unless statfs
                    says tmpfs or ramfs; a memory-backed DST keeps its
                    markers in --state-dir (both are empty after a reboot).
                    A marker an older agent left in --state-dir is honoured.
  --force           Copy again even if DST is marked done, and replace a
                    non-empty DST that rofs did not seed. Deletes what is in
                    DST, including what the app wrote.
  --threads N       Copy threads (default: twice the CPUs available, 2 to 8).
  -q, --quiet       Print errors only.
  -h, --help        Print this help.

Re-runs (an init container may run again):
  - DST marked done: skipped with one log line; DST is never touched again,
    whatever the app wrote there is safe.
  - DST not marked done but not empty: an earlier seed was interrupted (the
    app never ran: init containers must succeed first). Its contents are
    removed and the copy starts again; no truncated file survives.
  - A non-empty DST that rofs never started to seed is refused (exit 1)
    unless --force.
  - Two seeds of the same DST at once: the second waits for the first
    (an exclusive flock on DST), then finds the done marker.
  The done marker is written only after all data and metadata are durable
  (syncfs of DST).

Before copying, the source's size is compared with DST's free space and
inodes (statvfs: a tmpfs size or emptyDir sizeLimit on medium: Memory);
when it does not fit, seed fails with a clear message and writes no marker.

Logs (stderr): one start line and one summary line per pair (files, dirs,
symlinks, hard links, bytes, skipped, seconds, MB/s).

Exit status: 0 every pair seeded (or already seeded); 1 an error, named
with its path and the OS error (that pair has no done marker); 2 usage.
";

const INSTALL_HELP: &str = "\
Usage: rofs-agent install DIR

Copies the running executable to DIR/rofs-agent: written to a temporary
file in DIR, synced, made mode 0755, then renamed into place, so a restart
never leaves a truncated binary. DIR is created if missing. Works as any
user that can write DIR (a world-writable emptyDir in the pod).

Example (the install init container, rofs image, FROM scratch):
  /rofs-agent install /.rofs/bin
";

enum Parsed {
    Help(&'static str),
    Version,
    Seed(SeedOptions),
    Install(PathBuf),
    Sync(Vec<OsString>),
}

struct UsageError(String, &'static str);

/// Runs the agent's command line. `args` excludes argv[0]: the first is the
/// command (`seed`, `install`). Returns 0 on success, 1 on error, 2 on a
/// usage error.
pub fn main_with_args(args: Vec<OsString>) -> ExitCode {
    match parse(args) {
        Err(UsageError(msg, help)) => {
            let usage = help.lines().next().unwrap_or_default();
            let _ = writeln!(
                std::io::stderr(),
                "rofs-agent: {msg}\n{usage}\nTry --help for more."
            );
            ExitCode::from(2)
        }
        Ok(Parsed::Help(text)) => {
            let _ = std::io::stdout().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Ok(Parsed::Version) => {
            let _ = writeln!(
                std::io::stdout(),
                "rofs-agent {}",
                env!("CARGO_PKG_VERSION")
            );
            ExitCode::SUCCESS
        }
        Ok(Parsed::Seed(opts)) => match crate::seed::run(&opts) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "rofs seed: error: {e}");
                ExitCode::FAILURE
            }
        },
        Ok(Parsed::Sync(args)) => crate::sync::main_with_args(args),
        Ok(Parsed::Install(dir)) => match crate::install::run(&dir) {
            Ok(path) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "rofs install: installed {}",
                    path.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "rofs install: error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn is_help(a: &OsStr) -> bool {
    a == "-h" || a == "--help"
}

fn parse(args: Vec<OsString>) -> Result<Parsed, UsageError> {
    let mut it = args.into_iter();
    let Some(cmd) = it.next() else {
        return Err(UsageError("missing command".into(), MAIN_HELP_USAGE));
    };
    if is_help(&cmd) || cmd == "help" {
        return Ok(Parsed::Help(MAIN_HELP));
    }
    if cmd == "-V" || cmd == "--version" {
        return Ok(Parsed::Version);
    }
    let rest: Vec<OsString> = it.collect();
    match cmd.to_str() {
        Some("seed") => parse_seed(rest),
        Some("install") => parse_install(rest),
        Some("sync") => Ok(Parsed::Sync(rest)),
        _ => Err(UsageError(
            format!("unknown command {:?}", cmd),
            MAIN_HELP_USAGE,
        )),
    }
}

const MAIN_HELP_USAGE: &str =
    "Usage: rofs-agent seed [OPTIONS] SRC DST [SRC DST ...] | rofs-agent install DIR";

fn parse_seed(args: Vec<OsString>) -> Result<Parsed, UsageError> {
    let mut opts = SeedOptions {
        log: true,
        ..SeedOptions::default()
    };
    let err = |m: String| UsageError(m, SEED_HELP);
    let mut args = Args::new(args);
    while let Some(mut opt) = args.next_option().map_err(err)? {
        match opt.name.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help(SEED_HELP)),
            "--state-dir" => {
                opts.state_dir = Some(PathBuf::from(args.value(&mut opt).map_err(err)?));
            }
            "--durable-state-dir" => {
                opts.durable_state_dir = Some(PathBuf::from(args.value(&mut opt).map_err(err)?));
            }
            "--force" => opts.force = true,
            "-q" | "--quiet" => opts.log = false,
            "--threads" => {
                let v = args.value(&mut opt).map_err(err)?;
                opts.threads = v
                    .to_str()
                    .and_then(|s| s.parse::<usize>().ok())
                    .filter(|n| (1..=256).contains(n))
                    .ok_or_else(|| {
                        err(format!("--threads: {v:?} is not a number from 1 to 256"))
                    })?;
            }
            name => return Err(err(format!("unknown option {name}"))),
        }
    }
    opts.pairs = pairs(&args.positional).map_err(err)?;
    Ok(Parsed::Seed(opts))
}

fn parse_install(args: Vec<OsString>) -> Result<Parsed, UsageError> {
    let err = |m: String| UsageError(m, INSTALL_HELP);
    let mut dir = None;
    for a in args {
        if is_help(&a) {
            return Ok(Parsed::Help(INSTALL_HELP));
        }
        if a.to_str().is_some_and(|s| s.starts_with('-')) {
            return Err(err(format!("unknown option {a:?}")));
        }
        if dir.replace(PathBuf::from(a)).is_some() {
            return Err(err("install takes exactly one DIR".into()));
        }
    }
    dir.map(Parsed::Install)
        .ok_or_else(|| err("missing DIR".into()))
}
