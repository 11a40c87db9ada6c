//! Free space: a DST too small gets a clear error and no done marker,
//! before anything is copied.

use crate::util::*;

fn done_count(state: &std::path::Path) -> usize {
    std::fs::read_dir(state)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".done"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn full_volume_fails_clearly_without_marker() {
    if !root_or_skip("full_volume_fails_clearly_without_marker") {
        return;
    }
    let work = tempdir();
    let src = work.path().join("src");
    mkdir(&src, 0o755);
    for i in 0..3 {
        write(
            &src.join(format!("chunk{i}")),
            &vec![1u8; 600 * 1024],
            0o644,
        );
    }
    let vol = Tmpfs::mount("size=1m");
    let state = work.path().join("state");
    let out = seed(&src, vol.path(), Some(&state), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let log = stderr(&out);
    assert!(log.contains("not enough space in"), "{log}");
    assert!(log.contains("sizeLimit"), "{log}");
    assert_eq!(done_count(&state), 0);
    assert_eq!(
        std::fs::read_dir(vol.path()).expect("vol").count(),
        0,
        "nothing copied"
    );

    // What fits is copied, in the same small volume.
    let small = work.path().join("small");
    mkdir(&small, 0o755);
    write(&small.join("fits"), &vec![2u8; 500 * 1024], 0o644);
    let out = seed(&small, vol.path(), Some(&state), &["--force"]);
    assert_ok(&out);
    assert_eq!(done_count(&state), 1);
}

#[test]
fn too_many_inodes_fails_clearly() {
    if !root_or_skip("too_many_inodes_fails_clearly") {
        return;
    }
    let work = tempdir();
    let src = work.path().join("src");
    mkdir(&src, 0o755);
    for i in 0..100 {
        write(&src.join(format!("f{i}")), b"x", 0o644);
    }
    let vol = Tmpfs::mount("size=64m,nr_inodes=50");
    let state = work.path().join("state");
    let out = seed(&src, vol.path(), Some(&state), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("100 entries"), "{}", stderr(&out));
    assert_eq!(done_count(&state), 0);
}

/// The copy scans as it goes and reserves each directory's entries before
/// creating them: a tree whose first directories fit is partly copied
/// before the reservation goes over. What was copied is removed: DST is
/// left empty, no marker, and the error gives the whole tree's size.
#[test]
fn a_tree_that_does_not_fit_leaves_nothing_behind() {
    if !root_or_skip("a_tree_that_does_not_fit_leaves_nothing_behind") {
        return;
    }
    let work = tempdir();
    let src = work.path().join("src");
    mkdir(&src, 0o755);
    // 24 directories of one 100 KiB file each: 2.4 MiB in all, into 1 MiB.
    for d in 0..24 {
        let dir = src.join(format!("d{d:02}"));
        mkdir(&dir, 0o755);
        write(&dir.join("data"), &vec![3u8; 100 * 1024], 0o644);
        write(&dir.join("small"), b"x", 0o644);
    }
    let vol = Tmpfs::mount("size=1m");
    let state = work.path().join("state");
    let out = seed(&src, vol.path(), Some(&state), &["--threads", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let log = stderr(&out);
    assert!(log.contains("not enough space in"), "{log}");
    // The exact need of the whole tree (48 files and 24 directories), not
    // what was reserved when the copy stopped.
    assert!(log.contains("(72 entries)"), "{log}");
    assert_eq!(done_count(&state), 0);
    let left: Vec<_> = std::fs::read_dir(vol.path())
        .expect("vol")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
