//! Profiles by name: the entries of the catalog (`catalog/*.yaml`, see [`crate::catalog`]),
//! and `auto`, the entries whose image patterns match each container's image.
//!
//! Each path of a catalog entry is one the application writes at start or while serving; the
//! e2e suite (`tests/e2e`) removes each path in turn and shows the application then fails.

use super::error::SettingsError;
use crate::catalog::{AUTO, Catalog, Entry, known_names};

/// Find a catalog entry by name.
pub fn lookup(name: &str) -> Result<&'static Entry, SettingsError> {
    let unknown = || SettingsError::UnknownProfile {
        name: name.to_string(),
        known: known_names(),
    };
    let catalog = Catalog::builtin().map_err(|_| unknown())?;
    catalog.get(name).ok_or_else(unknown)
}

/// A profile named in the settings, parsed (and so checked) once, wherever the name comes from
/// (flag, annotation, config file, webhook image profile).
#[derive(Clone, Copy, Debug)]
pub enum ProfileRef {
    /// A catalog entry.
    Entry(&'static Entry),
    /// `auto`: per container, the catalog entries whose `images` patterns match its image.
    Auto,
}

impl ProfileRef {
    /// The catalog entry, `None` for `auto`.
    pub fn entry(self) -> Option<&'static Entry> {
        match self {
            ProfileRef::Entry(e) => Some(e),
            ProfileRef::Auto => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ProfileRef::Entry(e) => &e.name,
            ProfileRef::Auto => AUTO,
        }
    }
}

impl PartialEq for ProfileRef {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for ProfileRef {}

impl PartialEq<&str> for ProfileRef {
    fn eq(&self, name: &&str) -> bool {
        self.name() == *name
    }
}

impl std::str::FromStr for ProfileRef {
    type Err = SettingsError;
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.trim() {
            AUTO => Ok(ProfileRef::Auto),
            name => lookup(name).map(ProfileRef::Entry),
        }
    }
}

impl std::fmt::Display for ProfileRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for ProfileRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for ProfileRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_profile_lists_known_ones_and_auto() {
        let e = "ngnix".parse::<ProfileRef>().unwrap_err().to_string();
        assert!(e.starts_with("unknown profile \"ngnix\"; "), "{e}");
        assert!(
            e.contains("profiles: apache-php, gunicorn, java, jetty, mariadb, nginx, nodejs, php-fpm, postgresql, prometheus, rabbitmq, redis, tmp, tomcat, or auto "),
            "{e}"
        );
    }

    #[test]
    fn names_parse_to_entries_and_auto() {
        let p: ProfileRef = " nginx ".parse().expect("known");
        assert_eq!(p.entry().map(|e| e.file.as_str()), Some("nginx.yaml"));
        let auto: ProfileRef = "auto".parse().expect("auto");
        assert_eq!((auto, auto.entry().is_none()), (ProfileRef::Auto, true));
        assert_eq!(auto.to_string(), "auto");
    }
}
