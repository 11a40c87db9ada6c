//! Reading JSON documents as strictly as YAML ones.
//!
//! `serde_json::Value`'s own reader lets the last of two equal keys win silently, while the
//! YAML reader refuses duplicate keys: the same manifest would mean different things in its
//! two spellings. [`Document`] refuses them with their position, and limits nesting to
//! [`crate::yaml::MAX_DEPTH`] like the YAML reader. Numbers are kept as written (the
//! workspace enables serde_json's `arbitrary_precision`).

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::yaml::MAX_DEPTH;

/// One JSON document, read with duplicate keys refused and depth limited.
#[derive(Debug, Clone, PartialEq)]
pub struct Document(pub Value);

impl<'de> de::Deserialize<'de> for Document {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Node { depth: 0 }.deserialize(d).map(Document)
    }
}

/// Parse one JSON text (a single value) the way [`Document`] does.
pub fn from_str(text: &str) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    let Document(v) = de::Deserialize::deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

/// The name under which serde_json's `arbitrary_precision` hands a number to a visitor
/// (a one-entry map), as `serde_json::Value` reads it.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

#[derive(Clone, Copy)]
struct Node {
    depth: usize,
}

impl Node {
    fn enter<E: de::Error>(self) -> Result<Node, E> {
        if self.depth >= MAX_DEPTH {
            return Err(E::custom(format_args!(
                "maps and lists nested deeper than {MAX_DEPTH} levels (the most rofs reads)"
            )));
        }
        Ok(Node {
            depth: self.depth + 1,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Node {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.enter()?;
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(inner)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let Some(first) = map.next_key::<String>()? else {
            return Ok(Value::Object(Map::new()));
        };
        if first == NUMBER_TOKEN {
            // A number, exactly as written.
            let text: String = map.next_value()?;
            return text
                .parse::<Number>()
                .map(Value::Number)
                .map_err(de::Error::custom);
        }
        let inner = self.enter()?;
        let mut m = Map::new();
        let mut key = first;
        loop {
            if m.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate key {key:?} in a map (each key may appear once)"
                )));
            }
            let v = map.next_value_seed(inner)?;
            m.insert(key, v);
            match map.next_key::<String>()? {
                Some(k) => key = k,
                None => break,
            }
        }
        Ok(Value::Object(m))
    }
}

/// How the numbers of one document were spelled: serde_json keeps a number's digits but
/// writes its exponent as `e+3` (and a YAML reader keeps only the value: `1.10` is 1.1), so
/// a rewritten document would change `1e3` to `1e+3` or `1.10` to `1.1`. The table maps the
/// form rofs would write to the spelling of the input, when the input spelled that number one
/// way only; every replacement is the same number.
#[derive(Debug, Default, Clone)]
pub struct Spellings {
    map: std::collections::HashMap<String, Option<String>>,
}

impl Spellings {
    fn add(&mut self, canonical: String, written: &str) {
        use std::collections::hash_map::Entry;
        match self.map.entry(canonical) {
            Entry::Vacant(e) => {
                e.insert(Some(written.to_string()));
            }
            Entry::Occupied(mut e) => {
                if e.get().as_deref() != Some(written) {
                    // Spelled two ways: write the number as rofs would.
                    e.insert(None);
                }
            }
        }
    }

    /// The input's spelling of the number rofs would write as `canonical`.
    pub fn get(&self, canonical: &str) -> Option<&str> {
        self.map.get(canonical).and_then(Option::as_deref)
    }

    pub fn is_empty(&self) -> bool {
        self.map.values().all(Option::is_none)
    }

    /// The numbers of a JSON text. serde_json keeps every spelling but the exponent's, so
    /// only numbers with an exponent are remembered.
    pub fn of_json(text: &str) -> Spellings {
        let mut table = Spellings::default();
        let b = text.as_bytes();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'"' => {
                    i += 1;
                    while i < b.len() && b[i] != b'"' {
                        i += if b[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
                b'-' | b'0'..=b'9' => {
                    let start = i;
                    while i < b.len()
                        && matches!(b[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                    {
                        i += 1;
                    }
                    let t = &text[start..i];
                    if t.contains(['e', 'E'])
                        && let Ok(n) = t.parse::<Number>()
                    {
                        table.add(n.to_string(), t);
                    }
                }
                _ => i += 1,
            }
        }
        table
    }

    /// The numbers of a YAML text: every plain word that the YAML reader takes for a number
    /// and would write otherwise (`1.10`, `1e3`, `0644`, `-0`), and plain decimal integers
    /// only as second spellings (words inside strings and comments count too: a replacement
    /// is always the same number, and a second spelling of it only turns the replacement off).
    pub fn of_yaml(text: &str) -> Spellings {
        let candidate = |w: &&str| {
            w.bytes()
                .next()
                .is_some_and(|c| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.'))
        };
        // The words that may be numbers, split at whitespace and `,[]{}` (bytes for ASCII
        // text, the common case: the same words, found faster).
        let words: Vec<&str> = if text.is_ascii() {
            text.as_bytes()
                .split(|&b| {
                    matches!(
                        b,
                        b' ' | b'\t'
                            | b'\n'
                            | b'\x0b'
                            | b'\x0c'
                            | b'\r'
                            | b','
                            | b'['
                            | b']'
                            | b'{'
                            | b'}'
                    )
                })
                .filter(|w| {
                    w.first()
                        .is_some_and(|c| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.'))
                })
                .filter_map(|w| std::str::from_utf8(w).ok())
                .map(|w| w.trim_end_matches(':'))
                .filter(candidate)
                .collect()
        } else {
            text.split(|c: char| c.is_whitespace() || matches!(c, ',' | '[' | ']' | '{' | '}'))
                .map(|w| w.trim_end_matches(':'))
                .filter(candidate)
                .collect()
        };
        let words = || words.iter().copied();
        let plain = |w: &str| {
            w.bytes().all(|c| c.is_ascii_digit())
                && (w == "0" || !w.starts_with('0'))
                && w.len() < 19
        };
        let mut table = Spellings::default();
        for word in words() {
            // Plain decimal integers are written as they came; words with other letters
            // than a number's (`10m`, `64Mi`, `1.2.3-beta`) are not numbers.
            if plain(word)
                || !word.bytes().any(|c| c.is_ascii_digit())
                || !word.bytes().all(|c| {
                    c.is_ascii_hexdigit()
                        || matches!(
                            c,
                            b'.' | b'_' | b'+' | b'-' | b'x' | b'X' | b'o' | b'O' | b':'
                        )
                })
            {
                continue;
            }
            if let Ok(Value::Number(n)) = crate::yaml::from_str(word) {
                table.add(n.to_string(), word);
            }
        }
        if !table.is_empty() {
            // `420` beside `0644`: the number is spelled two ways.
            for word in words().filter(|w| plain(w)) {
                if table.map.contains_key(word) {
                    table.add(word.to_string(), word);
                }
            }
        }
        table
    }
}

/// serde_json's pretty printer, writing numbers as the input spelled them.
struct Spelled<'a> {
    pretty: serde_json::ser::PrettyFormatter<'static>,
    table: &'a Spellings,
    /// Only spellings that are JSON numbers may be written (a YAML input may have `0644`).
    json_only: bool,
}

impl serde_json::ser::Formatter for Spelled<'_> {
    fn write_number_str<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        value: &str,
    ) -> std::io::Result<()> {
        let spelled = self
            .table
            .get(value)
            .filter(|s| !self.json_only || s.parse::<Number>().is_ok());
        w.write_all(spelled.unwrap_or(value).as_bytes())
    }
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.pretty.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.pretty.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.pretty.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.pretty.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.pretty.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.pretty.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.pretty.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.pretty.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.pretty.end_object_value(w)
    }
}

/// `serde_json::to_string_pretty`, with the numbers spelled as in `table` where that spelling
/// is a JSON number.
pub fn to_string_pretty(value: &Value, table: &Spellings) -> Result<String, serde_json::Error> {
    use serde::Serialize;
    let mut out = Vec::with_capacity(1024);
    let mut ser = serde_json::Serializer::with_formatter(
        &mut out,
        Spelled {
            pretty: serde_json::ser::PrettyFormatter::new(),
            table,
            json_only: true,
        },
    );
    value.serialize(&mut ser)?;
    Ok(String::from_utf8(out).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_kept_as_written() {
        for n in [
            "123456789012345678901234567890",
            "1.10",
            "1e3",
            "-0",
            "1E+2",
            "0.000",
        ] {
            let text = format!("{{\"n\": {n}}}");
            let v = from_str(&text).expect("valid");
            let out = to_string_pretty(&v, &Spellings::of_json(&text)).expect("json");
            assert_eq!(out, format!("{{\n  \"n\": {n}\n}}"));
        }
        // Two spellings of one number: written as serde_json writes it.
        let text = "[1e3, 1E3]";
        let v = from_str(text).expect("valid");
        assert_eq!(
            to_string_pretty(&v, &Spellings::of_json(text)).expect("json"),
            "[\n  1e+3,\n  1e+3\n]"
        );
    }

    #[test]
    fn duplicate_keys_are_refused_with_position() {
        let e = from_str("{\n  \"a\": 1,\n  \"a\": 2\n}").unwrap_err();
        assert!(e.to_string().contains("duplicate key \"a\""), "{e}");
        assert_eq!(e.line(), 3, "{e}");
        let e = from_str("{\"x\": [{\"b\": {}, \"b\": {}}]}").unwrap_err();
        assert!(e.to_string().contains("duplicate key \"b\""), "{e}");
        // Equal keys in different maps are fine.
        from_str("{\"a\": {\"a\": 1}, \"b\": {\"a\": 2}}").expect("valid");
    }

    #[test]
    fn depth_is_limited() {
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        crate::with_stack(|| from_str(&ok)).expect("MAX_DEPTH levels are read");
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        let e = crate::with_stack(|| from_str(&deep)).unwrap_err();
        assert!(e.to_string().contains("nested deeper than 1000"), "{e}");
    }
}
