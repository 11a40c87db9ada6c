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

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        legacy_octal_numbers: true,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
        with_snippet: false,
    }
}

/// Parse one YAML document into a JSON value (map key order kept).
pub fn from_str(text: &str) -> Result<Value, YamlError> {
    serde_saphyr::from_str_with_options::<Value>(text, options()).map_err(|e| {
        let location = e.location();
        let message = e.without_snippet().to_string();
        // The crate prefixes "error: line L column C: "; we print our own position.
        let message = message
            .split_once(": ")
            .filter(|(head, _)| head.starts_with("error"))
            .map_or(message.as_str(), |(_, rest)| rest);
        let message = match message.split_once(": ") {
            Some((head, rest)) if head.starts_with("line ") => rest,
            _ => message,
        };
        // ...and sometimes appends " at line L, column C" (relative to the document).
        let message = match message.rfind(" at line ") {
            Some(i) if message[i..].contains("column") => &message[..i],
            _ => message,
        };
        YamlError {
            line: location.as_ref().map(|l| l.line()).filter(|&l| l > 0),
            column: location.as_ref().map(|l| l.column()).filter(|&c| c > 0),
            message: message.trim().to_string(),
        }
    })
}

/// Write a value as a YAML document (no leading `---`), ending with a newline.
pub fn to_string(value: &Value) -> Result<String, String> {
    Ok(crate::emit::to_string(value))
}

/// One document of a multi-document YAML text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawDocument<'a> {
    /// The document's text, without its `---` line.
    pub text: &'a str,
    /// 1-based line of the first line of `text` in the whole input.
    pub first_line: usize,
}

/// Split a YAML stream at its document markers (`---` and `...` at the start of a line).
///
/// YAML forbids these markers inside a document's content at column 0, so a line-based
/// split is exact; `--- content` on the marker line stays with its document.
pub fn split_documents(input: &str) -> Vec<RawDocument<'_>> {
    let mut docs = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1usize;
    let mut offset = 0usize;
    let mut explicit_start = false;
    for (line_no, line) in (1usize..).zip(input.split_inclusive('\n')) {
        let bare = line.trim_end_matches(['\n', '\r']);
        let is_marker = |m: &str| {
            bare.strip_prefix(m)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
        };
        if is_marker("---") {
            if offset > start || explicit_start {
                docs.push(RawDocument {
                    text: &input[start..offset],
                    first_line: start_line,
                });
            }
            // Content after `--- ` on the marker line belongs to the new document.
            let rest = &bare[3..];
            if rest.trim().is_empty() || rest.trim_start().starts_with('#') {
                start = offset + line.len();
                start_line = line_no + 1;
            } else {
                start = offset + 3;
                start_line = line_no;
            }
            explicit_start = true;
        } else if is_marker("...") {
            docs.push(RawDocument {
                text: &input[start..offset],
                first_line: start_line,
            });
            start = offset + line.len();
            start_line = line_no + 1;
            explicit_start = false;
        }
        offset += line.len();
    }
    if start < input.len() || explicit_start {
        docs.push(RawDocument {
            text: &input[start..],
            first_line: start_line,
        });
    }
    docs
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
