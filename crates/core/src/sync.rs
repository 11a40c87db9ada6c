//! Writable copies of ConfigMap/Secret volumes, kept in sync by the `rofs-sync` sidecar.
//!
//! For a volume `config` made writable:
//! - every container mount of `config` is renamed to the emptyDir `rofs-copy-config` (same
//!   mountPath and subPath; `readOnly` dropped: that is the point), so the app sees a copy;
//! - `rofs-sync-init` does one sync pass before the app starts, and `rofs-sync`
//!   keeps the copy in sync: a native sidecar (initContainer with `restartPolicy: Always`) for
//!   Kubernetes >= 1.29, a plain container before. Both mount the source read-only at
//!   `/.rofs/src/<volume>` and the copy at `/.rofs/dst/<copy>`, and keep their state under
//!   `/.rofs/sync` (the `rofs` volume, which lives as long as the pod);
//! - both run the image and securityContext of the first app container that mounts a writable
//!   volume (plus a read-only root, no privilege escalation, no capabilities), with the agent
//!   that `rofs-install` copied into the `rofs` volume: so they run as the app's user, even when
//!   only the image knows it; the copies belong to that user and a reload signal reaches the app.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::rewrite::{
    AGENT_BINARY, AGENT_MOUNT, AGENT_VOLUME, INSTALL_CONTAINER, RewriteError, Status, bounded_name,
    injected_security, install_container, invalid, push_all,
};
use crate::settings::{Conflict, KubeVersion, MAX_WRITABLE_VOLUMES, Reload, Settings};

pub(crate) const SYNC_INIT_CONTAINER: &str = "rofs-sync-init";
pub(crate) const SYNC_CONTAINER: &str = "rofs-sync";
const STATE_DIR: &str = "/.rofs/sync";
const SOURCE_TYPES: [&str; 4] = ["configMap", "secret", "projected", "downwardAPI"];

/// Everything the sync step needs to know, resolved from the settings layers.
pub(crate) struct Request<'a> {
    /// Volume names, sorted (so the output does not depend on flag order).
    volumes: BTreeSet<String>,
    /// The subset named by annotations: an unknown one is an error in this pod.
    from_annotations: BTreeSet<String>,
    reload: Option<Reload>,
    conflict: Conflict,
    native: bool,
    agent_image: &'a str,
}

impl<'a> Request<'a> {
    pub(crate) fn new(
        previous: &Status,
        settings: &Settings,
        annotations: &Settings,
        agent_image: &'a str,
    ) -> Self {
        let mut volumes: BTreeSet<String> = previous.writable_volumes.keys().cloned().collect();
        volumes.extend(settings.writable_volumes.iter().cloned());
        volumes.extend(annotations.writable_volumes.iter().cloned());
        Request {
            volumes,
            from_annotations: annotations.writable_volumes.iter().cloned().collect(),
            reload: annotations
                .reload
                .clone()
                .or_else(|| settings.reload.clone()),
            conflict: annotations
                .sync_conflict
                .or(settings.sync_conflict)
                .unwrap_or_default(),
            native: settings
                .kube_version
                .unwrap_or(KubeVersion::DEFAULT)
                .native_sidecars(),
            agent_image,
        }
    }
}

/// Name of the emptyDir that holds the writable copy of `volume`.
pub(crate) fn copy_name(volume: &str) -> String {
    bounded_name("rofs-copy-", volume, volume)
}

/// Undo [`apply`]'s renaming of mounts (used when stripping an earlier rewrite).
pub(crate) fn restore_mounts(containers: &mut [Value], copies: &BTreeMap<String, String>) {
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

pub(crate) fn apply(
    spec: &mut Map<String, Value>,
    at: &str,
    req: &Request<'_>,
    status: &mut Status,
    warnings: &mut Vec<String>,
) -> Result<(), RewriteError> {
    if req.volumes.is_empty() {
        return Ok(());
    }
    if req.volumes.len() > MAX_WRITABLE_VOLUMES {
        return Err(RewriteError::TooMany {
            at: format!("{at}.volumes"),
            what: "writable volumes",
            limit: MAX_WRITABLE_VOLUMES,
        });
    }
    // Find each volume and check it is a kind that can be copied.
    let declared: BTreeMap<String, &'static str> = spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let name = v.get("name")?.as_str()?.to_string();
            let kind = SOURCE_TYPES
                .iter()
                .find(|t| v.get(**t).is_some())
                .copied()
                .unwrap_or("");
            Some((name, kind))
        })
        .collect();
    let mut chosen: Vec<(String, &'static str)> = Vec::new();
    for name in &req.volumes {
        match declared.get(name) {
            None if req.from_annotations.contains(name) => {
                return Err(invalid(
                    format!("{at}.volumes"),
                    format!(
                        "annotation rofs.io/writable-volumes names volume {name:?}, but the pod has no such volume"
                    ),
                ));
            }
            None => continue, // a flag-level name: checked across the whole input by the caller
            Some(&"") => {
                return Err(invalid(
                    format!("{at}.volumes"),
                    format!(
                        "volume {name:?} cannot be a writable copy: only configMap, secret, projected and downwardAPI volumes can (use a writable path for anything else)"
                    ),
                ));
            }
            Some(kind) => chosen.push((name.clone(), kind)),
        }
    }

    // Rename the app's mounts to the copies; remember whose securityContext to use.
    // (container, found among initContainers)
    let mut runner: Option<(Value, bool)> = None;
    let mut used: BTreeSet<String> = BTreeSet::new();
    for key in ["initContainers", "containers"] {
        for c in spec
            .get_mut(key)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let ours = c
                .get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| status.init_containers.iter().any(|x| x == n));
            if ours {
                continue;
            }
            let mut mounted = false;
            for m in c
                .get_mut("volumeMounts")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                let Some(name) = m.get("name").and_then(Value::as_str).map(String::from) else {
                    continue;
                };
                if chosen.iter().any(|(v, _)| *v == name) {
                    m["name"] = Value::String(copy_name(&name));
                    if let Some(o) = m.as_object_mut() {
                        o.shift_remove("readOnly");
                    }
                    used.insert(name);
                    mounted = true;
                }
            }
            // The first app container wins over initContainers: its user should own the copy.
            let replace = match &runner {
                None => true,
                Some((_, from_init)) => *from_init && key == "containers",
            };
            if mounted && replace {
                runner = Some((c.clone(), key == "initContainers"));
            }
        }
    }
    for (name, _) in chosen.iter().filter(|(n, _)| !used.contains(n)) {
        warnings.push(format!(
            "volume {name:?} is marked writable but no container mounts it; nothing to copy"
        ));
    }
    chosen.retain(|(n, _)| used.contains(n));
    let Some((runner, _)) = runner else {
        return Ok(());
    };

    // Volumes: the copies (secrets stay in memory, never on the node's disk) and `rofs`.
    let mut volumes = Vec::new();
    if !status.volumes.iter().any(|v| v == AGENT_VOLUME) {
        volumes.push(
            json!({"name": AGENT_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}),
        );
        status.volumes.push(AGENT_VOLUME.to_string());
    }
    for (name, kind) in &chosen {
        let copy = copy_name(name);
        if declared.contains_key(&copy) {
            return Err(invalid(
                format!("{at}.volumes"),
                format!(
                    "the pod already has a volume named {copy:?}, a name rofs needs for the writable copy of {name:?}; rename that volume"
                ),
            ));
        }
        let empty_dir = if matches!(*kind, "secret" | "projected") {
            json!({"medium": "Memory", "sizeLimit": "8Mi"})
        } else {
            json!({})
        };
        volumes.push(json!({"name": copy, "emptyDir": empty_dir}));
        status.volumes.push(copy.clone());
        status.writable_volumes.insert(name.clone(), copy);
    }
    push_all(spec, "volumes", volumes, false);

    // The two containers.
    let mut mounts = vec![json!({"name": AGENT_VOLUME, "mountPath": AGENT_MOUNT})];
    let mut pairs = Vec::new();
    for (name, _) in &chosen {
        let copy = copy_name(name);
        let src = format!("{AGENT_MOUNT}/src/{name}");
        let dst = format!("{AGENT_MOUNT}/dst/{copy}");
        mounts.push(json!({"name": name, "mountPath": src, "readOnly": true}));
        mounts.push(json!({"name": copy, "mountPath": dst}));
        pairs.push(src);
        pairs.push(dst);
    }
    // Same image and user as the app (so the copies are the app's, and a signal reaches
    // it), with the agent installed by `rofs-install`; no capabilities at all.
    let mut security = injected_security(&runner);
    security["capabilities"] = json!({"drop": ["ALL"]});
    let container = |name: &str, args: Vec<String>| {
        let mut command = vec![AGENT_BINARY.to_string(), "sync".into()];
        command.extend(args);
        command.extend(["--state-dir".to_string(), STATE_DIR.to_string()]);
        command.extend(pairs.iter().cloned());
        let mut c = json!({
            "name": name,
            "image": runner.get("image").cloned().unwrap_or(Value::Null),
        });
        if let Some(policy) = runner.get("imagePullPolicy").filter(|p| !p.is_null()) {
            c["imagePullPolicy"] = policy.clone();
        }
        let rest = json!({
            "command": command,
            "resources": {
                "requests": {"cpu": "5m", "memory": "8Mi"},
                "limits": {"memory": "32Mi"},
            },
            "securityContext": security,
            "terminationMessagePolicy": "FallbackToLogsOnError",
            "volumeMounts": mounts,
        });
        if let (Some(c), Value::Object(rest)) = (c.as_object_mut(), rest) {
            c.extend(rest);
        }
        c
    };
    let mut sidecar_args = Vec::new();
    if req.conflict == Conflict::Source {
        sidecar_args.extend(["--conflict".to_string(), "source".to_string()]);
    }
    match &req.reload {
        Some(Reload::Signal { signal, process }) => {
            sidecar_args.extend(["--reload-signal".to_string(), format!("{signal}:{process}")]);
            if spec.get("shareProcessNamespace") != Some(&Value::Bool(true)) {
                spec.insert("shareProcessNamespace".into(), Value::Bool(true));
                status.share_process_namespace = true;
            }
        }
        Some(Reload::Http(url)) => {
            sidecar_args.extend(["--reload-url".to_string(), url.clone()]);
        }
        None => {}
    }
    let init = container(SYNC_INIT_CONTAINER, vec!["--once".to_string()]);
    let mut sidecar = container(SYNC_CONTAINER, sidecar_args);
    for name in [SYNC_INIT_CONTAINER, SYNC_CONTAINER] {
        let taken = ["initContainers", "containers"].iter().any(|key| {
            spec.get(*key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|c| c.get("name").and_then(Value::as_str) == Some(name))
        });
        if taken {
            return Err(invalid(
                format!("{at}.containers"),
                format!(
                    "the pod already has a container named {name:?}, a name rofs needs; rename that container"
                ),
            ));
        }
    }
    // After rofs's own initContainers (install, seeds), before the workload's; the agent
    // must be installed first (it is not, with `--seeder shell` or without seeded paths).
    let mut injected = Vec::new();
    if !status
        .init_containers
        .iter()
        .any(|c| c == INSTALL_CONTAINER)
    {
        injected.push(install_container(&runner, req.agent_image));
        status
            .init_containers
            .insert(0, INSTALL_CONTAINER.to_string());
    }
    let position = status.init_containers.len() - injected.len();
    injected.push(init);
    status.init_containers.push(SYNC_INIT_CONTAINER.to_string());
    if req.native {
        sidecar["restartPolicy"] = Value::String("Always".into());
        injected.push(sidecar);
        status.init_containers.push(SYNC_CONTAINER.to_string());
    } else {
        push_all(spec, "containers", vec![sidecar], false);
        status.containers.push(SYNC_CONTAINER.to_string());
    }
    let list = spec
        .entry("initContainers")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !list.is_array() {
        *list = Value::Array(Vec::new());
    }
    if let Some(list) = list.as_array_mut() {
        let at = position.min(list.len());
        list.splice(at..at, injected);
    }
    Ok(())
}
