//! Built-in profiles: the writable paths of common images, proven by the end-to-end tests.
//!
//! Each path is one the application writes at start or while serving; the e2e suite
//! (`tests/e2e`) removes each path in turn and shows the application then fails.

use super::error::SettingsError;
use super::path::WritablePath;

/// A named set of writable paths for a well-known image.
#[derive(Debug)]
pub struct Profile {
    pub name: &'static str,
    pub description: &'static str,
    /// Writable paths in the `PATH[:OPTION]...` grammar.
    pub writable: &'static [&'static str],
}

/// The built-in profiles, sorted by name.
pub const PROFILES: &[Profile] = &[
    // `java` and `tmp` have the same paths today; both names stay: `java` says what the
    // workload is (and gets JVM paths if one is ever needed, e.g. a non-default
    // -Djava.io.tmpdir), `tmp` is for anything else that only writes temporary files.
    Profile {
        name: "java",
        description: "Any JVM: java.io.tmpdir (/tmp) for temporary files and hsperfdata (same paths as tmp)",
        writable: &["/tmp:empty"],
    },
    Profile {
        name: "nginx",
        description: "nginx from Debian/Ubuntu packages (nginx, nginx-light, nginx-full): body and proxy temp dirs under /var/lib/nginx, logs, the pid file in /run",
        writable: &["/var/lib/nginx", "/var/log/nginx", "/run:memory:1Mi:empty"],
    },
    Profile {
        name: "tmp",
        description: "Only /tmp, empty (many apps write temporary files there)",
        writable: &["/tmp:empty"],
    },
    Profile {
        name: "tomcat",
        description: "Apache Tomcat 10 from Debian packages (tomcat10): logs, work dir (compiled JSPs), temp dir",
        writable: &["/var/log/tomcat10", "/var/cache/tomcat10", "/tmp:empty"],
    },
];

/// Find a profile by name.
pub fn lookup(name: &str) -> Result<&'static Profile, SettingsError> {
    PROFILES
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| SettingsError::UnknownProfile {
            name: name.to_string(),
            known: PROFILES
                .iter()
                .map(|p| p.name)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// A built-in profile, by name: parsed (and so checked) once, wherever the name comes from
/// (flag, annotation, config file, webhook image profile).
#[derive(Clone, Copy, Debug)]
pub struct ProfileRef(&'static Profile);

impl ProfileRef {
    pub fn profile(self) -> &'static Profile {
        self.0
    }

    pub fn name(self) -> &'static str {
        self.0.name
    }
}

impl PartialEq for ProfileRef {
    fn eq(&self, other: &Self) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for ProfileRef {}

impl PartialEq<&str> for ProfileRef {
    fn eq(&self, name: &&str) -> bool {
        self.0.name == *name
    }
}

impl std::str::FromStr for ProfileRef {
    type Err = SettingsError;
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        lookup(name.trim()).map(ProfileRef)
    }
}

impl std::fmt::Display for ProfileRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.name)
    }
}

impl serde::Serialize for ProfileRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.name)
    }
}

impl<'de> serde::Deserialize<'de> for ProfileRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Profile {
    /// The profile's paths, parsed.
    pub fn paths(&self) -> Vec<WritablePath> {
        self.writable
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_parses() {
        for p in PROFILES {
            assert_eq!(p.paths().len(), p.writable.len(), "profile {}", p.name);
        }
        let names: Vec<_> = PROFILES.iter().map(|p| p.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
    }

    #[test]
    fn unknown_profile_lists_known_ones() {
        let e = lookup("ngnix").unwrap_err().to_string();
        assert!(
            e.contains("nginx, tmp, tomcat") || e.contains("java, nginx"),
            "{e}"
        );
    }
}
