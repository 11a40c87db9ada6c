//! The JSON Patch (RFC 6902) from the pod as it came to the pod as the core rewrote it, written
//! straight as JSON text: no `Patch` value, no copy of the values it adds.
//!
//! The core changes nothing but `spec` and `metadata.annotations` (see
//! [`rofs_core::rewrite_pod_template_keeping_spec`]), so only those are compared: the spec
//! against the core's own copy of it, the annotations against a copy taken before the rewrite.
//! The rest of the pod is never copied nor walked.
//!
//! Objects are compared key by key, as `json_patch::diff` does. Lists of named objects
//! (containers, volumes, mounts, env) are compared by name when every item has a distinct name
//! and the items kept are in the same order: rofs puts its initContainers *before* the
//! workload's own, and index by index that is a replacement of every field of every
//! initContainer; by name it is an `add` of rofs's and the few changes to the workload's.
//! Other lists are compared index by index (`json_patch::diff`'s way).

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::{Map, Value};

/// `metadata` of the pod before the rewrite, as far as the rewrite can change it.
#[derive(Debug, Clone, PartialEq)]
pub enum MetadataBefore {
    Absent,
    /// `metadata` that is not a map (`null`): the rewrite may replace it.
    NotAMap(Value),
    /// A map, whose `annotations` were this (absent: `None`).
    Map(Option<Value>),
}

impl MetadataBefore {
    /// Take note of the pod's metadata before the rewrite: a copy of its annotations only.
    pub fn of(pod: &Value) -> MetadataBefore {
        match pod.get("metadata") {
            None => MetadataBefore::Absent,
            Some(Value::Object(m)) => MetadataBefore::Map(m.get("annotations").cloned()),
            Some(other) => MetadataBefore::NotAMap(other.clone()),
        }
    }
}

/// A JSON Patch being written: `[op,op,...]`.
#[derive(Debug)]
pub struct PatchWriter<'a> {
    out: Vec<u8>,
    operations: usize,
    /// Where the value being compared is: written out as a JSON Pointer only for an
    /// operation (most of the pod is unchanged, and most keys need no pointer).
    path: Vec<Step<'a>>,
    /// The JSON Pointer of an operation (RFC 6901, escaped), reused.
    pointer: String,
}

/// One step of a path: a map key or a list index.
#[derive(Debug, Clone, Copy)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

impl<'a> PatchWriter<'a> {
    fn new() -> Self {
        PatchWriter {
            out: Vec::with_capacity(1024),
            operations: 0,
            path: Vec::with_capacity(16),
            pointer: String::with_capacity(128),
        }
    }

    fn op(&mut self, op: &str, value: Option<&Value>) {
        self.out
            .extend_from_slice(if self.operations == 0 { b"[" } else { b"," });
        self.operations += 1;
        self.out.extend_from_slice(b"{\"op\":\"");
        self.out.extend_from_slice(op.as_bytes());
        self.out.extend_from_slice(b"\",\"path\":");
        self.pointer.clear();
        for step in &self.path {
            match step {
                Step::Key(key) => {
                    self.pointer.push('/');
                    for c in key.chars() {
                        match c {
                            '~' => self.pointer.push_str("~0"),
                            '/' => self.pointer.push_str("~1"),
                            c => self.pointer.push(c),
                        }
                    }
                }
                // Writing into a String cannot fail.
                Step::Index(i) => {
                    let _ = write!(self.pointer, "/{i}");
                }
            }
        }
        // Writing into a Vec cannot fail; a string or a Value always serializes.
        let _ = serde_json::to_writer(&mut self.out, &self.pointer);
        if let Some(value) = value {
            self.out.extend_from_slice(b",\"value\":");
            let _ = serde_json::to_writer(&mut self.out, value);
        }
        self.out.push(b'}');
    }

    /// Descend into `key`; returns the depth to [`PatchWriter::pop`] back to.
    fn push_key(&mut self, key: &'a str) -> usize {
        self.path.push(Step::Key(key));
        self.path.len() - 1
    }

    fn push_index(&mut self, index: usize) -> usize {
        self.path.push(Step::Index(index));
        self.path.len() - 1
    }

    fn pop(&mut self, len: usize) {
        self.path.truncate(len);
    }

    fn value(&mut self, before: &'a Value, after: &'a Value) {
        match (before, after) {
            (Value::Object(b), Value::Object(a)) => self.object(b, a),
            (Value::Array(b), Value::Array(a)) => {
                if !self.named_list(b, a) {
                    self.list(b, a);
                }
            }
            _ if before == after => {}
            _ => self.op("replace", Some(after)),
        }
    }

    fn object(&mut self, before: &'a Map<String, Value>, after: &'a Map<String, Value>) {
        // A key is looked for where it was first (maps keep their order: the rewrite keeps
        // the pod's keys where they were), by hash only when it moved.
        let mut found = 0;
        let mut in_order = before.iter().peekable();
        for (key, a) in after {
            let len = self.push_key(key);
            let b = match in_order.next_if(|(k, _)| *k == key) {
                Some((_, b)) => Some(b),
                None => before.get(key),
            };
            match b {
                Some(b) => {
                    found += 1;
                    self.value(b, a);
                }
                None => self.op("add", Some(a)),
            }
            self.pop(len);
        }
        // Keys are distinct: when every key of `before` was found in `after`, none went.
        if found == before.len() {
            return;
        }
        for key in before.keys().filter(|k| !after.contains_key(*k)) {
            let len = self.push_key(key);
            self.op("remove", None);
            self.pop(len);
        }
    }

    /// Index by index; the items beyond the shorter list are added or removed.
    fn list(&mut self, before: &'a [Value], after: &'a [Value]) {
        for (i, (b, a)) in before.iter().zip(after).enumerate() {
            let len = self.push_index(i);
            self.value(b, a);
            self.pop(len);
        }
        for (i, a) in after.iter().enumerate().skip(before.len()) {
            let len = self.push_index(i);
            self.op("add", Some(a));
            self.pop(len);
        }
        // Removing from the end keeps the indexes of those still to remove.
        for i in (after.len()..before.len()).rev() {
            let len = self.push_index(i);
            self.op("remove", None);
            self.pop(len);
        }
    }

    /// By name, when both lists are of objects with distinct string `name`s and the items in
    /// both are in the same order. False (nothing written) otherwise.
    fn named_list(&mut self, before: &'a [Value], after: &'a [Value]) -> bool {
        let (Some(names_before), Some(names_after)) = (names(before), names(after)) else {
            return false;
        };
        let (Some(in_after), Some(_)) = (Lookup::new(&names_after), Lookup::new(&names_before))
        else {
            return false; // a name twice
        };
        // The items kept, in their order in `before`, must be in that order in `after`.
        let kept: Vec<usize> = (0..before.len())
            .filter(|&i| in_after.contains(names_before[i]))
            .collect();
        let mut next_kept = kept.iter().peekable();
        for name in &names_after {
            next_kept.next_if(|&&i| names_before[i] == *name);
        }
        if next_kept.peek().is_some() {
            return false;
        }
        // Remove what goes (from the end), then walk `after`: a kept item is compared where
        // it now is, anything else is added there.
        for i in (0..before.len()).rev() {
            if !in_after.contains(names_before[i]) {
                let len = self.push_index(i);
                self.op("remove", None);
                self.pop(len);
            }
        }
        let mut kept = kept.into_iter().peekable();
        for (j, a) in after.iter().enumerate() {
            let len = self.push_index(j);
            match kept.next_if(|&i| names_before[i] == names_after[j]) {
                Some(i) => self.value(&before[i], a),
                None => self.op("add", Some(a)),
            }
            self.pop(len);
        }
        true
    }
}

/// The `name` of every item, when all are objects with a string `name`.
fn names(list: &[Value]) -> Option<Vec<&str>> {
    list.iter()
        .map(|v| v.as_object()?.get("name")?.as_str())
        .collect()
}

/// A set of names, `None` when one is there twice. Short lists (every pod list but a hostile
/// one) are scanned; long ones hashed.
enum Lookup<'a> {
    Scan(&'a [&'a str]),
    Hash(HashMap<&'a str, ()>),
}

impl<'a> Lookup<'a> {
    const SCAN: usize = 16;

    fn new(names: &'a [&'a str]) -> Option<Lookup<'a>> {
        if names.len() <= Self::SCAN {
            let distinct = names
                .iter()
                .enumerate()
                .all(|(i, n)| !names[..i].contains(n));
            return distinct.then_some(Lookup::Scan(names));
        }
        let mut set = HashMap::with_capacity(names.len());
        for n in names {
            if set.insert(*n, ()).is_some() {
                return None;
            }
        }
        Some(Lookup::Hash(set))
    }

    fn contains(&self, name: &str) -> bool {
        match self {
            Lookup::Scan(names) => names.contains(&name),
            Lookup::Hash(set) => set.contains_key(name),
        }
    }
}

/// The patch from the pod before the rewrite (its `metadata` as noted by
/// [`MetadataBefore::of`] and its `spec` as the core gave it back) to `after`, the pod the
/// core rewrote: the JSON text of the patch and its number of operations (0: no change).
pub fn diff(metadata: &MetadataBefore, spec: &Value, after: &Value) -> (Vec<u8>, usize) {
    let mut w = PatchWriter::new();
    let meta_after = after.get("metadata");
    let len = w.push_key("metadata");
    match (metadata, meta_after) {
        (MetadataBefore::Absent, None) => {}
        (MetadataBefore::Absent, Some(a)) => w.op("add", Some(a)),
        (_, None) => w.op("remove", None),
        (MetadataBefore::NotAMap(b), Some(a)) => w.value(b, a),
        (MetadataBefore::Map(_), Some(a)) if !a.is_object() => w.op("replace", Some(a)),
        (MetadataBefore::Map(b), Some(a)) => {
            let inner = w.push_key("annotations");
            match (b, a.get("annotations")) {
                (None, None) => {}
                (None, Some(a)) => w.op("add", Some(a)),
                (Some(_), None) => w.op("remove", None),
                (Some(b), Some(a)) => w.value(b, a),
            }
            w.pop(inner);
        }
    }
    w.pop(len);
    let len = w.push_key("spec");
    match after.get("spec") {
        Some(a) => w.value(spec, a),
        None => w.op("remove", None),
    }
    w.pop(len);
    if w.operations > 0 {
        w.out.push(b']');
    }
    (w.out, w.operations)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The patch applies to `before` and gives `after`; returns its operations.
    fn check(before: Value, after: Value) -> Vec<Value> {
        let (text, n) = diff(&MetadataBefore::of(&before), &before["spec"], &after);
        if n == 0 {
            assert!(text.is_empty());
            assert_eq!(before, after);
            return Vec::new();
        }
        let patch: json_patch::Patch = serde_json::from_slice(&text).expect("a JSON Patch");
        let mut patched = before.clone();
        json_patch::patch(&mut patched, &patch).expect("applies");
        assert_eq!(patched, after);
        let ops: Vec<Value> = serde_json::from_slice(&text).expect("json");
        assert_eq!(ops.len(), n);
        ops
    }

    #[test]
    fn prepended_named_items_are_added_and_the_rest_compared_by_name() {
        let before = json!({"spec": {"initContainers": [
            {"name": "migrate", "image": "app", "env": [{"name": "A", "value": "1"}]}
        ]}});
        let after = json!({"spec": {"initContainers": [
            {"name": "rofs-install", "image": "rofs"},
            {"name": "rofs-seed-app", "image": "app"},
            {"name": "migrate", "image": "app", "env": [{"name": "A", "value": "1"}],
             "securityContext": {"readOnlyRootFilesystem": true}}
        ]}});
        let ops = check(before, after);
        assert_eq!(
            ops,
            [
                json!({"op": "add", "path": "/spec/initContainers/0", "value": {"name": "rofs-install", "image": "rofs"}}),
                json!({"op": "add", "path": "/spec/initContainers/1", "value": {"name": "rofs-seed-app", "image": "app"}}),
                json!({"op": "add", "path": "/spec/initContainers/2/securityContext", "value": {"readOnlyRootFilesystem": true}}),
            ]
        );
    }

    #[test]
    fn removed_and_reordered_named_items() {
        // Removed from the middle and the end, added between.
        let before = json!({"spec": {"volumes": [
            {"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "d"}
        ]}});
        let after = json!({"spec": {"volumes": [
            {"name": "a"}, {"name": "x"}, {"name": "c", "emptyDir": {}}, {"name": "y"}
        ]}});
        let ops = check(before, after);
        assert_eq!(ops[0]["path"], "/spec/volumes/3");
        assert_eq!(ops[1]["path"], "/spec/volumes/1");
        // Another order: index by index.
        let before = json!({"spec": {"volumes": [{"name": "a"}, {"name": "b"}]}});
        let after = json!({"spec": {"volumes": [{"name": "b"}, {"name": "a"}]}});
        let ops = check(before, after);
        assert_eq!(ops.len(), 2, "{ops:?}");
        // A name twice, items without a name, not objects: index by index.
        for (b, a) in [
            (
                json!([{"name": "a"}, {"name": "a"}]),
                json!([{"name": "z"}, {"name": "a"}, {"name": "a"}]),
            ),
            (
                json!([{"x": 1}, {"name": "a"}]),
                json!([{"name": "b"}, {"x": 1}, {"name": "a"}]),
            ),
            (json!([1, 2, 3]), json!([0, 1, 2, 3])),
            (json!([1, 2, 3]), json!([1])),
        ] {
            check(json!({"spec": {"l": b}}), json!({"spec": {"l": a}}));
        }
    }

    #[test]
    fn long_named_lists_are_hashed() {
        let names = |r: std::ops::Range<usize>| -> Vec<Value> {
            r.map(|i| json!({"name": format!("v{i}")})).collect()
        };
        let mut after = names(0..5);
        after.extend(names(10..100));
        let ops = check(
            json!({"spec": {"volumes": names(5..100)}}),
            json!({"spec": {"volumes": after}}),
        );
        // v5..v9 removed, v0..v4 added.
        assert_eq!(ops.len(), 10, "{ops:?}");
        let mut twice = names(0..40);
        twice.push(json!({"name": "v3"}));
        check(
            json!({"spec": {"volumes": twice}}),
            json!({"spec": {"volumes": names(0..41)}}),
        );
    }

    #[test]
    fn metadata_and_annotations_created_removed_replaced() {
        let spec = json!({"containers": []});
        let with = |meta: Value| {
            // `Value::Null` here: no metadata at all.
            let mut pod = json!({"kind": "Pod", "spec": spec.clone()});
            if !meta.is_null() {
                pod["metadata"] = meta;
            }
            pod
        };
        let status = json!({"annotations": {"rofs.io/status": "{}"}});
        check(with(Value::Null), with(status.clone()));
        check(with(status.clone()), with(Value::Null));
        check(
            with(json!({"name": "p"})),
            with(json!({"name": "p", "annotations": {"a": "1"}})),
        );
        check(with(json!({"annotations": {"a": "1"}})), with(json!({})));
        check(
            with(json!({"annotations": {"a": "1", "b/c~d": "2"}})),
            with(json!({"annotations": {"a": "1", "rofs.io/status": "{}"}})),
        );
        check(with(json!({"annotations": null})), with(status.clone()));
        let mut null_meta = json!({"kind": "Pod", "spec": spec.clone()});
        null_meta["metadata"] = Value::Null;
        check(null_meta, with(status));
        // Unchanged.
        check(with(json!({"name": "p"})), with(json!({"name": "p"})));
    }

    /// Keys are matched in step while in the same order, by hash once they are not: moved,
    /// added and removed keys give the same operations either way.
    #[test]
    fn keys_moved_added_and_removed() {
        let ops = check(
            json!({"spec": {"a": 1, "b": 2, "c": {"x": 1, "y": 2}, "e": 5}}),
            json!({"spec": {"c": {"y": 2, "x": 3}, "a": 1, "d": 4, "e": 5}}),
        );
        assert_eq!(
            ops,
            [
                json!({"op": "replace", "path": "/spec/c/x", "value": 3}),
                json!({"op": "add", "path": "/spec/d", "value": 4}),
                json!({"op": "remove", "path": "/spec/b"}),
            ]
        );
        // The same keys in another order: no change.
        check(
            json!({"spec": {"a": 1, "b": {"x": [1, 2]}}}),
            json!({"spec": {"b": {"x": [1, 2]}, "a": 1}}),
        );
    }

    #[test]
    fn pointer_tokens_are_escaped() {
        let before = json!({"spec": {"nodeSelector": {"a/b": "1", "c~d": "2"}}});
        let after = json!({"spec": {"nodeSelector": {"a/b": "3", "e~/f": "4"}}});
        let ops = check(before, after);
        assert_eq!(ops[0]["path"], "/spec/nodeSelector/a~1b");
        assert_eq!(ops[1]["path"], "/spec/nodeSelector/e~0~1f");
        assert_eq!(ops[2]["path"], "/spec/nodeSelector/c~0d");
    }
}
