//! The one place rofs reads and writes YAML.
//!
//! Scalars are resolved the way Kubernetes reads manifests (sigs.k8s.io/yaml, YAML 1.1
//! flavoured): `0644` is octal 420, `on`/`yes` are booleans. Strings that a YAML 1.1 reader
//! would take for something else (`"on"`, `"0777"`, `"1:20"`) are quoted on output, so a
//! rewritten document means the same to kubectl as the input did. Documents rofs does not
//! change are copied byte for byte (comments and all) by the caller.

use serde_json::Value;

/// A YAML syntax or structure error, with its position in the document text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// 1-based line and column within the parsed text, when known.
    pub line: Option<u64>,
    pub column: Option<u64>,
    pub message: String,
}

/// Deepest nesting of maps and lists rofs reads in one document (YAML or JSON).
///
/// The API server's decoders stop at 10,000 levels (`encoding/json`'s `maxNestingDepth`,
/// go-yaml's `max_flow_level`/`max_indents`); rofs's parser and writer recurse once per
/// level (about 5 KiB of stack per level in a release build, 13 KiB in a debug one), so rofs
/// stops at 1,000: 26 times the deepest real manifest seen (cert-manager's CRDs, 38 levels,
/// in the real-world corpus).
pub const MAX_DEPTH: usize = 1_000;

/// Stack for a thread that parses and writes documents of up to [`MAX_DEPTH`] levels.
pub const STACK_BYTES: usize = 64 << 20;

/// Nodes (maps, lists and scalars, counting every alias expansion) one document of
/// `len` bytes may hold. Without aliases a node takes at least one byte of text, so only
/// alias expansion can pass this: a billion-laughs document is refused after at most
/// `max(len, 250,000)` nodes, while any document without aliases is read whatever its size.
pub fn max_nodes(len: usize) -> usize {
    len.max(250_000)
}

fn options(len: usize) -> serde_saphyr::Options {
    let nodes = max_nodes(len);
    let budget = serde_saphyr::budget! {
        max_depth: MAX_DEPTH,
        flow_nesting_limit: MAX_DEPTH,
        max_nodes: nodes,
        // Every node is at most two events (start and end), plus the stream/document ones.
        max_events: 2 * nodes + 16,
        max_total_scalar_bytes: (64usize << 20).max(2 * len),
        max_reader_input_bytes: None,
    };
    serde_saphyr::options! {
        budget: budget,
        legacy_octal_numbers: true,
        // Non-finite floats reach our visitor: as a map key they are the strings Kubernetes
        // makes of them (`.inf:`), as a value an error (see yaml/keys.rs).
        non_finite_float_policy: serde_saphyr::options::NonFiniteFloatPolicy::PassThrough,
        // Continuation lines of flow collections and quoted scalars indented as YAML requires
        // (the YAML test suite's invalid cases 9C9N, DK95-01, QB6E).
        strict_indentation: true,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
        with_snippet: false,
    }
}

/// Parse one YAML document into a JSON value (map key order kept).
///
/// Call it on a thread with [`STACK_BYTES`] of stack: a document may nest [`MAX_DEPTH`] levels.
pub fn from_str(text: &str) -> Result<Value, YamlError> {
    serde_saphyr::from_str_with_options::<keys::KubeValue>(text, options(text.len()))
        .map(|v| v.0)
        .map_err(|e| error(&e, text.len()))
}

mod keys;

/// Parse one document of a stream, as split by [`split_documents`]: [`from_str`] of its
/// `chunk`, read by a faster reader when the document is plain block-style YAML (that
/// reader accepts only documents serde-saphyr reads with the same value; everything else,
/// errors included, is serde-saphyr's).
pub fn from_raw(raw: &RawDocument<'_>) -> Result<Value, YamlError> {
    match crate::fast::parse(raw) {
        Some(v) => Ok(v),
        None => from_str(raw.chunk),
    }
}

/// The fast reader of [`from_raw`] alone (`None`: not in its subset), for tests that compare
/// it with [`from_str`].
#[doc(hidden)]
pub fn fast_path(raw: &RawDocument<'_>) -> Option<Value> {
    crate::fast::parse(raw)
}

/// Our message for a parser error: complete sentences, no advice meant for the library's
/// users, the position given separately.
fn error(e: &serde_saphyr::Error, len: usize) -> YamlError {
    use serde_saphyr::Error as E;
    use serde_saphyr::budget::BudgetBreach as B;
    let location = e.location();
    let mut inner = e.without_snippet();
    while let E::AliasError { error, .. } | E::WithSnippet { error, .. } = inner {
        inner = error;
    }
    let message = match inner {
        E::DuplicateMappingKey { key, .. } => match key {
            Some(k) => format!("duplicate key {k:?} in a map (each key may appear once)"),
            None => "duplicate key in a map (each key may appear once)".to_string(),
        },
        E::Budget { breach, .. } => match breach {
            B::Depth { .. } => format!(
                "maps and lists nested deeper than {MAX_DEPTH} levels (the most rofs reads)"
            ),
            B::Nodes { .. } | B::Events { .. } | B::ScalarBytes { .. } => format!(
                "aliases expand this document to more than {} nodes (maps, lists and values); \
                 refused as an alias bomb",
                max_nodes(len)
            ),
            B::Aliases { .. } | B::Anchors { .. } | B::AliasAnchorRatio { .. } => {
                "too many aliases (`*name`) for the anchors they refer to; refused as an alias \
                 bomb"
                    .to_string()
            }
            B::RecordedAnchorEvents { .. } | B::RecordedAnchorBytes { .. } => {
                "anchored content (`&name`) too large to expand; refused as an alias bomb"
                    .to_string()
            }
            B::MergeKeys { .. } => "too many merge keys (`<<`)".to_string(),
            other => format!("document too large ({other:?})"),
        },
        E::NullIntoString { .. } => {
            "a map key is null (keys of Kubernetes objects are strings)".to_string()
        }
        E::AliasReplayLimitExceeded { .. }
        | E::AliasExpansionLimitExceeded { .. }
        | E::AliasReplayStackDepthExceeded { .. }
        | E::AliasReplayCounterOverflow { .. } => {
            "aliases (`*name`) expand too far; refused as an alias bomb".to_string()
        }
        other => {
            let m = strip_position(&other.to_string());
            // A list or a map as a map key, in the words of the reader of the key.
            if matches!(
                m.as_str(),
                "expected string scalar" | "key must be a string" | "expected ident"
            ) {
                return YamlError {
                    line: location.as_ref().map(|l| l.line()).filter(|&l| l > 0),
                    column: location.as_ref().map(|l| l.column()).filter(|&c| c > 0),
                    message: "a map key is not a string (keys of Kubernetes objects are strings)"
                        .to_string(),
                };
            }
            // Advice meant for the library's users ("... set X in Options") is not ours.
            match m.find(". If you").or_else(|| m.find(", set ")) {
                Some(i) if m[i..].contains("Options") => m[..i].to_string(),
                _ => m,
            }
        }
    };
    YamlError {
        line: location.as_ref().map(|l| l.line()).filter(|&l| l > 0),
        column: location.as_ref().map(|l| l.column()).filter(|&c| c > 0),
        message,
    }
}

/// The library's message without the position it adds (we print our own): a leading
/// `error: line L column C: ` and a trailing ` at line L, column C`.
fn strip_position(message: &str) -> String {
    let mut m = message.trim();
    if let Some(rest) = m.strip_prefix("error: ") {
        m = rest;
    }
    if let Some(rest) = m.strip_prefix("line ")
        && let Some((pos, after)) = rest.split_once(": ")
        && pos
            .split(|c: char| !c.is_ascii_digit())
            .any(|p| !p.is_empty())
        && pos
            .chars()
            .all(|c| c.is_ascii_digit() || c == ' ' || c == ',' || c.is_ascii_alphabetic())
        && pos.contains("column")
    {
        m = after;
    }
    if let Some(i) = m.rfind(" at line ") {
        let tail = &m[i + " at line ".len()..];
        if tail
            .split(", column ")
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        {
            m = &m[..i];
        }
    }
    m.trim().to_string()
}

/// Write a value as a YAML document (no leading `---`), ending with a newline.
pub fn to_string(value: &Value) -> Result<String, String> {
    Ok(crate::emit::to_string(value))
}

/// [`to_string`], with numbers spelled as in the input `table` was made from.
pub fn to_string_spelled(value: &Value, table: crate::json::Spellings) -> String {
    crate::emit::to_string_spelled(value, table)
}

/// One document of a multi-document YAML text, as a slice of the stream that contains
/// exactly one YAML document: `chunk` is `head`, then `text`, then `tail`, all contiguous.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawDocument<'a> {
    /// Everything that belongs to this document, as written: directives and comments before
    /// its `---`, the `---` line, the content, and its `...` line. Parsing `chunk` reads
    /// directives (`%TAG`) and markers as a YAML parser reads them in the stream.
    pub chunk: &'a str,
    /// The part of `chunk` before `text`: directives, comments, the `---` marker.
    pub head: &'a str,
    /// The document's content (after its `---` marker, before its `...` line).
    pub text: &'a str,
    /// The part of `chunk` after `text`: the `...` line, if any.
    pub tail: &'a str,
    /// 1-based line of the first line of `text` in the whole input.
    pub first_line: usize,
    /// 1-based line of the first line of `chunk` in the whole input.
    pub chunk_line: usize,
    /// The document starts with `---` (false: a bare document, at the start of the
    /// stream or after `...`).
    pub explicit: bool,
}

impl RawDocument<'_> {
    /// Content starts on the `---` line itself (`--- |`, `--- {a: 1}`).
    pub fn content_on_marker_line(&self) -> bool {
        self.explicit && !self.head.ends_with('\n')
    }

    /// The document ends with `...`.
    pub fn explicit_end(&self) -> bool {
        !self.tail.is_empty()
    }

    /// Directives (`%YAML`, `%TAG`) before the document's `---`.
    pub fn has_directives(&self) -> bool {
        self.head.lines().any(|l| l.starts_with('%'))
    }
}

/// Split a YAML stream at its document markers (`---` and `...` at the start of a line).
///
/// YAML forbids these markers inside a document's content at column 0, so a line-based
/// split is exact. Directives and comments before a `---` belong to that document; `--- content`
/// on the marker line stays with its document. The concatenation of every `chunk` is the
/// input: nothing is dropped, so documents rofs does not change are written back as they came.
/// Whatever a chunk holds beyond one document (text after `...`, a directive without `---`)
/// is left for the parser to refuse.
pub fn split_documents<'a>(input: &'a str) -> Vec<RawDocument<'a>> {
    #[derive(PartialEq)]
    enum State {
        /// Before a document: blank lines, comments and directives so far.
        Prefix,
        /// Inside a document's content.
        Content,
    }
    let mut docs = Vec::new();
    let mut state = State::Prefix;
    let mut open = Open {
        chunk_start: 0,
        chunk_line: 1,
        text_start: 0,
        text_line: 1,
        explicit: false,
    };
    let mut offset = 0usize;
    for (line_no, line) in (1usize..).zip(input.split_inclusive('\n')) {
        let bare = line.trim_end_matches(['\n', '\r']);
        let is_marker = |m: &str| {
            bare.strip_prefix(m)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
        };
        let next = offset + line.len();
        if is_marker("---") {
            if state == State::Content {
                // The previous document ends here, without `...`.
                docs.push(open.end(input, offset, offset));
                open.chunk_start = offset;
                open.chunk_line = line_no;
            }
            // Content after `--- ` on the marker line belongs to the document.
            let rest = &bare[3..];
            if rest.trim().is_empty() || rest.trim_start().starts_with('#') {
                open.text_start = next;
                open.text_line = line_no + 1;
            } else {
                open.text_start = offset + 3;
                open.text_line = line_no;
            }
            open.explicit = true;
            state = State::Content;
        } else if is_marker("...") {
            if state == State::Prefix {
                // `...` with no document open ends an empty bare one (or, after
                // directives, is an error the parser reports).
                open.text_start = offset;
                open.text_line = line_no;
                open.explicit = false;
            }
            docs.push(open.end(input, offset, next));
            open.chunk_start = next;
            open.chunk_line = line_no + 1;
            open.explicit = false;
            state = State::Prefix;
        } else if state == State::Prefix {
            let t = bare.trim_start();
            if !(t.is_empty() || t.starts_with('#') || bare.starts_with('%')) {
                // A bare document starts (its leading comments stay in its text).
                open = open.bare();
                state = State::Content;
            }
        }
        offset = next;
    }
    match state {
        State::Content => docs.push(open.end(input, input.len(), input.len())),
        // Comments (or directives) after the last document: a chunk without a document,
        // kept as written (or refused by the parser for a directive without `---`).
        State::Prefix if open.chunk_start < input.len() => {
            docs.push(open.bare().end(input, input.len(), input.len()))
        }
        State::Prefix => {}
    }
    docs
}

/// The document being read: where its chunk starts (offset, 1-based line), where its content
/// starts, and whether it opened with `---`.
#[derive(Clone, Copy)]
struct Open {
    chunk_start: usize,
    chunk_line: usize,
    text_start: usize,
    text_line: usize,
    explicit: bool,
}

impl Open {
    /// The document, its content ending at `text_end` and its chunk at `chunk_end`.
    fn end(self, input: &str, text_end: usize, chunk_end: usize) -> RawDocument<'_> {
        RawDocument {
            chunk: &input[self.chunk_start..chunk_end],
            head: &input[self.chunk_start..self.text_start],
            text: &input[self.text_start..text_end],
            tail: &input[text_end..chunk_end],
            first_line: self.text_line,
            chunk_line: self.chunk_line,
            explicit: self.explicit,
        }
    }

    /// A chunk without a document (comments or directives only): all of it is content.
    fn bare(self) -> Open {
        Open {
            text_start: self.chunk_start,
            text_line: self.chunk_line,
            explicit: false,
            ..self
        }
    }
}

/// The comment and blank lines at the top of a document (Helm's `# Source:` lines).
pub fn leading_comments(text: &str) -> &str {
    let mut end = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            end += line.len();
        } else {
            break;
        }
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn splits_like_a_yaml_parser() {
        let docs = split_documents("a: 1\n---\nb: 2\n--- # c\n# Source: x\nc: 3\n...\n---\n");
        let texts: Vec<_> = docs.iter().map(|d| (d.text, d.first_line)).collect();
        assert_eq!(
            texts,
            [
                ("a: 1\n", 1),
                ("b: 2\n", 3),
                ("# Source: x\nc: 3\n", 5),
                ("", 9)
            ]
        );
        let docs = split_documents("---\nkind: A\n");
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].text, "kind: A\n");
        assert_eq!(docs[0].first_line, 2);
        let docs = split_documents("x: |\n  ---\n  not a marker\n---x: still content\n");
        assert_eq!(docs.len(), 1, "{docs:?}");
    }

    #[test]
    fn reads_scalars_as_kubernetes_does() {
        let v = from_str(
            "mode: 0644\nbig: 18446744073709551615\nneg: -3\non: on\nq: 'on'\nf: 1.5\nn: ~\n",
        )
        .expect("valid");
        assert_eq!(v["mode"], json!(420));
        assert_eq!(v["big"], json!(18446744073709551615u64));
        assert_eq!(v["neg"], json!(-3));
        assert_eq!(v["q"], json!("on"));
        assert_eq!(v["f"], json!(1.5));
        assert_eq!(v["n"], Value::Null);
    }

    /// Expected keys: what sigs.k8s.io/yaml v1.6.0 (`YAMLToJSON`) gave for this text on
    /// 2026-11-30; tests/kube_yaml.rs compares with it live when Go is there.
    #[test]
    fn reads_map_keys_as_kubernetes_does() {
        let v = from_str(
            "on: 1\nn: 2\n012: 3\n0x1F: 4\n1.50: 5\n'off': 6\n8080: 7\n0.5e-5: 8\n1_000: 9\n1:20: 10\n",
        )
        .expect("valid");
        let keys: Vec<&str> = v
            .as_object()
            .expect("map")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "true", "false", "10", "31", "1.5", "off", "8080", "5e-06", "1000", "1:20"
            ]
        );
        // Written apart, read as one key by Kubernetes: the last wins, as there.
        let v = from_str("yes: 1\non: 2\n").expect("valid");
        assert_eq!(v, json!({"true": 2}));
        // Written alike: refused.
        let e = from_str("a: 1\na: 2\n").unwrap_err();
        assert!(e.message.contains("duplicate key"), "{e:?}");
        let e = from_str("~: 1\n").unwrap_err();
        assert!(e.message.contains("null"), "{e:?}");
    }

    #[test]
    fn quotes_yaml_1_1_lookalikes_on_output() {
        let v = json!({"a": "on", "b": "yes", "c": "0777", "d": "1:20", "e": "null", "f": "y", "g": "n", "h": "~", "i": "1e3", "j": "true"});
        let text = to_string(&v).expect("serializes");
        let back = from_str(&text).expect("parses back");
        assert_eq!(back, v, "round trip through:\n{text}");
        for (k, plain) in [
            ("a", "on"),
            ("b", "yes"),
            ("c", "0777"),
            ("f", "y"),
            ("g", "n"),
        ] {
            assert!(
                !text.contains(&format!("{k}: {plain}\n")),
                "{k} must be quoted:\n{text}"
            );
        }
    }

    #[test]
    fn errors_have_positions() {
        let e = from_str("a: 1\nb: [1,\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e:?}");
        assert!(
            e.message.contains("bracket") || e.message.contains("flow"),
            "{e:?}"
        );
        let e = from_str("a: 1\na: 2\n").unwrap_err();
        assert!(e.message.to_lowercase().contains("duplicate"), "{e:?}");
    }
}
