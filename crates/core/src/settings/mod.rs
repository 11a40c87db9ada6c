//! What rofs should do: the settings model shared by every front end.
//!
//! A [`Settings`] value is one *layer* of settings. The CLI builds one from its flags and config
//! file, the webhook from its server-wide configuration, and the rewrite reads one more from the
//! workload's annotations ([`crate::annotations`]). Layers are combined per container by
//! [`crate::plan`]: later layers override earlier ones path by path.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

mod error;
mod options;
mod path;
pub mod profiles;

pub use error::{SettingsError, UnknownName};
pub use options::{AgentDelivery, Conflict, KubeVersion, Reload, Seeder};
pub use path::{
    MAX_COMPONENT_BYTES, MAX_PATH_BYTES, Medium, WritablePath, is_within, normalize_path,
    parse_writable_list, self_and_ancestors, split_list,
};
pub use profiles::ProfileRef;

/// At most this many writable paths per pod, counted per container (each is an emptyDir
/// volume and a mount). Keeps a hostile annotation from costing the webhook time and memory.
pub const MAX_WRITABLE_PATHS: usize = 256;
/// At most this many writable copies of configMap/secret volumes per pod.
pub const MAX_WRITABLE_VOLUMES: usize = 64;
/// At most this many profile names in one list (pod-wide, or for one container): there are
/// only a few profiles, and a name repeated many times would only cost time.
pub const MAX_PROFILES: usize = 64;
/// At most this many volumeMounts rofs adds to one pod: the writable paths' mounts, the
/// main container's paths again in each of the workload's own initContainers, and the
/// mounts of rofs's own initContainers and sidecars.
pub const MAX_POD_MOUNTS: usize = 4096;

/// `[CONTAINER=]VALUE`, the form of the `--writable` and `--profile` flags: the container the
/// value is for (`None`: every container) and the value. A value starting with `/` (a path) or
/// without `=` is for every container.
pub fn scoped(value: &str) -> (Option<&str>, &str) {
    if value.starts_with('/') {
        return (None, value);
    }
    match value.split_once('=') {
        Some((name, rest)) => (Some(name.trim()), rest.trim()),
        None => (None, value),
    }
}

/// Refuse more than `limit` items of `what`.
pub fn check_limit(what: &'static str, count: usize, limit: usize) -> Result<(), SettingsError> {
    if count > limit {
        return Err(SettingsError::TooMany { what, count, limit });
    }
    Ok(())
}

/// Refuse more than [`MAX_PROFILES`] profile names in one list.
pub fn check_profiles(count: usize) -> Result<(), SettingsError> {
    if count > MAX_PROFILES {
        return Err(SettingsError::TooManyProfiles {
            count,
            limit: MAX_PROFILES,
        });
    }
    Ok(())
}

/// Settings that apply to one named container.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ContainerSettings {
    pub writable: Vec<WritablePath>,
    pub profiles: Vec<ProfileRef>,
}

impl ContainerSettings {
    fn is_empty(&self) -> bool {
        self.writable.is_empty() && self.profiles.is_empty()
    }
}

/// One layer of settings. This is also the schema of the config file (`rofs patch --config`),
/// of the kustomize function's `spec`, and of the webhook's defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// Writable paths for every selected container.
    pub writable: Vec<WritablePath>,
    /// Profiles of the catalog applied to every selected container (`auto`: by image).
    pub profiles: Vec<ProfileRef>,
    /// Settings for one container, by container name.
    pub per_container: BTreeMap<String, ContainerSettings>,
    /// Only change these containers (by name). `None`: every container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub containers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seeder: Option<Seeder>,
    /// Image of the install initContainer (holds the static agent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_image: Option<String>,
    /// How the agent reaches the containers that run it: the `rofs-install` initContainer
    /// (`install`) or an `image` volume of the agent image (`image-volume`). Default: by
    /// `kube_version` (the image volume from 1.35).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_delivery: Option<AgentDelivery>,
    /// configMap/secret/projected/downwardAPI volumes (by volume name) that the app sees as a
    /// writable copy, kept in sync with the source by the `rofs-sync` sidecar.
    pub writable_volumes: Vec<String>,
    /// What to tell the app after the sidecar synced a change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reload: Option<Reload>,
    /// Who wins when the app edited a synced file and the source changed too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_conflict: Option<Conflict>,
    /// Kubernetes version of the target cluster, `MAJOR.MINOR`: from 1.29 the sync sidecar is
    /// a native sidecar (initContainer with `restartPolicy: Always`), before a plain container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kube_version: Option<KubeVersion>,
    /// Add `rofs.io/config-checksum` to pod templates: a hash of the ConfigMaps and Secrets of
    /// the same input stream that they reference, so that a change rolls the pods.
    pub rollout_on_change: bool,
}

impl Settings {
    /// Apply `other` on top of `self`: lists are appended (later entries win per path),
    /// single values are replaced when `other` sets them.
    pub fn merge(&mut self, other: &Settings) {
        self.writable.extend(other.writable.iter().cloned());
        self.profiles.extend(other.profiles.iter().cloned());
        for (name, cs) in &other.per_container {
            let entry = self.per_container.entry(name.clone()).or_default();
            entry.writable.extend(cs.writable.iter().cloned());
            entry.profiles.extend(cs.profiles.iter().cloned());
        }
        if other.containers.is_some() {
            self.containers.clone_from(&other.containers);
        }
        if other.seeder.is_some() {
            self.seeder = other.seeder;
        }
        if other.agent_image.is_some() {
            self.agent_image.clone_from(&other.agent_image);
        }
        if other.agent_delivery.is_some() {
            self.agent_delivery = other.agent_delivery;
        }
        for v in &other.writable_volumes {
            if !self.writable_volumes.contains(v) {
                self.writable_volumes.push(v.clone());
            }
        }
        if other.reload.is_some() {
            self.reload.clone_from(&other.reload);
        }
        if other.sync_conflict.is_some() {
            self.sync_conflict = other.sync_conflict;
        }
        if other.kube_version.is_some() {
            self.kube_version = other.kube_version;
        }
        self.rollout_on_change |= other.rollout_on_change;
    }

    /// A settings layer from the keys of a config file (the schema of `rofs patch --config`,
    /// of the KRM function's `spec`, of the webhook's defaults), checked.
    pub fn from_config(
        keys: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Settings, SettingsError> {
        let settings: Settings = serde_json::from_value(serde_json::Value::Object(keys))
            .map_err(|e| SettingsError::Config(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Add a `[CONTAINER=]PATH[:OPTION]...` value (the `--writable` flag).
    pub fn add_writable(&mut self, value: &str) -> Result<(), SettingsError> {
        let (container, path) = scoped(value);
        let path: WritablePath = path.parse()?;
        match container {
            Some(c) => self.container_mut(c).writable.push(path),
            None => self.writable.push(path),
        }
        Ok(())
    }

    /// Add a `[CONTAINER=]PROFILE` value (the `--profile` flag).
    pub fn add_profile(&mut self, value: &str) -> Result<(), SettingsError> {
        let (container, name) = scoped(value);
        let profile: ProfileRef = name.parse()?;
        match container {
            Some(c) => self.container_mut(c).profiles.push(profile),
            None => self.profiles.push(profile),
        }
        Ok(())
    }

    fn container_mut(&mut self, name: &str) -> &mut ContainerSettings {
        self.per_container.entry(name.to_string()).or_default()
    }

    /// The container and writable-volume names of this layer that no pod of the input has
    /// (`containers` and `volumes`: every name seen). Each front end refuses them.
    pub fn unknown_names(
        &self,
        containers: &BTreeSet<String>,
        volumes: &BTreeSet<String>,
    ) -> Vec<UnknownName> {
        let seen: Vec<String> = containers.iter().cloned().collect();
        let mut unknown: Vec<UnknownName> = self
            .container_names()
            .filter(|n| !containers.contains(*n))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(|name| UnknownName::Container {
                name: name.to_string(),
                seen: seen.clone(),
            })
            .collect();
        unknown.extend(
            (self.writable_volumes.iter())
                .filter(|v| !volumes.contains(*v))
                .map(|name| UnknownName::Volume { name: name.clone() }),
        );
        unknown
    }

    /// Writable paths named by this layer, for every container and per container.
    pub fn writable_count(&self) -> usize {
        self.writable.len()
            + self
                .per_container
                .values()
                .map(|c| c.writable.len())
                .sum::<usize>()
    }

    /// Check the values that cannot be checked while parsing: profile and container names,
    /// and the limits per pod.
    pub fn validate(&self) -> Result<(), SettingsError> {
        check_limit("writable paths", self.writable_count(), MAX_WRITABLE_PATHS)?;
        // Profile names are checked when parsed (ProfileRef).
        let lists =
            std::iter::once(&self.profiles).chain(self.per_container.values().map(|c| &c.profiles));
        for list in lists {
            check_profiles(list.len())?;
        }
        check_limit(
            "writable volumes",
            self.writable_volumes.len(),
            MAX_WRITABLE_VOLUMES,
        )?;
        let names = self
            .per_container
            .keys()
            .chain(self.containers.iter().flatten());
        for name in names {
            if !is_dns_label(name) {
                return Err(SettingsError::ContainerName(name.clone()));
            }
        }
        for name in &self.writable_volumes {
            if !is_dns_label(name) {
                return Err(SettingsError::VolumeName(name.clone()));
            }
        }
        Ok(())
    }

    /// True when this layer asks for nothing (no paths, no profiles).
    pub fn is_empty(&self) -> bool {
        self.writable.is_empty()
            && self.profiles.is_empty()
            && self.writable_volumes.is_empty()
            && self.per_container.values().all(ContainerSettings::is_empty)
    }

    /// Container names this layer refers to (for "unknown container" checks).
    pub fn container_names(&self) -> impl Iterator<Item = &str> {
        self.per_container
            .keys()
            .map(String::as_str)
            .chain(self.containers.iter().flatten().map(String::as_str))
    }
}

/// A Kubernetes DNS label (RFC 1123): what container and volume names must be.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoped_values_and_unknown_names() {
        assert_eq!(scoped("/tmp"), (None, "/tmp"));
        assert_eq!(scoped("app = /a=b"), (Some("app"), "/a=b"));
        assert_eq!(scoped("nginx"), (None, "nginx"));
        let mut s = Settings::default();
        s.add_writable("app=/var/lib/app:memory").expect("valid");
        s.add_writable("/tmp:empty").expect("valid");
        s.add_profile("web=nginx").expect("valid");
        assert!(s.add_profile("web=ngnix").is_err(), "checked when parsed");
        assert_eq!(
            s.per_container["app"].writable[0].to_string(),
            "/var/lib/app:memory"
        );
        assert_eq!(s.per_container["web"].profiles, ["nginx"]);
        s.writable_volumes.push("conf".into());
        let seen: BTreeSet<String> = ["app".to_string()].into();
        let unknown = s.unknown_names(&seen, &BTreeSet::new());
        let text: Vec<String> = unknown.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 2, "{text:?}");
        assert!(text[0].contains("\"web\"") && text[0].contains("containers seen: app"));
        assert!(text[1].contains("\"conf\""));
    }

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("app-1"));
        assert!(!is_dns_label("App"));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label(&"a".repeat(64)));
    }
}
