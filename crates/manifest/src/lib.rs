//! Manifest streams: the I/O-free shell that every offline front end (CLI, Helm post-renderer,
//! kustomize function, kubectl plugin) puts around [`rofs_core`].
//!
//! Input: one or more texts, each multi-document YAML or JSON. Output: the same stream with
//! every pod template rewritten. Documents that rofs does not change are copied byte for
//! byte; changed ones keep their leading comments (Helm's `# Source:` lines).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use rofs_core::{Outcome, RewriteError, Settings, rewrite_document, workload};
use serde_json::Value;

pub mod checksum;
pub mod yaml;

/// One input text and the name to use for it in messages (a file name, or `<stdin>`).
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

/// Output format of the patched stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// JSON when every input is JSON, YAML otherwise.
    #[default]
    Auto,
    Yaml,
    Json,
}

/// Why a stream could not be patched. Every variant names the input and the document.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{input}: document {document} (line {line}{column}): {message}", column = column.map(|c| format!(", column {c}")).unwrap_or_default())]
    Syntax {
        input: String,
        document: usize,
        line: usize,
        column: Option<u64>,
        message: String,
    },
    #[error("{input}: document {document} (line {line}, {what}): {message}")]
    Document {
        input: String,
        document: usize,
        line: usize,
        what: String,
        message: String,
    },
    #[error("{input}: document {document} (line {line}, {what}): {error}")]
    Rewrite {
        input: String,
        document: usize,
        line: usize,
        what: String,
        error: Box<RewriteError>,
    },
    #[error("writing the output: {0}")]
    Output(String),
}

/// The patched stream and what happened on the way.
#[derive(Debug, Default)]
pub struct Patched {
    pub output: String,
    pub format: Option<Format>,
    /// Messages for the user, each prefixed with its input and document.
    pub warnings: Vec<String>,
    pub documents: usize,
    pub workloads: usize,
    pub changed: usize,
    /// Every container name seen in a pod template.
    pub containers: BTreeSet<String>,
    /// Every volume name seen in a pod template.
    pub volumes: BTreeSet<String>,
}

/// Rewrite one document, recursing into `kind: List`. Errors inside a list name the item.
pub fn rewrite_any(doc: &mut Value, settings: &Settings) -> Result<Outcome, RewriteError> {
    if workload::is_list(doc) {
        let mut total = Outcome::default();
        if let Some(items) = doc.get_mut("items").and_then(Value::as_array_mut) {
            for (i, item) in items.iter_mut().enumerate() {
                let o = rewrite_any(item, settings).map_err(|e| match e {
                    RewriteError::Invalid { at, message } => RewriteError::Invalid {
                        at: join(&format!("items[{i}]"), &at),
                        message,
                    },
                    RewriteError::Annotation { at, error } => RewriteError::Annotation {
                        at: join(&format!("items[{i}]"), &at),
                        error,
                    },
                })?;
                total.workload |= o.workload;
                total.changed |= o.changed;
                total
                    .warnings
                    .extend(o.warnings.into_iter().map(|w| format!("items[{i}]: {w}")));
                total.containers.extend(o.containers);
                total.volumes.extend(o.volumes);
            }
        }
        return Ok(total);
    }
    rewrite_document(doc, settings)
}

fn join(a: &str, b: &str) -> String {
    if b.is_empty() {
        a.to_string()
    } else {
        format!("{a}.{b}")
    }
}

/// `Deployment web` (or `Pod web-*` for generateName): how messages name a document.
pub fn describe(doc: &Value) -> String {
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("object");
    let meta = doc.get("metadata");
    match (
        meta.and_then(|m| m.get("name")).and_then(Value::as_str),
        meta.and_then(|m| m.get("generateName"))
            .and_then(Value::as_str),
    ) {
        (Some(n), _) => format!("{kind} {n}"),
        (None, Some(g)) => format!("{kind} {g}*"),
        _ => kind.to_string(),
    }
}

fn looks_like_json(text: &str) -> bool {
    text.trim_start().starts_with(['{', '['])
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// Patch a stream of inputs with one set of settings.
pub fn patch(
    inputs: &[Input<'_>],
    settings: &Settings,
    format: Format,
) -> Result<Patched, ManifestError> {
    let mut parsed = Vec::with_capacity(inputs.len());
    let mut all_json = !inputs.is_empty();
    for input in inputs {
        // A JSON stream, or YAML that happens to start with `{` (JSON is YAML): when the
        // JSON reading fails, the YAML one decides, and the JSON error is shown if both fail.
        let docs = if looks_like_json(input.text) {
            match json_documents(input) {
                Ok(docs) => docs,
                Err(json_error) => {
                    all_json = false;
                    yaml_documents(input).map_err(|_| json_error)?
                }
            }
        } else {
            all_json = false;
            yaml_documents(input)?
        };
        parsed.push((input, docs));
    }
    let format = match format {
        Format::Auto if all_json => Format::Json,
        Format::Auto => Format::Yaml,
        f => f,
    };
    let mut out = Patched {
        format: Some(format),
        ..Patched::default()
    };
    let mut first = true;
    let mut configs = checksum::Index::new();
    if settings.rollout_on_change {
        for doc in parsed.iter().flat_map(|(_, docs)| docs) {
            if let Some(v) = &doc.value {
                checksum::index(v, &mut configs);
            }
        }
    }
    for (input, docs) in parsed {
        for doc in docs {
            out.documents += 1;
            let Some(mut value) = doc.value else {
                // Empty or comment-only document: keep it as written.
                if format == Format::Yaml && !doc.raw.trim().is_empty() {
                    emit_separator(&mut out.output, &mut first, format);
                    push_text(&mut out.output, doc.raw);
                }
                continue;
            };
            let what = describe(&value);
            if !value.is_object() {
                return Err(ManifestError::Document {
                    input: input.name.to_string(),
                    document: doc.index,
                    line: doc.line,
                    what,
                    message: format!(
                        "expected a Kubernetes object (a map), found {}",
                        kind_of(&value)
                    ),
                });
            }
            let outcome =
                rewrite_any(&mut value, settings).map_err(|source| ManifestError::Rewrite {
                    input: input.name.to_string(),
                    document: doc.index,
                    line: doc.line,
                    what: what.clone(),
                    error: Box::new(source),
                })?;
            let mut outcome = outcome;
            if settings.rollout_on_change && checksum::apply(&mut value, &configs) {
                outcome.changed = true;
            }
            if outcome.workload {
                out.workloads += 1;
            }
            if outcome.changed {
                out.changed += 1;
            }
            out.containers.extend(outcome.containers);
            out.volumes.extend(outcome.volumes);
            out.warnings.extend(
                outcome
                    .warnings
                    .into_iter()
                    .map(|w| format!("{}: document {} ({what}): {w}", input.name, doc.index)),
            );
            emit_separator(&mut out.output, &mut first, format);
            match format {
                Format::Json => {
                    let text = serde_json::to_string_pretty(&value)
                        .map_err(|e| ManifestError::Output(e.to_string()))?;
                    out.output.push_str(&text);
                    out.output.push('\n');
                }
                _ if !outcome.changed && !doc.from_json => push_text(&mut out.output, doc.raw),
                _ => {
                    if !doc.from_json {
                        out.output.push_str(yaml::leading_comments(doc.raw));
                    }
                    let text = yaml::to_string(&value).map_err(ManifestError::Output)?;
                    out.output.push_str(&text);
                }
            }
        }
    }
    Ok(out)
}

/// YAML documents after the first get a `---` line; JSON documents are concatenated.
fn emit_separator(out: &mut String, first: &mut bool, format: Format) {
    if !*first && format != Format::Json {
        out.push_str("---\n");
    }
    *first = false;
}

fn push_text(out: &mut String, text: &str) {
    out.push_str(text);
    if !text.ends_with('\n') {
        out.push('\n');
    }
}

struct ParsedDoc<'a> {
    index: usize,
    line: usize,
    raw: &'a str,
    value: Option<Value>,
    from_json: bool,
}

fn yaml_documents<'a>(input: &Input<'a>) -> Result<Vec<ParsedDoc<'a>>, ManifestError> {
    let mut docs = Vec::new();
    for (i, raw) in yaml::split_documents(input.text).into_iter().enumerate() {
        let content_line = raw.first_line + yaml::leading_comments(raw.text).lines().count();
        // Comments only, or only directives (`%YAML 1.1` before `---`): kept as written.
        let is_empty = raw.text.lines().all(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#') || l.starts_with('%')
        });
        let value = if is_empty {
            None
        } else {
            let v = yaml::from_str(raw.text).map_err(|e| ManifestError::Syntax {
                input: input.name.to_string(),
                document: i + 1,
                line: e
                    .line
                    .map_or(content_line, |l| raw.first_line + l as usize - 1),
                column: e.column,
                message: e.message,
            })?;
            (!v.is_null()).then_some(v)
        };
        docs.push(ParsedDoc {
            index: i + 1,
            line: content_line,
            raw: raw.text,
            value,
            from_json: false,
        });
    }
    Ok(docs)
}

fn json_documents<'a>(input: &Input<'a>) -> Result<Vec<ParsedDoc<'a>>, ManifestError> {
    let mut docs = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(input.text).into_iter::<Value>();
    let mut index = 0;
    loop {
        let offset = stream.byte_offset();
        let line = 1
            + input.text[..offset].matches('\n').count()
            + input.text[offset..]
                .chars()
                .take_while(|c| c.is_whitespace())
                .filter(|&c| c == '\n')
                .count();
        match stream.next() {
            None => break,
            Some(Ok(value)) => {
                index += 1;
                docs.push(ParsedDoc {
                    index,
                    line,
                    raw: "",
                    value: Some(value),
                    from_json: true,
                });
            }
            Some(Err(e)) => {
                return Err(ManifestError::Syntax {
                    input: input.name.to_string(),
                    document: index + 1,
                    line: e.line(),
                    column: Some(e.column() as u64),
                    message: e
                        .to_string()
                        .split(" at line ")
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                });
            }
        }
    }
    Ok(docs)
}

/// Describe a document count for humans: "3 documents, 2 workloads, 2 changed".
pub fn summary(p: &Patched) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "{} document{}, {} workload{}, {} changed",
        p.documents,
        if p.documents == 1 { "" } else { "s" },
        p.workloads,
        if p.workloads == 1 { "" } else { "s" },
        p.changed
    );
    s
}
