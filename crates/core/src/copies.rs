//! Which configMap/secret/projected/downwardAPI volumes the app sees as writable copies,
//! and who runs their sync containers.

use std::collections::BTreeSet;

use crate::error::{ErrorKind, RewriteError};
use crate::model::{CopiesPlan, CopyPlan, Request};
use crate::names::copy_name;
use crate::pod::{ContainerRef, Pod};
use crate::settings::{KubeVersion, MAX_WRITABLE_VOLUMES, Reload};

/// The writable copies: every volume named by a layer (or the earlier status) that the pod
/// has, can be copied and some container mounts.
pub(crate) fn plan_copies(
    pod: &Pod,
    req: &Request<'_>,
    warnings: &mut Vec<String>,
) -> Result<Option<CopiesPlan>, RewriteError> {
    let [s, a] = [req.settings, req.annotations];
    let mut requested: BTreeSet<&str> = req
        .previous
        .writable_volumes
        .keys()
        .map(String::as_str)
        .collect();
    requested.extend(s.writable_volumes.iter().map(String::as_str));
    requested.extend(a.writable_volumes.iter().map(String::as_str));
    if requested.is_empty() {
        return Ok(None);
    }
    let at = pod.at.key("volumes");
    if requested.len() > MAX_WRITABLE_VOLUMES {
        return Err(RewriteError::new(
            at,
            ErrorKind::TooMany {
                what: "writable volumes",
                limit: MAX_WRITABLE_VOLUMES,
            },
        ));
    }
    let mut copies = Vec::new();
    for name in requested {
        let kind = match pod.volumes.get(name) {
            None if a.writable_volumes.iter().any(|v| v == name) => {
                let name = name.to_string();
                return Err(RewriteError::new(at, ErrorKind::UnknownVolume { name }));
            }
            None => continue, // a flag-level name: checked across the whole input by the caller
            Some(None) => {
                let volume = name.to_string();
                return Err(RewriteError::new(at, ErrorKind::NotCopyable { volume }));
            }
            Some(Some(kind)) => kind,
        };
        let mounted =
            |c: &&ContainerRef| c.mounts.iter().any(|m| m.volume.as_deref() == Some(name));
        if !pod.containers.iter().any(|c| mounted(&c)) {
            warnings.push(format!(
                "volume {name:?} is marked writable but no container mounts it; nothing to copy"
            ));
            continue;
        }
        let copy = copy_name(name);
        copies.push(CopyPlan {
            source: name.to_string(),
            kind,
            copy,
        });
    }
    // The first app container wins over initContainers: its user should own the copy.
    let mounts_a_copy = |c: &&ContainerRef| {
        c.mounts.iter().any(|m| {
            copies
                .iter()
                .any(|k| m.volume.as_deref() == Some(&k.source))
        })
    };
    let Some(runner) = pod.containers.iter().find(mounts_a_copy) else {
        return Ok(None);
    };
    let reload = a.reload.clone().or_else(|| s.reload.clone());
    let share_process_namespace =
        matches!(reload, Some(Reload::Signal { .. })) && !pod.share_process_namespace;
    Ok(Some(CopiesPlan {
        copies,
        runner: (runner.list, runner.index),
        reload,
        conflict: a.sync_conflict.or(s.sync_conflict).unwrap_or_default(),
        native: (s.kube_version.unwrap_or(KubeVersion::DEFAULT)).native_sidecars(),
        share_process_namespace,
    }))
}
