//! Carrying out the plan in DST: copies to temporary files, replaces that
//! never lose an app edit, chmod, removals.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{CWD, RenameFlags, renameat_with};
use rustix::io::Errno;

use super::read::{TMP_SUFFIX, hash_file, not_found};
use crate::names::Fnv;
use crate::sync::plan::{ConflictKind, Entry};

/// Copies `root/rel` into a new temporary file next to `dst/rel` (random
/// name, created exclusively, the source's permission bits). Returns its
/// path and what it holds; [`replace`] puts it in place. No fsync: readers
/// never see a partial file either way, and an emptyDir does not outlive the
/// pod (a restarted sidecar rewrites what it had not recorded).
pub fn copy_to_temp(
    root: &Path,
    dst: &Path,
    rel: &Path,
    perm: u32,
    buf: &mut [u8],
) -> io::Result<(PathBuf, Entry)> {
    let target = dst.join(rel);
    let parent = target.parent().unwrap_or(dst);
    if parent != dst {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)?;
    }
    let mut from = File::open(root.join(rel))?;
    let (mut to, tmp) = crate::safefile::create_new(parent, ".", TMP_SUFFIX, 0o600)?;
    let result = (|| {
        let mut h = Fnv::default();
        let mut size = 0u64;
        loop {
            let n = match from.read(buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            to.write_all(&buf[..n])?;
            h.update(&buf[..n]);
            size += n as u64;
        }
        to.set_permissions(fs::Permissions::from_mode(perm & 0o7777))?;
        Ok(Entry::file(h.finish(), size, perm))
    })();
    match result {
        Ok(e) => Ok((tmp, e)),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// What the plan saw at the target when it decided to write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No file: the write adds it.
    Absent,
    /// This content (untouched by the app since sync wrote it).
    File(Entry),
    /// Anything: the source wins whatever is there (a conflict already
    /// decided by `--conflict source`).
    Any,
}

/// What [`replace`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replaced {
    /// The new version is in place.
    Done,
    /// The app changed the target after the plan saw it: a conflict,
    /// decided by the policy (`source_won`: the new version is in place;
    /// else the app's version is, and the new one was dropped).
    Conflict {
        kind: ConflictKind,
        source_won: bool,
    },
}

fn unsupported(e: Errno) -> bool {
    matches!(e, Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP)
}

/// Puts the temporary file `tmp` (holding `written`) at `target`, unless the
/// target is no longer what the plan saw (`expect`): the app edited it while
/// the file was copied. Atomic, so no app edit slips in between the check
/// and the replace: a new file is linked with `RENAME_NOREPLACE`; an
/// existing one is swapped with `RENAME_EXCHANGE` and what was swapped out is
/// checked (and swapped back when the app's version must stay). On a file
/// system without these, the target is checked just before a plain rename.
pub fn replace(
    tmp: &Path,
    target: &Path,
    expect: Expect,
    written: &Entry,
    source_wins: bool,
    buf: &mut [u8],
) -> io::Result<Replaced> {
    let conflict = |kind: ConflictKind| -> io::Result<Replaced> {
        if source_wins {
            fs::rename(tmp, target)?;
        } else {
            remove_if_exists(tmp)?;
        }
        Ok(Replaced::Conflict {
            kind,
            source_won: source_wins,
        })
    };
    let exp = match expect {
        Expect::Any => {
            fs::rename(tmp, target)?;
            return Ok(Replaced::Done);
        }
        Expect::Absent => {
            return match renameat_with(CWD, tmp, CWD, target, RenameFlags::NOREPLACE) {
                Ok(()) => Ok(Replaced::Done),
                Err(Errno::EXIST) => conflict(ConflictKind::AppCreated),
                Err(e) if unsupported(e) => {
                    if fs::symlink_metadata(target).is_ok() {
                        conflict(ConflictKind::AppCreated)
                    } else {
                        fs::rename(tmp, target)?;
                        Ok(Replaced::Done)
                    }
                }
                Err(e) => Err(e.into()),
            };
        }
        Expect::File(e) => e,
    };
    match renameat_with(CWD, tmp, CWD, target, RenameFlags::EXCHANGE) {
        // `tmp` now holds what was at the target.
        Ok(()) => {
            if holds(tmp, &exp, buf)? {
                remove_if_exists(tmp)?;
                return Ok(Replaced::Done);
            }
            if source_wins {
                remove_if_exists(tmp)?;
            } else {
                swap_back(tmp, target, written, buf)?;
            }
            Ok(Replaced::Conflict {
                kind: ConflictKind::BothChanged,
                source_won: source_wins,
            })
        }
        Err(Errno::NOENT) => conflict(ConflictKind::AppDeleted),
        Err(e) if unsupported(e) => {
            if holds(target, &exp, buf)? {
                fs::rename(tmp, target)?;
                Ok(Replaced::Done)
            } else {
                conflict(ConflictKind::BothChanged)
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Puts the app's version (swapped out to `tmp`) back at `target` and
/// drops the new one. Should the app have replaced the target once more in
/// between, its newest version is what ends up at `target`.
fn swap_back(tmp: &Path, target: &Path, written: &Entry, buf: &mut [u8]) -> io::Result<()> {
    renameat_with(CWD, tmp, CWD, target, RenameFlags::EXCHANGE)?;
    if holds(tmp, written, buf)? {
        remove_if_exists(tmp)
    } else {
        fs::rename(tmp, target)
    }
}

/// `path` is a regular file with the content of `e`.
fn holds(path: &Path, e: &Entry, buf: &mut [u8]) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(md) if md.is_file() => {
            let (hash, size) = hash_file(path, buf)?;
            Ok(hash == e.hash && size == e.size)
        }
        Ok(_) => Ok(false),
        Err(e) if not_found(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

fn remove_if_exists(p: &Path) -> io::Result<()> {
    match fs::remove_file(p) {
        Err(e) if !not_found(&e) => Err(e),
        _ => Ok(()),
    }
}

/// Removes the temporary files a killed predecessor left next to the files
/// sync manages (in DST and the directories of `paths`). Best effort.
pub fn remove_stale_temps<'a>(dst: &Path, paths: impl Iterator<Item = &'a PathBuf>) {
    let mut dirs: std::collections::BTreeSet<PathBuf> = paths
        .filter_map(|p| dst.join(p).parent().map(Path::to_path_buf))
        .collect();
    dirs.insert(dst.to_path_buf());
    for dir in dirs {
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        for ent in rd.flatten() {
            let name = ent.file_name();
            let b = name.as_bytes();
            if b.starts_with(b".") && b.ends_with(TMP_SUFFIX.as_bytes()) {
                let _ = fs::remove_file(ent.path());
            }
        }
    }
}

/// Sets the permission bits of `dst/rel`.
pub fn chmod(dst: &Path, rel: &Path, perm: u32) -> io::Result<()> {
    fs::set_permissions(dst.join(rel), fs::Permissions::from_mode(perm & 0o7777))
}

/// Removes `dst/rel`, then its parent directories up to DST while they are
/// empty (a directory the app put files in stays).
pub fn remove_file(dst: &Path, rel: &Path) -> io::Result<()> {
    let target = dst.join(rel);
    match fs::remove_file(&target) {
        Ok(()) => {}
        Err(e) if not_found(&e) => {}
        Err(e) => return Err(e),
    }
    let mut dir = target.parent();
    while let Some(d) = dir {
        if d == dst || !d.starts_with(dst) || fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    Ok(())
}
