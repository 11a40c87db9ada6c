//! Reading filesystems: the image (as [`ImageView`]), the writes of a run (the diff and the
//! image's declared VOLUMEs), sizes.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::engine::Fs;
use crate::plan::{Change, ImageView, Write};

/// Counting stops here (a huge image directory is "many files", not a long walk).
const WALK_LIMIT: usize = 200_000;

impl ImageView for Fs {
    fn is_dir(&self, path: &str) -> bool {
        std::fs::symlink_metadata(self.at(path)).is_ok_and(|m| m.is_dir())
    }
    fn content(&self, path: &str) -> (usize, u64) {
        let mut n = 0;
        let mut bytes = 0;
        walk(&self.at(path), &mut |_, m| {
            n += 1;
            if m.is_file() {
                bytes += m.len();
            }
            n < WALK_LIMIT
        });
        (n, bytes)
    }
    fn owner_mode(&self, path: &str) -> Option<(u32, u32)> {
        let m = std::fs::symlink_metadata(self.at(path)).ok()?;
        Some((m.uid(), m.mode() & 0o7777))
    }
}

/// `path` with the image's symlinks resolved inside the image (`/var/run/x` -> `/run/x` in
/// Debian), as the kernel resolves it in the container; `None` for a loop.
pub fn resolve(image: &Fs, path: &str) -> Option<String> {
    let mut todo: Vec<String> = path
        .split('/')
        .filter(|c| !c.is_empty())
        .rev()
        .map(str::to_string)
        .collect();
    let mut done: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        match c.as_str() {
            "." => continue,
            ".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        done.push(c);
        let here = format!("/{}", done.join("/"));
        if let Ok(target) = std::fs::read_link(image.at(&here)) {
            links += 1;
            if links > 40 {
                return None;
            }
            done.pop();
            let t = target.to_string_lossy().into_owned();
            if t.starts_with('/') {
                done.clear();
            }
            todo.extend(
                t.split('/')
                    .filter(|c| !c.is_empty())
                    .rev()
                    .map(str::to_string),
            );
        }
    }
    Some(format!("/{}", done.join("/")))
}

/// Walk `dir` (not following symlinks); `f(relative path, metadata)` returns false to stop.
pub fn walk(dir: &Path, f: &mut dyn FnMut(&Path, &std::fs::Metadata) -> bool) {
    fn go(root: &Path, dir: &Path, f: &mut dyn FnMut(&Path, &std::fs::Metadata) -> bool) -> bool {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return true;
        };
        let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            let rel = p.strip_prefix(root).unwrap_or(&p);
            if !f(rel, &m) {
                return false;
            }
            if m.is_dir() && !go(root, &p, f) {
                return false;
            }
        }
        true
    }
    go(dir, dir, f);
}

/// The writes of a diff, with kind and size read from the container's filesystem (`fs`);
/// deleted paths' kind from the image.
pub fn writes_from_diff(diff: &BTreeMap<String, char>, fs: Option<&Fs>, image: &Fs) -> Vec<Write> {
    diff.iter()
        .filter_map(|(path, kind)| {
            let change = match kind {
                'A' => Change::Added,
                'C' => Change::Changed,
                'D' => Change::Deleted,
                _ => return None,
            };
            let meta = match change {
                Change::Deleted => std::fs::symlink_metadata(image.at(path)).ok(),
                _ => fs.and_then(|fs| std::fs::symlink_metadata(fs.at(path)).ok()),
            };
            let is_dir = meta.as_ref().is_some_and(|m| m.is_dir());
            let bytes = match (&meta, change) {
                (Some(m), Change::Added | Change::Changed) if m.is_file() => m.len(),
                _ => 0,
            };
            Some(Write {
                path: path.clone(),
                change,
                is_dir,
                bytes,
            })
        })
        .collect()
}

/// The writes into a volume: its host directory `source`, mounted at `dest`, compared with
/// the image's content at `dest` (the engine copied that into the volume first).
pub fn writes_in_volume(dest: &str, source: &Path, image: &Fs) -> Vec<Write> {
    let mut out = Vec::new();
    let image_dir = image.at(dest);
    let mut seen = std::collections::BTreeSet::new();
    walk(source, &mut |rel, m| {
        let path = format!("{}/{}", dest.trim_end_matches('/'), rel.display());
        seen.insert(rel.to_path_buf());
        let before = std::fs::symlink_metadata(image_dir.join(rel)).ok();
        let change = match &before {
            None => Some(Change::Added),
            Some(b) if m.is_dir() || b.is_dir() => {
                (m.is_dir() != b.is_dir()).then_some(Change::Changed)
            }
            Some(b) => (!same_file(b, m, &image_dir.join(rel), &source.join(rel)))
                .then_some(Change::Changed),
        };
        if let Some(change) = change {
            out.push(Write {
                path,
                change,
                is_dir: m.is_dir(),
                bytes: if m.is_file() { m.len() } else { 0 },
            });
        }
        out.len() < WALK_LIMIT
    });
    walk(&image_dir, &mut |rel, m| {
        if !seen.contains(rel) && std::fs::symlink_metadata(source.join(rel)).is_err() {
            out.push(Write {
                path: format!("{}/{}", dest.trim_end_matches('/'), rel.display()),
                change: Change::Deleted,
                is_dir: m.is_dir(),
                bytes: 0,
            });
        }
        out.len() < WALK_LIMIT
    });
    out
}

/// Same size and modification time, or (small files) same bytes.
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata, pa: &Path, pb: &Path) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if a.mtime() == b.mtime() && a.mtime_nsec() == b.mtime_nsec() {
        return true;
    }
    if a.is_file() && a.len() <= 1 << 20 {
        return std::fs::read(pa).ok() == std::fs::read(pb).ok();
    }
    a.is_symlink() && std::fs::read_link(pa).ok() == std::fs::read_link(pb).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_resolve_inside_the_image() {
        let root =
            std::env::temp_dir().join(format!("rofs-discover-resolve-{}", std::process::id()));
        for d in ["var", "run", "opt/x"] {
            std::fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        std::os::unix::fs::symlink("../run", root.join("var/run")).expect("symlink");
        std::os::unix::fs::symlink("/opt/x", root.join("alt")).expect("symlink");
        std::os::unix::fs::symlink("loop", root.join("loop")).expect("symlink");
        let fs = Fs::Extracted(root);
        assert_eq!(
            resolve(&fs, "/var/run/app.pid").as_deref(),
            Some("/run/app.pid")
        );
        assert_eq!(resolve(&fs, "/alt/y/../z").as_deref(), Some("/opt/x/z"));
        assert_eq!(resolve(&fs, "/tmp/new").as_deref(), Some("/tmp/new"));
        assert_eq!(resolve(&fs, "/loop/x"), None);
    }
}
