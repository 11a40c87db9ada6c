//! `rofs.io/status`: what rofs injected into a pod template, so that rewriting its output
//! first removes exactly that (idempotence).
//!
//! The annotation is part of the pod, so a pod author can write it too. Mutating webhooks run
//! in name order: a forged status listing a mesh's sidecar or a PVC would have rofs remove
//! them. So before anything is removed, every entry must be provably rofs's own: a name rofs
//! generates *and* the shape rofs injects (the agent's command, mounts only under `/.rofs`,
//! an emptyDir). One entry that is not refuses the whole rewrite: nothing is removed.
//!
//! A container's shape: rofs's command, the `rofs` volume mounted at `/.rofs`, and every other
//! mount either under `/.rofs` (rofs's own) or *admission-added*: `readOnly: true`, of a volume
//! that the pod has and that is not an emptyDir. Admission plugins run before any webhook and
//! mount things into every container, rofs's own too: the ServiceAccount plugin (on by default,
//! `automountServiceAccountToken` defaults to true) adds a read-only mount of its projected
//! token volume at `/var/run/secrets/kubernetes.io/serviceaccount`, and CSI or secret
//! injectors do the same. Refusing those would refuse every pod rofs patched once it is stored
//! (the webhook's reinvocation, `kubectl get pod -o yaml | rofs patch`). Tolerating them does
//! not open what the check protects: the container still has to be named and run as rofs's,
//! removing it removes only that container (never the volume, which is checked on its own),
//! and a read-only mount of a non-emptyDir volume is not where rofs keeps anything.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{ErrorKind, Location, RewriteError};
use crate::names::{
    AGENT_BINARY, AGENT_IMAGE_VOLUME, AGENT_IN_IMAGE, AGENT_MOUNT, AGENT_VOLUME, INSTALL_CONTAINER,
    STATE_VOLUME, SYNC_CONTAINER, SYNC_INIT_CONTAINER, copy_name, seed_container_name, volume_name,
};
use crate::settings::WritablePath;

/// What rofs injected into a pod template, stored in [`crate::annotations::STATUS`].
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusAnnotation {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub init_containers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    /// The writable paths applied, per container.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub writable: BTreeMap<String, Vec<WritablePath>>,
    /// Writable copies of configMap/secret volumes: source volume -> its emptyDir copy.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub writable_volumes: BTreeMap<String, String>,
    /// rofs set `shareProcessNamespace: true` (for a signal reload hook).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub share_process_namespace: bool,
}

/// A status entry that rofs cannot have written: what it names and why it is not rofs's.
fn forged(at: &Location, entry: String, reason: &str) -> RewriteError {
    let reason = reason.to_string();
    RewriteError::new(at.clone(), ErrorKind::ForgedStatus { entry, reason })
}

/// The items named `name` in `spec[list]`.
fn named<'a>(spec: &'a Map<String, Value>, list: &str, name: &str) -> Vec<&'a Value> {
    spec.get(list)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c.get("name").and_then(Value::as_str) == Some(name))
        .collect()
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|s| s.as_str().unwrap_or_default())
        .collect()
}

/// rofs's containers run the agent (or the shell seeder's script), mount the `rofs` volume at
/// `/.rofs`, and otherwise only mount under `/.rofs` or [`admission_added`] mounts.
fn injected_shape(c: &Value, kind: &str, spec: &Map<String, Value>) -> bool {
    let command = strings(c.get("command"));
    let runs = match (kind, command.as_slice()) {
        ("install", [bin, "install", _]) => *bin == AGENT_IN_IMAGE,
        ("seed", [bin, "seed", ..]) | ("sync", [bin, "sync", ..]) => *bin == AGENT_BINARY,
        ("seed", ["/bin/sh", "-c", script]) => script.starts_with("set -eu\n"),
        _ => false,
    };
    let mounts = c.get("volumeMounts").and_then(Value::as_array);
    let path = |m: &Value| m.get("mountPath").and_then(Value::as_str).map(String::from);
    let mounts_rofs = mounts.is_some_and(|m| {
        m.iter().any(|m| {
            m.get("name").and_then(Value::as_str) == Some(AGENT_VOLUME)
                && path(m).as_deref() == Some(AGENT_MOUNT)
        }) && m
            .iter()
            .all(|m| path(m).is_some_and(|p| under_rofs(&p)) || admission_added(m, spec))
    });
    runs && mounts_rofs
}

/// `/.rofs` or a path under it: where rofs mounts its volumes in its own containers.
pub(crate) fn under_rofs(path: &str) -> bool {
    path == AGENT_MOUNT || path.starts_with("/.rofs/")
}

/// A mount that an admission plugin may have added to every container, rofs's own too (the
/// ServiceAccount plugin's token, CSI or secret injectors): read-only, of a volume that exists
/// in the pod and is not an emptyDir, so it cannot be where rofs keeps or seeds anything.
pub(crate) fn admission_added(m: &Value, spec: &Map<String, Value>) -> bool {
    let Some(name) = m.get("name").and_then(Value::as_str) else {
        return false;
    };
    let volumes = named(spec, "volumes", name);
    m.get("readOnly") == Some(&Value::Bool(true))
        && m.get("mountPath")
            .and_then(Value::as_str)
            .is_some_and(|p| !under_rofs(p))
        && !volumes.is_empty()
        && volumes
            .iter()
            .all(|v| v.as_object().is_some_and(|o| !o.contains_key("emptyDir")))
}

/// An emptyDir and nothing else: what every rofs volume is.
fn empty_dir_shape(v: &Value) -> bool {
    v.as_object().is_some_and(|o| {
        o.keys().all(|k| k == "name" || k == "emptyDir")
            && o.get("emptyDir")
                .and_then(Value::as_object)
                .is_some_and(|e| e.keys().all(|k| k == "medium" || k == "sizeLimit"))
    })
}

/// The agent's `image` volume (`--agent-delivery image-volume`): a reference and a pull
/// policy, nothing else.
fn image_shape(v: &Value) -> bool {
    v.as_object().is_some_and(|o| {
        o.keys().all(|k| k == "name" || k == "image")
            && o.get("image")
                .and_then(Value::as_object)
                .is_some_and(|e| e.keys().all(|k| k == "reference" || k == "pullPolicy"))
    })
}

impl StatusAnnotation {
    /// Check that every entry is rofs's own (see the module doc); `at` locates the annotation
    /// in error messages.
    pub(crate) fn verify(
        &self,
        spec: &Map<String, Value>,
        at: &Location,
    ) -> Result<(), RewriteError> {
        self.verify_containers(spec, at)?;
        self.verify_volumes(spec, at)?;
        self.verify_share_process_namespace(spec, at)
    }

    /// Containers: a name rofs gives and the shape rofs injects.
    fn verify_containers(
        &self,
        spec: &Map<String, Value>,
        at: &Location,
    ) -> Result<(), RewriteError> {
        let seeds: BTreeMap<String, &str> = self
            .writable
            .keys()
            .map(|c| (seed_container_name(c), c.as_str()))
            .collect();
        for (list, names) in [
            ("initContainers", &self.init_containers),
            ("containers", &self.containers),
        ] {
            for name in names {
                let entry = || format!("{list} entry {name:?}");
                let kind = match name.as_str() {
                    INSTALL_CONTAINER if list == "initContainers" => "install",
                    SYNC_INIT_CONTAINER if list == "initContainers" => "sync",
                    SYNC_CONTAINER => "sync",
                    n if list == "initContainers" && seeds.contains_key(n) => "seed",
                    _ => {
                        return Err(forged(
                            at,
                            entry(),
                            "not a name rofs gives the containers it injects",
                        ));
                    }
                };
                if !named(spec, list, name)
                    .iter()
                    .all(|c| injected_shape(c, kind, spec))
                {
                    return Err(forged(
                        at,
                        entry(),
                        "that container does not run rofs's agent with the rofs volume at /.rofs and \
                         no other mount but rofs's under /.rofs and read-only ones of volumes \
                         that are not emptyDirs",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Volumes: a name rofs gives (for a recorded path or copy) and an emptyDir (the agent's
    /// image volume: an image volume).
    fn verify_volumes(&self, spec: &Map<String, Value>, at: &Location) -> Result<(), RewriteError> {
        let mut ours: BTreeSet<String> = [AGENT_VOLUME, AGENT_IMAGE_VOLUME, STATE_VOLUME]
            .into_iter()
            .map(String::from)
            .collect();
        for (c, paths) in &self.writable {
            ours.extend(paths.iter().map(|p| volume_name(c, &p.path)));
        }
        for (source, copy) in &self.writable_volumes {
            if *copy != copy_name(source) {
                return Err(forged(
                    at,
                    format!("writableVolumes entry {source:?}"),
                    "its copy is not the volume rofs names for it",
                ));
            }
            ours.insert(copy.clone());
        }
        for name in &self.volumes {
            let entry = || format!("volumes entry {name:?}");
            if !ours.contains(name) {
                return Err(forged(at, entry(), "not a name rofs gives its volumes"));
            }
            if name == AGENT_IMAGE_VOLUME {
                if !named(spec, "volumes", name).iter().all(|v| image_shape(v)) {
                    return Err(forged(
                        at,
                        entry(),
                        "that volume is not an image volume of a reference and a pull policy",
                    ));
                }
            } else if !named(spec, "volumes", name)
                .iter()
                .all(|v| empty_dir_shape(v))
            {
                return Err(forged(at, entry(), "that volume is not an emptyDir"));
            }
        }
        Ok(())
    }

    /// `shareProcessNamespace`: only with a listed sync sidecar that sends a signal.
    fn verify_share_process_namespace(
        &self,
        spec: &Map<String, Value>,
        at: &Location,
    ) -> Result<(), RewriteError> {
        let signals = |c: &&Value| strings(c.get("command")).contains(&"--reload-signal");
        if self.share_process_namespace
            && spec.get("shareProcessNamespace") == Some(&Value::Bool(true))
        {
            let listed = self
                .init_containers
                .iter()
                .chain(&self.containers)
                .filter(|n| *n == SYNC_CONTAINER);
            let reloads = listed.count() > 0
                && ["initContainers", "containers"]
                    .iter()
                    .flat_map(|l| named(spec, l, SYNC_CONTAINER))
                    .any(|c| signals(&c));
            if !reloads {
                return Err(forged(
                    at,
                    "shareProcessNamespace".to_string(),
                    "rofs sets it only for its sync sidecar's signal reload, and there is none",
                ));
            }
        }
        Ok(())
    }

    /// Remove what an earlier rewrite injected. Call [`StatusAnnotation::verify`] first.
    pub(crate) fn strip(&self, spec: &mut Map<String, Value>) {
        if *self == StatusAnnotation::default() {
            return;
        }
        let volumes: BTreeSet<&str> = self.volumes.iter().map(String::as_str).collect();
        let ours_volume = |m: &Value| {
            m.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| volumes.contains(n))
        };
        if self.share_process_namespace {
            spec.shift_remove("shareProcessNamespace");
        }
        for (key, names) in [
            ("initContainers", &self.init_containers),
            ("containers", &self.containers),
        ] {
            let names: BTreeSet<&str> = names.iter().map(String::as_str).collect();
            let Some(list) = spec.get_mut(key).and_then(Value::as_array_mut) else {
                continue;
            };
            restore_mounts(list, &self.writable_volumes);
            list.retain(|c| {
                !c.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| names.contains(n))
            });
            for c in list.iter_mut() {
                if let Some(mounts) = c.get_mut("volumeMounts").and_then(Value::as_array_mut) {
                    mounts.retain(|m| !ours_volume(m));
                    if mounts.is_empty() {
                        c.as_object_mut().map(|o| o.shift_remove("volumeMounts"));
                    }
                }
            }
            if list.is_empty() {
                spec.shift_remove(key);
            }
        }
        if let Some(list) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
            list.retain(|v| !ours_volume(v));
            if list.is_empty() {
                spec.shift_remove("volumes");
            }
        }
    }
}

/// Undo the renaming of mounts to writable copies.
fn restore_mounts(containers: &mut [Value], copies: &BTreeMap<String, String>) {
    for c in containers {
        for m in c
            .get_mut("volumeMounts")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let Some(name) = m.get("name").and_then(Value::as_str) else {
                continue;
            };
            if let Some((source, _)) = copies.iter().find(|(_, copy)| *copy == name) {
                m["name"] = Value::String(source.clone());
            }
        }
    }
}
