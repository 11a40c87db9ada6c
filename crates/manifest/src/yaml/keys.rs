//! Map keys as Kubernetes reads them.
//!
//! sigs.k8s.io/yaml (kubectl, the API server's YAML) resolves a plain map key like any
//! plain scalar, YAML 1.1 flavoured, then writes the key back as a string: `on:` and `yes:`
//! are the key `"true"`, `off:` and `n:` `"false"`, `012:` (octal) `"10"`, `0x1F:` `"31"`,
//! `1.50:` `"1.5"`; a quoted key stays as written. A rewritten document must mean the same,
//! so rofs reads keys that way too. Values are serde_json's own, unchanged.

use serde::Deserialize;
use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use serde_json::{Map, Value};
use std::fmt;

/// A document's value, with its map keys read as Kubernetes reads them.
pub(crate) struct KubeValue(pub Value);

impl<'de> Deserialize<'de> for KubeValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor).map(KubeValue)
    }
}

struct ValueSeed;

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

/// A scalar as serde_json reads it (numbers of any size and spelling included).
fn json<'de, T: IntoDeserializer<'de, E>, E: de::Error>(v: T) -> Result<Value, E> {
    Value::deserialize(v.into_deserializer())
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        json(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        json(v)
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        json(v)
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        json(v)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        if !v.is_finite() {
            // Kubernetes's JSON cannot hold one either (kubectl: "unsupported value: +Inf").
            return Err(de::Error::custom(format!(
                "non-finite number `{}` (`.inf`, `.nan` or beyond a double's range): a \
                 Kubernetes object cannot hold it; quote it for a string",
                go_float32_key(v)
            )));
        }
        json(v)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(v) = seq.next_element_seed(ValueSeed)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let value = map.next_value_seed(ValueSeed)?;
            // Two keys written apart that Kubernetes reads as one (`on:` and `yes:`, `012:`
            // and `10:`): the last one wins, as in Kubernetes. Keys written alike are refused
            // by the parser (duplicate keys).
            out.insert(key.text, value);
        }
        Ok(Value::Object(out))
    }
}

/// A key: the string Kubernetes makes of it.
struct Key {
    text: String,
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_any(KeyVisitor)
    }
}

struct KeyVisitor;

impl KeyVisitor {
    fn resolved(text: String) -> Key {
        Key { text }
    }
}

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map key")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Key, E> {
        Ok(Self::resolved(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Key, E> {
        Ok(Self::resolved(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Key, E> {
        if i64::try_from(v).is_err() {
            return Err(de::Error::custom(format!(
                "a map key is the integer {v}, too large for Kubernetes (keys of Kubernetes \
                 objects are strings: quote it)"
            )));
        }
        Ok(Self::resolved(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Key, E> {
        Ok(Self::resolved(go_float32_key(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        self.visit_string(v.to_string())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Key, E> {
        Ok(Key { text: v })
    }
    fn visit_unit<E: de::Error>(self) -> Result<Key, E> {
        Err(de::Error::custom(
            "a map key is null (keys of Kubernetes objects are strings)",
        ))
    }
    fn visit_none<E: de::Error>(self) -> Result<Key, E> {
        self.visit_unit()
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Key, A::Error> {
        Err(not_a_string())
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Key, A::Error> {
        Err(not_a_string())
    }
}

fn not_a_string<E: de::Error>() -> E {
    de::Error::custom("a map key is not a string (keys of Kubernetes objects are strings)")
}

/// A float key as sigs.k8s.io/yaml writes it: Go's `strconv.FormatFloat(f, 'g', -1, 32)`
/// (the shortest digits of the float32, an exponent below 1e-4 and from 1e21... of the
/// decision precision 6: `1.5`, `1000`, `1e+06`, `1e-05`).
fn go_float32_key(v: f64) -> String {
    let f = v as f32;
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Rust's `{:e}` of an f32 gives its shortest round-trip digits: `d.ddde-N`.
    let e = format!("{f:e}");
    let (mantissa, exp) = e.split_once('e').expect("`{:e}` has an exponent");
    let exp: i32 = exp.parse().expect("`{:e}` exponent");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}{rest}e{esign}{:02}", exp.abs());
    }
    // Positional: the decimal point after exp + 1 digits.
    let point = exp + 1;
    let body = if point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        let (a, b) = digits.split_at(point as usize);
        format!("{a}.{b}")
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::go_float32_key;

    /// Expected values: what Go 1.26's `strconv.FormatFloat(x, 'g', -1, 32)` printed for
    /// each (run on 2026-11-30).
    #[test]
    fn float_keys_are_written_as_go_writes_float32() {
        for (x, go) in [
            (1.5, "1.5"),
            (1000.0, "1000"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (1.25e7, "1.25e+07"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (1.0000001, "1.0000001"),
            (std::f64::consts::PI, "3.1415927"),
            (1e21, "1e+21"),
            (0.0, "0"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (0.000123, "0.000123"),
            (5e-324, "0"),
            (3.4e38, "3.4e+38"),
            // Go: `+Inf`, which sigs.k8s.io/yaml writes `.inf`.
            (1e39, ".inf"),
        ] {
            assert_eq!(go_float32_key(x), go, "{x}");
        }
    }
}
