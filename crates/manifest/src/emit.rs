//! A YAML writer for `serde_json::Value`, in the block style people write manifests in.
//!
//! Why not serde-saphyr's serializer: rewritten documents are a quarter of `rofs patch`'s
//! instructions when written through serde (docs/performance.md); a writer that knows its input
//! is a JSON tree needs no serde state machine. The style is the one serde-saphyr wrote before
//! (2-space indent, sequences not indented under their key, `|` blocks for multi-line
//! strings), and every string that a YAML 1.1 or 1.2 reader could take for something else is
//! double-quoted, so `from_str(to_string(v)) == v` (tested, and fuzzed through `rofs patch`).

use std::cell::RefCell;
use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::json::Spellings;

thread_local! {
    /// The input's spellings of numbers, while [`to_string_spelled`] writes.
    static SPELLINGS: RefCell<Spellings> = RefCell::new(Spellings::default());
}

/// [`to_string`], writing numbers as `table` spells them.
pub fn to_string_spelled(value: &Value, table: Spellings) -> String {
    if table.is_empty() {
        return to_string(value);
    }
    SPELLINGS.with(|s| *s.borrow_mut() = table);
    let out = to_string(value);
    SPELLINGS.with(|s| *s.borrow_mut() = Spellings::default());
    out
}

/// Write `value` as a YAML document (no `---`), ending with a newline.
pub fn to_string(value: &Value) -> String {
    let mut out = String::with_capacity(1024);
    match value {
        Value::Object(m) if !m.is_empty() => map(&mut out, m, 0),
        Value::Array(a) if !a.is_empty() => seq(&mut out, a, 0),
        scalar => {
            inline(&mut out, scalar, 0);
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// A block mapping whose first key starts at the current position (already indented).
fn map(out: &mut String, m: &Map<String, Value>, level: usize) {
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            indent(out, level);
        }
        string(out, k, level, true);
        out.push(':');
        value_after_key(out, v, level);
    }
}

fn value_after_key(out: &mut String, v: &Value, level: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            indent(out, level + 2);
            map(out, m, level + 2);
        }
        // Sequences under a key are not indented (the kubectl / Helm style).
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            indent(out, level);
            seq(out, a, level);
        }
        scalar => {
            out.push(' ');
            inline(out, scalar, level + 2);
            out.push('\n');
        }
    }
}

/// A block sequence whose first `- ` starts at the current position.
fn seq(out: &mut String, a: &[Value], level: usize) {
    for (i, v) in a.iter().enumerate() {
        if i > 0 {
            indent(out, level);
        }
        out.push_str("- ");
        match v {
            Value::Object(m) if !m.is_empty() => map(out, m, level + 2),
            Value::Array(inner) if !inner.is_empty() => seq(out, inner, level + 2),
            scalar => {
                inline(out, scalar, level + 2);
                out.push('\n');
            }
        }
    }
}

/// A scalar or an empty collection, on the current line. `level` is the indentation of the
/// lines of a block string.
fn inline(out: &mut String, v: &Value, level: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let canonical = n.to_string();
            SPELLINGS.with(|s| {
                out.push_str(s.borrow().get(&canonical).unwrap_or(&canonical));
            });
        }
        Value::String(s) => string(out, s, level, false),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

fn string(out: &mut String, s: &str, level: usize, key: bool) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else if !key && block_literal_ok(s) {
        // `|` keeps the final newline, `|-` strips it.
        out.push_str(if s.ends_with('\n') { "|" } else { "|-" });
        for line in s.strip_suffix('\n').unwrap_or(s).split('\n') {
            out.push('\n');
            if !line.is_empty() {
                indent(out, level);
                out.push_str(line);
            }
        }
    } else {
        double_quoted(out, s);
    }
}

/// Multi-line text that a `|` block keeps exactly: no control characters but newlines, no
/// leading space on the first line (that would need an indentation indicator), at most one
/// final newline, no trailing space before a newline (invisible, but kept: fine, yet editors
/// drop it, so quote it).
fn block_literal_ok(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with([' ', '\n'])
        && !s.ends_with("\n\n")
        && !s.contains(" \n")
        && !s.ends_with(' ')
        && s.chars().all(|c| c == '\n' || !c.is_control())
        && !s.contains('\u{feff}')
}

fn double_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || c == '\u{feff}' || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Words that YAML 1.1 (what kubectl reads) or 1.2 resolve to something else than a string
/// (compared ignoring ASCII case), and a few that some readers special-case.
const SPECIAL_WORDS: [&str; 20] = [
    "y", "yes", "n", "no", "on", "off", "true", "false", "null", "~", ".inf", "-.inf", "+.inf",
    ".nan", "=", "<<", "none", "nil", "nan", "inf",
];

/// Can `s` be written without quotes and read back as the same string by YAML 1.1 and 1.2
/// readers? Conservative: anything that looks like a number, a date, a boolean, a null or
/// starts with an indicator is quoted.
fn is_plain_safe(s: &str) -> bool {
    let bytes = s.as_bytes();
    let Some(&first) = bytes.first() else {
        return false;
    };
    if s.len() <= 5 && SPECIAL_WORDS.iter().any(|w| w.eq_ignore_ascii_case(s)) {
        return false;
    }
    // Indicators that start something else than a plain scalar. `-`, `?` and `:` are only
    // indicators when followed by a space (`--port` is plain).
    if matches!(
        first,
        b',' | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
            | b' '
    ) {
        return false;
    }
    if matches!(first, b'-' | b'?' | b':') && matches!(bytes.get(1), None | Some(b' ')) {
        return false;
    }
    if matches!(bytes.last(), Some(b' ' | b':')) || s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    // One pass: `: ` and ` #` change the meaning; tabs and control characters are quoted.
    let mut prev = 0u8;
    for &b in bytes {
        if b < 0x20 || b == 0x7f || (prev == b':' && b == b' ') || (prev == b' ' && b == b'#') {
            return false;
        }
        prev = b;
    }
    // Non-ASCII: quote the invisible troublemakers (BOM, line/paragraph separators, C1).
    if !s.is_ascii()
        && s.chars()
            .any(|c| c.is_control() || matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}'))
    {
        return false;
    }
    !looks_numeric_or_date(s)
}

/// Numbers in any YAML 1.1/1.2 spelling (`0777`, `0o17`, `0x1F`, `1_000`, `1:20`, `1e3`,
/// `.5`, `+1`), and dates/times, which YAML 1.1 readers turn into timestamps.
fn looks_numeric_or_date(s: &str) -> bool {
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    let Some(first) = t.chars().next() else {
        return false;
    };
    if !(first.is_ascii_digit() || first == '.') {
        return false;
    }
    // Hex letters other than the exponent's `e` only appear in `0x` numbers: `5b2a...` (a
    // hash) is a string.
    let hex = t.starts_with("0x") || t.starts_with("0X");
    if !hex
        && t.chars()
            .any(|c| matches!(c, 'a'..='d' | 'f' | 'A'..='D' | 'F'))
    {
        return false;
    }
    // Otherwise quote if it is made only of characters that numbers, dates and times use
    // (digits, `._:-+xobXOBeE`, hex digits after `0x`, `T`, `Z`, spaces in dates).
    t.chars().all(|c| {
        c.is_ascii_hexdigit()
            || matches!(
                c,
                '.' | '_'
                    | ':'
                    | '-'
                    | '+'
                    | 'x'
                    | 'X'
                    | 'o'
                    | 'O'
                    | 'b'
                    | 'B'
                    | 'e'
                    | 'E'
                    | 'T'
                    | 't'
                    | 'Z'
                    | 'z'
                    | ' '
            )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(v: &Value) {
        let text = to_string(v);
        let back = crate::yaml::from_str(&text).unwrap_or_else(|e| panic!("{e:?} in:\n{text}"));
        assert_eq!(&back, v, "round trip through:\n{text}");
    }

    #[test]
    fn writes_the_manifest_style() {
        let v = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "labels": {}, "annotations": {"a/b": "x: y"}},
            "spec": {
                "containers": [
                    {"name": "app", "args": ["--port", "8080", "-v"], "ports": [{"containerPort": 80}]},
                    {"name": "b", "env": []}
                ],
                "volumes": [{"name": "v", "emptyDir": {}}],
                "nested": [[1, 2], ["a"]],
                "script": "set -e\necho hi\n",
                "noeol": "a\nb",
            }
        });
        let text = to_string(&v);
        assert_eq!(
            text,
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: {}\n  annotations:\n    a/b: \"x: y\"\nspec:\n  containers:\n  - name: app\n    args:\n    - --port\n    - \"8080\"\n    - -v\n    ports:\n    - containerPort: 80\n  - name: b\n    env: []\n  volumes:\n  - name: v\n    emptyDir: {}\n  nested:\n  - - 1\n    - 2\n  - - a\n  script: |\n    set -e\n    echo hi\n  noeol: |-\n    a\n    b\n"
        );
        round_trip(&v);
    }

    #[test]
    fn quotes_what_yaml_readers_would_misread() {
        for s in [
            "on",
            "Yes",
            "N",
            "off",
            "TRUE",
            "null",
            "~",
            "0777",
            "0o17",
            "0x1F",
            "1_000",
            "1:20",
            "1e3",
            ".5",
            "+1",
            "-1",
            "2001-12-14",
            "2001-12-14T21:59:43Z",
            ".inf",
            ".NaN",
            "",
            " lead",
            "trail ",
            "a: b",
            "a #b",
            "#c",
            "- x",
            "-",
            "? x",
            "[x]",
            "{x}",
            "*a",
            "&a",
            "!t",
            "|",
            ">",
            "'q'",
            "\"q\"",
            "%x",
            "@x",
            "`x",
            "---",
            "...",
            "a\tb",
            "\u{1}",
            "x:",
            "multi\n\nblank\n",
            "  indented\nblock",
            "crlf\r\nx",
            "ends\n\n",
            "sp \nx",
            "\u{feff}bom",
            "é",
            "<<",
            "=",
            "0xCAFE",
            "1e+3",
            "5b2a1c",
            "12ab",
        ] {
            round_trip(&json!({ s: s, "list": [s] }));
        }
    }

    #[test]
    fn numbers_and_odd_values_round_trip() {
        round_trip(&json!({
            "i": 1, "n": -3, "big": 18446744073709551615u64, "f": 1.5, "e": 1e-7, "z": 0,
            "t": true, "nil": null, "deep": {"a": {"b": {"c": []}}}, "top": [],
        }));
        round_trip(&json!([1, "two", {"three": 3}]));
        round_trip(&json!("just a string"));
        round_trip(&json!({}));
    }

    /// Random trees of awkward strings, numbers and nesting: the writer's output must read
    /// back as the same value (a fixed-seed generator: the same cases every run).
    #[test]
    fn random_trees_round_trip() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        const PIECES: [&str; 24] = [
            "a",
            "on",
            "0",
            "7",
            "-",
            ":",
            " ",
            "#",
            "\n",
            "x",
            "e",
            "1",
            ".",
            "'",
            "\"",
            "\\",
            "é",
            "\t",
            "--",
            "Y",
            "null",
            "0x",
            "2001-01-01",
            "{",
        ];
        fn tree(next: &mut dyn FnMut() -> u64, pieces: &[&str], depth: u32) -> Value {
            let pick = next() % if depth > 3 { 5 } else { 7 };
            match pick {
                0 => Value::Null,
                1 => Value::Bool(next() % 2 == 0),
                2 => json!((next() % 100_000) as i64 - 50_000),
                3 | 4 => {
                    let n = next() % 5;
                    Value::String(
                        (0..n)
                            .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                            .collect(),
                    )
                }
                5 => Value::Array(
                    (0..next() % 4)
                        .map(|_| tree(next, pieces, depth + 1))
                        .collect(),
                ),
                _ => {
                    let mut m = Map::new();
                    for _ in 0..next() % 4 {
                        let Value::String(k) = gen_string(next, pieces) else {
                            unreachable!()
                        };
                        m.insert(k, tree(next, pieces, depth + 1));
                    }
                    Value::Object(m)
                }
            }
        }
        fn gen_string(next: &mut dyn FnMut() -> u64, pieces: &[&str]) -> Value {
            let n = 1 + next() % 4;
            Value::String(
                (0..n)
                    .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                    .collect(),
            )
        }
        for _ in 0..3000 {
            let mut m = Map::new();
            m.insert("root".into(), tree(&mut next, &PIECES, 0));
            round_trip(&Value::Object(m));
        }
    }
}
