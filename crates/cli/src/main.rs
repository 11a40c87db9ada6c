//! `rofs`: a thin binary over rofs-core (see crates/core) and rofs-agent (see crates/agent).

mod audit;
mod audit_cluster;
mod cli;
mod discover;
mod krm;
mod output;
mod patch;
mod profiles;
mod settings;
mod webhook;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use cli::{Cli, Command};

/// mimalloc rather than glibc's malloc: the webhook's review is mostly small allocations
/// (serde_json maps and strings), where glibc's malloc took half of the CPU
/// (docs/performance.md#webhook). The in-pod agent, its own binary, keeps the system one.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // The name we are installed under picks the front end (docs/frontends.md):
    // `kubectl-rofs`: a kubectl plugin, so help and usage say `kubectl rofs`;
    // `rofs-krm`: a kustomize exec KRM function, run with no arguments;
    // `RofsPatch`: a kustomize exec plugin, run with the plugin's config file as argument.
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let argv0 = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned());
    let mut command = Cli::command();
    match argv0.as_deref() {
        Some("kubectl-rofs") => command = command.name("kubectl rofs").bin_name("kubectl rofs"),
        Some("rofs-krm" | "RofsPatch") => args.insert(1, "krm".into()),
        _ => {}
    }
    let matches = command
        .try_get_matches_from(args)
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match matches {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let result = match cli.command {
        Command::Patch(args) => patch::run(&args).map(|()| true),
        // Its own exit statuses: 1 is findings, 2 bad input.
        Command::Audit(args) => return audit::run(&args),
        Command::Krm { config } => krm::run(config.as_deref()),
        // The only async command: its tokio runtime starts inside.
        Command::Webhook(args) => webhook::run(*args).map(|()| true),
        Command::Discover(args) => discover::run(&args).map(|()| true),
        Command::Profiles(args) => profiles::run(&args).map(|()| true),
        Command::Seed(a) => return agent("seed", a),
        Command::Sync(a) => return agent("sync", a),
        Command::Install(a) => return agent("install", a),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("rofs: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The settings flags whose values rofs checked itself before clap typed them: a value their
/// type refuses stays bad input, as it was (`rofs: error: --seeder: why`, exit status 1).
/// Every other clap error keeps clap's convention (help and version on stdout, usage errors
/// such as an out-of-range `--days` with status 2).
const CHECKED_AS_INPUT: [&str; 5] = [
    "--seeder",
    "--agent-delivery",
    "--reload",
    "--sync-conflict",
    "--kube-version",
];

fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() == ErrorKind::ValueValidation {
        let flag = match e.get(ContextKind::InvalidArg) {
            Some(ContextValue::String(flag)) => flag.split(' ').next().unwrap_or_default(),
            _ => "",
        };
        if let (true, Some(why)) = (
            CHECKED_AS_INPUT.contains(&flag),
            std::error::Error::source(&e),
        ) {
            eprintln!("rofs: error: {flag}: {why}");
            return ExitCode::FAILURE;
        }
    }
    e.exit()
}

/// `rofs seed|sync|install ...` is `rofs-agent seed|sync|install ...`.
fn agent(command: &str, a: cli::AgentArgs) -> ExitCode {
    rofs_agent::main_with_args(std::iter::once(command.into()).chain(a.args).collect())
}
