//! Which paths of a container become writable: the settings layers combined per path, and
//! nested paths folded into the outermost one.

use std::collections::BTreeMap;

use crate::catalog::{Catalog, Entry};
use crate::settings::{ProfileRef, Settings, WritablePath, is_within};

/// Combine the layers for one container: earlier status < flags/config < annotations;
/// within a layer, profiles < all-container paths < per-container ones. Later wins per path.
/// Nested paths are folded into the outermost one. Also returns how many distinct paths
/// there were before folding (what counts toward the limit per pod).
pub(crate) fn resolve_paths(
    container: &str,
    image: Option<&str>,
    previous: Option<&Vec<WritablePath>>,
    layers: [&Settings; 2],
    own_only: bool,
    warnings: &mut Vec<String>,
) -> (Vec<WritablePath>, usize) {
    let mut by_path: BTreeMap<String, WritablePath> = BTreeMap::new();
    let mut add = |paths: &[WritablePath]| {
        for p in paths {
            by_path.insert(p.path.clone(), p.clone());
        }
    };
    if let Some(p) = previous {
        add(p);
    }
    for layer in layers {
        // Pod-wide profiles and paths describe the app; a run-to-completion initContainer
        // only gets the paths named for it (it shares the main container's otherwise).
        if !own_only {
            add_profiles(&layer.profiles, container, image, warnings, &mut add);
            add(&layer.writable);
        }
        if let Some(cs) = layer.per_container.get(container) {
            add_profiles(&cs.profiles, container, image, warnings, &mut add);
            add(&cs.writable);
        }
    }
    let distinct = by_path.len();
    let (kept, covered) = outermost(by_path.into_values());
    for (p, outer) in covered {
        let outer = &kept[outer];
        if outer.medium != p.medium || outer.size_limit != p.size_limit {
            warnings.push(format!(
                "container {container:?}: {} is inside writable {}, which covers it; its own options ({p}) are ignored",
                p.path, outer.path
            ));
        } else if p.seed && !outer.seed {
            warnings.push(format!(
                "container {container:?}: {} is inside {} which is `empty`: the image's files under {} are not copied",
                p.path, outer.path, p.path
            ));
        }
    }
    (kept, distinct)
}

/// The paths of a layer's profiles, each profile once however often it is named; `auto`
/// stands for the catalog entries whose image patterns match `image`, and warns when none does.
fn add_profiles(
    profiles: &[ProfileRef],
    container: &str,
    image: Option<&str>,
    warnings: &mut Vec<String>,
    add: &mut impl FnMut(&[WritablePath]),
) {
    let mut seen: Vec<&str> = Vec::new();
    let mut apply = |entry: &'static Entry, add: &mut dyn FnMut(&[WritablePath])| {
        if !seen.contains(&entry.name.as_str()) {
            seen.push(&entry.name);
            add(&entry.paths());
        }
    };
    for profile in profiles {
        match (profile.entry(), image) {
            (Some(entry), _) => apply(entry, add),
            (None, Some(image)) => {
                let matching: Vec<&'static Entry> = match Catalog::builtin() {
                    Ok(catalog) => catalog.matching(image),
                    Err(_) => Vec::new(),
                };
                if matching.is_empty() {
                    warn_once(
                        warnings,
                        format!(
                            "container {container:?}: profile auto: no catalog profile matches image {image:?} (`rofs profiles` lists the image patterns); only the container's other writable paths apply"
                        ),
                    );
                }
                for entry in matching {
                    apply(entry, add);
                }
            }
            (None, None) => warn_once(
                warnings,
                format!(
                    "container {container:?}: profile auto: the container has no image to match"
                ),
            ),
        }
    }
}

/// Add `warning` unless it is there already (`auto` named in two layers warns once).
fn warn_once(warnings: &mut Vec<String>, warning: String) {
    if !warnings.contains(&warning) {
        warnings.push(warning);
    }
}

/// Split sorted, distinct paths into the outermost ones (kept, in the same order) and the
/// ones inside a kept path (with the index of that path). In component order (`/a`, `/a/b`,
/// `/a-b`: a directory comes right before everything under it) a path is inside a kept one
/// iff it is inside the last one kept: one comparison per path after sorting,
/// O(n log n · L) in all, where looking up every ancestor was O(L²) per path.
pub(crate) fn outermost(
    sorted: impl Iterator<Item = WritablePath>,
) -> (Vec<WritablePath>, Vec<(WritablePath, usize)>) {
    let all: Vec<WritablePath> = sorted.collect();
    let mut order: Vec<usize> = (0..all.len()).collect();
    order.sort_by(|&a, &b| all[a].path.split('/').cmp(all[b].path.split('/')));
    // The outermost path each one is in (itself when kept).
    let mut outer: Vec<usize> = (0..all.len()).collect();
    let mut last: Option<usize> = None;
    for i in order {
        match last {
            Some(k) if is_within(&all[i].path, &all[k].path) => outer[i] = k,
            _ => last = Some(i),
        }
    }
    // Back in the given order (a directory sorts before what is under it there too).
    let mut kept: Vec<WritablePath> = Vec::new();
    let mut kept_at: Vec<usize> = vec![0; all.len()];
    let mut covered = Vec::new();
    for (i, p) in all.into_iter().enumerate() {
        if outer[i] == i {
            kept_at[i] = kept.len();
            kept.push(p);
        } else {
            covered.push((p, kept_at[outer[i]]));
        }
    }
    (kept, covered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::self_and_ancestors;

    /// The quadratic check `outermost` replaced, kept as its oracle.
    fn outermost_quadratic(
        sorted: Vec<WritablePath>,
    ) -> (Vec<WritablePath>, Vec<(WritablePath, usize)>) {
        let mut kept: Vec<WritablePath> = Vec::new();
        let mut covered = Vec::new();
        for p in sorted {
            match kept.iter().position(|k| is_within(&p.path, &k.path)) {
                Some(outer) => covered.push((p, outer)),
                None => kept.push(p),
            }
        }
        (kept, covered)
    }

    /// xorshift64: random path sets without a dependency, reproducible from the seed.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    #[test]
    fn outermost_equals_the_quadratic_check_on_random_path_sets() {
        // Segments chosen so that siblings sort between a directory and its children
        // (`/a-b` and `/a.b` sort before `/a/b`) and names are prefixes of each other.
        const SEGMENTS: [&str; 6] = ["a", "a-b", "a.b", "ab", "b", "a0"];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..3000 {
            let mut by_path: BTreeMap<String, WritablePath> = BTreeMap::new();
            for _ in 0..rng.next(40) {
                let depth = 1 + rng.next(4);
                let path: String = (0..depth)
                    .map(|_| format!("/{}", SEGMENTS[rng.next(SEGMENTS.len())]))
                    .collect();
                let options = [":memory", "", ":empty", ":1Mi"][rng.next(4)];
                let p: WritablePath = format!("{path}{options}").parse().expect("valid");
                by_path.insert(p.path.clone(), p);
            }
            let sorted: Vec<WritablePath> = by_path.into_values().collect();
            assert_eq!(
                outermost(sorted.clone().into_iter()),
                outermost_quadratic(sorted.clone()),
                "{sorted:?}"
            );
        }
    }

    fn strings(paths: &[WritablePath]) -> Vec<String> {
        paths.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn auto_applies_the_catalog_entries_matching_the_image() {
        let mut auto = Settings::default();
        auto.add_profile("auto").expect("auto");
        let none = Settings::default();
        let mut warnings = Vec::new();
        let image = Some("localhost/rofs-e2e-nginx:bookworm");
        let (paths, _) = resolve_paths("web", image, None, [&auto, &none], false, &mut warnings);
        assert_eq!(
            strings(&paths),
            ["/run:memory:1Mi:empty", "/var/lib/nginx", "/var/log/nginx"]
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        // A run-to-completion initContainer does not get pod-wide profiles, auto included.
        let (paths, _) = resolve_paths("init", image, None, [&auto, &none], true, &mut warnings);
        assert!(paths.is_empty() && warnings.is_empty());
        // Named in both layers, per container too: the entry applies once, warnings once.
        let mut per = Settings::default();
        per.add_profile("web=auto").expect("auto");
        per.add_profile("web=nginx").expect("nginx");
        let (paths, _) = resolve_paths("web", image, None, [&auto, &per], false, &mut warnings);
        assert_eq!(paths.len(), 3);
        let (paths, _) = resolve_paths(
            "web",
            Some("busybox:1.36"),
            None,
            [&auto, &per],
            false,
            &mut warnings,
        );
        assert_eq!(paths.len(), 3, "nginx named explicitly");
        assert_eq!(
            warnings,
            [
                "container \"web\": profile auto: no catalog profile matches image \"busybox:1.36\" (`rofs profiles` lists the image patterns); only the container's other writable paths apply"
            ]
        );
        warnings.clear();
        let (paths, _) = resolve_paths("web", None, None, [&auto, &none], false, &mut warnings);
        assert!(paths.is_empty());
        assert_eq!(
            warnings,
            ["container \"web\": profile auto: the container has no image to match"]
        );
    }

    #[test]
    fn ancestors_are_listed_deepest_first() {
        let a: Vec<&str> = self_and_ancestors("/a/b-c/d").collect();
        assert_eq!(a, ["/a/b-c/d", "/a/b-c", "/a"]);
    }
}
