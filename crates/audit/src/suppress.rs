//! Suppressions: annotations on the workload (or its pod template) that turn findings into
//! suppressed ones, each with the reason the annotation gives.
//!
//! Forms, the most specific winning:
//! - `audit-ignore.rofs.io/<container>.<RULE>: "<reason>"`: one rule, one container;
//! - `audit-ignore.rofs.io/<container>: "<reason>"`: every rule, one container;
//! - `audit-ignore.rofs.io/<RULE>: "<reason>"`: one rule, the whole workload;
//! - `rofs.io/audit-ignore: "<reason>"`: every finding of the workload.
//!
//! Rule IDs are upper case (`ROFS-A001`) and container names lower case DNS labels, so the
//! forms cannot be confused. A suppression must say why: an empty reason suppresses nothing.

use serde_json::{Map, Value};

use crate::model::Suppression;

/// The whole-workload form.
pub const IGNORE: &str = "rofs.io/audit-ignore";
/// The prefix of the per-rule and per-container forms.
pub const IGNORE_PREFIX: &str = "audit-ignore.rofs.io/";

/// The suppression annotations of one workload.
#[derive(Debug, Default)]
pub struct Suppressions {
    /// `(key, value)` of every suppression annotation, template's winning over the workload's.
    entries: Map<String, Value>,
}

/// What [`Suppressions::find`] says about one finding.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    None,
    Suppressed(Suppression),
    /// The annotation that would apply gives no reason: the finding counts, and says so.
    NoReason(String),
}

impl Suppressions {
    /// From the workload's annotations and its pod template's (either may be absent).
    pub fn read(
        workload: Option<&Map<String, Value>>,
        template: Option<&Map<String, Value>>,
    ) -> Self {
        let mut entries = Map::new();
        for map in [workload, template].into_iter().flatten() {
            for (k, v) in map {
                if k == IGNORE || k.starts_with(IGNORE_PREFIX) {
                    entries.insert(k.clone(), v.clone());
                }
            }
        }
        Suppressions { entries }
    }

    /// The suppression of a finding of `rule` about `container` (`None`: about the pod).
    pub fn find(&self, rule: &str, container: Option<&str>) -> Outcome {
        if self.entries.is_empty() {
            return Outcome::None;
        }
        let mut keys = Vec::with_capacity(4);
        if let Some(c) = container {
            keys.push(format!("{IGNORE_PREFIX}{c}.{rule}"));
            keys.push(format!("{IGNORE_PREFIX}{c}"));
        }
        keys.push(format!("{IGNORE_PREFIX}{rule}"));
        keys.push(IGNORE.to_string());
        for key in keys {
            let Some(v) = self.entries.get(&key) else {
                continue;
            };
            let reason = v.as_str().map(str::trim).unwrap_or_default();
            if reason.is_empty() {
                return Outcome::NoReason(key);
            }
            return Outcome::Suppressed(Suppression {
                reason: reason.to_string(),
                annotation: key,
            });
        }
        Outcome::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("a map")
    }

    #[test]
    fn most_specific_form_wins() {
        let w = map(json!({
            "rofs.io/audit-ignore": "whole",
            "audit-ignore.rofs.io/ROFS-A001": "rule",
            "other": "x"
        }));
        let t = map(json!({
            "audit-ignore.rofs.io/web": "container",
            "audit-ignore.rofs.io/web.ROFS-A002": "both",
            "audit-ignore.rofs.io/side.ROFS-A001": " "
        }));
        let s = Suppressions::read(Some(&w), Some(&t));
        let reason = |rule, c| match s.find(rule, c) {
            Outcome::Suppressed(s) => s.reason,
            other => format!("{other:?}"),
        };
        assert_eq!(reason("ROFS-A002", Some("web")), "both");
        assert_eq!(reason("ROFS-A001", Some("web")), "container");
        assert_eq!(reason("ROFS-A001", Some("app")), "rule");
        assert_eq!(reason("ROFS-A006", None), "whole");
        assert_eq!(
            s.find("ROFS-A001", Some("side")),
            Outcome::NoReason("audit-ignore.rofs.io/side.ROFS-A001".into())
        );
        assert_eq!(
            Suppressions::default().find("ROFS-A001", None),
            Outcome::None
        );
    }
}
