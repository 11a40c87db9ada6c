//! The fixture of `rofs discover`'s e2e test (`localhost/rofs-e2e-discover:dev`): a static
//! program whose writes are known exactly, so the test can say by hand what discover must
//! answer (tests/e2e/tests/discover.rs derives it from this file, not from discover's output).
//!
//! The image (scripts/build-images.sh `discover`) has: this binary at /fixture;
//! /etc/fixture/app.conf; /var/lib/fixture/seed.txt; /var/log/fixture/old.log;
//! /data/initial.txt (VOLUME /data); empty directories /home/fixture, /srv/fixture/spool,
//! /opt/fixture/cache, /var/cache, /tmp, /run.
//!
//! At start, in this order (any failure but the last one: message on stderr, exit 1):
//! 0. creates /home/fixture/.probe and deletes it at once (a write no diff shows: only the
//!    read-only verification run finds it, so discover needs a second round);
//! 1. reads /var/lib/fixture/seed.txt (the image's: the directory must be SEEDED) and
//!    writes /var/lib/fixture/state (CREATE);
//! 2. rewrites /etc/fixture/app.conf (REWRITE of a config file the image has);
//! 3. deletes /var/log/fixture/old.log (DELETE) and writes /var/log/fixture/new.log;
//! 4. creates /var/cache/fixture/blobs/ and writes 64 KiB to /var/cache/fixture/blobs/b1
//!    (directories the image lacks, under /var/cache);
//! 5. writes /tmp/fixture.tmp and /run/fixture.pid;
//! 6. appends to /data/journal (the image's VOLUME);
//! 7. writes /opt/fixture/cache/hint, ignoring any error silently (a write the app does not
//!    need: discover must report it "not needed for readiness").
//!
//! Then it serves HTTP on 0.0.0.0:8080: `GET /` answers 200 (readiness); `GET /work` writes
//! /srv/fixture/spool/job (a write only an exercise reaches) and answers 200, or 500 after
//! printing the error.
//!
//! `rofs-e2e-discover-fixture get PORT PATH` is the client (the test's `--exercise`): GET
//! 127.0.0.1:PORT PATH, exit 0 on a 200.
//!
//! It has no graceful shutdown (the image's STOPSIGNAL is SIGKILL).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;

fn step(what: &str, r: std::io::Result<()>) -> Result<(), String> {
    r.map_err(|e| format!("{what}: {e}"))
}

fn start() -> Result<(), String> {
    step(
        "write /home/fixture/.probe",
        std::fs::write("/home/fixture/.probe", "probe"),
    )?;
    step(
        "remove /home/fixture/.probe",
        std::fs::remove_file("/home/fixture/.probe"),
    )?;
    let seed = std::fs::read_to_string("/var/lib/fixture/seed.txt")
        .map_err(|e| format!("read /var/lib/fixture/seed.txt: {e}"))?;
    step(
        "write /var/lib/fixture/state",
        std::fs::write(
            "/var/lib/fixture/state",
            format!("seeded with {}", seed.trim()),
        ),
    )?;
    let conf = std::fs::read_to_string("/etc/fixture/app.conf")
        .map_err(|e| format!("read /etc/fixture/app.conf: {e}"))?;
    step(
        "write /etc/fixture/app.conf",
        std::fs::write("/etc/fixture/app.conf", format!("{conf}started = true\n")),
    )?;
    step(
        "remove /var/log/fixture/old.log",
        std::fs::remove_file("/var/log/fixture/old.log"),
    )?;
    step(
        "write /var/log/fixture/new.log",
        std::fs::write("/var/log/fixture/new.log", "started\n"),
    )?;
    step(
        "mkdir /var/cache/fixture/blobs",
        std::fs::create_dir_all("/var/cache/fixture/blobs"),
    )?;
    step(
        "write /var/cache/fixture/blobs/b1",
        std::fs::write("/var/cache/fixture/blobs/b1", vec![7u8; 64 << 10]),
    )?;
    step(
        "write /tmp/fixture.tmp",
        std::fs::write("/tmp/fixture.tmp", "tmp"),
    )?;
    step(
        "write /run/fixture.pid",
        std::fs::write("/run/fixture.pid", format!("{}\n", std::process::id())),
    )?;
    step(
        "append /data/journal",
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open("/data/journal")
            .and_then(|mut f| f.write_all(b"start\n")),
    )?;
    let _ = std::fs::write("/opt/fixture/cache/hint", "optional");
    Ok(())
}

fn serve() -> Result<(), String> {
    let listener = TcpListener::bind("0.0.0.0:8080").map_err(|e| format!("bind: {e}"))?;
    eprintln!("fixture: serving on 0.0.0.0:8080");
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        let mut buf = [0u8; 1024];
        let n = conn.read(&mut buf).unwrap_or(0);
        let req = String::from_utf8_lossy(&buf[..n]);
        let path = req.split_whitespace().nth(1).unwrap_or("/");
        let status = match path {
            "/" => "200 OK",
            "/work" => match std::fs::write("/srv/fixture/spool/job", "done") {
                Ok(()) => "200 OK",
                Err(e) => {
                    eprintln!("fixture: write /srv/fixture/spool/job: {e}");
                    "500 Internal Server Error"
                }
            },
            _ => "404 Not Found",
        };
        let _ =
            conn.write_all(format!("HTTP/1.0 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes());
    }
    Ok(())
}

fn get(port: &str, path: &str) -> Result<(), String> {
    let mut s = TcpStream::connect(format!("127.0.0.1:{port}")).map_err(|e| e.to_string())?;
    s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).map_err(|e| e.to_string())?;
    let status = answer.lines().next().unwrap_or_default();
    if status.contains(" 200 ") {
        Ok(())
    } else {
        Err(format!("GET {path}: {status:?}"))
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("get") if args.len() == 4 => get(&args[2], &args[3]),
        None => start().and_then(|()| serve()),
        _ => Err("usage: rofs-e2e-discover-fixture [get PORT PATH]".to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fixture: {e}");
            ExitCode::FAILURE
        }
    }
}
