//! What rofs should do: the settings model shared by every front end.
//!
//! A [`Settings`] value is one *layer* of settings. The CLI builds one from its flags and config
//! file, the webhook from its server-wide configuration, and the rewrite reads one more from the
//! workload's annotations ([`crate::annotations`]). Layers are combined per container by
//! [`crate::rewrite`]: later layers override earlier ones path by path.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::quantity::Quantity;

/// Where an emptyDir keeps its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Medium {
    /// The node's disk (the emptyDir default).
    Disk,
    /// tmpfs (`medium: Memory`): fast, but counts against the container's memory limit.
    Memory,
}

/// One path that must be writable in a container, parsed from `PATH[:OPTION]...`.
///
/// Options: `memory` (tmpfs), `disk` (the default), a size such as `64Mi` (the emptyDir
/// `sizeLimit`), `empty` (only make it writable; do not copy the image's files into it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WritablePath {
    /// Absolute, normalized path (no trailing `/`, no `//`, no `.` or `..`).
    pub path: String,
    pub medium: Medium,
    pub size_limit: Option<Quantity>,
    /// Copy the image's original contents of `path` into the volume before the app starts.
    pub seed: bool,
}

/// Errors in user-written settings values (flags, annotations, config files).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("writable path {0:?} must be absolute (start with /)")]
    NotAbsolute(String),
    #[error("writable path {0:?} is the root directory: make sub-directories writable instead")]
    Root(String),
    #[error("writable path {0:?} contains a `.` or `..` component")]
    DotComponent(String),
    #[error(
        "writable path {0:?} is under {1}, a kernel filesystem that the container runtime mounts itself"
    )]
    KernelFs(String, &'static str),
    #[error("writable path {0:?} is under /.rofs, which rofs reserves for its own volumes")]
    Reserved(String),
    #[error("empty writable path")]
    Empty,
    #[error(
        "unknown option {option:?} in {value:?}: expected `memory`, `disk`, `empty` or a size such as `64Mi`"
    )]
    UnknownOption { value: String, option: String },
    #[error("invalid size {size:?} in {value:?}: {reason}")]
    BadSize {
        value: String,
        size: String,
        reason: String,
    },
    #[error("{value:?} sets {what} twice")]
    Twice { value: String, what: &'static str },
    #[error("unknown seeder {0:?}: expected `agent` or `shell`")]
    Seeder(String),
    #[error("unknown profile {name:?}; built-in profiles: {known}")]
    UnknownProfile { name: String, known: String },
    #[error("invalid container name {0:?}: expected a DNS label (lowercase letters, digits, `-`)")]
    ContainerName(String),
    #[error("invalid volume name {0:?}: expected a DNS label (lowercase letters, digits, `-`)")]
    VolumeName(String),
    #[error("invalid reload hook {value:?}: {reason}")]
    Reload { value: String, reason: String },
    #[error("unknown conflict policy {0:?}: expected `app` (keep the app's edit) or `source`")]
    Conflict(String),
    #[error("invalid Kubernetes version {0:?}: expected MAJOR.MINOR, e.g. 1.29")]
    KubeVersion(String),
    #[error("{count} {what}: rofs takes at most {limit} per pod")]
    TooMany {
        what: &'static str,
        count: usize,
        limit: usize,
    },
}

/// At most this many writable paths per pod, counted per container (each is an emptyDir
/// volume and a mount). Keeps a hostile annotation from costing the webhook time and memory.
pub const MAX_WRITABLE_PATHS: usize = 256;
/// At most this many writable copies of configMap/secret volumes per pod.
pub const MAX_WRITABLE_VOLUMES: usize = 64;

/// Refuse more than `limit` items of `what`.
pub fn check_limit(what: &'static str, count: usize, limit: usize) -> Result<(), SettingsError> {
    if count > limit {
        return Err(SettingsError::TooMany { what, count, limit });
    }
    Ok(())
}

const KERNEL_FS: [&str; 3] = ["/proc", "/sys", "/dev"];

/// Normalize and validate an absolute path. Returns the canonical spelling.
pub fn normalize_path(raw: &str) -> Result<String, SettingsError> {
    if raw.is_empty() {
        return Err(SettingsError::Empty);
    }
    if !raw.starts_with('/') {
        return Err(SettingsError::NotAbsolute(raw.to_string()));
    }
    let mut out = String::with_capacity(raw.len());
    for part in raw.split('/').filter(|p| !p.is_empty()) {
        if part == "." || part == ".." {
            return Err(SettingsError::DotComponent(raw.to_string()));
        }
        out.push('/');
        out.push_str(part);
    }
    if out.is_empty() {
        return Err(SettingsError::Root(raw.to_string()));
    }
    for fs in KERNEL_FS {
        if is_within(&out, fs) {
            return Err(SettingsError::KernelFs(raw.to_string(), fs));
        }
    }
    if is_within(&out, "/.rofs") {
        return Err(SettingsError::Reserved(raw.to_string()));
    }
    Ok(out)
}

/// `path` itself and every directory above it, deepest first (`/a/b/c`, `/a/b`, `/a`).
pub fn self_and_ancestors(path: &str) -> impl Iterator<Item = &str> {
    std::iter::once(path).chain(
        path.char_indices()
            .rev()
            .filter(|&(i, c)| c == '/' && i > 0)
            .map(move |(i, _)| &path[..i]),
    )
}

/// `path` equals `dir` or lies below it (both normalized).
pub fn is_within(path: &str, dir: &str) -> bool {
    path == dir || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

impl FromStr for WritablePath {
    type Err = SettingsError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let value = value.trim();
        let mut parts = value.split(':');
        let path = normalize_path(parts.next().unwrap_or_default().trim())?;
        let mut medium = None;
        let mut size_limit = None;
        let mut seed = None;
        for option in parts {
            let option = option.trim();
            let twice = |what| SettingsError::Twice {
                value: value.to_string(),
                what,
            };
            match option {
                "memory" | "disk" => {
                    if medium.is_some() {
                        return Err(twice("the medium"));
                    }
                    medium = Some(if option == "memory" {
                        Medium::Memory
                    } else {
                        Medium::Disk
                    });
                }
                "empty" | "seed" => {
                    if seed.is_some() {
                        return Err(twice("seeding (`empty`/`seed`)"));
                    }
                    seed = Some(option == "seed");
                }
                _ if option.starts_with(|c: char| c.is_ascii_digit() || c == '.') => {
                    if size_limit.is_some() {
                        return Err(twice("the size"));
                    }
                    let q =
                        option
                            .parse::<Quantity>()
                            .map_err(|reason| SettingsError::BadSize {
                                value: value.to_string(),
                                size: option.to_string(),
                                reason,
                            })?;
                    size_limit = Some(q);
                }
                _ => {
                    return Err(SettingsError::UnknownOption {
                        value: value.to_string(),
                        option: option.to_string(),
                    });
                }
            }
        }
        Ok(WritablePath {
            path,
            medium: medium.unwrap_or(Medium::Disk),
            size_limit,
            seed: seed.unwrap_or(true),
        })
    }
}

impl fmt::Display for WritablePath {
    /// The canonical spelling: `PATH[:memory][:SIZE][:empty]`. Parsing it gives the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)?;
        if self.medium == Medium::Memory {
            f.write_str(":memory")?;
        }
        if let Some(size) = &self.size_limit {
            write!(f, ":{size}")?;
        }
        if !self.seed {
            f.write_str(":empty")?;
        }
        Ok(())
    }
}

impl Serialize for WritablePath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WritablePath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Parse a list of writable paths separated by commas or newlines (the annotation form).
pub fn parse_writable_list(value: &str) -> Result<Vec<WritablePath>, SettingsError> {
    split_list(value).map(str::parse).collect()
}

/// Split `a, b\nc` into `["a", "b", "c"]`, ignoring empty items.
pub fn split_list(value: &str) -> impl Iterator<Item = &str> {
    value
        .split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// How the seed initContainer copies the image's files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Seeder {
    /// A tiny initContainer from the rofs image copies the static agent into a shared volume;
    /// the seed initContainer runs it inside the app image. Works with images that have no
    /// shell and no `cp` (distroless, scratch).
    #[default]
    Agent,
    /// The seed initContainer runs the image's own `/bin/sh` and `cp -a` (the blog-post
    /// recipe). Needs no rofs image, but fails on images without a shell.
    Shell,
}

impl FromStr for Seeder {
    type Err = SettingsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "agent" => Ok(Seeder::Agent),
            "shell" => Ok(Seeder::Shell),
            other => Err(SettingsError::Seeder(other.to_string())),
        }
    }
}

impl fmt::Display for Seeder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Seeder::Agent => "agent",
            Seeder::Shell => "shell",
        })
    }
}

/// Settings that apply to one named container.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ContainerSettings {
    pub writable: Vec<WritablePath>,
    pub profiles: Vec<String>,
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
    /// Built-in profiles applied to every selected container.
    pub profiles: Vec<String>,
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

/// A reload hook run by the sync sidecar after a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reload {
    /// `signal:HUP:nginx`: send SIGHUP to every process named `nginx` (sets
    /// `shareProcessNamespace: true` on the pod).
    Signal { signal: String, process: String },
    /// `http://127.0.0.1:8080/-/reload`: POST to a loopback URL.
    Http(String),
}

const SIGNALS: [&str; 7] = ["HUP", "USR1", "USR2", "TERM", "INT", "QUIT", "WINCH"];

impl FromStr for Reload {
    type Err = SettingsError;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let value = value.trim();
        let bad = |reason: &str| SettingsError::Reload {
            value: value.to_string(),
            reason: reason.to_string(),
        };
        if let Some(rest) = value.strip_prefix("signal:") {
            let (signal, process) = rest
                .split_once(':')
                .ok_or_else(|| bad("expected signal:SIGNAL:PROCESS, e.g. signal:HUP:nginx"))?;
            let signal = signal.trim().trim_start_matches("SIG").to_ascii_uppercase();
            if !SIGNALS.contains(&signal.as_str()) {
                return Err(bad(&format!(
                    "unknown signal; expected one of {}",
                    SIGNALS.join(", ")
                )));
            }
            let process = process.trim();
            if process.is_empty() || process.contains(['/', ' ', ',']) {
                return Err(bad(
                    "expected a process name (as in /proc/PID/comm), e.g. nginx",
                ));
            }
            return Ok(Reload::Signal {
                signal,
                process: process.to_string(),
            });
        }
        if let Some(rest) = value.strip_prefix("http://") {
            let host = rest.split(['/', '?']).next().unwrap_or_default();
            let host = match host.rsplit_once(':') {
                Some((h, port)) if !h.ends_with(']') || host.starts_with('[') => {
                    if port.parse::<u16>().is_err() {
                        return Err(bad("bad port"));
                    }
                    h
                }
                _ => host,
            };
            let loopback = host == "localhost"
                || host == "[::1]"
                || host
                    .parse::<std::net::Ipv4Addr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if !loopback {
                return Err(bad(
                    "the reload URL must point at the pod itself: 127.0.0.1, [::1] or localhost",
                ));
            }
            return Ok(Reload::Http(value.to_string()));
        }
        Err(bad(
            "expected signal:SIGNAL:PROCESS or http://127.0.0.1:PORT/PATH",
        ))
    }
}

impl fmt::Display for Reload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reload::Signal { signal, process } => write!(f, "signal:{signal}:{process}"),
            Reload::Http(url) => f.write_str(url),
        }
    }
}

/// Who wins a sync conflict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Conflict {
    /// Keep the app's edit and log the conflict (default).
    #[default]
    App,
    /// The source's new content replaces the app's edit.
    Source,
}

impl FromStr for Conflict {
    type Err = SettingsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "app" => Ok(Conflict::App),
            "source" => Ok(Conflict::Source),
            other => Err(SettingsError::Conflict(other.to_string())),
        }
    }
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Conflict::App => "app",
            Conflict::Source => "source",
        })
    }
}

/// A Kubernetes `MAJOR.MINOR` version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KubeVersion {
    pub major: u32,
    pub minor: u32,
}

impl KubeVersion {
    /// The default target: native sidecars are on by default from 1.29.
    pub const DEFAULT: KubeVersion = KubeVersion {
        major: 1,
        minor: 29,
    };

    pub fn native_sidecars(self) -> bool {
        self >= KubeVersion {
            major: 1,
            minor: 29,
        }
    }
}

impl FromStr for KubeVersion {
    type Err = SettingsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().trim_start_matches('v');
        let mut parts = t.split('.');
        let major = parts.next().and_then(|p| p.parse().ok());
        let minor = parts.next().and_then(|p| {
            p.trim_end_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .ok()
        });
        match (major, minor) {
            (Some(major), Some(minor)) => Ok(KubeVersion { major, minor }),
            _ => Err(SettingsError::KubeVersion(s.to_string())),
        }
    }
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

macro_rules! serde_via_str {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
serde_via_str!(Reload);
serde_via_str!(KubeVersion);

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
        check_limit(
            "writable volumes",
            self.writable_volumes.len(),
            MAX_WRITABLE_VOLUMES,
        )?;
        let profiles = self
            .profiles
            .iter()
            .chain(self.per_container.values().flat_map(|c| c.profiles.iter()));
        for name in profiles {
            crate::profiles::lookup(name)?;
        }
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

    fn wp(s: &str) -> WritablePath {
        s.parse().expect("valid")
    }

    #[test]
    fn parses_options_in_any_order_and_prints_canonically() {
        let p = wp("/run/:empty:64Mi:memory");
        assert_eq!(p.path, "/run");
        assert_eq!(p.medium, Medium::Memory);
        assert_eq!(
            p.size_limit.as_ref().map(ToString::to_string).as_deref(),
            Some("64Mi")
        );
        assert!(!p.seed);
        assert_eq!(p.to_string(), "/run:memory:64Mi:empty");
        assert_eq!(wp(&p.to_string()), p);
        assert_eq!(wp("//var//lib/nginx").to_string(), "/var/lib/nginx");
    }

    #[test]
    fn refuses_dangerous_paths() {
        for bad in [
            "/",
            "//",
            "var/lib",
            "/var/../etc",
            "/a/./b",
            "/proc/x",
            "/sys",
            "/dev/shm",
            "/.rofs/x",
            "",
        ] {
            assert!(
                bad.parse::<WritablePath>().is_err(),
                "{bad:?} must be refused"
            );
        }
        assert!(
            "/device".parse::<WritablePath>().is_ok(),
            "/device is not /dev"
        );
    }

    #[test]
    fn refuses_bad_options() {
        let e = "/run:fast".parse::<WritablePath>().unwrap_err();
        assert!(e.to_string().contains("unknown option \"fast\""), "{e}");
        assert!("/run:memory:disk".parse::<WritablePath>().is_err());
        assert!("/run:64Mi:1Gi".parse::<WritablePath>().is_err());
        assert!("/run:64MB".parse::<WritablePath>().is_err());
    }

    #[test]
    fn splits_lists() {
        let l = parse_writable_list(" /a, /b:memory\n/c ,, ").expect("valid");
        let s: Vec<String> = l.iter().map(ToString::to_string).collect();
        assert_eq!(s, ["/a", "/b:memory", "/c"]);
    }

    #[test]
    fn reload_hooks() {
        let r: Reload = "signal:SIGHUP:nginx".parse().expect("valid");
        assert_eq!(r.to_string(), "signal:HUP:nginx");
        let r: Reload = "http://127.0.0.1:9090/-/reload".parse().expect("valid");
        assert_eq!(r, Reload::Http("http://127.0.0.1:9090/-/reload".into()));
        assert!("http://localhost/x".parse::<Reload>().is_ok());
        assert!("http://[::1]:80/".parse::<Reload>().is_ok());
        for bad in [
            "http://10.0.0.1/x",
            "http://example.com/",
            "https://127.0.0.1/",
            "signal:KILLME:x",
            "signal:HUP",
            "signal:HUP:a/b",
        ] {
            assert!(bad.parse::<Reload>().is_err(), "{bad}");
        }
    }

    #[test]
    fn kube_versions() {
        let v: KubeVersion = "v1.28.3".parse().expect("valid");
        assert!(!v.native_sidecars());
        assert!(
            "1.29"
                .parse::<KubeVersion>()
                .expect("valid")
                .native_sidecars()
        );
        assert!(
            "1.31+"
                .parse::<KubeVersion>()
                .expect("valid")
                .native_sidecars()
        );
        assert!("one".parse::<KubeVersion>().is_err());
    }

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("app-1"));
        assert!(!is_dns_label("App"));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label(&"a".repeat(64)));
    }
}
