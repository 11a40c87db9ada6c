//! The outputs of a report: a table for people, JSON for programs, SARIF for code scanners.

use crate::model::Report;

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

/// The report as `--format json` prints it (with a final newline).
pub fn json(report: &Report) -> Result<String, RenderError> {
    let mut s = serde_json::to_string_pretty(report)?;
    s.push('\n');
    Ok(s)
}
