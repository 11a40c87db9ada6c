//! `sync`'s log lines.

use std::io::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The log lines of `sync`: plain text or one JSON object each.
pub(super) struct Logger {
    pub on: bool,
    pub json: bool,
}

impl Logger {
    pub fn line(&self, level: &str, msg: &str, fields: &[(&str, String)]) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        if let Some(text) = self.render(level, msg, fields, now) {
            // One write per line: lines stay whole between processes
            // sharing the stream.
            let _ = io::stderr().write_all(text.as_bytes());
        }
    }

    /// The line, newline included; `None` when `--quiet` drops it. `now`:
    /// Unix time, written as `ts` in seconds to the microsecond (as klog
    /// and zap write it), taken after what the line reports.
    fn render(
        &self,
        level: &str,
        msg: &str,
        fields: &[(&str, String)],
        now: Duration,
    ) -> Option<String> {
        if !self.on && level != "error" {
            return None;
        }
        let mut s = if self.json {
            let mut s = format!(
                "{{\"ts\":{}.{:06},\"level\":\"{level}\",\"cmd\":\"sync\",\"msg\":\"{}\"",
                now.as_secs(),
                now.subsec_micros(),
                json_escape(msg)
            );
            for (k, v) in fields {
                s.push_str(&format!(",\"{k}\":\"{}\"", json_escape(v)));
            }
            s.push('}');
            s
        } else if level == "info" {
            format!("rofs sync: {msg}")
        } else {
            format!("rofs sync: {level}: {msg}")
        };
        s.push('\n');
        Some(s)
    }
}

fn json_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o
}

pub(super) fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Duration = Duration::new(1_764_468_000, 7_089_000);

    #[test]
    fn json_lines_carry_the_time_to_the_microsecond_and_escape_what_they_quote() {
        let log = Logger {
            on: true,
            json: true,
        };
        let line = log
            .render(
                "warn",
                "a \"b\"\n",
                &[("dst", "/d\\x".into()), ("event", "sync".into())],
                NOW,
            )
            .unwrap();
        assert_eq!(
            line,
            "{\"ts\":1764468000.007089,\"level\":\"warn\",\"cmd\":\"sync\",\
             \"msg\":\"a \\\"b\\\"\\u000a\",\"dst\":\"/d\\\\x\",\"event\":\"sync\"}\n"
        );
    }

    #[test]
    fn plain_lines_have_no_time_and_quiet_keeps_only_errors() {
        let plain = Logger {
            on: true,
            json: false,
        };
        assert_eq!(
            plain.render("info", "started", &[], NOW).as_deref(),
            Some("rofs sync: started\n")
        );
        assert_eq!(
            plain.render("error", "full", &[], NOW).as_deref(),
            Some("rofs sync: error: full\n")
        );
        let quiet = Logger {
            on: false,
            json: true,
        };
        assert_eq!(quiet.render("info", "started", &[], NOW), None);
        assert!(
            quiet
                .render("error", "full", &[], NOW)
                .unwrap()
                .contains("\"level\":\"error\"")
        );
    }
}
