//! Writable paths: the `PATH[:OPTION]...` grammar, normalization, nesting.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::SettingsError;
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

const KERNEL_FS: [&str; 3] = ["/proc", "/sys", "/dev"];

/// The longest writable path rofs takes, in bytes (Linux PATH_MAX).
pub const MAX_PATH_BYTES: usize = 4096;
/// The longest component of a writable path, in bytes (Linux NAME_MAX).
pub const MAX_COMPONENT_BYTES: usize = 255;

/// The first bytes of a long value, for an error message (cut at a char boundary).
fn start_of(raw: &str) -> String {
    let mut end = raw.len().min(64);
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    raw[..end].to_string()
}

/// Normalize and validate an absolute path. Returns the canonical spelling.
pub fn normalize_path(raw: &str) -> Result<String, SettingsError> {
    if raw.is_empty() {
        return Err(SettingsError::Empty);
    }
    if !raw.starts_with('/') {
        return Err(SettingsError::NotAbsolute(raw.to_string()));
    }
    // Checked before anything else is done with the value: longer paths cannot be mounted
    // and would make every comparison of paths expensive.
    if raw.len() > MAX_PATH_BYTES {
        let out: usize = raw
            .split('/')
            .filter(|p| !p.is_empty())
            .map(|p| p.len() + 1)
            .sum();
        if out > MAX_PATH_BYTES {
            return Err(SettingsError::PathTooLong {
                start: start_of(raw),
                len: out,
                limit: MAX_PATH_BYTES,
            });
        }
    }
    let mut out = String::with_capacity(raw.len());
    for part in raw.split('/').filter(|p| !p.is_empty()) {
        if part == "." || part == ".." {
            return Err(SettingsError::DotComponent(raw.to_string()));
        }
        if part.len() > MAX_COMPONENT_BYTES {
            return Err(SettingsError::ComponentTooLong {
                start: start_of(raw),
                len: part.len(),
                limit: MAX_COMPONENT_BYTES,
            });
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
}
