//! The state file: what sync last reconciled per path, and the writes in
//! flight.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use super::read::{IN_DST_STATE, not_found};
use crate::sync::plan::{Entry, State};

const STATE_HEADER: &str = "rofs-sync-state 1";
const STATE_HEADER_2: &str = "rofs-sync-state 2";
/// Where the state of DST lives: `STATE_DIR/<dst as a name>-<hash>.sync`
/// (see [`crate::names::path_as_file_name`]), or `DST/.rofs-sync.state`
/// without a state directory.
pub fn state_path(state_dir: Option<&Path>, dst: &Path) -> PathBuf {
    match state_dir {
        None => dst.join(IN_DST_STATE),
        Some(dir) => dir.join(format!("{}.sync", crate::names::path_as_file_name(dst))),
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
/// app), creating its directory first unless `dir_exists` (a save succeeded
/// before: no `mkdir` and `stat` per save), or when it went missing since.
pub fn save_state(path: &Path, state: &State, pending: &State, dir_exists: bool) -> io::Result<()> {
    let make_dir = || match path.parent() {
        Some(parent) => fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent),
        None => Ok(()),
    };
    if !dir_exists {
        make_dir()?;
    }
    let text = format_state_file(state, pending);
    let write = || {
        crate::safefile::write_atomic(
            path,
            text.as_bytes(),
            0o644,
            crate::safefile::Durability::Atomic,
        )
    };
    match write() {
        Err(e) if dir_exists && not_found(&e) => {
            make_dir()?;
            write()
        }
        r => r,
    }
}
