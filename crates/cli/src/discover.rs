//! `rofs discover IMAGE [-- COMMAND ARGS...]`: the flags; the work is in crates/discover.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use rofs_discover::output::{Format, ProfileMeta};
use rofs_discover::ready::{Ready, parse_duration};
use rofs_discover::{AgentSource, Options};

pub const DISCOVER_AFTER_HELP: &str = "\
How it works: the image runs once with a writable root until it is ready (and exercised), is
stopped gracefully, and every path it wrote is collected (the container's diff, plus writes into
the image's VOLUMEs). The writes become writable paths: the directories written in, seeded from
the image or empty (/tmp, /run), /run in memory. Then the answer is proven: the image runs again
with a READ-ONLY root and those paths seeded exactly as `rofs patch` seeds them (the agent); a
`Read-only file system` error adds its path and the run repeats (--max-rounds). Finally each
path is removed in turn, to show it is needed (or say that it is not needed for readiness).

Output (stdout, or -o FILE): a config file for `rofs patch --config` with a comment per path
saying why; `--format flags`: `-w` arguments; `--format profile`: a catalog entry.
Progress on stderr. Exit status 1 with the app's last log lines when it exits at once, is never
ready, or the read-only run never succeeds. Discover never pulls: the image must be local.

Examples:
  rofs discover localhost/my-nginx:1 --ready http://127.0.0.1:80/ -o nginx-rofs.yaml
  rofs patch --config nginx-rofs.yaml deploy.yaml
  rofs discover my-api:2 --ready tcp:8080 --exercise 'curl -fsS http://127.0.0.1:$ROFS_DISCOVER_PORT/api/items'
  rofs discover worker:1 --ready log:'started [0-9]+ workers' --format flags
  rofs discover busybox --ready 2s -- sh -c 'echo x > /var/tmp/x; sleep 1000'
  rofs discover postgres:15 --ready tcp:5432 --user postgres --format profile --name postgresql

What it cannot see (docs/discover.md): paths written only on rare code paths, after readiness
unless --exercise reaches them, by log rotation or crons, or only on a first run.";

#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// The image to run (local: discover never pulls).
    #[arg(value_name = "IMAGE")]
    pub image: String,

    /// Replaces the image's CMD (like a Kubernetes container's `args`), after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,

    /// When the app is ready: `tcp:PORT`, `http://127.0.0.1:PORT/PATH` (status < 400),
    /// `log:REGEX` (a line of its output), or a duration (`5s`: still running then).
    /// PORT is the container's; it is published on 127.0.0.1 only.
    /// [default: tcp:<lowest port the image exposes>, else 5s]
    #[arg(long, value_name = "CHECK")]
    pub ready: Option<String>,

    /// Give up waiting for readiness after this long (each run).
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub ready_timeout: String,

    /// Once ready, run this shell command to make the app do its work (so the paths it writes
    /// then are seen): on the host, with ROFS_DISCOVER_HOST/_PORT (the published port),
    /// _CONTAINER and _ENGINE set; or in the container with --exercise-in-container.
    #[arg(long, value_name = "CMD")]
    pub exercise: Option<String>,

    /// Run --exercise inside the container (`exec /bin/sh -c CMD`).
    #[arg(long, requires = "exercise")]
    pub exercise_in_container: bool,

    /// Run as this user (`UID[:GID]` or a name) instead of the image's USER.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,

    /// Container engine command. [default: podman, else docker]
    #[arg(long, value_name = "ENGINE", env = "ROFS_ENGINE")]
    pub engine: Option<String>,

    /// Seconds between the image's StopSignal and SIGKILL when stopping the app.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub stop_timeout: u32,

    /// Image that provides the agent for the verification runs' seeding (as `rofs-install`
    /// does in the pod).
    #[arg(long, value_name = "IMAGE", env = "ROFS_AGENT_IMAGE", default_value = rofs_core::DEFAULT_AGENT_IMAGE)]
    pub agent_image: String,

    /// A static rofs-agent binary on the host to seed with (wins over --agent-image).
    #[arg(long, value_name = "FILE")]
    pub agent: Option<PathBuf>,

    /// Verification runs at most (each adds the paths a read-only error names).
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub max_rounds: u32,

    /// Only collect and propose; do not prove read-only (and no minimality check).
    #[arg(long)]
    pub no_verify: bool,

    /// Do not remove each path in turn to check it is needed (saves one run per path).
    #[arg(long)]
    pub no_minimality: bool,

    /// Minimality runs at the same time.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub jobs: u32,

    /// Output: `config` (for rofs patch --config), `flags` (-w ...), `profile` (catalog entry).
    #[arg(long, value_name = "FORMAT", default_value = "config")]
    pub format: String,

    /// Write the output to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// `--format profile`: the profile's name [default: the image's name].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// `--format profile`: its one-line description.
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,

    /// `--format profile`: an image name pattern the profile matches; repeatable
    /// [default: the image's name without registry and tag].
    #[arg(long = "image-pattern", value_name = "PATTERN")]
    pub images: Vec<String>,
}

pub fn run(args: &DiscoverArgs) -> Result<()> {
    let format: Format = args
        .format
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--format: {e}"))?;
    let ready_timeout =
        parse_duration(&args.ready_timeout).map_err(|e| anyhow::anyhow!("--ready-timeout: {e}"))?;
    let ready: Option<Ready> = args
        .ready
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e: String| anyhow::anyhow!("--ready: {e}"))?;
    let agent = match &args.agent {
        Some(p) => {
            if !p.is_file() {
                bail!("--agent {}: not a file", p.display());
            }
            AgentSource::Path(p.clone())
        }
        None => AgentSource::Image(args.agent_image.clone()),
    };
    let mut opts = Options {
        image: args.image.clone(),
        command: args.command.clone(),
        engine: args.engine.clone(),
        user: args.user.clone(),
        ready: ready
            .clone()
            .unwrap_or(Ready::After(std::time::Duration::from_secs(5))),
        ready_timeout,
        exercise: args.exercise.clone(),
        exercise_in_container: args.exercise_in_container,
        stop_timeout: args.stop_timeout,
        agent,
        max_rounds: args.max_rounds,
        verify: !args.no_verify,
        minimality: !args.no_minimality,
        jobs: args.jobs as usize,
        stop_status: None,
    };
    if ready.is_none() {
        opts.ready = rofs_discover::default_ready(&opts)?;
    }
    let report = rofs_discover::discover(&opts)?;
    let meta = ProfileMeta {
        name: args.name.clone(),
        description: args.description.clone(),
        images: args.images.clone(),
    };
    let text = rofs_discover::output::render(&report, format, &meta);
    rofs_discover::progress(&format!(
        "done in {}s: {} writable paths, {} verification round(s)",
        report.seconds,
        report.plan.paths.len(),
        report.rounds
    ));
    match &args.output {
        Some(path) => write_atomic(path, &text),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

fn write_atomic(path: &std::path::Path, text: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let tmp = dir.join(format!(
        ".{}.rofs-tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}
