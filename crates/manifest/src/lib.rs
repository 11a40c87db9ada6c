//! Manifest streams: the I/O-free shell that every offline front end (CLI, Helm post-renderer,
//! kustomize function, kubectl plugin) puts around [`rofs_core`].
//!
//! Input: one or more texts, each multi-document YAML or JSON. Output: the same stream with
//! every pod template rewritten. Documents that rofs does not change are copied byte for
//! byte; changed ones keep their leading comments (Helm's `# Source:` lines).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use rofs_core::{Location, RewriteError, RewriteReport, Settings, rewrite_document, workload};
use serde_json::Value;

pub mod checksum;
mod emit;
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
pub fn rewrite_any(doc: &mut Value, settings: &Settings) -> Result<RewriteReport, RewriteError> {
    if workload::is_list(doc) {
        let mut total = RewriteReport::default();
        if let Some(items) = doc.get_mut("items").and_then(Value::as_array_mut) {
            for (i, item) in items.iter_mut().enumerate() {
                let o = rewrite_any(item, settings)
                    .map_err(|e| e.within(&Location::root().key("items").index(i)))?;
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
///
/// Documents are independent, so they are parsed, rewritten and written on all cores; the
/// output keeps the input order, and the first error in that order is the one reported.
pub fn patch(
    inputs: &[Input<'_>],
    settings: &Settings,
    format: Format,
) -> Result<Patched, ManifestError> {
    let mut docs: Vec<Doc<'_>> = Vec::new();
    let mut all_json = !inputs.is_empty();
    for input in inputs {
        // A JSON stream, or YAML that happens to start with `{` (JSON is YAML): when the
        // JSON reading fails, the YAML one decides, and the JSON error is shown if both fail.
        if looks_like_json(input.text) {
            match json_documents(input) {
                Ok(d) => {
                    docs.extend(d);
                    continue;
                }
                Err(json_error) => {
                    all_json = false;
                    let mut d = yaml_documents(input);
                    if d.iter_mut().all(|d| d.parse().is_ok()) {
                        docs.extend(d);
                        continue;
                    }
                    return Err(json_error);
                }
            }
        }
        all_json = false;
        docs.extend(yaml_documents(input));
    }
    let format = match format {
        Format::Auto if all_json => Format::Json,
        Format::Auto => Format::Yaml,
        f => f,
    };

    let results: Vec<Result<DocOut, ManifestError>> = if settings.rollout_on_change {
        // The checksums need every ConfigMap and Secret before any workload is written.
        let parsed = parallel_map(docs, |mut d| {
            let v = d.parse();
            (d, v)
        });
        let mut configs = checksum::Index::new();
        for v in parsed
            .iter()
            .filter_map(|(_, v)| v.as_ref().ok().and_then(Option::as_ref))
        {
            checksum::index(v, &mut configs);
        }
        parallel_map(parsed, |(d, v)| {
            v.and_then(|v| process(&d, v, settings, Some(&configs), format))
        })
    } else {
        parallel_map(docs, |mut d| {
            d.parse()
                .and_then(|v| process(&d, v, settings, None, format))
        })
    };

    let mut out = Patched {
        format: Some(format),
        ..Patched::default()
    };
    let mut first = true;
    for r in results {
        let d = r?;
        out.documents += 1;
        out.workloads += usize::from(d.workload);
        out.changed += usize::from(d.changed);
        out.containers.extend(d.containers);
        out.volumes.extend(d.volumes);
        out.warnings.extend(d.warnings);
        if let Some(text) = d.text {
            if !first && format != Format::Json {
                out.output.push_str("---\n");
            }
            first = false;
            out.output.push_str(&text);
        }
    }
    Ok(out)
}

/// Run `f` on every item, on up to as many threads as there are cores, keeping the order.
fn parallel_map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    const MIN_PER_THREAD: usize = 64;
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(8)
        .min(items.len() / MIN_PER_THREAD)
        .max(1);
    if threads == 1 {
        return items.into_iter().map(f).collect();
    }
    let per = items.len().div_ceil(threads);
    let mut chunks: Vec<Vec<T>> = Vec::with_capacity(threads);
    let mut items = items.into_iter();
    loop {
        let chunk: Vec<T> = items.by_ref().take(per).collect();
        if chunk.is_empty() {
            break;
        }
        chunks.push(chunk);
    }
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| scope.spawn(move || chunk.into_iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// One document of the input, not parsed yet (YAML) or already parsed (JSON).
struct Doc<'a> {
    input: &'a str,
    index: usize,
    /// First line of the document's content (after leading comments).
    line: usize,
    first_line: usize,
    raw: &'a str,
    from_json: bool,
    json: Option<Value>,
}

impl Doc<'_> {
    /// The document's value; `None` for an empty or comment-only document.
    fn parse(&mut self) -> Result<Option<Value>, ManifestError> {
        if self.from_json {
            return Ok(self.json.take());
        }
        // Comments only, or only directives (`%YAML 1.1` before `---`): kept as written.
        let is_empty = self.raw.lines().all(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#') || l.starts_with('%')
        });
        if is_empty {
            return Ok(None);
        }
        let v = yaml::from_str(self.raw).map_err(|e| ManifestError::Syntax {
            input: self.input.to_string(),
            document: self.index,
            line: e
                .line
                .map_or(self.line, |l| self.first_line + l as usize - 1),
            column: e.column,
            message: e.message,
        })?;
        Ok((!v.is_null()).then_some(v))
    }
}

/// What one document contributes to the output.
struct DocOut {
    /// The document's text, without a separator; `None`: nothing to write.
    text: Option<String>,
    workload: bool,
    changed: bool,
    warnings: Vec<String>,
    containers: BTreeSet<String>,
    volumes: BTreeSet<String>,
}

fn process(
    doc: &Doc<'_>,
    value: Option<Value>,
    settings: &Settings,
    configs: Option<&checksum::Index>,
    format: Format,
) -> Result<DocOut, ManifestError> {
    let from_json = doc.from_json;
    let Some(mut value) = value else {
        // Empty or comment-only document: keep it as written.
        let keep = format == Format::Yaml && !doc.raw.trim().is_empty();
        return Ok(DocOut {
            text: keep.then(|| with_newline(doc.raw)),
            workload: false,
            changed: false,
            warnings: Vec::new(),
            containers: BTreeSet::new(),
            volumes: BTreeSet::new(),
        });
    };
    let what = describe(&value);
    if !value.is_object() {
        return Err(ManifestError::Document {
            input: doc.input.to_string(),
            document: doc.index,
            line: doc.line,
            what,
            message: format!(
                "expected a Kubernetes object (a map), found {}",
                kind_of(&value)
            ),
        });
    }
    let mut outcome = rewrite_any(&mut value, settings).map_err(|e| ManifestError::Rewrite {
        input: doc.input.to_string(),
        document: doc.index,
        line: doc.line,
        what: what.clone(),
        error: Box::new(e),
    })?;
    if let Some(configs) = configs
        && checksum::apply(&mut value, configs)
    {
        outcome.changed = true;
    }
    let text = match format {
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&value)
                .map_err(|e| ManifestError::Output(e.to_string()))?;
            text.push('\n');
            text
        }
        _ if !outcome.changed && !from_json => with_newline(doc.raw),
        _ => {
            let mut text = if from_json {
                String::new()
            } else {
                yaml::leading_comments(doc.raw).to_string()
            };
            text.push_str(&yaml::to_string(&value).map_err(ManifestError::Output)?);
            text
        }
    };
    Ok(DocOut {
        text: Some(text),
        workload: outcome.workload,
        changed: outcome.changed,
        warnings: outcome
            .warnings
            .into_iter()
            .map(|w| format!("{}: document {} ({what}): {w}", doc.input, doc.index))
            .collect(),
        containers: outcome.containers,
        volumes: outcome.volumes,
    })
}

fn with_newline(text: &str) -> String {
    let mut s = text.to_string();
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

fn yaml_documents<'a>(input: &Input<'a>) -> Vec<Doc<'a>> {
    yaml::split_documents(input.text)
        .into_iter()
        .enumerate()
        .map(|(i, raw)| Doc {
            input: input.name,
            index: i + 1,
            line: raw.first_line + yaml::leading_comments(raw.text).lines().count(),
            first_line: raw.first_line,
            raw: raw.text,
            from_json: false,
            json: None,
        })
        .collect()
}

fn json_documents<'a>(input: &Input<'a>) -> Result<Vec<Doc<'a>>, ManifestError> {
    let mut docs = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(input.text).into_iter::<Value>();
    let mut index = 0;
    // Lines before `offset`, counted incrementally (a JSON stream may hold many documents).
    let (mut counted_to, mut lines_before) = (0usize, 0usize);
    loop {
        let offset = stream.byte_offset();
        lines_before += input.text[counted_to..offset].matches('\n').count();
        counted_to = offset;
        let line = 1
            + lines_before
            + input.text[offset..]
                .chars()
                .take_while(|c| c.is_whitespace())
                .filter(|&c| c == '\n')
                .count();
        match stream.next() {
            None => break,
            Some(Ok(value)) => {
                index += 1;
                docs.push(Doc {
                    input: input.name,
                    index,
                    line,
                    first_line: line,
                    raw: "",
                    from_json: true,
                    json: Some(value),
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
