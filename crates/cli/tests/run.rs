//! Running the `rofs` binary with input on stdin, shared by the CLI tests.

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// `rofs ARGS` with `stdin` written on a thread (large inputs cannot block on a full pipe
/// while rofs writes its output; rofs may also refuse its flags before reading stdin, so a
/// broken pipe is fine).
pub(crate) fn rofs(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rofs"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rofs");
    let mut pipe = child.stdin.take().expect("stdin");
    let text = stdin.to_string();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(text.as_bytes());
    });
    let out = child.wait_with_output().expect("wait");
    writer.join().expect("writer");
    out
}
