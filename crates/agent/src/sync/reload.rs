//! Reload hooks run after a sync that changed something (debounced):
//! a signal to the processes with a given name (the pod shares its process
//! namespace), or an HTTP/1.1 POST to a loopback URL. No DNS: the host is an
//! IP literal or `localhost`; anything not loopback is refused.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use rustix::process::{Pid, Signal};

/// `--reload-signal SIG:PROCESS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalHook {
    pub signal: Signal,
    pub signal_name: String,
    /// Matched against `/proc/PID/comm` and the basename of argv[0].
    pub process: String,
}

/// `--reload-url http://127.0.0.1:PORT/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlHook {
    pub addr: SocketAddr,
    /// `Host:` header value, as written in the URL.
    pub host: String,
    pub path: String,
}

const SIGNALS: &[(&str, Signal)] = &[
    ("HUP", Signal::HUP),
    ("INT", Signal::INT),
    ("QUIT", Signal::QUIT),
    ("TERM", Signal::TERM),
    ("USR1", Signal::USR1),
    ("USR2", Signal::USR2),
    ("WINCH", Signal::WINCH),
    ("CONT", Signal::CONT),
];

/// Parses `SIG:PROCESS` (`HUP:nginx`, `SIGUSR1:java`, `1:nginx`).
pub fn parse_signal_hook(s: &str) -> Result<SignalHook, String> {
    let (sig, process) = s
        .split_once(':')
        .ok_or_else(|| format!("--reload-signal {s:?}: expected SIG:PROCESS, e.g. HUP:nginx"))?;
    if process.is_empty() || process.contains('/') {
        return Err(format!(
            "--reload-signal {s:?}: PROCESS must be a process name (no '/'), e.g. nginx"
        ));
    }
    let upper = sig.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    let found = SIGNALS
        .iter()
        .find(|(n, _)| *n == bare)
        .map(|(n, s)| (*n, *s));
    let found = found.or_else(|| {
        let num: i32 = bare.parse().ok()?;
        SIGNALS
            .iter()
            .find(|(_, s)| s.as_raw() == num)
            .map(|(n, s)| (*n, *s))
    });
    let (name, signal) = found.ok_or_else(|| {
        let names: Vec<&str> = SIGNALS.iter().map(|(n, _)| *n).collect();
        format!(
            "--reload-signal {s:?}: unknown signal {sig:?} (one of {})",
            names.join(", ")
        )
    })?;
    Ok(SignalHook {
        signal,
        signal_name: format!("SIG{name}"),
        process: process.to_string(),
    })
}

/// Parses `http://HOST[:PORT][/PATH]` where HOST is a loopback IP literal
/// (`127.0.0.0/8`, `[::1]`) or `localhost` (taken as 127.0.0.1, no lookup).
pub fn parse_url_hook(s: &str) -> Result<UrlHook, String> {
    let err = |m: &str| format!("--reload-url {s:?}: {m}");
    let rest = s
        .strip_prefix("http://")
        .ok_or_else(|| err("only http:// URLs (plain HTTP to a loopback address)"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.contains('@') {
        return Err(err("user info is not supported"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or_else(|| err("unclosed '['"))?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port: u16 = match port {
        None => 80,
        Some(p) => p.parse().map_err(|_| err("bad port"))?,
    };
    let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host.parse()
            .map_err(|_| err("the host must be an IP literal or localhost (no DNS in the agent)"))?
    };
    if !ip.is_loopback() {
        return Err(err(
            "the host must be a loopback address (127.0.0.0/8, ::1, localhost)",
        ));
    }
    if path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(err(
            "the path must not contain spaces or control characters",
        ));
    }
    Ok(UrlHook {
        addr: SocketAddr::new(ip, port),
        host: authority.to_string(),
        path: path.to_string(),
    })
}

/// Does this /proc entry's process carry `name`? Compares `comm` (cut to
/// 15 bytes by the kernel) and the basename of argv[0].
fn process_matches(proc_dir: &Path, name: &[u8]) -> bool {
    if let Ok(comm) = fs::read(proc_dir.join("comm")) {
        let comm = comm.strip_suffix(b"\n").unwrap_or(&comm);
        let cut = &name[..name.len().min(15)];
        if comm == name || (name.len() > 15 && comm == cut) {
            return true;
        }
    }
    if let Ok(cmdline) = fs::read(proc_dir.join("cmdline")) {
        let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
        let base = argv0.rsplit(|b| *b == b'/').next().unwrap_or_default();
        // nginx rewrites its argv: "nginx: master process /usr/sbin/nginx".
        let base = base
            .split(|b| *b == b':' || *b == b' ')
            .next()
            .unwrap_or_default();
        if base == name {
            return true;
        }
    }
    false
}

/// What [`send_signal`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Signalled {
    /// Processes that got the signal.
    pub sent: usize,
    /// Processes of that name the signal was refused for (EPERM: another
    /// user, e.g. a root nginx while the sidecar runs as uid 65532).
    pub denied: usize,
}

/// Sends the hook's signal to every process named so (not to this one).
pub fn send_signal(hook: &SignalHook, proc_root: &Path) -> io::Result<Signalled> {
    let me = rustix::process::getpid();
    let mut n = Signalled::default();
    for ent in fs::read_dir(proc_root)? {
        let Ok(ent) = ent else { continue };
        let fname = ent.file_name();
        let Some(pid) = std::str::from_utf8(fname.as_bytes())
            .ok()
            .and_then(|s| s.parse::<i32>().ok())
            .and_then(Pid::from_raw)
        else {
            continue;
        };
        if pid == me || !process_matches(&ent.path(), hook.process.as_bytes()) {
            continue;
        }
        // The process may have exited meanwhile (ESRCH: not counted), or
        // belong to another user (EPERM: counted, so the log can say so).
        match rustix::process::kill_process(pid, hook.signal) {
            Ok(()) => n.sent += 1,
            Err(rustix::io::Errno::PERM) => n.denied += 1,
            Err(_) => {}
        }
    }
    Ok(n)
}

/// POSTs to the hook's URL (empty body); returns the response status code.
/// Connect, write and read are each bounded by `timeout`.
pub fn post(hook: &UrlHook, timeout: Duration) -> io::Result<u16> {
    let mut s = TcpStream::connect_timeout(&hook.addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let req = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: rofs-agent/{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        hook.path,
        hook.host,
        env!("CARGO_PKG_VERSION")
    );
    s.write_all(req.as_bytes())?;
    let mut head = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        let n = s.read(&mut head[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let line = &head[..got];
    // "HTTP/1.1 200 OK"
    let code = line
        .strip_prefix(b"HTTP/1.")
        .and_then(|r| r.get(2..5))
        .and_then(|c| std::str::from_utf8(c).ok())
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not an HTTP response: {:?}", OsStr::from_bytes(line)),
            )
        })?;
    Ok(code)
}
