//! The file side of `sync`: read the source (AtomicWriter-aware) and DST
//! into snapshots, carry out the plan's actions, keep the state file.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{CWD, RenameFlags, renameat_with};
use rustix::io::Errno;

use super::debounce::DATA_LINK;
use super::plan::{ConflictKind, Entry, Snapshot, State};

/// Suffix of the temporary files written next to their target in DST.
pub const TMP_SUFFIX: &str = ".rofs-sync-tmp";
/// Name of the state file inside DST when no `--state-dir` is given.
pub const IN_DST_STATE: &str = ".rofs-sync.state";
const STATE_HEADER: &str = "rofs-sync-state 1";
const STATE_HEADER_2: &str = "rofs-sync-state 2";
const MAX_DEPTH: usize = 32;

/// 64-bit FNV-1a: tiny, stable across builds (the state file outlives a
/// container restart), good enough to tell versions of a config apart.
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub fn update(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    pub fn finish(self) -> u64 {
        self.0
    }
}

/// Hash of a byte string (used for state file names).
pub fn fnv(bytes: &[u8]) -> u64 {
    let mut h = Fnv::default();
    h.update(bytes);
    h.finish()
}

/// What the source holds now.
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub files: Snapshot,
    /// The directory the files were read from: the timestamped data
    /// directory (through `..data`) or SRC itself.
    pub root: PathBuf,
    /// The AtomicWriter layout (`..data`) is there.
    pub atomic: bool,
    /// Directories of a plain source (to watch), SRC included.
    pub dirs: Vec<PathBuf>,
    /// Files and directories that could not be read (relative path, the
    /// error): left out of this pass, retried.
    pub unreadable: Vec<(PathBuf, String)>,
    /// Symlinks that lead out of the source volume (relative path, where
    /// they lead): not followed.
    pub refused: Vec<(PathBuf, PathBuf)>,
}

impl Source {
    /// Paths this pass must leave alone (a directory covers its contents).
    pub fn excluded(&self) -> impl Iterator<Item = &Path> {
        self.unreadable
            .iter()
            .map(|(p, _)| p.as_path())
            .chain(self.refused.iter().map(|(p, _)| p.as_path()))
    }
}

fn not_found(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::NotFound)
        || e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error())
}

/// Reads SRC. With `..data`, reads the data directory it points to (the
/// kubelet never changes one once linked) and checks the link did not move
/// meanwhile, retrying if it did or if the directory vanished under us.
pub fn read_source(src: &Path) -> io::Result<Source> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        match read_source_once(src) {
            Ok(Some(s)) => return Ok(s),
            Ok(None) if attempts < 20 => continue,
            Ok(None) => {
                return Err(io::Error::other(
                    "the ..data link kept changing while reading it",
                ));
            }
            Err(e) => return Err(e),
        }
    }
}

fn read_source_once(src: &Path) -> io::Result<Option<Source>> {
    let link = src.join(DATA_LINK);
    let target = match fs::read_link(&link) {
        Ok(t) => Some(t),
        Err(e) if not_found(&e) || e.kind() == io::ErrorKind::InvalidInput => None,
        Err(e) => return Err(e),
    };
    let out = Source {
        atomic: target.is_some(),
        root: match &target {
            Some(t) => src.join(t),
            None => src.to_path_buf(),
        },
        ..Source::default()
    };
    let volume = fs::canonicalize(src)?;
    if out.atomic {
        match fs::canonicalize(&out.root) {
            Ok(real) if real.starts_with(&volume) => {}
            Ok(real) => {
                return Err(io::Error::other(format!(
                    "{} leads to {}, out of the source volume: not followed",
                    link.display(),
                    real.display()
                )));
            }
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    let mut walk = Walk {
        volume,
        out,
        buf: vec![0u8; 32 * 1024],
    };
    let root = walk.out.root.clone();
    match walk.dir(&root, Path::new(""), 0) {
        Ok(()) => {}
        // The data dir was removed by the next swap: read again.
        Err(e) if walk.out.atomic && not_found(&e) => return Ok(None),
        Err(e) => return Err(e),
    }
    if let Some(t) = target {
        match fs::read_link(&link) {
            Ok(now) if now == t => {}
            _ => return Ok(None),
        }
    }
    Ok(Some(walk.out))
}

/// One read of the source tree.
struct Walk {
    /// SRC, resolved: symlinks must stay under it.
    volume: PathBuf,
    out: Source,
    buf: Vec<u8>,
}

impl Walk {
    /// Reads `dir` (relative path `rel`). An error is returned only when
    /// `dir` itself cannot be listed, or when the data directory vanished
    /// (atomic layout: the whole read starts again); a file or directory
    /// below that cannot be read is recorded in [`Source::unreadable`].
    fn dir(&mut self, dir: &Path, rel: &Path, depth: usize) -> io::Result<()> {
        if !self.out.atomic {
            self.out.dirs.push(dir.to_path_buf());
        }
        for ent in fs::read_dir(dir)? {
            let ent = ent?;
            let name = ent.file_name();
            let b = name.as_bytes();
            if b.starts_with(b"..")
                || (depth == 0 && (b == IN_DST_STATE.as_bytes()))
                || b.ends_with(TMP_SUFFIX.as_bytes())
            {
                continue;
            }
            let path = ent.path();
            let rel_path = rel.join(&name);
            if ent.file_type()?.is_symlink() && !self.link_stays_inside(&path, &rel_path)? {
                continue;
            }
            // Follow symlinks: the visible names of a projected volume are
            // symlinks, and the mode that counts is the file's.
            let md = match fs::metadata(&path) {
                Ok(m) => m,
                Err(e) if not_found(&e) && !self.out.atomic => continue, // dangling
                Err(e) => return Err(e),
            };
            let result = if md.is_dir() {
                if depth + 1 < MAX_DEPTH {
                    self.dir(&path, &rel_path, depth + 1)
                } else {
                    Ok(())
                }
            } else if md.is_file() {
                hash_file(&path, &mut self.buf).map(|(hash, size)| {
                    self.out
                        .files
                        .insert(rel_path.clone(), Entry::file(hash, size, md.mode()));
                })
            } else {
                Ok(())
            };
            match result {
                Ok(()) => {}
                Err(e) if self.out.atomic && not_found(&e) => return Err(e),
                Err(e) => self.out.unreadable.push((rel_path, e.to_string())),
            }
        }
        Ok(())
    }

    /// A symlink in the source is followed only when it leads to a place
    /// inside the source volume (the kubelet's own links always do); one
    /// that leaves it is recorded in [`Source::refused`]. A dangling link
    /// is no file (plain directory) or a sign of a swap (atomic layout).
    fn link_stays_inside(&mut self, path: &Path, rel: &Path) -> io::Result<bool> {
        match fs::canonicalize(path) {
            Ok(real) if real.starts_with(&self.volume) => Ok(true),
            Ok(real) => {
                self.out.refused.push((rel.to_path_buf(), real));
                Ok(false)
            }
            Err(e) if not_found(&e) && !self.out.atomic => Ok(false),
            Err(e) => Err(e),
        }
    }
}

fn hash_file(path: &Path, buf: &mut [u8]) -> io::Result<(u64, u64)> {
    let mut f = File::open(path)?;
    let mut h = Fnv::default();
    let mut size = 0u64;
    loop {
        let n = match f.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok((h.finish(), size))
}

/// Reads DST for the given relative paths only. A regular file gets its
/// content hash; anything else (a directory, a symlink the app put there)
/// an entry that matches no file.
pub fn read_dst<'a>(dst: &Path, paths: impl Iterator<Item = &'a PathBuf>) -> io::Result<Snapshot> {
    let mut out = Snapshot::new();
    let mut buf = vec![0u8; 32 * 1024];
    for rel in paths {
        let path = dst.join(rel);
        let md = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if not_found(&e) => continue,
            Err(e) => return Err(e),
        };
        let entry = if md.is_file() {
            let (hash, size) = hash_file(&path, &mut buf)?;
            Entry::file(hash, size, md.mode())
        } else {
            Entry {
                hash: 0,
                size: 0,
                mode: md.mode(),
            }
        };
        out.insert(rel.clone(), entry);
    }
    Ok(out)
}

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

/// Where the state of DST lives: `STATE_DIR/<dst as a name>-<hash>.sync`,
/// or `DST/.rofs-sync.state` without a state directory.
pub fn state_path(state_dir: Option<&Path>, dst: &Path) -> PathBuf {
    match state_dir {
        None => dst.join(IN_DST_STATE),
        Some(dir) => {
            let bytes = dst.as_os_str().as_bytes();
            let mut name: String = String::from_utf8_lossy(bytes)
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let trimmed = name.trim_matches('_').to_string();
            name = trimmed
                .chars()
                .rev()
                .take(80)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            dir.join(format!("{name}-{:016x}.sync", fnv(bytes)))
        }
    }
}

/// Escapes a path for one line of the state file: `%XX` for bytes outside
/// the printable ASCII range, for `%` and for space.
fn escape(p: &Path) -> String {
    let mut s = String::new();
    for &b in p.as_os_str().as_bytes() {
        if b.is_ascii_graphic() && b != b'%' {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

fn unescape(s: &str) -> Option<PathBuf> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(PathBuf::from(OsStr::from_bytes(&out)))
}

/// The state file's text: a header line, then one line per path:
/// `HASH SIZE MODE PATH` (hex, decimal, octal, escaped).
pub fn format_state(state: &State) -> String {
    format_state_file(state, &State::new())
}

/// [`format_state`] plus the writes in flight: one line
/// `+HASH SIZE MODE PATH` per file whose new version may already be in
/// DST (saved before the replace, so that a crash in between does not turn
/// that version into an app edit). Version 2 of the format when there are
/// such lines, version 1 otherwise.
pub fn format_state_file(state: &State, pending: &State) -> String {
    let mut s = String::from(if pending.is_empty() {
        STATE_HEADER
    } else {
        STATE_HEADER_2
    });
    s.push('\n');
    for (prefix, map) in [("", state), ("+", pending)] {
        for (path, e) in map {
            s.push_str(&format!(
                "{prefix}{:016x} {} {:o} {}\n",
                e.hash,
                e.size,
                e.mode,
                escape(path)
            ));
        }
    }
    s
}

/// Parses [`format_state`]'s text (the pending lines are ignored).
pub fn parse_state(text: &str) -> Result<State, String> {
    parse_state_file(text).map(|(state, _)| state)
}

/// Parses [`format_state_file`]'s text: (state, writes in flight). A line
/// that does not parse is an error (the file is written atomically: it is
/// never half written).
pub fn parse_state_file(text: &str) -> Result<(State, State), String> {
    let mut lines = text.lines();
    let header = lines.next();
    if header != Some(STATE_HEADER) && header != Some(STATE_HEADER_2) {
        return Err(format!(
            "not a state file (first line is not {STATE_HEADER:?} or {STATE_HEADER_2:?})"
        ));
    }
    let mut state = State::new();
    let mut pending = State::new();
    for (i, line) in lines.enumerate() {
        let bad = || format!("line {}: cannot parse {line:?}", i + 2);
        let (map, line) = match line.strip_prefix('+') {
            Some(rest) => (&mut pending, rest),
            None => (&mut state, line),
        };
        let mut f = line.splitn(4, ' ');
        let hash = u64::from_str_radix(f.next().ok_or_else(bad)?, 16).map_err(|_| bad())?;
        let size = f
            .next()
            .ok_or_else(bad)?
            .parse::<u64>()
            .map_err(|_| bad())?;
        let mode = u32::from_str_radix(f.next().ok_or_else(bad)?, 8).map_err(|_| bad())?;
        let path = unescape(f.next().ok_or_else(bad)?).ok_or_else(bad)?;
        map.insert(path, Entry { hash, size, mode });
    }
    Ok((state, pending))
}

/// Loads the state file: (state, writes in flight); a missing file is an
/// empty state.
pub fn load_state(path: &Path) -> io::Result<(State, State)> {
    match fs::read_to_string(path) {
        Ok(text) => {
            parse_state_file(&text).map_err(|m| io::Error::new(io::ErrorKind::InvalidData, m))
        }
        Err(e) if not_found(&e) => Ok((State::new(), State::new())),
        Err(e) => Err(e),
    }
}

/// Writes the state file atomically (a new temporary file with a random
/// name, then a rename: the state directory, or DST, is shared with the
/// app), creating its directory if needed.
pub fn save_state(path: &Path, state: &State, pending: &State) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)?;
    }
    crate::safefile::write_atomic(
        path,
        format_state_file(state, pending).as_bytes(),
        0o644,
        crate::safefile::Durability::Atomic,
    )
}
