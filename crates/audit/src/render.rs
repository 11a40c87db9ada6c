//! The outputs of a report: a table for people, JSON for programs, SARIF for code scanners.

use std::fmt::Write as _;

use crate::model::{Finding, Report, Severity};

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Grouped by workload, for terminals.
    #[default]
    Table,
    /// The report's stable JSON shape (docs/audit.md).
    Json,
    /// SARIF 2.1.0.
    Sarif,
}

/// Why a report could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("--format {0} is not available in this build")]
    Unsupported(&'static str),
    #[error("writing JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// How the table looks.
#[derive(Debug, Clone, Copy, Default)]
pub struct TableOptions {
    /// ANSI colours (the CLI: only on a terminal, never with NO_COLOR).
    pub color: bool,
    /// Print each document's fix diff after its workload's findings.
    pub diffs: bool,
}

/// The report in `format`.
pub fn render(report: &Report, format: Format, table: TableOptions) -> Result<String, RenderError> {
    match format {
        Format::Table => Ok(self::table(report, table)),
        Format::Json => json(report),
        Format::Sarif => Err(RenderError::Unsupported("sarif")),
    }
}

/// The report as `--format json` prints it (with a final newline).
pub fn json(report: &Report) -> Result<String, RenderError> {
    let mut s = serde_json::to_string_pretty(report)?;
    s.push('\n');
    Ok(s)
}

struct Paint {
    on: bool,
}

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn severity(&self, s: Severity) -> String {
        let label = format!("{:<8}", s.as_str().to_uppercase());
        let code = match s {
            Severity::Critical => "1;35",
            Severity::High => "1;31",
            Severity::Medium => "33",
            Severity::Low => "36",
        };
        self.wrap(code, &label)
    }
}

/// The table: findings grouped by workload, in input order, then the summary line.
pub fn table(report: &Report, options: TableOptions) -> String {
    let paint = Paint { on: options.color };
    let mut out = String::new();
    let mut i = 0;
    let findings = &report.findings;
    while i < findings.len() {
        let first = &findings[i];
        let same = |f: &Finding| {
            f.source == first.source
                && f.kind == first.kind
                && f.namespace == first.namespace
                && f.name == first.name
        };
        let end = i + findings[i..].iter().take_while(|f| same(f)).count();
        let mut place = format!("{}, document {}", first.source.file, first.source.document);
        if let Some(t) = &first.source.template {
            let _ = write!(place, ", template {t}");
        }
        let _ = writeln!(out, "{}  ({place})", paint.wrap("1", &first.workload()));
        let prefix = format!("{}: ", first.workload());
        for f in &findings[i..end] {
            let who = match (&f.container, f.container_type) {
                (Some(c), Some(t)) => format!("{} {c}", t.as_str()),
                _ => "pod".to_string(),
            };
            let label = match &f.suppressed {
                None => paint.severity(f.severity),
                Some(_) => paint.wrap("2", &format!("{:<8}", "IGNORED")),
            };
            let _ = writeln!(out, "  {label}  {}  {who}", f.rule);
            let message = f.message.strip_prefix(&prefix).unwrap_or(&f.message);
            let _ = writeln!(out, "            {message}");
            let _ = writeln!(out, "            field: {}", f.field);
            match &f.suppressed {
                Some(s) => {
                    let _ = writeln!(
                        out,
                        "            suppressed by {}: {}",
                        s.annotation, s.reason
                    );
                }
                None => {
                    let _ = writeln!(out, "            fix: {}", f.fix.command);
                }
            }
        }
        if options.diffs {
            // Every finding of a workload shares its document's diff: print it once.
            if let Some(diff) = findings[i..end].iter().find_map(|f| f.fix.diff.as_deref()) {
                for line in diff.lines() {
                    let code = match line.as_bytes().first() {
                        Some(b'+') if !line.starts_with("+++") => "32",
                        Some(b'-') if !line.starts_with("---") => "31",
                        Some(b'@') => "36",
                        _ => "",
                    };
                    let line = if code.is_empty() {
                        line.to_string()
                    } else {
                        paint.wrap(code, line)
                    };
                    let _ = writeln!(out, "    {line}");
                }
            }
        }
        out.push('\n');
        i = end;
    }
    out.push_str(&summary_line(report));
    out.push('\n');
    out
}

/// `3 findings (2 high, 1 medium), 1 suppressed`.
pub fn summary_line(report: &Report) -> String {
    let s = &report.summary;
    let mut parts: Vec<String> = Vec::new();
    for sev in Severity::ALL.iter().rev() {
        let n = s.by_severity.get(sev.as_str()).copied().unwrap_or(0);
        if n > 0 {
            parts.push(format!("{n} {sev}"));
        }
    }
    let mut line = match s.findings {
        0 => "no findings".to_string(),
        1 => format!("1 finding ({})", parts.join(", ")),
        n => format!("{n} findings ({})", parts.join(", ")),
    };
    if s.suppressed > 0 {
        let _ = write!(line, ", {} suppressed", s.suppressed);
    }
    line
}
