//! The annotation grammar: settings carried by the workload itself.
//!
//! `rofs patch` and `rofs webhook` read the same annotations, from the pod template's
//! metadata (and, for `rofs patch`, also the workload's own metadata; the pod template wins).

use serde_json::{Map, Value};

use crate::settings::{
    ContainerSettings, MAX_WRITABLE_PATHS, MAX_WRITABLE_VOLUMES, ProfileRef, Seeder, Settings,
    SettingsError, check_limit, check_profiles, is_dns_label, parse_writable_list, split_list,
};

/// Writable paths for every container: `"/var/lib/nginx,/run:memory:16Mi:empty"`.
pub const WRITABLE: &str = "rofs.io/writable";
/// Profiles of the catalog for every container: `"nginx"`, or `"auto"` (by image).
pub const PROFILE: &str = "rofs.io/profile";
/// Only change these containers: `"app,worker"`.
pub const CONTAINERS: &str = "rofs.io/containers";
/// `agent` or `shell`.
pub const SEEDER: &str = "rofs.io/seeder";
/// Image of the install initContainer.
pub const AGENT_IMAGE: &str = "rofs.io/agent-image";
/// `install` or `image-volume`: how the agent reaches rofs's containers.
pub const AGENT_DELIVERY: &str = "rofs.io/agent-delivery";
/// ConfigMap/Secret/projected volumes (by name) the app sees as writable, synced copies.
pub const WRITABLE_VOLUMES: &str = "rofs.io/writable-volumes";
/// Reload hook after a sync: `signal:HUP:nginx` or `http://127.0.0.1:PORT/PATH`.
pub const RELOAD: &str = "rofs.io/reload";
/// `app` (default) or `source`: who wins when both changed a synced file.
pub const SYNC_CONFLICT: &str = "rofs.io/sync-conflict";
/// Written by `rofs patch --rollout-on-change`: hash of the ConfigMaps/Secrets the pod uses.
pub const CONFIG_CHECKSUM: &str = "rofs.io/config-checksum";
/// `"true"`: leave this workload alone.
pub const SKIP: &str = "rofs.io/skip";
/// Written by rofs: what it injected (makes the rewrite idempotent). Not for users to set.
pub const STATUS: &str = "rofs.io/status";
/// Read by `rofs audit` only: its findings on this workload are suppressed, with this reason
/// (docs/audit.md); the rewrite ignores it.
pub const AUDIT_IGNORE: &str = "rofs.io/audit-ignore";
/// Per-container writable paths: `writable.rofs.io/<container>`.
pub const WRITABLE_PREFIX: &str = "writable.rofs.io/";
/// Per-container profiles: `profile.rofs.io/<container>`.
pub const PROFILE_PREFIX: &str = "profile.rofs.io/";

/// Every `rofs.io/` key a user may write (the typo hint lists them).
pub const KNOWN: [&str; 12] = [
    WRITABLE,
    PROFILE,
    CONTAINERS,
    SEEDER,
    AGENT_IMAGE,
    AGENT_DELIVERY,
    WRITABLE_VOLUMES,
    RELOAD,
    SYNC_CONFLICT,
    SKIP,
    STATUS,
    AUDIT_IGNORE,
];

/// A bad annotation: its key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("annotation {key:?}: {problem}")]
pub struct AnnotationError {
    pub key: String,
    pub problem: AnnotationProblem,
}

/// What is wrong with a rofs annotation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnotationProblem {
    #[error("the value must be a string, found {0}")]
    NotAString(String),
    /// A `rofs.io/` key rofs does not know (a typo).
    #[error(
        "unknown rofs annotation; known: {}, {WRITABLE_PREFIX}<container>, {PROFILE_PREFIX}<container>",
        KNOWN.join(", ")
    )]
    UnknownKey,
    #[error("expected an image reference")]
    NotAnImage,
    #[error("expected \"true\" or \"false\", found {0:?}")]
    NotABoolean(String),
    #[error(transparent)]
    Value(#[from] SettingsError),
}

impl AnnotationError {
    fn new(key: &str, problem: impl Into<AnnotationProblem>) -> Self {
        AnnotationError {
            key: key.to_string(),
            problem: problem.into(),
        }
    }
}

/// What the annotations of one workload ask for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Annotations {
    pub settings: Settings,
    pub skip: bool,
}

fn is_ours(key: &str) -> bool {
    key.starts_with("rofs.io/")
        || key.starts_with(WRITABLE_PREFIX)
        || key.starts_with(PROFILE_PREFIX)
}

/// Read the rofs annotations out of an `annotations` map. Values that are not strings, unknown
/// `rofs.io/` keys (typos) and bad values are errors.
pub fn parse(annotations: &Map<String, Value>) -> Result<Annotations, AnnotationError> {
    let mut out = Annotations::default();
    // Paths under `writable.rofs.io/<container>` keys, counted as they come (recounting
    // every map would make many keys quadratic).
    let mut per_container_paths = 0;
    for (key, value) in annotations.iter().filter(|(k, _)| is_ours(k)) {
        let Some(value) = value.as_str() else {
            let found = value.to_string();
            return Err(AnnotationError::new(
                key,
                AnnotationProblem::NotAString(found),
            ));
        };
        per_container_paths += read_key(&mut out, key, value)?;
        // The limits per pod, charged to the key that passes them.
        let err = |e: SettingsError| AnnotationError::new(key, e);
        let s = &out.settings;
        let paths = s.writable.len() + per_container_paths;
        check_limit("writable paths", paths, MAX_WRITABLE_PATHS).map_err(err)?;
        let volumes = s.writable_volumes.len();
        check_limit("writable volumes", volumes, MAX_WRITABLE_VOLUMES).map_err(err)?;
    }
    Ok(out)
}

/// Read one `rofs.io/` annotation into `out`. Returns the number of per-container paths added.
fn read_key(out: &mut Annotations, key: &str, value: &str) -> Result<usize, AnnotationError> {
    let err = |e: SettingsError| AnnotationError::new(key, e);
    let s = &mut out.settings;
    match key {
        WRITABLE => s.writable.extend(parse_writable_list(value).map_err(err)?),
        PROFILE => s.profiles.extend(profile_list(value).map_err(err)?),
        CONTAINERS => {
            let names = dns_labels(value, SettingsError::ContainerName).map_err(err)?;
            s.containers = Some(names);
        }
        SEEDER => s.seeder = Some(value.parse::<Seeder>().map_err(err)?),
        AGENT_DELIVERY => s.agent_delivery = Some(value.parse().map_err(err)?),
        WRITABLE_VOLUMES => {
            let names = dns_labels(value, SettingsError::VolumeName).map_err(err)?;
            s.writable_volumes.extend(names);
        }
        RELOAD => s.reload = Some(value.parse().map_err(err)?),
        SYNC_CONFLICT => s.sync_conflict = Some(value.parse().map_err(err)?),
        AGENT_IMAGE => {
            if value.trim().is_empty() || value.contains(char::is_whitespace) {
                return Err(AnnotationError::new(key, AnnotationProblem::NotAnImage));
            }
            s.agent_image = Some(value.to_string());
        }
        SKIP => {
            out.skip = match value.trim() {
                "true" => true,
                "false" => false,
                other => {
                    let found = AnnotationProblem::NotABoolean(other.to_string());
                    return Err(AnnotationError::new(key, found));
                }
            }
        }
        STATUS | CONFIG_CHECKSUM => {} // written by rofs
        AUDIT_IGNORE => {}             // read by rofs audit
        _ => return read_container_key(s, key, value),
    }
    Ok(0)
}

/// `writable.rofs.io/<container>` and `profile.rofs.io/<container>`; any other `rofs.io/`
/// key is a typo. Returns the number of paths added.
fn read_container_key(s: &mut Settings, key: &str, value: &str) -> Result<usize, AnnotationError> {
    let err = |e: SettingsError| AnnotationError::new(key, e);
    let (writable, container) = match (
        key.strip_prefix(WRITABLE_PREFIX),
        key.strip_prefix(PROFILE_PREFIX),
    ) {
        (Some(c), _) => (true, c),
        (None, Some(c)) => (false, c),
        (None, None) => return Err(AnnotationError::new(key, AnnotationProblem::UnknownKey)),
    };
    if !is_dns_label(container) {
        return Err(err(SettingsError::ContainerName(container.to_string())));
    }
    let cs: &mut ContainerSettings = s.per_container.entry(container.to_string()).or_default();
    if !writable {
        cs.profiles.extend(profile_list(value).map_err(err)?);
        return Ok(0);
    }
    let paths = parse_writable_list(value).map_err(err)?;
    let added = paths.len();
    cs.writable.extend(paths);
    Ok(added)
}

/// A comma-separated list of DNS labels (container or volume names).
fn dns_labels(value: &str, bad: fn(String) -> SettingsError) -> Result<Vec<String>, SettingsError> {
    split_list(value)
        .map(|n| {
            if is_dns_label(n) {
                Ok(n.to_string())
            } else {
                Err(bad(n.to_string()))
            }
        })
        .collect()
}

/// A comma-separated list of profile names, each once (in the order first named).
fn profile_list(value: &str) -> Result<Vec<ProfileRef>, SettingsError> {
    check_profiles(split_list(value).count())?;
    let mut out: Vec<ProfileRef> = Vec::new();
    for name in split_list(value) {
        let profile: ProfileRef = name.parse()?;
        if !out.contains(&profile) {
            out.push(profile);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ann(v: Value) -> Result<Annotations, AnnotationError> {
        parse(v.as_object().expect("object"))
    }

    #[test]
    fn reads_every_key() {
        let a = ann(json!({
            "rofs.io/writable": "/var/lib/nginx, /run:memory:1Mi:empty",
            "writable.rofs.io/sidecar": "/tmp",
            "rofs.io/profile": "nginx",
            "profile.rofs.io/sidecar": "java",
            "rofs.io/containers": "app,sidecar",
            "rofs.io/seeder": "shell",
            "rofs.io/agent-image": "example.com/rofs:1",
            "other.io/x": "ignored",
        }))
        .expect("valid");
        assert!(!a.skip);
        assert_eq!(a.settings.writable.len(), 2);
        assert_eq!(a.settings.per_container["sidecar"].writable[0].path, "/tmp");
        assert_eq!(
            a.settings.per_container["sidecar"].profiles[0].name(),
            "java"
        );
        assert_eq!(
            a.settings.containers.as_deref(),
            Some(&["app".to_string(), "sidecar".to_string()][..])
        );
        assert_eq!(a.settings.seeder, Some(Seeder::Shell));
    }

    #[test]
    fn errors_name_the_key() {
        let e = ann(json!({"rofs.io/writable": "var/lib"})).unwrap_err();
        assert_eq!(e.key, "rofs.io/writable");
        assert!(e.to_string().contains("must be absolute"), "{e}");
        let e = ann(json!({"rofs.io/writeable": "/x"})).unwrap_err();
        assert!(e.to_string().contains("unknown rofs annotation"), "{e}");
        assert_eq!(e.problem, AnnotationProblem::UnknownKey);
        assert!(
            e.to_string().contains("rofs.io/writable-volumes"),
            "the hint lists every key"
        );
        let e = ann(json!({"rofs.io/skip": "yes"})).unwrap_err();
        assert!(e.to_string().contains("expected \"true\""), "{e}");
        let e = ann(json!({"rofs.io/skip": true})).unwrap_err();
        assert!(e.to_string().contains("must be a string"), "{e}");
        let e = ann(json!({"profile.rofs.io/app": "nope"})).unwrap_err();
        assert!(e.to_string().contains("unknown profile"), "{e}");
        let e = ann(json!({"writable.rofs.io/Bad_Name": "/x"})).unwrap_err();
        assert!(e.to_string().contains("invalid container name"), "{e}");
    }

    /// `rofs audit`'s suppression annotation is no typo for rofs patch or the webhook.
    #[test]
    fn the_audit_annotation_is_known_and_changes_nothing() {
        let a =
            ann(json!({"rofs.io/audit-ignore": "legacy app, tracked in TICKET-1"})).expect("known");
        assert_eq!(a, Annotations::default());
    }
}
