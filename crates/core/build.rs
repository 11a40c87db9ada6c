//! Embeds the catalog of profiles (`catalog/*.yaml` at the repository root) into rofs-core:
//! writes `$OUT_DIR/catalog_files.rs`, a list of `(file name, text)` sorted by file name.
//! Adding a file to the catalog needs no code change; `crate::catalog` parses the files.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dir = manifest_dir.join("../../catalog");
    // The directory itself: a file added or removed changes it.
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("catalog directory {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("catalog directory {}: {e}", dir.display()));
        let path = entry.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        if name.ends_with(".yaml") && path.is_file() {
            println!("cargo:rerun-if-changed={}", path.display());
            files.push((name, path));
        }
    }
    files.sort();
    let mut out = String::from(
        "/// The catalog's files, `(file name, text)`, sorted by name (written by build.rs).\n\
         pub(crate) const FILES: &[(&str, &str)] = &[\n",
    );
    for (name, path) in &files {
        let path = path
            .canonicalize()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let path = path
            .to_str()
            .unwrap_or_else(|| panic!("{}: not UTF-8", path.display()));
        writeln!(out, "    ({name:?}, include_str!({path:?})),").expect("a String");
    }
    out.push_str("];\n");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    std::fs::write(out_dir.join("catalog_files.rs"), out).expect("write catalog_files.rs");
}
