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

/// The catalog entries for an image: those whose `images` patterns match it, the rule of
/// `--profile auto` (see `rofs_core::catalog`).
pub fn profiles_for_image(image: &str) -> Vec<&'static Entry> {
    Catalog::builtin()
        .map(|c| c.matching(image))
        .unwrap_or_default()
}

/// The paths of a profile named in settings; `auto` is the entries matching the image.
fn profile_paths(p: ProfileRef, image: Option<&str>) -> Vec<WritablePath> {
    match p.entry() {
        Some(e) => e.paths(),
        None => image
            .map(profiles_for_image)
            .unwrap_or_default()
            .into_iter()
            .flat_map(|e| e.paths())
            .collect(),
    }
}

/// The known paths of container `name` (image `image`): later sources win per path, as in
/// `rofs patch` (settings given to the audit, then the image's profile, then annotations).
/// `init`: a run-to-completion initContainer, which only gets the paths named for it.
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
    let layer = |s: &Settings, origin: &str, add: &mut dyn FnMut(Vec<WritablePath>, &str)| {
        if !init {
            for p in &s.profiles {
                add(profile_paths(*p, image), &format!("profile {p} ({origin})"));
            }
            add(s.writable.clone(), origin);
        }
        if let Some(cs) = s.per_container.get(name) {
            for p in &cs.profiles {
                add(profile_paths(*p, image), &format!("profile {p} ({origin})"));
            }
            add(cs.writable.clone(), origin);
        }
    };
    layer(given, given_origin, &mut add);
    if !init && let Some(image) = image {
        for e in profiles_for_image(image) {
            add(e.paths(), &format!("profile {} (image {image})", e.name));
        }
    }
    layer(annotations, "the workload's rofs annotations", &mut add);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_match_catalog_entries_by_their_patterns() {
        // The catalog's rule (rofs_core::catalog::image): the entry's `images` patterns against
        // the repository path's last components; the entries name the images they are proven on.
        let names = |i: &str| -> Vec<&str> {
            profiles_for_image(i)
                .into_iter()
                .map(|p| p.name.as_str())
                .collect()
        };
        assert_eq!(names("localhost/rofs-e2e-nginx:bookworm"), ["nginx"]);
        assert_eq!(names("rofs-e2e-tomcat"), ["tomcat"]);
        assert_eq!(
            names("registry.example.com:5000/web/rofs-e2e-tomcat@sha256:abc"),
            ["tomcat"]
        );
        // the official nginx image has other paths: not the Debian package's profile
        assert!(names("nginx:1.27").is_empty());
        assert!(names("my-rofs-e2e-nginx").is_empty());
        assert!(names("").is_empty());
    }

    #[test]
    fn later_sources_win_per_path() {
        let mut given = Settings::default();
        given.add_writable("/var/lib/nginx:empty").expect("valid");
        given.add_writable("web=/cache").expect("valid");
        let mut ann = Settings::default();
        ann.add_writable("/run:empty").expect("valid");
        let k = known_paths(
            "web",
            Some("rofs-e2e-nginx:1"),
            false,
            &given,
            "--config c.yaml",
            &ann,
        );
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
                    "profile nginx (image rofs-e2e-nginx:1)"
                ),
                (
                    "/var/log/nginx".into(),
                    true,
                    "profile nginx (image rofs-e2e-nginx:1)"
                ),
                ("/run".into(), false, "the workload's rofs annotations"),
            ]
        );
        // A run-to-completion initContainer: only what is named for it.
        let k = known_paths("init", Some("rofs-e2e-nginx:1"), true, &given, "x", &ann);
        assert!(k.is_empty(), "{k:?}");
    }
}
