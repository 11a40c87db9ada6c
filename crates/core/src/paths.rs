//! Which paths of a container become writable: the settings layers combined per path, and
//! nested paths folded into the outermost one.

use std::collections::BTreeMap;

use crate::settings::{Settings, WritablePath, self_and_ancestors};

/// Combine the layers for one container: earlier status < flags/config < annotations;
/// within a layer, profiles < all-container paths < per-container ones. Later wins per path.
/// Nested paths are folded into the outermost one.
pub(crate) fn resolve_paths(
    container: &str,
    previous: Option<&Vec<WritablePath>>,
    layers: [&Settings; 2],
    own_only: bool,
    warnings: &mut Vec<String>,
) -> Vec<WritablePath> {
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
            for profile in &layer.profiles {
                add(&profile.profile().paths());
            }
            add(&layer.writable);
        }
        if let Some(cs) = layer.per_container.get(container) {
            for profile in &cs.profiles {
                add(&profile.profile().paths());
            }
            add(&cs.writable);
        }
    }
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
    kept
}

/// Split sorted, distinct paths into the outermost ones (kept) and the ones inside a kept
/// path (with the index of that path). Sorted order puts a directory before everything below
/// it, so each path's directories are looked up among those kept so far: O(n log n) in all,
/// where comparing every pair was O(n²).
pub(crate) fn outermost(
    sorted: impl Iterator<Item = WritablePath>,
) -> (Vec<WritablePath>, Vec<(WritablePath, usize)>) {
    let mut kept: Vec<WritablePath> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut covered = Vec::new();
    for p in sorted {
        let outer = self_and_ancestors(&p.path).find_map(|a| index.get(a).copied());
        match outer {
            Some(outer) => covered.push((p, outer)),
            None => {
                index.insert(p.path.clone(), kept.len());
                kept.push(p);
            }
        }
    }
    (kept, covered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::is_within;

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

    #[test]
    fn ancestors_are_listed_deepest_first() {
        let a: Vec<&str> = self_and_ancestors("/a/b-c/d").collect();
        assert_eq!(a, ["/a/b-c/d", "/a/b-c", "/a"]);
    }
}
