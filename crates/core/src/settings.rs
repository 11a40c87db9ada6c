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
    }

    /// Check the values that cannot be checked while parsing: profile and container names.
    pub fn validate(&self) -> Result<(), SettingsError> {
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
        Ok(())
    }

    /// True when this layer asks for nothing (no paths, no profiles).
    pub fn is_empty(&self) -> bool {
        self.writable.is_empty()
            && self.profiles.is_empty()
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
    fn dns_labels() {
        assert!(is_dns_label("app-1"));
        assert!(!is_dns_label("App"));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label(&"a".repeat(64)));
    }
}
