//! `sync`'s log lines.

use std::io::{self, Write};
use std::time::Duration;

/// The log lines of `sync`: plain text or one JSON object each.
pub(super) struct Logger {
    pub on: bool,
    pub json: bool,
}

impl Logger {
    pub fn line(&self, level: &str, msg: &str, fields: &[(&str, String)]) {
        if !self.on && level != "error" {
            return;
        }
        let text = if self.json {
            let mut s = format!(
                "{{\"level\":\"{level}\",\"cmd\":\"sync\",\"msg\":\"{}\"",
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
        let _ = writeln!(io::stderr(), "{text}");
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
