//! rofs-audit: rules over parsed Kubernetes documents -> findings, each with the rofs fix.
//!
//! `rofs audit` (crates/cli/src/audit.rs) reads the input and prints; this crate does no I/O.
//! - [`model`]: the data model every output is a view of ([`Report`], [`Finding`], [`Rule`]);
//! - [`rules`]: the rules, their stable IDs and words;
//! - [`check`]: the checks of one workload; [`suppress`]: the suppression annotations;
//! - [`known`]: the paths a container's app writes, as rofs knows them;
//! - [`fix`]: the `rofs patch` command of a finding and the diff of what it writes;
//! - [`render`]: the table and `--format json` ([`Format::Sarif`] is filled by the SARIF
//!   module).
//! - [`positions`]: line and column of a container or field in the source text (SARIF regions);
//!   [`sarif`]: the SARIF 2.1.0 log; [`cluster`]: which live objects `--cluster` audits.
//!
//! See docs/audit.md.

use std::collections::BTreeMap;

use rofs_core::Settings;
use rofs_manifest::{Input, ManifestError};

pub mod check;
pub mod cluster;
pub mod fix;
pub mod known;
pub mod model;
pub mod positions;
pub mod render;
pub mod rules;
pub mod sarif;
pub mod suppress;

pub use check::Webhook;
pub use model::{
    ContainerType, Document, Finding, Fix, PeerCheck, Report, Rule, Severity, Source, Summary,
    Suppression,
};
pub use render::Format;
pub use rules::RULES;

/// The name of standard input in sources and messages.
pub const STDIN: &str = "<stdin>";

/// What an audit is told besides its input.
#[derive(Default)]
pub struct Options<'a> {
    /// Writable paths the apps are known to need (`--config`, e.g. from `rofs discover`;
    /// `--profile`). Also part of every fix.
    pub given: Settings,
    /// How messages name `given` (`--config discover.yaml`).
    pub given_origin: String,
    /// The flags that give `given` to `rofs patch` in fix commands (`--config FILE`...).
    pub fix_flags: Vec<String>,
    /// Put the unified diff of each fix in [`Fix::diff`] (`--fix-diff`).
    pub fix_diff: bool,
    /// Put each fixed document in [`Fix::replacement`] (SARIF's `fixes`).
    pub replacements: bool,
    /// `--effective`: audit pods as the rofs webhook admits them.
    pub webhook: Option<Webhook<'a>>,
}

/// Audit a stream of inputs: every document read as `rofs patch` reads it, every workload
/// checked. Errors: input that cannot be read (naming the input, document and line).
pub fn audit(inputs: &[Input<'_>], options: &Options<'_>) -> Result<Report, ManifestError> {
    let read = rofs_manifest::read_documents(inputs)?;
    let ctx = check::Context {
        given: &options.given,
        given_origin: &options.given_origin,
        webhook: options.webhook.as_ref(),
    };
    let checked = parallel_check(&read, &ctx);

    // One fix command per file: the given flags, plus `--profile auto` when the catalog knows
    // an image that nothing names a profile for.
    let mut per_file: BTreeMap<&str, (Vec<String>, Settings)> = BTreeMap::new();
    for (d, c) in read.iter().zip(&checked) {
        let (flags, settings) = per_file
            .entry(d.input)
            .or_insert_with(|| (options.fix_flags.clone(), options.given.clone()));
        let auto = [
            "--profile".to_string(),
            rofs_core::catalog::AUTO.to_string(),
        ];
        if !c.image_profiles.is_empty() && !flags.windows(2).any(|w| w == auto) {
            flags.extend(auto);
            // `auto` is always a valid profile name.
            let _ = settings.add_profile(rofs_core::catalog::AUTO);
        }
    }

    let mut series = DiffSeries::default();
    let mut documents = Vec::with_capacity(read.len());
    let mut findings = Vec::new();
    for (d, c) in read.into_iter().zip(checked) {
        let text = with_line_end(inputs, &d);
        let source = Source {
            file: d.input.to_string(),
            document: d.index,
            template: helm_source(d.comments),
            line: d.text_line,
        };
        let (flags, settings) = &per_file[d.input];
        let command = patch_command(flags, d.input, c.skipped);
        let wants = options.fix_diff || options.replacements;
        let replacement =
            (wants && !c.skipped && c.findings.iter().any(|f| f.remedy == check::Remedy::Patch))
                .then(|| fix::replacement(d.input, text, d.json, settings))
                .flatten()
                .filter(|r| r != text);
        let diff = match options.fix_diff {
            true => series.next(inputs, &d, text, replacement.as_deref()),
            false => None,
        };
        for raw in c.findings {
            let fix = match raw.remedy {
                check::Remedy::Patch => Fix {
                    command: command.clone(),
                    diff: diff.clone(),
                    replacement: replacement.clone().filter(|_| options.replacements),
                },
                check::Remedy::First(first) => Fix {
                    command: format!("{first}, then run: {command}"),
                    diff: None,
                    replacement: None,
                },
                check::Remedy::Instead(instead) => Fix {
                    command: instead,
                    diff: None,
                    replacement: None,
                },
            };
            findings.push(Finding {
                rule: raw.rule,
                severity: raw.severity,
                kind: raw.kind,
                namespace: raw.namespace,
                name: raw.name,
                container: raw.container,
                container_type: raw.container_type,
                field: raw.field.to_string(),
                pointer: raw.field.pointer(),
                object_pointer: raw.object.pointer(),
                message: raw.message,
                suppressed: raw.suppressed,
                fix,
                source: source.clone(),
            });
        }
        documents.push(Document {
            source,
            text: text.to_string(),
            value: d.value,
        });
    }
    Ok(Report::new(findings, documents))
}

/// The diffs of a file's documents as a series: each is made against the file with the
/// documents before it already fixed, so applying a file's diffs in document order (patch
/// -p0) gives exactly what `rofs patch` writes, hunk by hunk at its line numbers.
#[derive(Default)]
struct DiffSeries<'a> {
    file: &'a str,
    /// Lines added by the replacements so far in this file (negative: removed).
    line_delta: isize,
    /// The previous document of the file as it is now (replaced or not).
    previous: String,
    /// Where the previous document ended in the input.
    previous_end: usize,
}

impl<'a> DiffSeries<'a> {
    fn next(
        &mut self,
        inputs: &[Input<'a>],
        d: &rofs_manifest::ReadDocument<'a>,
        text: &'a str,
        replacement: Option<&str>,
    ) -> Option<String> {
        let input = inputs.iter().find(|i| i.name == d.input)?.text;
        if self.file != d.input {
            *self = DiffSeries {
                file: d.input,
                ..DiffSeries::default()
            };
        }
        let start = (text.as_ptr() as usize).wrapping_sub(input.as_ptr() as usize);
        let end = start + text.len();
        let (Some(gap), Some(after)) = (input.get(self.previous_end..start), input.get(end..))
        else {
            return None;
        };
        let before = format!("{}{gap}", self.previous);
        let line = d.text_line.saturating_add_signed(self.line_delta);
        let diff = replacement.map(|r| fix::document_diff(d.input, line, &before, text, after, r));
        let now = replacement.unwrap_or(text);
        self.line_delta += now.matches('\n').count() as isize - text.matches('\n').count() as isize;
        self.previous = now.to_string();
        self.previous_end = end;
        diff
    }
}

/// Check every document, on up to as many threads as there are cores (in order), each with
/// the stack the manifest reader gives deep documents.
fn parallel_check(
    read: &[rofs_manifest::ReadDocument<'_>],
    ctx: &check::Context<'_>,
) -> Vec<check::Checked> {
    const MIN_PER_THREAD: usize = 64;
    let one = |d: &rofs_manifest::ReadDocument<'_>| match &d.value {
        Some(v) => check::check_document(v, ctx),
        None => check::Checked::default(),
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(8)
        .min(read.len() / MIN_PER_THREAD)
        .max(1);
    let per = read.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = read
            .chunks(per)
            .map(|chunk| {
                let spawned = std::thread::Builder::new()
                    .name("rofs-audit".into())
                    .stack_size(rofs_manifest::yaml::STACK_BYTES)
                    .spawn_scoped(scope, move || chunk.iter().map(one).collect::<Vec<_>>());
                (chunk, spawned.ok())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|(chunk, handle)| match handle.map(|h| h.join()) {
                Some(Ok(done)) => done,
                Some(Err(panic)) => std::panic::resume_unwind(panic),
                // No thread (no memory for its stack): here.
                None => chunk.iter().map(one).collect(),
            })
            .collect()
    })
}

/// The fix command of a file; for a workload that opted out of rofs, what to do first.
fn patch_command(flags: &[String], file: &str, skipped: bool) -> String {
    let command = fix::patch_command(flags, file);
    if skipped {
        format!("remove the annotation rofs.io/skip, then run: {command}")
    } else {
        command
    }
}

/// The document's text, with the line end that follows a JSON document in its input (so its
/// diff applies to the file).
fn with_line_end<'a>(inputs: &[Input<'a>], d: &rofs_manifest::ReadDocument<'a>) -> &'a str {
    if !d.json {
        return d.text;
    }
    let Some(input) = inputs.iter().find(|i| i.name == d.input) else {
        return d.text;
    };
    let start = (d.text.as_ptr() as usize).wrapping_sub(input.text.as_ptr() as usize);
    let end = start + d.text.len();
    match input.text.get(start..=end) {
        Some(with) if with.ends_with('\n') => with,
        _ => d.text,
    }
}

/// The template of Helm's `# Source: CHART/templates/FILE.yaml` comment (the last one).
fn helm_source(comments: &str) -> Option<String> {
    comments
        .lines()
        .filter_map(|l| l.trim().strip_prefix("# Source:"))
        .map(|s| s.trim().to_string())
        .rfind(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Enough documents to be checked on several threads: findings stay in input order.
    #[test]
    fn findings_keep_the_input_order() {
        let text: String = (0..300)
            .map(|i| {
                format!(
                    "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}}}\nspec:\n  containers:\n  - {{name: app, image: busybox}}\n"
                )
            })
            .collect();
        let input = Input {
            name: "pods.yaml",
            text: &text,
        };
        let report = audit(&[input], &Options::default()).expect("valid");
        let got: Vec<(usize, String)> = report
            .findings
            .iter()
            .map(|f| (f.source.document, f.name.clone()))
            .collect();
        let want: Vec<(usize, String)> = (0..300).map(|i| (i + 1, format!("p{i}"))).collect();
        assert_eq!(got, want);
        assert_eq!(report.documents.len(), 300);
        assert_eq!(report.documents[1].source.line, 8);
    }
}
