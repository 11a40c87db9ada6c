//! What the integration tests of rofs-manifest share: whether a missing tool or corpus is a
//! failure (CI), the real-world corpus, and the benchmark's stream.
#![allow(dead_code)] // each test binary uses part of it

use std::path::{Path, PathBuf};
use std::process::Command;

/// CI (or ROFS_REQUIRE_TOOLS=1): a missing corpus or tool fails the test instead of skipping.
pub fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("ROFS_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

/// The real-world corpus (`ROFS_CORPUS`, else `shared/corpus/realworld` beside the
/// repository); `None` (skipped) when missing, a failure under [`required`].
pub fn corpus() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("ROFS_CORPUS") {
        let dir = PathBuf::from(dir);
        assert!(
            dir.is_dir(),
            "ROFS_CORPUS={} is not a directory",
            dir.display()
        );
        return Some(dir);
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let found = repo
        .canonicalize()
        .ok()?
        .ancestors()
        .map(|a| a.join("shared/corpus/realworld"))
        .find(|d| d.join("SOURCES.md").is_file());
    if found.is_none() {
        let msg = "the real-world corpus is missing: expected shared/corpus/realworld beside the \
                   repository (or set ROFS_CORPUS)";
        assert!(!required(), "{msg}");
        eprintln!("SKIPPED: {msg}");
    }
    found
}

/// The benchmark's stream (`benches/patch/gen.py`), `n` documents; `None` (skipped) without
/// python3, a failure under [`required`].
pub fn bench_stream(n: usize) -> Option<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benches/patch/gen.py");
    match Command::new("python3")
        .arg(&script)
        .arg(n.to_string())
        .output()
    {
        Ok(o) if o.status.success() => Some(String::from_utf8(o.stdout).expect("UTF-8")),
        other => {
            let msg = format!("python3 {} failed: {other:?}", script.display());
            assert!(!required(), "{msg}");
            eprintln!("SKIPPED: {msg}");
            None
        }
    }
}

/// The corpus's manifests (`.yaml` and `.json`), sorted; at least 20 of them.
pub fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("corpus dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "corpus incomplete in {}", dir.display());
    files
}
