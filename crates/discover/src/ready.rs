//! Readiness: when the app counts as started. Network checks reach the container only through
//! a port published on 127.0.0.1 (loopback only).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use regex_automata::meta::Regex;

/// `--ready`: the catalog's readiness checks (`proven.ready`), one spelling for both.
pub use rofs_core::catalog::{Ready, parse_duration};

/// A readiness check ready to run: the check and, for `log:`, its compiled regex.
pub struct Check<'a> {
    ready: &'a Ready,
    log: Option<Regex>,
}

impl<'a> Check<'a> {
    pub fn new(ready: &'a Ready) -> Result<Check<'a>, String> {
        let log = match ready {
            Ready::Log(re) => {
                Some(Regex::new(re).map_err(|e| format!("log:{re}: not a regex: {e}"))?)
            }
            _ => None,
        };
        Ok(Check { ready, log })
    }

    /// One check. `host_port`: where the container port is published; `logs`: the output so
    /// far; `elapsed`: since start.
    pub fn probe(
        &self,
        host_port: Option<u16>,
        logs: impl FnOnce() -> String,
        elapsed: Duration,
    ) -> Probe {
        let passed = match (self.ready, &self.log) {
            (Ready::Tcp(_), _) => host_port.is_some_and(tcp_ready),
            (Ready::Http { path, .. }, _) => match host_port.and_then(|p| http_answer(p, path)) {
                Some((status, _)) if status < 400 => true,
                Some((500, body)) => return Probe::ServerError(body),
                _ => false,
            },
            (Ready::Log(_), Some(re)) => logs().lines().any(|l| re.is_match(l)),
            (Ready::Log(_), None) => false,
            (Ready::After(d), _) => elapsed >= *d,
        };
        if passed { Probe::Passed } else { Probe::NotYet }
    }

    /// [`Check::probe`] passed.
    pub fn passes(
        &self,
        host_port: Option<u16>,
        logs: impl FnOnce() -> String,
        elapsed: Duration,
    ) -> bool {
        self.probe(host_port, logs, elapsed) == Probe::Passed
    }
}

/// What one readiness check saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    Passed,
    NotYet,
    /// The HTTP check answered 500 (the app failing, not starting: that is 503 or no
    /// answer), with the answer's body.
    ServerError(String),
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

/// The HTTP status of GET `path` on 127.0.0.1:`port` and the start of its body (64 KiB at
/// most), if any.
pub fn http_answer(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr(port), Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut answer = Vec::new();
    let _ = s.take(64 << 10).read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut parts = head.lines().next()?.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/"))?;
    let status = parts.next()?.parse().ok()?;
    Some((status, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grammar is the catalog's (rofs_core::catalog tests it); a log check runs its
    /// regex on every line of the output.
    #[test]
    fn log_checks_match_lines_by_regex() {
        let ready: Ready = "log:listening on .*:80$".parse().expect("valid");
        let check = Check::new(&ready).expect("compiles");
        let t = Duration::ZERO;
        assert!(check.passes(None, || "start\nlistening on [::]:80\n".into(), t));
        assert!(!check.passes(None, || "listening on [::]:8080".into(), t));
        let after = Ready::After(Duration::from_secs(2));
        let check = Check::new(&after).expect("no regex");
        assert!(!check.passes(None, String::new, Duration::from_secs(1)));
        assert!(check.passes(None, String::new, Duration::from_secs(2)));
    }

    /// 2xx/3xx passes, 503 (starting) is not yet, 500 (failing) comes with its body.
    #[test]
    fn http_check_reads_the_status_line_and_a_failing_answer() {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = l.local_addr().expect("addr").port();
        let t = std::thread::spawn(move || {
            for answer in [
                "200 OK\r\n\r\nok",
                "503 Busy\r\n\r\n",
                "500 Oops\r\nContent-Type: text/plain\r\n\r\nEROFS: read-only file system, mkdtemp '/tmp/x'\n",
            ] {
                let (mut c, _) = l.accept().expect("accept");
                let mut b = [0u8; 1024];
                let _ = c.read(&mut b);
                let _ = c.write_all(format!("HTTP/1.0 {answer}").as_bytes());
            }
        });
        let ready: Ready = "http://127.0.0.1:1/".parse().expect("valid");
        let check = Check::new(&ready).expect("check");
        let probe = |c: &Check| c.probe(Some(port), String::new, Duration::ZERO);
        assert_eq!(probe(&check), Probe::Passed);
        assert_eq!(probe(&check), Probe::NotYet);
        assert_eq!(
            probe(&check),
            Probe::ServerError("EROFS: read-only file system, mkdtemp '/tmp/x'\n".into())
        );
        t.join().expect("server");
    }
}
