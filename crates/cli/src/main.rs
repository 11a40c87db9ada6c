//! `rofs`: a thin binary over rofs-core (see crates/core) and rofs-agent (see crates/agent).

mod cli;
mod krm;
mod output;
mod patch;
mod settings;

use std::process::ExitCode;

use clap::Parser;
use cli::{Cli, Command};

fn main() -> ExitCode {
    // Installed as `kubectl-rofs`, kubectl runs us as a plugin; as `rofs-krm`, kustomize runs
    // us as an exec KRM function with no arguments.
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let argv0 = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned());
    if argv0.as_deref() == Some("rofs-krm") {
        args.insert(1, "krm".into());
    }
    let cli = Cli::parse_from(args);
    let result = match cli.command {
        Command::Patch(args) => patch::run(&args).map(|()| true),
        Command::Krm => krm::run(),
        Command::Profiles => {
            print_profiles();
            Ok(true)
        }
        Command::Seed { args } => {
            return agent(std::iter::once("seed".into()).chain(args).collect());
        }
        Command::Install { args } => {
            return agent(std::iter::once("install".into()).chain(args).collect());
        }
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

fn agent(args: Vec<std::ffi::OsString>) -> ExitCode {
    // TODO(seed issue): rofs_agent::main_with_args(args)
    let _ = args;
    eprintln!("rofs: the agent is not built into this binary yet");
    ExitCode::FAILURE
}

fn print_profiles() {
    for p in rofs_core::profiles::PROFILES {
        println!(
            "{}\n    {}\n    writable: {}",
            p.name,
            p.description,
            p.writable.join(", ")
        );
    }
}
