//! A typed read view of a pod spec, and the one walk over its containers that every part of
//! rofs uses (the rewrite, writable copies, warnings, the config checksum, the webhook's image
//! profiles).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::{ErrorKind, Location, RewriteError};
use crate::settings::normalize_path;

/// The two lists of a pod spec that hold containers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerList {
    Containers,
    InitContainers,
}

impl ContainerList {
    /// In the order rofs walks them: app containers first.
    pub const ALL: [ContainerList; 2] = [ContainerList::Containers, ContainerList::InitContainers];

    /// The pod spec's key for this list.
    pub fn key(self) -> &'static str {
        match self {
            ContainerList::Containers => "containers",
            ContainerList::InitContainers => "initContainers",
        }
    }
}

/// Every container of a pod spec (`containers`, then `initContainers`), with its list and
/// index. Lists that are missing, `null` or not lists are empty here ([`Pod::read`] refuses
/// the last).
pub fn containers(spec: &Value) -> impl Iterator<Item = (ContainerList, usize, &Value)> {
    ContainerList::ALL.into_iter().flat_map(move |list| {
        spec.get(list.key())
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .map(move |(index, c)| (list, index, c))
    })
}

/// A container's mount, as far as rofs needs to know it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// The volume, when the mount names one.
    pub volume: Option<String>,
    /// The mountPath, normalized (as written when it cannot be).
    pub path: String,
}

/// A container of the pod, as far as the rewrite needs to know it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerRef {
    pub list: ContainerList,
    pub index: usize,
    pub name: String,
    /// One of the workload's own run-to-completion initContainers (not a native sidecar).
    pub init: bool,
    pub mounts: Vec<Mount>,
    /// The container's `image`, as written (what `--profile auto` matches).
    pub image: Option<String>,
}

/// The kinds of volume whose files the kubelet writes and rofs can keep a writable copy of.
pub const COPYABLE: [&str; 4] = ["configMap", "secret", "projected", "downwardAPI"];

/// A pod spec, read and checked: what the planner works from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pod {
    /// Where the spec is in its document.
    pub at: Location,
    /// App containers, then initContainers.
    pub containers: Vec<ContainerRef>,
    /// Volume name -> its copyable kind (`configMap`...), `None` for any other kind.
    pub volumes: BTreeMap<String, Option<&'static str>>,
    /// The spec sets `shareProcessNamespace: true`.
    pub share_process_namespace: bool,
}

impl Pod {
    /// Read a pod spec at `at`. Refuses what the rewrite cannot work with: lists that are not
    /// lists, containers without a name, mounts without a path, a pod without containers.
    pub fn read(spec: &Map<String, Value>, at: &Location) -> Result<Pod, RewriteError> {
        let mut containers = Vec::new();
        for list in ContainerList::ALL {
            let here = at.key(list.key());
            match spec.get(list.key()) {
                None | Some(Value::Null) => {}
                Some(Value::Array(items)) => {
                    for (index, c) in items.iter().enumerate() {
                        containers.push(read_container(c, list, index, &here.index(index))?);
                    }
                }
                Some(_) => return Err(RewriteError::new(here, ErrorKind::NotAList)),
            }
            if list == ContainerList::Containers && containers.is_empty() {
                return Err(RewriteError::new(here, ErrorKind::NoContainers));
            }
        }
        let volumes = match spec.get("volumes") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Array(v)) => v
                .iter()
                .filter_map(|v| {
                    let name = v.get("name")?.as_str()?.to_string();
                    let kind = COPYABLE.iter().find(|k| v.get(**k).is_some()).copied();
                    Some((name, kind))
                })
                .collect(),
            Some(_) => return Err(RewriteError::new(at.key("volumes"), ErrorKind::NotAList)),
        };
        Ok(Pod {
            at: at.clone(),
            containers,
            volumes,
            share_process_namespace: spec.get("shareProcessNamespace") == Some(&Value::Bool(true)),
        })
    }

    /// The container at `list[index]`.
    pub fn container(&self, list: ContainerList, index: usize) -> Option<&ContainerRef> {
        self.containers
            .iter()
            .find(|c| c.list == list && c.index == index)
    }

    /// Names of every container, in walk order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.containers.iter().map(|c| c.name.as_str())
    }
}

fn read_container(
    c: &Value,
    list: ContainerList,
    index: usize,
    here: &Location,
) -> Result<ContainerRef, RewriteError> {
    let name = c
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| RewriteError::new(here.clone(), ErrorKind::UnnamedContainer))?;
    let mounts = match c.get("volumeMounts") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(m)) => m
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let path = m.get("mountPath").and_then(Value::as_str).ok_or_else(|| {
                    RewriteError::new(
                        here.key("volumeMounts").index(i),
                        ErrorKind::MountWithoutPath,
                    )
                })?;
                Ok(Mount {
                    volume: m.get("name").and_then(Value::as_str).map(String::from),
                    path: normalize_path(path).unwrap_or_else(|_| path.to_string()),
                })
            })
            .collect::<Result<_, RewriteError>>()?,
        Some(_) => {
            return Err(RewriteError::new(
                here.key("volumeMounts"),
                ErrorKind::NotAList,
            ));
        }
    };
    Ok(ContainerRef {
        list,
        index,
        name: name.to_string(),
        init: list == ContainerList::InitContainers
            && c.get("restartPolicy").and_then(Value::as_str) != Some("Always"),
        mounts,
        image: c.get("image").and_then(Value::as_str).map(String::from),
    })
}

/// The annotations of a pod template, created where missing. `metadata: null` and
/// `annotations: null` (what Helm renders for an empty block) count as empty maps, as they do
/// for the API server; a new `metadata` goes where a person would write it, before `spec`.
pub fn annotations_mut(tpl: &mut Map<String, Value>) -> &mut Map<String, Value> {
    if !tpl.contains_key("metadata") {
        let at = tpl.keys().position(|k| k == "spec").unwrap_or(tpl.len());
        tpl.shift_insert(at, "metadata".into(), Value::Null);
    }
    let meta = map_mut(tpl.entry("metadata").or_insert(Value::Null));
    map_mut(meta.entry("annotations").or_insert(Value::Null))
}

/// `v` as a map: `null` (or anything else) becomes an empty map first. Callers have checked
/// that `v` is a map or `null`.
pub fn map_mut(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    match v {
        Value::Object(m) => m,
        _ => unreachable!("made a map above"),
    }
}

/// `v` as a list: `null` (or anything else) becomes an empty list first.
pub fn list_mut(v: &mut Value) -> &mut Vec<Value> {
    if !v.is_array() {
        *v = Value::Array(Vec::new());
    }
    match v {
        Value::Array(l) => l,
        _ => unreachable!("made a list above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn walks_app_containers_then_init_containers() {
        let spec = json!({
            "initContainers": [{"name": "i0"}, {"name": "sidecar", "restartPolicy": "Always"}],
            "containers": [{"name": "c0", "volumeMounts": [{"name": "v", "mountPath": "/a//b/"}]}],
            "volumes": [{"name": "v", "configMap": {"name": "x"}}, {"name": "w", "emptyDir": {}}],
        });
        let names: Vec<&str> = containers(&spec)
            .filter_map(|(_, _, c)| c["name"].as_str())
            .collect();
        assert_eq!(names, ["c0", "i0", "sidecar"]);
        let pod = Pod::read(
            spec.as_object().expect("map"),
            &Location::root().key("spec"),
        )
        .expect("valid");
        assert_eq!(pod.names().collect::<Vec<_>>(), names);
        assert_eq!(pod.containers[0].mounts[0].path, "/a/b");
        assert!(pod.containers[1].init && !pod.containers[2].init);
        assert_eq!(pod.volumes["v"], Some("configMap"));
        assert_eq!(pod.volumes["w"], None);
    }

    #[test]
    fn read_errors_locate() {
        let spec = json!({"containers": [{"name": "a", "volumeMounts": [{"name": "v"}]}]});
        let e = Pod::read(
            spec.as_object().expect("map"),
            &Location::root().key("spec"),
        )
        .expect_err("no mountPath");
        assert_eq!(e.at.to_string(), "spec.containers[0].volumeMounts[0]");
        assert_eq!(e.kind, ErrorKind::MountWithoutPath);
        let empty = json!({"containers": []});
        let e = Pod::read(empty.as_object().expect("map"), &Location::root()).expect_err("empty");
        assert_eq!(e.kind, ErrorKind::NoContainers);
    }
}
