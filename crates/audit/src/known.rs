//! The paths a container's app writes, as far as rofs knows them: the settings given to the
//! audit (`--config`, e.g. written by `rofs discover`; `--profile`), the workload's own rofs
//! annotations, and the profile that matches the container's image.

use rofs_core::settings::ProfileRef;
use rofs_core::{Settings, WritablePath};

/// A writable path and where the audit learned it (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownPath {
    pub path: WritablePath,
    pub origin: String,
}

/// The built-in profile for an image, matched by the image's repository name (the last
/// path component, without tag or digest) equal to the profile's name: `nginx:1.27` and
/// `docker.io/library/nginx@sha256:...` are `nginx`; `nginx-unprivileged` is not (its paths
/// differ). The profile catalog's own image patterns replace this once they exist.
pub fn profile_for_image(image: &str) -> Option<ProfileRef> {
    let without_digest = image.split('@').next().unwrap_or_default();
    let last = without_digest.rsplit('/').next().unwrap_or_default();
    let repo = last.split(':').next().unwrap_or_default();
    if repo.is_empty() {
        return None;
    }
    rofs_core::profiles::PROFILES
        .iter()
        .find(|p| p.name == repo)
        .and_then(|p| p.name.parse().ok())
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
                add(p.profile().paths(), &format!("profile {p} ({origin})"));
            }
            add(s.writable.clone(), origin);
        }
        if let Some(cs) = s.per_container.get(name) {
            for p in &cs.profiles {
                add(p.profile().paths(), &format!("profile {p} ({origin})"));
            }
            add(cs.writable.clone(), origin);
        }
    };
    layer(given, given_origin, &mut add);
    if !init && let Some(p) = image.and_then(profile_for_image) {
        add(
            p.profile().paths(),
            &format!("profile {p} (image {})", image.unwrap_or_default()),
        );
    }
    layer(annotations, "the workload's rofs annotations", &mut add);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_match_profiles_by_repository_name() {
        let name = |i: &str| profile_for_image(i).map(|p| p.name());
        assert_eq!(name("nginx"), Some("nginx"));
        assert_eq!(name("nginx:1.27"), Some("nginx"));
        assert_eq!(name("docker.io/library/nginx@sha256:abc"), Some("nginx"));
        assert_eq!(
            name("registry.example.com:5000/web/tomcat:10"),
            Some("tomcat")
        );
        assert_eq!(name("nginx-unprivileged:1"), None);
        assert_eq!(name("my-nginx"), None);
        assert_eq!(name(""), None);
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
            Some("nginx:1"),
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
                    "profile nginx (image nginx:1)"
                ),
                (
                    "/var/log/nginx".into(),
                    true,
                    "profile nginx (image nginx:1)"
                ),
                ("/run".into(), false, "the workload's rofs annotations"),
            ]
        );
        // A run-to-completion initContainer: only what is named for it.
        let k = known_paths("init", Some("nginx:1"), true, &given, "x", &ann);
        assert!(k.is_empty(), "{k:?}");
    }
}
