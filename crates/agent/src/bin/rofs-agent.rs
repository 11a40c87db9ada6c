//! `rofs-agent`: the static in-pod agent. All logic lives in the library.

fn main() -> std::process::ExitCode {
    rofs_agent::main_with_args(std::env::args_os().skip(1).collect())
}
