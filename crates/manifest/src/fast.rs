//! A fast reader for the plain block-style YAML that Helm and kubectl write, in front of
//! serde-saphyr.
//!
//! It reads a narrow subset (ASCII, no tabs, block maps and lists, single-line flow maps and
//! lists, single-line quoted and plain scalars with an unambiguous type, literal block scalars)
//! and gives up (`None`) on anything else: then serde-saphyr reads the document, as it always
//! did. Every document this reader accepts is one serde-saphyr accepts with the same value
//! (tests compare both on every document of the real-world corpus, the YAML test suite and the
//! benchmark stream), so every error, and its message and position, is still serde-saphyr's.
//! It is about ten times faster, because it builds the `Value` straight from the text,
//! without an event layer.

use serde_json::{Map, Number, Value};

use crate::yaml::RawDocument;

/// Deepest nesting read here (deeper documents go to serde-saphyr, which allows
/// [`crate::yaml::MAX_DEPTH`]).
const MAX_DEPTH: usize = 64;

/// Longest implicit key YAML allows (1,024 characters); longer keys are left to serde-saphyr.
const MAX_KEY: usize = 1000;
/// An implicit key's length as written, at most (the YAML spec's limit).
const MAX_WRITTEN_KEY: usize = 1024;

/// The document's value, or `None` when it is not in the subset this reader knows.
/// Comments serde-saphyr buffers while it looks ahead for a value on the next lines.
const MAX_LOOKAHEAD_COMMENTS: usize = 32;

pub(crate) fn parse(raw: &RawDocument<'_>) -> Option<Value> {
    if raw.has_directives() || raw.content_on_marker_line() {
        return None;
    }
    if !raw
        .chunk
        .bytes()
        .all(|b| b == b'\n' || (0x20..=0x7e).contains(&b))
    {
        return None;
    }
    // The head: blank lines, comments, and the `---` line (possibly with a comment).
    for line in raw.head.lines() {
        let t = line.trim_start();
        if let Some(after) = line.strip_prefix("---") {
            let rest = after.trim_start();
            if !(rest.is_empty() || (!after.is_empty() && rest.starts_with('#'))) {
                return None;
            }
        } else if !(t.is_empty() || t.starts_with('#')) {
            return None;
        }
    }
    if !(raw.tail.is_empty() || raw.tail.trim_end_matches('\n') == "...")
        || !raw.text.ends_with('\n')
    {
        return None;
    }
    let mut p = Parser {
        lines: raw.text.lines().collect(),
        line: 0,
    };
    let indent = p.skip_blank()?;
    if indent != 0 || is_entry(p.lines[p.line]) {
        // A list or an indented root: not a Kubernetes object, or unusual; serde-saphyr reads it.
        return None;
    }
    let v = p.map(0, 0, 1)?;
    if p.skip_blank().is_some() {
        return None;
    }
    Some(v)
}

struct Parser<'a> {
    lines: Vec<&'a str>,
    /// The current line.
    line: usize,
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim_start_matches(' ');
    t.is_empty() || t.starts_with('#')
}

/// `-` followed by a space or the end of the line: a block list entry.
fn is_entry(s: &str) -> bool {
    let s = s.trim_start_matches(' ');
    s == "-" || s.starts_with("- ")
}

/// Text after a value: nothing, or spaces and a comment.
fn only_comment(rest: &str) -> bool {
    let t = rest.trim_start_matches(' ');
    t.is_empty() || (t.starts_with('#') && t.len() < rest.len())
}

impl<'a> Parser<'a> {
    /// Move to the next line with content (from the current one); its indentation.
    fn skip_blank(&mut self) -> Option<usize> {
        while self.line < self.lines.len() {
            let l = self.lines[self.line];
            if !is_blank_or_comment(l) {
                return Some(indent_of(l));
            }
            self.line += 1;
        }
        None
    }

    /// Move past the current line to the next with content; its indentation.
    fn next_line(&mut self) -> Option<usize> {
        self.line += 1;
        self.skip_blank()
    }

    /// A block map whose keys are at column `n`; the first key starts at column `col` of the
    /// current line (`col` > `n` only for a map that starts on a list entry's line: `- a: 1`).
    fn map(&mut self, n: usize, col: usize, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        let mut m = Map::new();
        let mut col = col;
        loop {
            let line = self.lines[self.line];
            let (key, rest) = key(&line[col..])?;
            if m.contains_key(&key) {
                return None;
            }
            let v = self.value(n, rest, true, depth)?;
            m.insert(key, v);
            match self.skip_blank() {
                Some(i) if i == n => col = n,
                Some(i) if i < n => break,
                None => break,
                Some(_) => return None,
            }
        }
        Some(Value::Object(m))
    }

    /// A block list whose `-` are at column `n`, starting on the current line.
    fn seq(&mut self, n: usize, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        let mut items = Vec::new();
        loop {
            let line = self.lines[self.line];
            let rest = &line[n + 1..];
            let spaces = indent_of(rest);
            let after = &rest[spaces..];
            let v = if spaces > 0 && !after.is_empty() && !after.starts_with('#') && is_key(after) {
                // `- a: 1`: a map whose keys are at the column of `a`.
                let c = n + 1 + spaces;
                self.map(c, c, depth + 1)?
            } else {
                self.value(n, rest, false, depth)?
            };
            items.push(v);
            match self.skip_blank() {
                Some(i) if i == n && is_entry(self.lines[self.line]) => {}
                Some(i) if i <= n => break,
                None => break,
                Some(_) => return None,
            }
        }
        Some(Value::Array(items))
    }

    /// The value after `key:` (`in_map`) or `-` of a collection at column `n`; `rest` is the
    /// text after the indicator. Leaves the current line on the value's last line or after it.
    fn value(&mut self, n: usize, rest: &'a str, in_map: bool, depth: usize) -> Option<Value> {
        let t = rest.trim_start_matches(' ');
        if t.is_empty() || (t.starts_with('#') && t.len() < rest.len()) {
            // The value is on the next lines: a more indented node, a list at the key's
            // column, or nothing (null).
            let from = self.line;
            let next = self.next_line();
            // serde-saphyr buffers at most 32 comments while it looks ahead for this value
            // (the one on the key's line included) and refuses the document beyond that: leave
            // long runs to it (blank lines are counted too: giving up is always safe).
            let skipped = self.line - from - 1 + usize::from(!t.is_empty());
            if skipped > MAX_LOOKAHEAD_COMMENTS {
                return None;
            }
            return match next {
                Some(i) if i > n => {
                    if is_entry(self.lines[self.line]) {
                        self.seq(i, depth + 1)
                    } else {
                        self.map(i, i, depth + 1)
                    }
                }
                Some(i) if in_map && i == n && is_entry(self.lines[self.line]) => {
                    self.seq(i, depth + 1)
                }
                _ => Some(Value::Null),
            };
        }
        if rest.len() == t.len() {
            // `key:value` or `-value` is not an entry; the caller made sure it is not.
            return None;
        }
        let v = match t.as_bytes()[0] {
            b'"' | b'\'' => {
                let (s, after) = quoted(t)?;
                if !only_comment(after) {
                    return None;
                }
                Value::String(s)
            }
            b'{' | b'[' => {
                let (v, after) = flow(t, depth + 1)?;
                if !only_comment(after) {
                    return None;
                }
                v
            }
            b'|' => {
                let s = self.literal(n, t)?;
                // `literal` leaves the current line on the first line after the scalar.
                return Some(Value::String(s));
            }
            _ => {
                let end = t.find(" #").unwrap_or(t.len());
                let s = t[..end].trim_end_matches(' ');
                if s.contains(": ") || s.ends_with(':') {
                    return None;
                }
                resolve(s)?
            }
        };
        self.line += 1;
        Some(v)
    }

    /// A literal block scalar (`|` or `|-`, the indentation detected) of a node at column
    /// `n`; `header` starts with `|`. Leaves the current line after the scalar.
    fn literal(&mut self, n: usize, header: &str) -> Option<String> {
        let (strip, after) = match header.strip_prefix("|-") {
            Some(after) => (true, after),
            None => (false, &header[1..]),
        };
        if !only_comment(after) || (!after.is_empty() && !after.starts_with(' ')) {
            return None;
        }
        self.line += 1;
        let first = *self.lines.get(self.line)?;
        let ci = indent_of(first);
        if ci <= n || ci == first.len() {
            return None;
        }
        let mut s = String::new();
        let mut empty = 0usize;
        while let Some(&l) = self.lines.get(self.line) {
            if l.is_empty() {
                empty += 1;
            } else if indent_of(l) == l.len() {
                // A line of spaces only: its meaning depends on the indentation; leave it.
                return None;
            } else if indent_of(l) >= ci {
                for _ in 0..empty {
                    s.push('\n');
                }
                empty = 0;
                s.push_str(&l[ci..]);
                s.push('\n');
            } else {
                break;
            }
            self.line += 1;
        }
        if strip {
            s.pop();
        }
        Some(s)
    }
}

/// `key:` at the start of `s` (followed by a space or the end): the key and the text after
/// the colon.
fn key(s: &str) -> Option<(String, &str)> {
    let b = s.as_bytes();
    let (k, after) = match b.first()? {
        b'"' | b'\'' => {
            let (k, after) = quoted(s)?;
            (k, after.strip_prefix(':')?)
        }
        _ => {
            let end = s.find(':')?;
            let k = &s[..end];
            if !plain_key(k) {
                return None;
            }
            (k.to_string(), &s[end + 1..])
        }
    };
    // As written: up to the `:` (`after` starts after it).
    if !(after.is_empty() || after.starts_with(' '))
        || k.len() > MAX_KEY
        || !key_ok(&k, s.len() - after.len() - 1)
    {
        return None;
    }
    Some((k, after))
}

/// A key (block or flow) the fast reader may build itself: at most [`MAX_WRITTEN_KEY`]
/// characters as written (YAML limits an implicit key to 1,024 characters as written, quotes
/// and doubled quotes included; serde-saphyr refuses longer ones), and not serde_json's
/// private number token (with `arbitrary_precision`, a map holding it reads as a number
/// through serde).
fn key_ok(k: &str, written: usize) -> bool {
    written <= MAX_WRITTEN_KEY && !k.starts_with("$serde_json::")
}

/// Whether `s` starts with a key this reader knows (`name:`, `"a.b/c":`).
fn is_key(s: &str) -> bool {
    key(s).is_some()
}

/// A plain key read as the same string by every YAML reader: a letter, then letters, digits
/// and `.`, `_`, `/`, `-`; not a word YAML 1.1 gives another type.
fn plain_key(k: &str) -> bool {
    let b = k.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'/' | b'-'))
        && !special_word(k)
}

/// Words a YAML 1.1 or 1.2 reader may take for a boolean, a null or a float.
fn special_word(s: &str) -> bool {
    let t = s.trim_start_matches(['-', '+', '.']);
    t.len() <= 8
        && matches!(
            t.to_ascii_lowercase().as_str(),
            "y" | "n"
                | "yes"
                | "no"
                | "on"
                | "off"
                | "true"
                | "false"
                | "null"
                | "nan"
                | "inf"
                | "infinity"
        )
}

/// A single-line quoted scalar at the start of `s` (without escapes in double quotes): its
/// value and the text after it.
fn quoted(s: &str) -> Option<(String, &str)> {
    let q = s.as_bytes()[0];
    if q == b'"' {
        let end = s[1..].find(['"', '\\'])? + 1;
        if s.as_bytes()[end] != b'"' {
            return None;
        }
        return Some((s[1..end].to_string(), &s[end + 1..]));
    }
    let mut out = String::new();
    let mut rest = &s[1..];
    loop {
        let i = rest.find('\'')?;
        out.push_str(&rest[..i]);
        if rest[i + 1..].starts_with('\'') {
            out.push('\'');
            rest = &rest[i + 2..];
        } else {
            return Some((out, &rest[i + 1..]));
        }
    }
}

/// The value of a plain scalar, when its type is unambiguous: a string that starts with a
/// letter or `/` (or `-` and a letter or `-`), a decimal integer, a quantity such as `100m`
/// or `128Mi`, `true`, `false`, `null`. Anything else (floats, octal, hex, timestamps,
/// YAML 1.1 booleans, `~`...) is left to serde-saphyr.
fn resolve(s: &str) -> Option<Value> {
    let b = s.as_bytes();
    match *b.first()? {
        c if c.is_ascii_alphabetic() => {
            if special_word(s) {
                return match s {
                    "true" => Some(Value::Bool(true)),
                    "false" => Some(Value::Bool(false)),
                    "null" => Some(Value::Null),
                    _ => None,
                };
            }
            Some(Value::String(s.to_string()))
        }
        b'/' => Some(Value::String(s.to_string())),
        b'-' => match b.get(1) {
            Some(c) if c.is_ascii_digit() => {
                let digits = &s[1..];
                if decimal(digits) && digits != "0" {
                    Some(Value::Number(Number::from(s.parse::<i64>().ok()?)))
                } else {
                    None
                }
            }
            Some(c) if (c.is_ascii_alphabetic() || *c == b'-') && !special_word(s) => {
                Some(Value::String(s.to_string()))
            }
            _ => None,
        },
        c if c.is_ascii_digit() => {
            if decimal(s) {
                return Some(Value::Number(Number::from(s.parse::<u64>().ok()?)));
            }
            // A quantity: digits, then letters (not an exponent, a base or a float).
            let d = s.bytes().take_while(u8::is_ascii_digit).count();
            let suffix = &b[d..];
            if !suffix.is_empty()
                && suffix.iter().all(u8::is_ascii_alphabetic)
                && !matches!(
                    suffix[0],
                    b'e' | b'E' | b'x' | b'X' | b'o' | b'O' | b'b' | b'B'
                )
            {
                Some(Value::String(s.to_string()))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// `0`, or up to 18 digits without a leading zero (fits an i64).
fn decimal(s: &str) -> bool {
    let b = s.as_bytes();
    s == "0" || (!b.is_empty() && b.len() <= 18 && b[0] != b'0' && b.iter().all(u8::is_ascii_digit))
}

/// A flow map or list that ends on its line, at the start of `s`: its value and the text
/// after it.
fn flow(s: &str, depth: usize) -> Option<(Value, &str)> {
    if depth > MAX_DEPTH {
        return None;
    }
    let close = if s.starts_with('{') { '}' } else { ']' };
    let mut rest = s[1..].trim_start_matches(' ');
    let mut map = Map::new();
    let mut items = Vec::new();
    if let Some(after) = rest.strip_prefix(close) {
        return Some((
            if close == '}' {
                Value::Object(map)
            } else {
                Value::Array(items)
            },
            after,
        ));
    }
    loop {
        if close == '}' {
            let (k, after) = flow_key(rest)?;
            if map.contains_key(&k) {
                return None;
            }
            let (v, after) = flow_node(after.trim_start_matches(' '), depth)?;
            map.insert(k, v);
            rest = after;
        } else {
            let (v, after) = flow_node(rest, depth)?;
            if after.starts_with(':') {
                return None;
            }
            items.push(v);
            rest = after;
        }
        rest = rest.trim_start_matches(' ');
        if let Some(after) = rest.strip_prefix(close) {
            rest = after;
            break;
        }
        rest = rest.strip_prefix(',')?.trim_start_matches(' ');
        if rest.starts_with([',', ']', '}']) {
            return None;
        }
    }
    Some((
        if close == '}' {
            Value::Object(map)
        } else {
            Value::Array(items)
        },
        rest,
    ))
}

/// `key: ` in a flow map: the key and the text after `: `.
fn flow_key(s: &str) -> Option<(String, &str)> {
    let (k, after) = match s.as_bytes().first()? {
        b'"' | b'\'' => quoted(s)?,
        _ => {
            let end = s.find(':')?;
            let k = &s[..end];
            if !plain_key(k) {
                return None;
            }
            (k.to_string(), &s[end..])
        }
    };
    if !key_ok(&k, s.len() - after.len()) {
        return None;
    }
    let after = after.strip_prefix(": ")?;
    Some((k, after))
}

/// A value in a flow collection: a nested one, a quoted scalar or a plain one (ended by
/// `,`, `]` or `}`; one holding `:`, `#`, `[` or `{` is left to serde-saphyr).
fn flow_node(s: &str, depth: usize) -> Option<(Value, &str)> {
    match s.as_bytes().first()? {
        b'{' | b'[' => flow(s, depth + 1),
        b'"' | b'\'' => {
            let (v, after) = quoted(s)?;
            Some((Value::String(v), after))
        }
        _ => {
            let end = s.find([',', ']', '}', ':', '#', '[', '{'])?;
            if !matches!(s.as_bytes()[end], b',' | b']' | b'}') {
                return None;
            }
            let v = resolve(s[..end].trim_end_matches(' '))?;
            Some((v, &s[end..]))
        }
    }
}
