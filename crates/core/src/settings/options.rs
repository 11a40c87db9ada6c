//! The single-valued settings: seeder, agent delivery, reload hook, conflict policy,
//! Kubernetes version.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::SettingsError;

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

/// How the agent reaches the containers that run it inside the app's image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentDelivery {
    /// The `rofs-install` initContainer copies it from the rofs image into the `rofs` volume
    /// (every Kubernetes version, one more initContainer at every pod start).
    Install,
    /// The rofs image is mounted as an `image` volume (ImageVolume: on by default from
    /// Kubernetes 1.35; the runtime needs it too, containerd >= 2.1 or CRI-O >= 1.31): no
    /// install container.
    ImageVolume,
}

impl AgentDelivery {
    /// The default for a cluster version: the image volume where Kubernetes turns it on by
    /// default, the install container below.
    pub fn default_for(version: KubeVersion) -> Self {
        if version.image_volumes() {
            AgentDelivery::ImageVolume
        } else {
            AgentDelivery::Install
        }
    }
}

impl FromStr for AgentDelivery {
    type Err = SettingsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "install" => Ok(AgentDelivery::Install),
            "image-volume" => Ok(AgentDelivery::ImageVolume),
            other => Err(SettingsError::AgentDelivery(other.to_string())),
        }
    }
}

impl fmt::Display for AgentDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AgentDelivery::Install => "install",
            AgentDelivery::ImageVolume => "image-volume",
        })
    }
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

    /// The `image` volume source (ImageVolume, KEP 4639) is on by default from 1.35 (beta;
    /// alpha in 1.31, beta but off in 1.33 and 1.34).
    pub fn image_volumes(self) -> bool {
        self >= KubeVersion {
            major: 1,
            minor: 35,
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
serde_via_str!(AgentDelivery);
serde_via_str!(Reload);
serde_via_str!(KubeVersion);

#[cfg(test)]
mod tests {
    use super::*;

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
    fn agent_delivery_defaults_to_the_image_volume_from_1_35() {
        let at = |v: &str| AgentDelivery::default_for(v.parse().expect("valid"));
        assert_eq!(at("1.29"), AgentDelivery::Install);
        assert_eq!(at("v1.34.4"), AgentDelivery::Install);
        assert_eq!(at("1.35"), AgentDelivery::ImageVolume);
        assert_eq!(at("2.0"), AgentDelivery::ImageVolume);
        let d: AgentDelivery = " image-volume".parse().expect("valid");
        assert_eq!(d.to_string(), "image-volume");
        assert!("imagevolume".parse::<AgentDelivery>().is_err());
    }
}
