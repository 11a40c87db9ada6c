//! A tiny static HTTP server for the "no shell" e2e image (`localhost/rofs-e2e-noshell:dev`).
//!
//! The image holds nothing but this binary (built static) and the site it serves, so it
//! has no `/bin/sh` and no `cp`: only the rofs agent can seed it.
//!
//! The server needs a *seeded writable* directory, the way real apps do: at start it
//! appends a line to `--log` (inside the served root in the image), and it serves the
//! image's `index.html` from the same directory. With an empty (unseeded) emptyDir over
//! the root, `GET /` answers 404; with the root read-only, the start fails with
//! `rofs-e2e-static-server: cannot open log /srv/www/hits.log: Read-only file system (os error 30)`.
//!
//! Usage: `rofs-e2e-static-server --root DIR --listen ADDR:PORT [--log FILE]`
//! Only std; single-threaded; HTTP/1.0; `Connection: close`.
//!
//! Built by `scripts/build-images.sh` with plain `rustc` (no dependencies), so it does
//! not need the crate to be a workspace member.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

const NAME: &str = "rofs-e2e-static-server";

struct Args {
    root: PathBuf,
    listen: String,
    log: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut root = None;
    let mut listen = None;
    let mut log = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--root" => root = Some(PathBuf::from(value("--root")?)),
            "--listen" => listen = Some(value("--listen")?),
            "--log" => log = Some(PathBuf::from(value("--log")?)),
            "-h" | "--help" => {
                return Err(format!(
                    "usage: {NAME} --root DIR --listen ADDR:PORT [--log FILE]"
                ));
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Args {
        root: root.ok_or("--root is required")?,
        listen: listen.ok_or("--listen is required")?,
        log,
    })
}

fn append_log(log: Option<&Path>, line: &str) -> Result<(), String> {
    let Some(path) = log else { return Ok(()) };
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open log {}: {e}", path.display()))?;
    writeln!(f, "{line}").map_err(|e| format!("cannot write log {}: {e}", path.display()))
}

/// Maps a request path onto a file under `root`; rejects anything but plain components.
fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let rel = url_path
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .trim_start_matches('/');
    let rel = if rel.is_empty() || rel.ends_with('/') {
        format!("{rel}index.html")
    } else {
        rel.to_string()
    };
    let rel = Path::new(&rel);
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(root.join(rel))
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("txt") | Some("log") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn respond(stream: &mut TcpStream, status: &str, ctype: &str, body: &[u8]) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.0 {status}\r\nServer: {NAME}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    stream.flush()
}

fn handle(mut stream: TcpStream, args: &Args) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // drain headers
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let status = if method != "GET" && method != "HEAD" {
        respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            b"method not allowed\n",
        )?;
        405
    } else {
        match resolve(&args.root, path).map(|p| (File::open(&p), p)) {
            Some((Ok(mut f), p)) if p.is_file() => {
                let mut body = Vec::new();
                f.read_to_end(&mut body)?;
                if method == "HEAD" {
                    body.clear();
                }
                respond(&mut stream, "200 OK", content_type(&p), &body)?;
                200
            }
            _ => {
                respond(&mut stream, "404 Not Found", "text/plain", b"not found\n")?;
                404
            }
        }
    };
    if let Err(e) = append_log(args.log.as_deref(), &format!("{method} {path} {status}")) {
        eprintln!("{NAME}: {e}");
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{NAME}: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = append_log(
        args.log.as_deref(),
        &format!("start pid={}", std::process::id()),
    ) {
        eprintln!("{NAME}: {e}");
        return ExitCode::from(1);
    }
    let listener = match TcpListener::bind(&args.listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{NAME}: cannot listen on {}: {e}", args.listen);
            return ExitCode::from(1);
        }
    };
    eprintln!("{NAME}: serving {} on {}", args.root.display(), args.listen);
    for stream in listener.incoming() {
        match stream {
            Ok(s) => {
                if let Err(e) = handle(s, &args) {
                    eprintln!("{NAME}: connection error: {e}");
                }
            }
            Err(e) => eprintln!("{NAME}: accept error: {e}"),
        }
    }
    ExitCode::SUCCESS
}
