//! Readiness: when the app counts as started. Network checks reach the container only through
//! a port published on 127.0.0.1 (loopback only).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use regex_automata::meta::Regex;

/// `--ready`: `tcp:PORT`, `http://127.0.0.1:PORT/PATH`, `log:REGEX` or a duration (`5s`).
#[derive(Debug, Clone)]
pub enum Ready {
    /// A TCP connection to the container's PORT is accepted (and not closed at once).
    Tcp(u16),
    /// GET PATH on the container's PORT answers with a status below 400.
    Http { port: u16, path: String },
    /// A line of the app's output matches.
    Log(String, Regex),
    /// Still running after this long.
    After(Duration),
}

impl std::fmt::Display for Ready {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ready::Tcp(p) => write!(f, "tcp:{p}"),
            Ready::Http { port, path } => write!(f, "http://127.0.0.1:{port}{path}"),
            Ready::Log(r, _) => write!(f, "log:{r}"),
            Ready::After(d) => write!(f, "{}", format_duration(*d)),
        }
    }
}

pub fn format_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// `5s`, `500ms`, `2m`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 5s, 500ms, 2m)"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!(
            "{s:?}: unknown unit {unit:?} (use ms, s or m, e.g. 5s)"
        )),
    }
}

fn parse_port(s: &str, what: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("{what}: {s:?} is not a port (1-65535)")),
    }
}

impl std::str::FromStr for Ready {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(port) = s.strip_prefix("tcp:") {
            return Ok(Ready::Tcp(parse_port(port, "tcp:PORT")?));
        }
        if let Some(rest) = s.strip_prefix("http://") {
            let (authority, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, "/"),
            };
            let (host, port) = authority
                .rsplit_once(':')
                .ok_or_else(|| format!("{s:?}: give the port: http://127.0.0.1:PORT/PATH"))?;
            if host != "127.0.0.1" && host != "localhost" {
                return Err(format!(
                    "{s:?}: the host must be 127.0.0.1 (discover checks the container's port \
                     published on loopback only)"
                ));
            }
            return Ok(Ready::Http {
                port: parse_port(port, "http://127.0.0.1:PORT/PATH")?,
                path: path.to_string(),
            });
        }
        if let Some(re) = s.strip_prefix("log:") {
            let regex = Regex::new(re).map_err(|e| format!("log:{re}: not a regex: {e}"))?;
            return Ok(Ready::Log(re.to_string(), regex));
        }
        if s.starts_with(|c: char| c.is_ascii_digit()) {
            return parse_duration(s).map(Ready::After);
        }
        Err(format!(
            "{s:?}: expected tcp:PORT, http://127.0.0.1:PORT/PATH, log:REGEX or a duration \
             such as 5s"
        ))
    }
}

impl Ready {
    /// The container port to publish, if the check needs one.
    pub fn port(&self) -> Option<u16> {
        match self {
            Ready::Tcp(p) | Ready::Http { port: p, .. } => Some(*p),
            _ => None,
        }
    }

    /// One check. `host_port`: where the container port is published; `logs`: the output so
    /// far; `elapsed`: since start.
    pub fn check(
        &self,
        host_port: Option<u16>,
        logs: impl FnOnce() -> String,
        elapsed: Duration,
    ) -> bool {
        match self {
            Ready::Tcp(_) => host_port.is_some_and(tcp_ready),
            Ready::Http { path, .. } => host_port.is_some_and(|p| http_ready(p, path)),
            Ready::Log(_, re) => logs().lines().any(|l| re.is_match(l)),
            Ready::After(d) => elapsed >= *d,
        }
    }
}

/// A port free on 127.0.0.1 now (the kernel's pick).
pub fn free_port() -> std::io::Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(l.local_addr()?.port())
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Accepted and not closed at once (a userspace port proxy accepts, then closes when nothing
/// listens in the container).
fn tcp_ready(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr(port), Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(0) => false,
        Ok(_) => true,
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// The HTTP status of GET `path` on 127.0.0.1:`port`, if any.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr(port), Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 4096 {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let mut parts = line.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

fn http_ready(port: u16, path: &str) -> bool {
    http_status(port, path).is_some_and(|s| s < 400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert!(matches!("tcp:80".parse::<Ready>(), Ok(Ready::Tcp(80))));
        match "http://127.0.0.1:8080/health".parse::<Ready>() {
            Ok(Ready::Http { port, path }) => {
                assert_eq!((port, path.as_str()), (8080, "/health"));
            }
            other => panic!("{other:?}"),
        }
        match "http://localhost:80".parse::<Ready>() {
            Ok(Ready::Http { port, path }) => assert_eq!((port, path.as_str()), (80, "/")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            "log:ready to serve".parse::<Ready>(),
            Ok(Ready::Log(..))
        ));
        assert!(matches!(
            "1500ms".parse::<Ready>(),
            Ok(Ready::After(d)) if d == Duration::from_millis(1500)
        ));
        assert!(matches!(
            "2m".parse::<Ready>(),
            Ok(Ready::After(d)) if d == Duration::from_secs(120)
        ));
    }

    #[test]
    fn refuses_bad_values_with_reasons() {
        for (bad, says) in [
            ("tcp:0", "not a port"),
            ("tcp:http", "not a port"),
            ("http://10.0.0.1:80/", "127.0.0.1"),
            ("http://127.0.0.1/", "give the port"),
            ("log:(", "not a regex"),
            ("5h", "unknown unit"),
            ("soon", "expected tcp:PORT"),
        ] {
            let e = bad.parse::<Ready>().expect_err(bad);
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn http_check_reads_the_status_line() {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = l.local_addr().expect("addr").port();
        let t = std::thread::spawn(move || {
            for code in ["200 OK", "503 Busy"] {
                let (mut c, _) = l.accept().expect("accept");
                let mut b = [0u8; 1024];
                let _ = c.read(&mut b);
                let _ = c.write_all(format!("HTTP/1.0 {code}\r\n\r\n").as_bytes());
            }
        });
        assert!(http_ready(port, "/"));
        assert!(!http_ready(port, "/"));
        t.join().expect("server");
    }
}
