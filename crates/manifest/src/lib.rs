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
pub mod config;
mod emit;
mod fast;
pub mod json;
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
    patch_with_jobs(inputs, settings, format, 0)
}

/// [`patch`] on `jobs` threads (0: one per core, at most 8; 1: sequential). The result is
/// the same whatever `jobs` is.
pub fn patch_with_jobs(
    inputs: &[Input<'_>],
    settings: &Settings,
    format: Format,
    jobs: usize,
) -> Result<Patched, ManifestError> {
    let (docs, all_json) = split_inputs(inputs)?;
    let format = match format {
        Format::Auto if all_json => Format::Json,
        Format::Auto => Format::Yaml,
        f => f,
    };

    let results: Vec<Result<DocOut, ManifestError>> = if settings.rollout_on_change {
        // The checksums need every ConfigMap and Secret before any workload is written.
        let parsed = parallel_map(docs, jobs, |mut d| {
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
        parallel_map(parsed, jobs, |(d, v)| {
            v.and_then(|v| process(&d, v, settings, Some(&configs), format))
        })
    } else {
        parallel_map(docs, jobs, |mut d| {
            d.parse()
                .and_then(|v| process(&d, v, settings, None, format))
        })
    };

    let mut out = Patched {
        format: Some(format),
        ..Patched::default()
    };
    // Whether a document was written and not closed with `...` (a directive may follow
    // only a closed one).
    let mut open = false;
    let mut written = false;
    out.output.reserve(
        results
            .iter()
            .filter_map(|r| r.as_ref().ok()?.text.as_ref().map(String::len))
            .sum::<usize>()
            + 1,
    );
    for r in results {
        let d = r?;
        out.documents += 1;
        out.workloads += usize::from(d.workload);
        out.changed += usize::from(d.changed);
        out.containers.extend(d.containers);
        out.volumes.extend(d.volumes);
        out.warnings.extend(d.warnings);
        let Some(text) = d.text else {
            continue;
        };
        if format != Format::Json && d.first_of_input && written {
            // The next input's first document: end the previous input's last line, then
            // separate the documents as YAML requires.
            if !out.output.ends_with('\n') {
                out.output.push('\n');
            }
            if d.directives {
                if open {
                    out.output.push_str("...\n");
                }
            } else if !d.explicit_start {
                out.output.push_str("---\n");
            }
        }
        if !text.is_empty() {
            written = true;
            open = !d.explicit_end;
        }
        out.output.push_str(&text);
    }
    if format != Format::Json && !out.output.is_empty() && !out.output.ends_with('\n') {
        out.output.push('\n');
    }
    Ok(out)
}

/// Split every input into its documents (not parsed yet for YAML); also whether every input
/// is a JSON stream.
fn split_inputs<'a>(inputs: &[Input<'a>]) -> Result<(Vec<Doc<'a>>, bool), ManifestError> {
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
                    let d = yaml_documents(input);
                    let all_parse = with_stack(|| {
                        d.iter().all(|d| {
                            let mut d = d.clone();
                            d.parse().is_ok()
                        })
                    });
                    if all_parse {
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
    Ok((docs, all_json))
}

/// One document of a stream as read, for tools that look at documents without rewriting
/// them (`rofs audit`): the same reading as [`patch`], so both see the same documents.
#[derive(Debug, Clone)]
pub struct ReadDocument<'a> {
    /// The input's name.
    pub input: &'a str,
    /// 1-based place in its input, as error messages count documents.
    pub index: usize,
    /// 1-based line of the document's content (after its marker and leading comments).
    pub line: usize,
    /// 1-based line where `text` starts.
    pub text_line: usize,
    /// The document as written: for YAML its directives, `---` marker, comments, content
    /// and `...` line; for a JSON stream the document's JSON text.
    pub text: &'a str,
    /// The comment lines just above the content (Helm's `# Source:` line); empty for JSON.
    pub comments: &'a str,
    /// The document came from a JSON stream.
    pub json: bool,
    /// The parsed document; `None` for an empty or comment-only one.
    pub value: Option<Value>,
}

/// Read every document of `inputs` (in order, parsed on all cores) as [`patch`] reads them.
/// A document that is not a map, or larger than the API server takes, is an error, as there.
pub fn read_documents<'a>(inputs: &[Input<'a>]) -> Result<Vec<ReadDocument<'a>>, ManifestError> {
    let (docs, _) = split_inputs(inputs)?;
    let read = parallel_map(
        docs,
        0,
        |mut d| -> Result<ReadDocument<'a>, ManifestError> {
            let value = d.parse()?;
            let (text, text_line, comments, text_len, aliases) = match &d.yaml {
                Some(raw) => (
                    raw.chunk,
                    raw.chunk_line,
                    yaml::leading_comments(raw.text),
                    raw.chunk.len(),
                    raw.chunk.contains('*'),
                ),
                None => (d.json_raw, d.line, "", d.json_raw.len(), false),
            };
            if let Some(v) = &value {
                let what = describe(v);
                if !v.is_object() {
                    return Err(d.error(
                        &what,
                        format!("expected a Kubernetes object (a map), found {}", kind_of(v)),
                    ));
                }
                check_object_size(v, text_len, aliases).map_err(|m| d.error(&what, m))?;
            }
            Ok(ReadDocument {
                input: d.input,
                index: d.index,
                line: d.line,
                text_line,
                text,
                comments,
                json: d.yaml.is_none(),
                value,
            })
        },
    );
    read.into_iter().collect()
}

/// Run `f` on a thread with a stack for documents nested [`yaml::MAX_DEPTH`] levels deep
/// (the parser and the writer recurse once per level).
pub fn with_stack<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    // The closure runs on the new thread, or here when no thread can be made (no memory
    // for the stack): a document nested that deep may then overflow, anything else works.
    let f = std::sync::Mutex::new(Some(f));
    let take_f = || take(&f);
    let spawned = std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("rofs-manifest".into())
            .stack_size(yaml::STACK_BYTES)
            .spawn_scoped(scope, || take_f().map(|f| f()));
        match handle.map(|h| h.join()) {
            Ok(Ok(v)) => v,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => None,
        }
    });
    match spawned {
        Some(v) => v,
        None => match take_f() {
            Some(f) => f(),
            None => unreachable!("the closure ran on the thread"),
        },
    }
}

/// The value in `m`, taken out (a poisoned lock still holds it).
fn take<T>(m: &std::sync::Mutex<Option<T>>) -> Option<T> {
    m.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
}

/// How many threads [`parallel_map`] uses for `jobs` (0: one per core, at most 8) and
/// `items` items (one per [`MIN_PER_THREAD`] items at least: a thread costs more than a few
/// small documents).
fn threads_for(jobs: usize, items: usize) -> usize {
    const MIN_PER_THREAD: usize = 64;
    let jobs = match jobs {
        0 => std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(8),
        n => n,
    };
    jobs.min(items / MIN_PER_THREAD).max(1)
}

/// Run `f` on every item on `jobs` threads (0: one per core), keeping the order. The
/// threads take batches of [`BATCH`] items in turn, so a thread that gets less CPU (a loaded
/// machine) takes fewer. Every thread has the stack of [`with_stack`].
fn parallel_map<T: Send, R: Send>(items: Vec<T>, jobs: usize, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    const BATCH: usize = 16;
    let threads = threads_for(jobs, items.len());
    let len = items.len();
    let mut batches: Vec<std::sync::Mutex<Option<Vec<T>>>> =
        Vec::with_capacity(len.div_ceil(BATCH));
    let mut items = items.into_iter();
    loop {
        let batch: Vec<T> = items.by_ref().take(BATCH).collect();
        if batch.is_empty() {
            break;
        }
        batches.push(std::sync::Mutex::new(Some(batch)));
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut done: Vec<(usize, Vec<R>)> = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(batch) = batches.get(i) else {
                break;
            };
            if let Some(batch) = take(batch) {
                done.push((i, batch.into_iter().map(&f).collect()));
            }
        }
        done
    };
    let mut done: Vec<(usize, Vec<R>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .filter_map(|_| {
                std::thread::Builder::new()
                    .name("rofs-manifest".into())
                    .stack_size(yaml::STACK_BYTES)
                    .spawn_scoped(scope, work)
                    .ok()
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    // Batches no thread took (no thread could be made: no memory for its stack) run here.
    for (i, batch) in batches.iter().enumerate() {
        if let Some(batch) = take(batch) {
            done.push((i, batch.into_iter().map(&f).collect()));
        }
    }
    done.sort_unstable_by_key(|(i, _)| *i);
    let mut out = Vec::with_capacity(len);
    for (_, r) in done {
        out.extend(r);
    }
    out
}

/// One document of the input, not parsed yet (YAML) or already parsed (JSON).
#[derive(Clone)]
struct Doc<'a> {
    input: &'a str,
    index: usize,
    /// First line of the document's content (after leading comments).
    line: usize,
    /// The YAML document, as split from the stream.
    yaml: Option<yaml::RawDocument<'a>>,
    /// The JSON document's text, as written.
    json_raw: &'a str,
    json: Option<Value>,
}

impl Doc<'_> {
    /// The document's value; `None` for an empty or comment-only document.
    fn parse(&mut self) -> Result<Option<Value>, ManifestError> {
        let Some(raw) = &self.yaml else {
            return Ok(self.json.take());
        };
        // The whole chunk: the parser reads directives and markers as in the stream.
        let v = yaml::from_raw(raw).map_err(|e| ManifestError::Syntax {
            input: self.input.to_string(),
            document: self.index,
            line: e
                .line
                .map_or(self.line, |l| raw.chunk_line + l as usize - 1),
            column: e.column,
            message: e.message,
        })?;
        Ok((!v.is_null()).then_some(v))
    }

    fn error(&self, what: &str, message: String) -> ManifestError {
        ManifestError::Document {
            input: self.input.to_string(),
            document: self.index,
            line: self.line,
            what: what.to_string(),
            message,
        }
    }
}

/// The most a Kubernetes object may take: the API server refuses request bodies above
/// 3 MiB (`MaxRequestBodyBytes`, 3 * 1024 * 1024, sized as twice etcd's 1.5 MiB default
/// request limit). Measured on the object's compact JSON, what kubectl sends; each item of
/// a `kind: List` is its own request.
pub const MAX_OBJECT_BYTES: usize = 3 << 20;

/// Refuse an object (or an item of a List) larger than [`MAX_OBJECT_BYTES`] as JSON.
/// `text_len`: the length of the text it was read from (the check is skipped when that
/// text cannot hold such an object: small and without aliases).
pub fn check_object_size(doc: &Value, text_len: usize, aliases: bool) -> Result<(), String> {
    if text_len <= MAX_OBJECT_BYTES / 8 && !aliases {
        return Ok(());
    }
    if workload::is_list(doc) {
        for (i, item) in doc
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            check_object_size(item, usize::MAX, aliases)
                .map_err(|e| format!("items[{i}] ({}): {e}", describe(item)))?;
        }
        return Ok(());
    }
    let len = json_len(doc);
    if len > MAX_OBJECT_BYTES {
        return Err(format!(
            "the object is {len} bytes as JSON, more than the {MAX_OBJECT_BYTES} bytes (3 MiB) \
             the Kubernetes API server accepts in one request"
        ));
    }
    Ok(())
}

/// Length of the compact JSON encoding of `v`.
fn json_len(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

/// What one document contributes to the output.
struct DocOut {
    /// The document's text, markers included; `None`: nothing to write.
    text: Option<String>,
    /// The document is the first of its input.
    first_of_input: bool,
    /// `text` starts with `---` (or directives and `---`).
    explicit_start: bool,
    /// `text` starts with directives (`%YAML`, `%TAG`).
    directives: bool,
    /// `text` ends with `...`.
    explicit_end: bool,
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
    let mut out = DocOut {
        text: None,
        first_of_input: doc.index == 1,
        explicit_start: doc.yaml.as_ref().is_some_and(|r| r.explicit),
        directives: doc
            .yaml
            .as_ref()
            .is_some_and(yaml::RawDocument::has_directives),
        explicit_end: doc
            .yaml
            .as_ref()
            .is_some_and(yaml::RawDocument::explicit_end),
        workload: false,
        changed: false,
        warnings: Vec::new(),
        containers: BTreeSet::new(),
        volumes: BTreeSet::new(),
    };
    let Some(mut value) = value else {
        // Empty or comment-only document: keep it as written.
        if format == Format::Yaml
            && let Some(raw) = &doc.yaml
            && !raw.chunk.is_empty()
        {
            out.text = Some(raw.chunk.to_string());
        }
        return Ok(out);
    };
    let what = describe(&value);
    if !value.is_object() {
        return Err(doc.error(
            &what,
            format!(
                "expected a Kubernetes object (a map), found {}",
                kind_of(&value)
            ),
        ));
    }
    let (text_len, aliases) = match &doc.yaml {
        Some(raw) => (raw.chunk.len(), raw.chunk.contains('*')),
        None => (doc.json_raw.len(), false),
    };
    check_object_size(&value, text_len, aliases).map_err(|m| doc.error(&what, m))?;
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
    // Numbers as the input spelled them (only computed for documents written anew).
    let spellings = || match &doc.yaml {
        Some(raw) => json::Spellings::of_yaml(raw.chunk),
        None => json::Spellings::of_json(doc.json_raw),
    };
    let text = match (&doc.yaml, format) {
        // JSON in, JSON out, unchanged: byte for byte.
        (None, Format::Json) if !outcome.changed => with_newline(doc.json_raw),
        (_, Format::Json) => {
            let mut text = json::to_string_pretty(&value, &spellings())
                .map_err(|e| ManifestError::Output(e.to_string()))?;
            text.push('\n');
            text
        }
        (Some(raw), _) if !outcome.changed => raw.chunk.to_string(),
        (Some(raw), _) => {
            // Directives, comments and `---` as written (the marker alone on its line when
            // content followed it), then the leading comments, the new content, and `...`.
            let mut text = String::with_capacity(raw.chunk.len() + 1024);
            if raw.content_on_marker_line() {
                text.push_str(&raw.head[..raw.head.len() - 3]);
                text.push_str("---\n");
            } else {
                text.push_str(raw.head);
            }
            text.push_str(yaml::leading_comments(raw.text));
            text.push_str(&yaml::to_string_spelled(&value, spellings()));
            text.push_str(raw.tail);
            text
        }
        (None, _) => {
            // A JSON document in a YAML stream.
            out.explicit_start = doc.index > 1;
            let mut text = String::new();
            if doc.index > 1 {
                text.push_str("---\n");
            }
            text.push_str(&yaml::to_string_spelled(&value, spellings()));
            text
        }
    };
    out.text = Some(text);
    out.workload = outcome.workload;
    out.changed = outcome.changed;
    out.warnings = outcome
        .warnings
        .into_iter()
        .map(|w| format!("{}: document {} ({what}): {w}", doc.input, doc.index))
        .collect();
    out.containers = outcome.containers;
    out.volumes = outcome.volumes;
    Ok(out)
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
            yaml: Some(raw),
            json_raw: "",
            json: None,
        })
        .collect()
}

fn json_documents<'a>(input: &Input<'a>) -> Result<Vec<Doc<'a>>, ManifestError> {
    let mut docs = Vec::new();
    let mut de = serde_json::Deserializer::from_str(input.text);
    // Depth is limited by `json::Document` (to yaml::MAX_DEPTH, as for YAML), on a
    // thread with the stack for it.
    de.disable_recursion_limit();
    let mut stream = de.into_iter::<json::Document>();
    let mut index = 0;
    // Lines before `offset`, counted incrementally (a JSON stream may hold many documents).
    let (mut counted_to, mut lines_before) = (0usize, 0usize);
    let parsed = with_stack(|| {
        let mut out = Vec::new();
        loop {
            let offset = stream.byte_offset();
            match stream.next() {
                None => break,
                Some(r) => {
                    let failed = r.is_err();
                    out.push((offset, stream.byte_offset(), r));
                    if failed {
                        break;
                    }
                }
            }
        }
        out
    });
    for (offset, end, r) in parsed {
        lines_before += input.text[counted_to..offset].matches('\n').count();
        counted_to = offset;
        let raw = input.text[offset..end].trim_start();
        let line = 1
            + lines_before
            + input.text[offset..end]
                .chars()
                .take_while(|c| c.is_whitespace())
                .filter(|&c| c == '\n')
                .count();
        match r {
            Ok(json::Document(value)) => {
                index += 1;
                docs.push(Doc {
                    input: input.name,
                    index,
                    line,
                    yaml: None,
                    json_raw: raw,
                    json: Some(value),
                });
            }
            Err(e) => {
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
