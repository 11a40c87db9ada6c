//! The paths a container's app writes, as far as rofs knows them: the settings given to the
//! audit (`--config`, e.g. written by `rofs discover`; `--profile`), the workload's own rofs
//! annotations, and the profile that matches the container's image.

use rofs_core::catalog::{Catalog, Entry};
use rofs_core::settings::ProfileRef;
use rofs_core::{Settings, WritablePath};

/// A writable path and where the audit learned it (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownPath {
    pub path: WritablePath,
    pub origin: String,
}

/// The catalog entries whose image patterns match `image`: what `--profile auto` picks.
pub fn profiles_for_image(image: &str) -> Vec<&'static Entry> {
    Catalog::builtin()
        .map(|c| c.matching(image))
        .unwrap_or_default()
}

/// The known paths of container `name` (image `image`): later sources win per path, as in
/// `rofs patch` (the settings given to the audit, then the catalog entries that match the
/// image, then the workload's annotations). `init`: a run-to-completion initContainer, which
/// only gets the paths named for it.
pub fn known_paths(
    name: &str,
    image: Option<&str>,
    init: bool,
    given: &Settings,
    given_origin: &str,
    annotations: &Settings,
) -> Vec<KnownPath> {
    let mut out: Vec<KnownPath> = Vec::new();
    let mut add = |paths: Vec<WritablePath>, origin: &str| {
        for path in paths {
            out.retain(|k| k.path.path != path.path);
            out.push(KnownPath {
                path,
                origin: origin.to_string(),
            });
        }
    };
    let profiles =
        |list: &[ProfileRef], origin: &str, add: &mut dyn FnMut(Vec<WritablePath>, &str)| {
            for p in list {
                match p.entry() {
                    Some(e) => add(e.paths(), &format!("profile {} ({origin})", e.name)),
                    None => {
                        for e in image.map(profiles_for_image).unwrap_or_default() {
                            add(e.paths(), &format!("profile {} (auto, {origin})", e.name));
                        }
                    }
                }
            }
        };
    let layer = |s: &Settings, origin: &str, add: &mut dyn FnMut(Vec<WritablePath>, &str)| {
        if !init {
            profiles(&s.profiles, origin, add);
            add(s.writable.clone(), origin);
        }
        if let Some(cs) = s.per_container.get(name) {
            profiles(&cs.profiles, origin, add);
            add(cs.writable.clone(), origin);
        }
    };
    layer(given, given_origin, &mut add);
    if !init && let Some(image) = image {
        for e in profiles_for_image(image) {
            add(
                e.paths(),
                &format!("catalog profile {} (image {image})", e.name),
            );
        }
    }
    layer(annotations, "the workload's rofs annotations", &mut add);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The catalog's own patterns decide: its nginx entry is proven on a Debian-package image,
    /// not on the official `nginx` image, whose paths differ.
    #[test]
    fn images_match_the_catalog_patterns() {
        let names = |i: &str| -> Vec<String> {
            profiles_for_image(i)
                .iter()
                .map(|e| e.name.clone())
                .collect()
        };
        assert_eq!(names("localhost/rofs-e2e-nginx:bookworm"), ["nginx"]);
        assert_eq!(names("rofs-e2e-tomcat"), ["tomcat"]);
        assert!(names("nginx:1.27").is_empty());
        assert!(names("busybox").is_empty());
    }

    #[test]
    fn later_sources_win_per_path() {
        let mut given = Settings::default();
        given.add_writable("/var/lib/nginx:empty").expect("valid");
        given.add_writable("web=/cache").expect("valid");
        let mut ann = Settings::default();
        ann.add_writable("/run:empty").expect("valid");
        let image = Some("localhost/rofs-e2e-nginx:bookworm");
        let k = known_paths("web", image, false, &given, "--config c.yaml", &ann);
        let got: Vec<(String, bool, &str)> = k
            .iter()
            .map(|k| (k.path.path.clone(), k.path.seed, k.origin.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("/cache".into(), true, "--config c.yaml"),
                (
                    "/var/lib/nginx".into(),
                    true,
                    "catalog profile nginx (image localhost/rofs-e2e-nginx:bookworm)"
                ),
                (
                    "/var/log/nginx".into(),
                    true,
                    "catalog profile nginx (image localhost/rofs-e2e-nginx:bookworm)"
                ),
                ("/run".into(), false, "the workload's rofs annotations"),
            ]
        );
        // A run-to-completion initContainer: only what is named for it.
        let k = known_paths("init", image, true, &given, "x", &ann);
        assert!(k.is_empty(), "{k:?}");
    }
}
