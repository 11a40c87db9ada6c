//! An AdmissionReview read in one pass: the fields rofs reads are kept (the pod as a `Value`),
//! everything else (`userInfo`, `oldObject`, `options`, `requestKind`...) is checked as JSON
//! and skipped without building it.
//!
//! Only the well-formed case is handled here: anything else (invalid JSON, a wrong type, a
//! missing field) gives `None`, and the caller parses the body as a whole to say what is wrong
//! ([`crate::review::review`]), so that errors are the same whichever way a body is read. What
//! is accepted here is accepted there with the same request: the same JSON checks (UTF-8,
//! escapes, surrogates, nesting depth, nothing after the value), the same last-one-wins for a
//! key given twice, the same checks of the type and `uid`.

use std::fmt;

use serde::Deserialize as _;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::review::{API_VERSION, AdmissionRequest, KIND};

/// The request of a well-formed AdmissionReview that rofs can answer; `None` for anything else.
pub(crate) fn request(body: &[u8]) -> Option<AdmissionRequest> {
    let text = std::str::from_utf8(body).ok()?;
    let mut de = serde_json::Deserializer::from_str(text);
    let top = de.deserialize_map(TopVisitor).ok()?;
    de.end().ok()?;
    if top.api_version.as_deref() != Some(API_VERSION) || top.kind.as_deref() != Some(KIND) {
        return None;
    }
    let RequestFields { fields, object } = top.request?;
    let mut request: AdmissionRequest = serde_json::from_value(Value::Object(fields)).ok()?;
    request.object = object.filter(|o| !o.is_null());
    (!request.uid.is_empty()).then_some(request)
}

/// The fields of the AdmissionRequest that [`AdmissionRequest`] reads (besides `object`).
const REQUEST_FIELDS: [&str; 7] = [
    "uid",
    "kind",
    "subResource",
    "name",
    "namespace",
    "operation",
    "dryRun",
];

struct Top {
    api_version: Option<String>,
    kind: Option<String>,
    /// `None`: absent, `null`.
    request: Option<RequestFields>,
}

struct RequestFields {
    fields: Map<String, Value>,
    object: Option<Value>,
}

/// A map key, matched against `names` without a copy: its index there, or `None`.
struct Key(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for Key {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|k| *k == key))
    }
}

struct TopVisitor;

impl<'de> Visitor<'de> for TopVisitor {
    type Value = Top;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an AdmissionReview")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top, A::Error> {
        let mut top = Top {
            api_version: None,
            kind: None,
            request: None,
        };
        while let Some(key) = map.next_key_seed(Key(&["apiVersion", "kind", "request"]))? {
            match key {
                Some(0) => top.api_version = map.next_value_seed(Text)?,
                Some(1) => top.kind = map.next_value_seed(Text)?,
                Some(2) => top.request = map.next_value_seed(RequestSeed)?,
                _ => map.next_value_seed(Skip)?,
            }
        }
        Ok(top)
    }
}

/// A string, or `None` for any other JSON value.
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::String(s) => Some(s),
            _ => None,
        })
    }
}

/// The request: a map (kept), `null` (`None`); anything else is an error here.
struct RequestSeed;

impl<'de> DeserializeSeed<'de> for RequestSeed {
    type Value = Option<RequestFields>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RequestSeed {
    type Value = Option<RequestFields>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an AdmissionRequest")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        const KEYS: [&str; 9] = [
            "uid",
            "kind",
            "subResource",
            "name",
            "namespace",
            "operation",
            "dryRun",
            "object",
            "oldObject",
        ];
        let mut fields = Map::new();
        let mut object = None;
        while let Some(key) = map.next_key_seed(Key(&KEYS))? {
            match key {
                Some(i) if i < REQUEST_FIELDS.len() => {
                    fields.insert(REQUEST_FIELDS[i].to_string(), map.next_value()?);
                }
                Some(7) => object = Some(map.next_value()?),
                _ => map.next_value_seed(Skip)?,
            }
        }
        Ok(Some(RequestFields { fields, object }))
    }
}

/// Any JSON value, read (strings decoded, so checked as the whole-body parse checks them)
/// and dropped.
struct Skip;

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skip)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(Skip)?.is_some() {
            map.next_value_seed(Skip)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::{BadReview, review_bytes};
    use crate::{Config, review};

    /// What the whole-body parse says of `body`.
    fn whole(body: &str) -> Result<crate::Reviewed, BadReview> {
        let value: Value =
            serde_json::from_str(body).map_err(|e| BadReview::Json(e.to_string()))?;
        review(value, &Config::default())
    }

    const OK: &str = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",
        "request":{"uid":"u","kind":{"group":"","version":"v1","kind":"Pod"},
        "operation":"CREATE","userInfo":{"username":"x","extra":{"a":["b",1,2.5,null,true]}},
        "oldObject":null,"object":{"metadata":{"name":"p"},"spec":{"containers":[
        {"name":"app","image":"nginx"}]}}}}"#;

    #[test]
    fn a_review_is_read_in_one_pass_as_the_whole_body_reads_it() {
        let fast = request(OK.as_bytes()).expect("well formed");
        assert_eq!(fast.uid, "u");
        assert_eq!(fast.operation, "CREATE");
        assert_eq!(
            fast.object.as_ref().expect("object")["metadata"]["name"],
            "p"
        );
        assert_eq!(review_bytes(OK.as_bytes(), &Config::default()), whole(OK));
    }

    #[test]
    fn whatever_the_whole_body_refuses_is_left_to_it() {
        let cases = [
            // Invalid JSON in a skipped field: a lone surrogate, a bad escape, a control
            // character, invalid UTF-8 (below), something after the value.
            OK.replace(r#""username":"x""#, r#""username":"\ud800""#),
            OK.replace(r#""username":"x""#, r#""username":"\q""#),
            OK.replace(r#""username":"x""#, "\"username\":\"\u{1}\""),
            format!("{OK} x"),
            // Wrong types, a key twice (the last one counts), a missing uid.
            OK.replace(
                r#""kind":"AdmissionReview""#,
                r#""kind":["AdmissionReview"]"#,
            ),
            OK.replace(r#""uid":"u""#, r#""uid":5"#),
            OK.replace(r#""uid":"u""#, r#""uid":"u","uid":"""#),
            OK.replace(
                r#""apiVersion":"admission.k8s.io/v1""#,
                r#""apiVersion":"admission.k8s.io/v1","apiVersion":1"#,
            ),
            format!("{},\"request\":null}}", &OK[..OK.len() - 1]),
            r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":7}"#
                .to_string(),
            r#"["admission.k8s.io/v1","AdmissionReview"]"#.to_string(),
            // Nested deeper than the parser's limit, in a skipped field.
            OK.replace(
                r#""username":"x""#,
                &format!("\"username\":{}{}", "[".repeat(200), "]".repeat(200)),
            ),
        ];
        for body in &cases {
            assert!(request(body.as_bytes()).is_none(), "accepted: {body}");
            let expected = whole(body);
            assert!(expected.is_err(), "{body}");
            assert_eq!(review_bytes(body.as_bytes(), &Config::default()), expected);
        }
        let mut bytes = OK.as_bytes().to_vec();
        let at = OK.find("\"x\"").expect("x") + 1;
        bytes[at] = 0xff;
        assert!(request(&bytes).is_none());
        assert!(matches!(
            review_bytes(&bytes, &Config::default()),
            Err(BadReview::Json(_))
        ));
    }

    #[test]
    fn the_last_of_a_key_given_twice_counts() {
        let body = OK.replace(r#""uid":"u""#, r#""uid":"","uid":"v""#);
        assert_eq!(request(body.as_bytes()).expect("ok").uid, "v");
        assert_eq!(
            review_bytes(body.as_bytes(), &Config::default()),
            whole(&body)
        );
        let body = OK.replace(r#""oldObject":null"#, r#""object":null,"oldObject":null"#);
        // `object` is given again after: that one counts.
        assert!(request(body.as_bytes()).expect("ok").object.is_some());
        assert_eq!(
            review_bytes(body.as_bytes(), &Config::default()),
            whole(&body)
        );
    }
}
