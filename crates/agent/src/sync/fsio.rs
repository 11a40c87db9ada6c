//! The file side of `sync`: read the source (AtomicWriter-aware) and DST
//! into snapshots, carry out the plan's actions, keep the state file.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::debounce::DATA_LINK;
use super::plan::{Entry, Snapshot, State};

/// Suffix of the temporary files written next to their target in DST.
pub const TMP_SUFFIX: &str = ".rofs-sync-tmp";
/// Name of the state file inside DST when no `--state-dir` is given.
pub const IN_DST_STATE: &str = ".rofs-sync.state";
const STATE_HEADER: &str = "rofs-sync-state 1";
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
    let mut out = Source {
        atomic: target.is_some(),
        root: match &target {
            Some(t) => src.join(t),
            None => src.to_path_buf(),
        },
        ..Source::default()
    };
    fs::metadata(src)?;
    let mut buf = vec![0u8; 32 * 1024];
    let root = out.root.clone();
    match walk(&root, Path::new(""), 0, &mut out, &mut buf) {
        Ok(()) => {}
        // The data dir was removed by the next swap: read again.
        Err(e) if out.atomic && not_found(&e) => return Ok(None),
        Err(e) => return Err(e),
    }
    if let Some(t) = target {
        match fs::read_link(&link) {
            Ok(now) if now == t => {}
            _ => return Ok(None),
        }
    }
    Ok(Some(out))
}

fn walk(dir: &Path, rel: &Path, depth: usize, out: &mut Source, buf: &mut [u8]) -> io::Result<()> {
    if !out.atomic {
        out.dirs.push(dir.to_path_buf());
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
        // Follow symlinks: the visible names of a projected volume are
        // symlinks, and the mode that counts is the file's.
        let md = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if not_found(&e) && !out.atomic => continue, // dangling
            Err(e) => return Err(e),
        };
        let rel_path = rel.join(&name);
        if md.is_dir() {
            if depth + 1 < MAX_DEPTH {
                walk(&path, &rel_path, depth + 1, out, buf)?;
            }
        } else if md.is_file() {
            let (hash, size) = hash_file(&path, buf)?;
            out.files
                .insert(rel_path, Entry::file(hash, size, md.mode()));
        }
    }
    Ok(())
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

/// Copies `root/rel` to `dst/rel` atomically: a temporary file in the same
/// directory, the source's permission bits, then rename over the target. No
/// fsync: readers never see a partial file either way, and an emptyDir does
/// not outlive the pod (a restarted sidecar rewrites what it had not
/// recorded). Returns what was written.
pub fn write_file(
    root: &Path,
    dst: &Path,
    rel: &Path,
    perm: u32,
    buf: &mut [u8],
) -> io::Result<Entry> {
    let target = dst.join(rel);
    let parent = target.parent().unwrap_or(dst);
    if parent != dst {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)?;
    }
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(target.file_name().unwrap_or(OsStr::new("file")));
    tmp_name.push(TMP_SUFFIX);
    let tmp = parent.join(tmp_name);
    let mut from = File::open(root.join(rel))?;
    let result = (|| {
        let mut to = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&tmp)?;
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
        drop(to);
        fs::rename(&tmp, &target)?;
        Ok(Entry::file(h.finish(), size, perm))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
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
    let mut s = String::from(STATE_HEADER);
    s.push('\n');
    for (path, e) in state {
        s.push_str(&format!(
            "{:016x} {} {:o} {}\n",
            e.hash,
            e.size,
            e.mode,
            escape(path)
        ));
    }
    s
}

/// Parses [`format_state`]'s text. A line that does not parse is an error
/// (the file is written atomically: it is never half written).
pub fn parse_state(text: &str) -> Result<State, String> {
    let mut lines = text.lines();
    if lines.next() != Some(STATE_HEADER) {
        return Err(format!(
            "not a state file (first line is not {STATE_HEADER:?})"
        ));
    }
    let mut state = State::new();
    for (i, line) in lines.enumerate() {
        let bad = || format!("line {}: cannot parse {line:?}", i + 2);
        let mut f = line.splitn(4, ' ');
        let hash = u64::from_str_radix(f.next().ok_or_else(bad)?, 16).map_err(|_| bad())?;
        let size = f
            .next()
            .ok_or_else(bad)?
            .parse::<u64>()
            .map_err(|_| bad())?;
        let mode = u32::from_str_radix(f.next().ok_or_else(bad)?, 8).map_err(|_| bad())?;
        let path = unescape(f.next().ok_or_else(bad)?).ok_or_else(bad)?;
        state.insert(path, Entry { hash, size, mode });
    }
    Ok(state)
}

/// Loads the state file; a missing file is an empty state.
pub fn load_state(path: &Path) -> io::Result<State> {
    match fs::read_to_string(path) {
        Ok(text) => parse_state(&text).map_err(|m| io::Error::new(io::ErrorKind::InvalidData, m)),
        Err(e) if not_found(&e) => Ok(State::new()),
        Err(e) => Err(e),
    }
}

/// Writes the state file atomically (temporary file + rename), creating
/// its directory if needed.
pub fn save_state(path: &Path, state: &State) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(TMP_SUFFIX);
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)?;
        f.write_all(format_state(state).as_bytes())?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
