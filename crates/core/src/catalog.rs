//! The catalog of profiles: the writable paths of common images, as data.
//!
//! One YAML file per image family in `catalog/` at the repository root, embedded at compile
//! time (build.rs lists the directory: adding a file needs no code change) and parsed strictly
//! here: an unknown key, a bad path spec, a bad image pattern or a name used twice is an error
//! naming the file and the field. The format is documented in docs/catalog.md:
//!
//! ```yaml
//! name: nginx
//! description: one line
//! images: ["rofs-e2e-nginx"]        # patterns for `--profile auto`; [] for generic profiles
//! writable:
//!   - path: /run:memory:1Mi:empty   # the `-w` syntax
//!     why: nginx.pid
//! proven:                           # where the e2e tests proved it (omitted for generic ones)
//!   image: localhost/rofs-e2e-nginx:bookworm
//!   packages: [nginx-light=1.22.1-9+deb12u9]
//!   ready: http://127.0.0.1:80/
//!   date: 2026-11-30
//! ```

use std::fmt;
use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::settings::WritablePath;

mod image;
pub use image::{ImagePattern, glob, repository};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/catalog_files.rs"));
}

/// The name `--profile auto` stands for: the entries whose image patterns match the image.
pub const AUTO: &str = "auto";

/// One profile: a named set of writable paths, each with the reason it is there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub description: String,
    /// Image-name patterns `--profile auto` matches; empty for a generic profile.
    pub images: Vec<ImagePattern>,
    pub writable: Vec<PathEntry>,
    /// Optional free text: what the entry deliberately leaves out, and why.
    pub notes: Option<String>,
    /// Where the entry was proven; `None` for a generic profile (no `images`).
    pub proven: Option<Proof>,
    /// The file the entry was read from (`nginx.yaml`).
    pub file: String,
}

/// One writable path of an entry and why the app needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathEntry {
    pub path: WritablePath,
    pub why: String,
}

/// The image an entry was proven on, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proof {
    pub image: String,
    /// Debian packages with their versions (`nginx-light=1.22.1-9+deb12u9`).
    pub packages: Vec<String>,
    pub ready: Ready,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// The user the image ran as, when not the image's own.
    pub user: Option<String>,
    /// The command, when not the image's own.
    pub command: Option<Vec<String>>,
    pub discover: Option<DiscoverRecord>,
}

/// What `rofs discover` reported when it produced the entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoverRecord {
    /// Verification rounds (runs with a read-only root).
    pub rounds: u64,
    /// `none`, or what a human changed in discover's answer.
    pub human_edits: String,
}

/// When the app is ready: the readiness check of a proof (and of `rofs discover --ready`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ready {
    /// `tcp:PORT`: a TCP connection to 127.0.0.1:PORT is accepted.
    Tcp(u16),
    /// `http://127.0.0.1:PORT/PATH`: a GET answers 2xx or 3xx.
    Http { port: u16, path: String },
    /// `log:REGEX`: a line of the container's log matches.
    Log(String),
    /// A duration (`500ms`, `5s`, `2m`): the app still runs after it.
    After(std::time::Duration),
}

/// A duration as rofs writes them: `500ms`, `5s`, `2m` (a unit is required; more than zero).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(digits);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 5s, 500ms, 2m)"))?;
    let millis = match unit {
        "ms" => Some(n),
        "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "" => return Err(format!("{s:?}: give a unit (ms, s or m), e.g. {n}s")),
        _ => {
            return Err(format!(
                "{s:?}: unknown unit {unit:?} (use ms, s or m, e.g. 5s)"
            ));
        }
    };
    match millis {
        Some(0) => Err(format!("{s:?}: a duration must be more than zero")),
        Some(ms) => Ok(std::time::Duration::from_millis(ms)),
        None => Err(format!("{s:?}: too long")),
    }
}

/// The one spelling of readiness checks, for catalog files (`proven.ready`) and for
/// `rofs discover --ready`.
impl std::str::FromStr for Ready {
    type Err = String;

    fn from_str(s: &str) -> Result<Ready, String> {
        let port = |p: &str, what: &str| match p.parse::<u16>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!(
                "{s:?}: invalid port {p:?} in {what} (expected 1 to 65535)"
            )),
        };
        if let Some(p) = s.strip_prefix("tcp:") {
            return Ok(Ready::Tcp(port(p, "tcp:PORT")?));
        }
        if let Some(rest) = s.strip_prefix("http://") {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let Some((host, p)) = authority.rsplit_once(':') else {
                return Err(format!("{s:?}: give the port: http://127.0.0.1:PORT/PATH"));
            };
            if host != "127.0.0.1" {
                return Err(format!(
                    "{s:?}: the host must be 127.0.0.1 (the container's port is published on \
                     loopback only)"
                ));
            }
            let port = port(p, "http://127.0.0.1:PORT/PATH")?;
            if path.is_empty() {
                return Err(format!("{s:?}: give the path: http://127.0.0.1:{port}/"));
            }
            return Ok(Ready::Http {
                port,
                path: path.to_string(),
            });
        }
        if let Some(re) = s.strip_prefix("log:") {
            if re.is_empty() {
                return Err(format!("{s:?}: empty log pattern"));
            }
            regex_syntax::Parser::new()
                .parse(re)
                .map_err(|e| format!("{s:?}: not a regex: {e}"))?;
            return Ok(Ready::Log(re.to_string()));
        }
        if s.starts_with(|c: char| c.is_ascii_digit()) {
            return parse_duration(s).map(Ready::After);
        }
        Err(format!(
            "{s:?}: expected tcp:PORT, http://127.0.0.1:PORT/PATH, log:REGEX or a duration \
             such as 5s"
        ))
    }
}

impl Ready {
    /// The container port the check talks to (published on 127.0.0.1).
    pub fn port(&self) -> Option<u16> {
        match self {
            Ready::Tcp(p) | Ready::Http { port: p, .. } => Some(*p),
            Ready::Log(_) | Ready::After(_) => None,
        }
    }
}

impl fmt::Display for Ready {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ready::Tcp(port) => write!(f, "tcp:{port}"),
            Ready::Http { port, path } => write!(f, "http://127.0.0.1:{port}{path}"),
            Ready::Log(re) => write!(f, "log:{re}"),
            Ready::After(d) => match d.as_millis() {
                ms if ms % 60_000 == 0 => write!(f, "{}m", ms / 60_000),
                ms if ms % 1000 == 0 => write!(f, "{}s", ms / 1000),
                ms => write!(f, "{ms}ms"),
            },
        }
    }
}

/// An error in a catalog file: the file, the field (`writable[1].path`) when known, the line
/// when the YAML reader knows it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("catalog file {file}: {}{}{message}",
    line.map(|l| format!("line {l}: ")).unwrap_or_default(),
    field.as_deref().map(|f| format!("{f}: ")).unwrap_or_default())]
pub struct CatalogError {
    pub file: String,
    pub field: Option<String>,
    pub line: Option<u64>,
    pub message: String,
}

/// A set of entries with distinct names, sorted by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalog {
    entries: Vec<Entry>,
}

impl Catalog {
    /// The catalog built into rofs (`catalog/*.yaml`), parsed once. Every embedded file is
    /// parsed by this crate's tests, so the error is for a build that skipped them.
    pub fn builtin() -> Result<&'static Catalog, &'static CatalogError> {
        static BUILTIN: OnceLock<Result<Catalog, CatalogError>> = OnceLock::new();
        BUILTIN
            .get_or_init(|| Catalog::parse(embedded::FILES.iter().copied()))
            .as_ref()
    }

    /// Parse `(file name, text)` pairs into a catalog: each file one entry, whose name is the
    /// file's name without `.yaml`; names are distinct.
    pub fn parse<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Catalog, CatalogError> {
        let mut entries: Vec<Entry> = Vec::new();
        for (file, text) in files {
            let entry = parse_entry(text, file)?;
            let stem = file.strip_suffix(".yaml").unwrap_or(file);
            if entry.name != stem {
                return Err(CatalogError {
                    file: file.to_string(),
                    field: Some("name".to_string()),
                    line: None,
                    message: format!(
                        "{:?} differs from the file name: entry NAME lives in NAME.yaml",
                        entry.name
                    ),
                });
            }
            if let Some(other) = entries.iter().find(|e| e.name == entry.name) {
                return Err(CatalogError {
                    file: file.to_string(),
                    field: Some("name".to_string()),
                    line: None,
                    message: format!("{:?} is also the name in {}", entry.name, other.file),
                });
            }
            entries.push(entry);
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Catalog { entries })
    }

    /// Every entry, sorted by name.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry named `name`.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// The entries one of whose image patterns matches `image` (what `--profile auto` picks),
    /// by name.
    pub fn matching(&self, image: &str) -> Vec<&Entry> {
        self.entries.iter().filter(|e| e.matches(image)).collect()
    }

    /// The entry names, comma-separated (for error messages).
    pub fn names(&self) -> String {
        let names: Vec<&str> = self.entries.iter().map(|e| e.name.as_str()).collect();
        names.join(", ")
    }
}

impl Entry {
    /// Does one of the entry's image patterns match `image`?
    pub fn matches(&self, image: &str) -> bool {
        self.images.iter().any(|p| p.matches(image))
    }

    /// The entry's writable paths.
    pub fn paths(&self) -> Vec<WritablePath> {
        self.writable.iter().map(|p| p.path.clone()).collect()
    }

    /// The entry in the file format (what `rofs discover --format profile` writes and
    /// `rofs profiles show --format yaml` prints): [`parse_entry`] reads it back unchanged.
    pub fn to_yaml(&self) -> String {
        let flow = |items: &mut dyn Iterator<Item = &str>| {
            let items: Vec<String> = items.map(|s| yaml_str(s, true)).collect();
            format!("[{}]", items.join(", "))
        };
        let mut out = format!(
            "name: {}\ndescription: {}\nimages: {}\nwritable:{}\n",
            yaml_str(&self.name, false),
            yaml_str(&self.description, false),
            flow(&mut self.images.iter().map(ImagePattern::as_str)),
            if self.writable.is_empty() { " []" } else { "" },
        );
        for p in &self.writable {
            out += &format!(
                "  - path: {}\n    why: {}\n",
                yaml_str(&p.path.to_string(), false),
                yaml_str(&p.why, false)
            );
        }
        if let Some(notes) = &self.notes {
            out += &format!("notes: {}\n", yaml_str(notes, false));
        }
        if let Some(p) = &self.proven {
            out += &format!(
                "proven:\n  image: {}\n  packages: {}\n  ready: {}\n  date: {}\n",
                yaml_str(&p.image, false),
                flow(&mut p.packages.iter().map(String::as_str)),
                yaml_str(&p.ready.to_string(), false),
                yaml_str(&p.date, false),
            );
            if let Some(user) = &p.user {
                out += &format!("  user: {}\n", yaml_str(user, false));
            }
            if let Some(command) = &p.command {
                out += &format!(
                    "  command: {}\n",
                    flow(&mut command.iter().map(String::as_str))
                );
            }
            if let Some(d) = &p.discover {
                out += &format!(
                    "  discover: {{rounds: {}, humanEdits: {}}}\n",
                    d.rounds,
                    yaml_str(&d.human_edits, true)
                );
            }
        }
        out
    }

    /// The entry as JSON, with the keys of the file format.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), self.name.clone().into());
        m.insert("description".into(), self.description.clone().into());
        let images: Vec<Value> = self.images.iter().map(|p| p.as_str().into()).collect();
        m.insert("images".into(), images.into());
        let writable: Vec<Value> = (self.writable.iter())
            .map(|p| serde_json::json!({"path": p.path.to_string(), "why": p.why}))
            .collect();
        m.insert("writable".into(), writable.into());
        if let Some(notes) = &self.notes {
            m.insert("notes".into(), notes.clone().into());
        }
        if let Some(p) = &self.proven {
            let mut proof = Map::new();
            proof.insert("image".into(), p.image.clone().into());
            proof.insert("packages".into(), p.packages.clone().into());
            proof.insert("ready".into(), p.ready.to_string().into());
            proof.insert("date".into(), p.date.clone().into());
            if let Some(user) = &p.user {
                proof.insert("user".into(), user.clone().into());
            }
            if let Some(command) = &p.command {
                proof.insert("command".into(), command.clone().into());
            }
            if let Some(d) = &p.discover {
                proof.insert(
                    "discover".into(),
                    serde_json::json!({"rounds": d.rounds, "humanEdits": d.human_edits}),
                );
            }
            m.insert("proven".into(), proof.into());
        }
        Value::Object(m)
    }
}

/// The YAML reader's options: duplicate keys are errors, the rest is small.
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: 16,
            flow_nesting_limit: 16,
            max_nodes: 100_000,
            max_events: 200_016,
        },
        strict_indentation: true,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
        with_snippet: false,
    }
}

/// The YAML reader's message without its position (given separately) and without advice
/// meant for the library's users ("set X in Options").
fn yaml_message(m: &str) -> String {
    let m = m.find(" at line ").map_or(m, |i| &m[..i]);
    let m = m.find(", set ").map_or(m, |i| &m[..i]);
    m.to_string()
}

/// Parse one catalog file's text; `file` names it in errors (`nginx.yaml`).
pub fn parse_entry(text: &str, file: &str) -> Result<Entry, CatalogError> {
    let err = |field: &str, message: String| CatalogError {
        file: file.to_string(),
        field: (!field.is_empty()).then(|| field.to_string()),
        line: None,
        message,
    };
    let value: Value =
        serde_saphyr::from_str_with_options(text, yaml_options()).map_err(|e| CatalogError {
            file: file.to_string(),
            field: None,
            line: e.location().map(|l| l.line()).filter(|&l| l > 0),
            message: yaml_message(&e.without_snippet().to_string()),
        })?;
    let Value::Object(mut top) = value else {
        return Err(err(
            "",
            "expected a map (name, description, images, writable, proven)".into(),
        ));
    };
    let mut fields = Fields {
        map: &mut top,
        at: String::new(),
        err: &err,
    };
    let name = fields.string("name")?;
    if name == AUTO || !crate::settings::is_dns_label(&name) {
        return Err(err(
            "name",
            format!(
                "{name:?}: expected a DNS label (lowercase letters, digits, `-`) other than `auto`"
            ),
        ));
    }
    let description = fields.string("description")?;
    if description.contains('\n') {
        return Err(err("description", "expected one line".into()));
    }
    let mut images = Vec::new();
    for (i, v) in fields.list("images")?.into_iter().enumerate() {
        let at = format!("images[{i}]");
        let text = as_string(v).ok_or_else(|| err(&at, "expected a string".into()))?;
        let pattern = ImagePattern::parse(&text).map_err(|m| err(&at, m))?;
        if images.contains(&pattern) {
            return Err(err(&at, format!("{text:?} is listed twice")));
        }
        images.push(pattern);
    }
    let mut writable: Vec<PathEntry> = Vec::new();
    // May be empty: an image proven to need no writable path (`auto` then applies nothing,
    // without a warning).
    for (i, v) in fields.list("writable")?.into_iter().enumerate() {
        let at = format!("writable[{i}]");
        let Value::Object(mut m) = v else {
            return Err(err(&at, "expected a map with `path` and `why`".into()));
        };
        let mut f = Fields {
            map: &mut m,
            at: format!("{at}."),
            err: &err,
        };
        let spec = f.string("path")?;
        let path: WritablePath = spec
            .parse()
            .map_err(|e: crate::SettingsError| err(&format!("{at}.path"), e.to_string()))?;
        let why = f.string("why")?;
        f.done()?;
        if let Some(j) = writable.iter().position(|p| p.path.path == path.path) {
            return Err(err(
                &format!("{at}.path"),
                format!("{} is also writable[{j}]", path.path),
            ));
        }
        writable.push(PathEntry { path, why });
    }
    let notes = fields.optional_string("notes")?;
    let proven = match fields.take("proven") {
        None => None,
        Some(Value::Object(mut m)) => Some(proof(&mut m, &err)?),
        Some(_) => return Err(err("proven", "expected a map".into())),
    };
    fields.done()?;
    if proven.is_none() && !images.is_empty() {
        return Err(err(
            "proven",
            "missing: an entry that matches images says where it was proven (image, packages, ready, date)"
                .into(),
        ));
    }
    Ok(Entry {
        name,
        description,
        images,
        writable,
        notes,
        proven,
        file: file.to_string(),
    })
}

fn proof(
    m: &mut Map<String, Value>,
    err: &dyn Fn(&str, String) -> CatalogError,
) -> Result<Proof, CatalogError> {
    let mut f = Fields {
        map: m,
        at: "proven.".into(),
        err,
    };
    let image = f.string("image")?;
    let mut packages = Vec::new();
    for (i, v) in f.list("packages")?.into_iter().enumerate() {
        match as_string(v) {
            Some(p) if !p.trim().is_empty() => packages.push(p),
            _ => {
                return Err(err(
                    &format!("proven.packages[{i}]"),
                    "expected a package=version string".into(),
                ));
            }
        }
    }
    let ready: Ready = f
        .string("ready")?
        .parse()
        .map_err(|m| err("proven.ready", m))?;
    let date = f.string("date")?;
    if !is_date(&date) {
        return Err(err("proven.date", format!("{date:?}: expected YYYY-MM-DD")));
    }
    let user = f.optional_string("user")?;
    let command = match f.take("command") {
        None => None,
        Some(Value::Array(items)) if !items.is_empty() => Some(
            items
                .into_iter()
                .map(as_string)
                .collect::<Option<Vec<String>>>()
                .ok_or_else(|| err("proven.command", "expected a list of strings".into()))?,
        ),
        Some(_) => {
            return Err(err(
                "proven.command",
                "expected a non-empty list of strings".into(),
            ));
        }
    };
    let discover = match f.take("discover") {
        None => None,
        Some(Value::Object(mut d)) => {
            let mut df = Fields {
                map: &mut d,
                at: "proven.discover.".into(),
                err,
            };
            let rounds = match df.take("rounds") {
                Some(Value::Number(n)) => n.as_u64(),
                _ => None,
            }
            .ok_or_else(|| err("proven.discover.rounds", "expected a whole number".into()))?;
            let human_edits = df.string("humanEdits")?;
            df.done()?;
            Some(DiscoverRecord {
                rounds,
                human_edits,
            })
        }
        Some(_) => {
            return Err(err(
                "proven.discover",
                "expected a map (rounds, humanEdits)".into(),
            ));
        }
    };
    f.done()?;
    Ok(Proof {
        image,
        packages,
        ready,
        date,
        user,
        command,
        discover,
    })
}

/// The keys of one map, taken one by one; what is left at the end is an unknown key.
struct Fields<'a> {
    map: &'a mut Map<String, Value>,
    /// The map's field path with a trailing `.` (empty at the top).
    at: String,
    err: &'a dyn Fn(&str, String) -> CatalogError,
}

impl Fields<'_> {
    fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key).filter(|v| !v.is_null())
    }

    fn string(&mut self, key: &str) -> Result<String, CatalogError> {
        let field = format!("{}{key}", self.at);
        match self.take(key).map(as_string) {
            None => Err((self.err)(&field, "missing".into())),
            Some(Some(s)) if !s.trim().is_empty() => Ok(s),
            Some(_) => Err((self.err)(&field, "expected a non-empty string".into())),
        }
    }

    fn optional_string(&mut self, key: &str) -> Result<Option<String>, CatalogError> {
        if self.map.get(key).is_none_or(Value::is_null) {
            return Ok(None);
        }
        self.string(key).map(Some)
    }

    fn list(&mut self, key: &str) -> Result<Vec<Value>, CatalogError> {
        let field = format!("{}{key}", self.at);
        match self.take(key) {
            None => Err((self.err)(&field, "missing (an empty list is `[]`)".into())),
            Some(Value::Array(items)) => Ok(items),
            Some(_) => Err((self.err)(&field, "expected a list".into())),
        }
    }

    /// Refuse the keys nobody took.
    fn done(self) -> Result<(), CatalogError> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(key) => Err((self.err)(
                &format!("{}{key}", self.at),
                "unknown key (see docs/catalog.md for the format)".into(),
            )),
        }
    }
}

/// A string as a YAML scalar: plain when that reads back as the same string, else
/// double-quoted (a JSON string is a YAML double-quoted scalar). `flow`: inside `[...]`/`{...}`.
fn yaml_str(s: &str, flow: bool) -> String {
    let special = |c: char| {
        "#,[]{}&*!|>'\"%@`".contains(c) || (flow && c == ':') || !(' '..='~').contains(&c)
    };
    let reserved = matches!(
        s.to_ascii_lowercase().as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "~"
    );
    let plain = !s.is_empty()
        && !reserved
        && s.starts_with(|c: char| c.is_ascii_alphanumeric() || "/._".contains(c))
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.chars().any(special)
        && s.parse::<f64>().is_err();
    if plain {
        s.to_string()
    } else {
        serde_json::Value::from(s).to_string()
    }
}

/// A scalar as text: strings as they are; numbers too (a version `1.22` read as a number).
fn as_string(v: Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `YYYY-MM-DD` with a month 1-12 and a day 1-31.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10
        || b[4] != b'-'
        || b[7] != b'-'
        || !digits(0..4)
        || !digits(5..7)
        || !digits(8..10)
    {
        return false;
    }
    let month: u32 = s[5..7].parse().unwrap_or(0);
    let day: u32 = s[8..10].parse().unwrap_or(0);
    (1..=12).contains(&month) && (1..=31).contains(&day)
}

/// The names of every builtin entry and `auto`, for error messages.
pub(crate) fn known_names() -> String {
    match Catalog::builtin() {
        Ok(c) => format!("{}, or {AUTO}", c.names()),
        Err(e) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_file_parses() {
        assert!(!embedded::FILES.is_empty());
        for (file, text) in embedded::FILES {
            parse_entry(text, file).unwrap_or_else(|e| panic!("{e}"));
        }
        let catalog = Catalog::builtin().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(catalog.entries().len(), embedded::FILES.len());
        let names: Vec<&str> = catalog.entries().iter().map(|e| e.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted, "sorted, distinct");
        for e in catalog.entries() {
            assert!(
                e.writable.iter().all(|p| !p.why.trim().is_empty()),
                "{}",
                e.name
            );
        }
    }

    /// The paths of the profiles that were hard-coded before the catalog, unchanged.
    #[test]
    fn converted_profiles_keep_their_paths() {
        let catalog = Catalog::builtin().expect("builtin");
        for (name, paths) in [
            ("java", &["/tmp:empty"][..]),
            (
                "nginx",
                &["/var/lib/nginx", "/var/log/nginx", "/run:memory:1Mi:empty"],
            ),
            ("tmp", &["/tmp:empty"]),
            (
                "tomcat",
                &["/var/log/tomcat10", "/var/cache/tomcat10", "/tmp:empty"],
            ),
        ] {
            let e = catalog.get(name).expect(name);
            let got: Vec<String> = e.paths().iter().map(ToString::to_string).collect();
            assert_eq!(got, paths, "{name}");
        }
    }

    const GOOD: &str = "\
name: web
description: a web server
images: [web, \"*/web-*\"]
writable:
  - path: /var/cache/web:64Mi
    why: cache
  - path: /run:memory:empty
    why: pid
notes: nothing else
proven:
  image: localhost/web:1
  packages: [web=1.0-1, libweb=2]
  ready: tcp:8080
  date: 2026-11-30
  user: \"1000\"
  command: [web, --foreground]
  discover: {rounds: 2, humanEdits: none}
";

    /// The format example of docs/catalog.md parses (the docs stay true to the reader).
    #[test]
    fn the_documented_example_parses() {
        let doc = include_str!("../../../docs/catalog.md");
        let start = doc.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
        let text = &doc[start..start + doc[start..].find("```").expect("closed")];
        let e = parse_entry(text, "nginx.yaml").unwrap_or_else(|e| panic!("{e}"));
        let p = e.proven.expect("proven");
        assert_eq!(p.command.expect("command"), ["nginx", "-g", "daemon off;"]);
        assert_eq!(p.discover.expect("discover").rounds, 2);
    }

    /// The table of profiles in docs/reference.md is the catalog's: same names, paths and
    /// image patterns (the docs stay true to the catalog that ships).
    #[test]
    fn the_reference_table_lists_the_catalog() {
        let doc = include_str!("../../../docs/reference.md");
        let section = &doc[doc.find("## Profiles: the catalog").expect("section")..];
        // The first table of the section: from its header to the first line that is not a row.
        let table = section
            .lines()
            .skip_while(|l| !l.starts_with("| profile |"))
            .take_while(|l| l.starts_with('|'));
        let cell = |c: &str| -> Vec<String> {
            (c.split(", ")
                .map(|p| p.trim().trim_matches('`').to_string()))
            .filter(|p| p != "none (generic)")
            .collect()
        };
        let mut rows: Vec<(String, Vec<String>, Vec<String>)> = table
            .filter(|l| l.starts_with("| `"))
            .map(|l| {
                let cols: Vec<&str> = l.split(" | ").collect();
                let name = cols[0]
                    .trim_start_matches("| ")
                    .trim_matches('`')
                    .to_string();
                let mut paths = cell(cols[1]);
                paths.sort();
                (name, paths, cell(cols[2]))
            })
            .collect();
        rows.sort();
        let catalog = Catalog::builtin().expect("builtin");
        let want: Vec<(String, Vec<String>, Vec<String>)> = (catalog.entries().iter())
            .map(|e| {
                let mut paths: Vec<String> = e.paths().iter().map(ToString::to_string).collect();
                paths.sort();
                let images = e.images.iter().map(|p| p.as_str().to_string()).collect();
                (e.name.clone(), paths, images)
            })
            .collect();
        assert_eq!(rows, want);
    }

    #[test]
    fn parses_every_key() {
        let e = parse_entry(GOOD, "web.yaml").expect("valid");
        assert_eq!(e.name, "web");
        assert_eq!(e.images.len(), 2);
        assert_eq!(e.writable[0].path.to_string(), "/var/cache/web:64Mi");
        assert_eq!(e.writable[1].why, "pid");
        assert_eq!(e.notes.as_deref(), Some("nothing else"));
        let p = e.proven.as_ref().expect("proven");
        assert_eq!(p.ready, Ready::Tcp(8080));
        assert_eq!(p.packages, ["web=1.0-1", "libweb=2"]);
        assert_eq!(p.date, "2026-11-30");
        assert_eq!(p.user.as_deref(), Some("1000"));
        assert_eq!(
            p.command.as_deref(),
            Some(&["web".to_string(), "--foreground".into()][..])
        );
        assert_eq!(
            p.discover,
            Some(DiscoverRecord {
                rounds: 2,
                human_edits: "none".into()
            })
        );
        assert!(e.matches("registry.example/team/web:2"));
        assert!(e.matches("team/web-ui"));
        assert!(!e.matches("web-ui"));
    }

    #[test]
    fn the_json_form_has_the_file_keys_and_parses_back() {
        let e = parse_entry(GOOD, "web.yaml").expect("valid");
        let json = serde_json::to_string(&e.to_json()).expect("json");
        // JSON is YAML: the same reader takes it back.
        assert_eq!(parse_entry(&json, "web.yaml").expect("parses back"), e);
    }

    #[test]
    fn the_yaml_form_reads_back_unchanged() {
        let mut entries: Vec<Entry> = Catalog::builtin().expect("builtin").entries().to_vec();
        entries.push(parse_entry(GOOD, "web.yaml").expect("valid"));
        // Strings a plain YAML scalar would not keep.
        let mut odd = parse_entry(GOOD, "web.yaml").expect("valid");
        odd.description = "yes".into();
        odd.notes = Some("a: b # c, [d] {e} 'f' \"g\" \\ \u{e9} \t tab ".into());
        odd.writable[0].why = "1.5".into();
        let p = odd.proven.as_mut().expect("proven");
        p.packages = vec!["a=2:1.0".into(), "b, c".into(), "null".into(), "*x".into()];
        p.user = Some("0".into());
        p.command = Some(vec![
            "sh".into(),
            "-c".into(),
            "echo 'a: b' && exit 0".into(),
        ]);
        p.ready = Ready::Log("listening on \\[::\\]:80$".into());
        p.discover = Some(DiscoverRecord {
            rounds: 0,
            human_edits: "no: added /tmp, kept".into(),
        });
        entries.push(odd);
        for e in entries {
            let yaml = e.to_yaml();
            assert_eq!(parse_entry(&yaml, &e.file).expect(&yaml), e, "{yaml}");
        }
        let web = parse_entry(GOOD, "web.yaml").expect("valid").to_yaml();
        assert!(web.starts_with("name: web\ndescription: a web server\nimages: [web, \"*/web-*\"]\nwritable:\n  - path: /var/cache/web:64Mi\n    why: cache\n"), "{web}");
    }

    #[test]
    fn bad_files_name_the_file_and_the_field() {
        let good = |from: &str, to: &str| {
            assert!(GOOD.contains(from), "{from}");
            GOOD.replacen(from, to, 1)
        };
        let cases: Vec<(String, &str)> = vec![
            (good("notes:", "note:"), "web.yaml: note: unknown key"),
            (
                good("    why: cache", "    why: cache\n    size: 1"),
                "writable[0].size: unknown key",
            ),
            (
                good("  date: 2026-11-30", "  date: 2026-11-30\n  by: me"),
                "proven.by: unknown key",
            ),
            (
                good("rounds: 2, ", "rounds: 2, more: 1, "),
                "proven.discover.more: unknown key",
            ),
            (
                good("/var/cache/web:64Mi", "var/cache"),
                "writable[0].path: writable path \"var/cache\" must be absolute",
            ),
            (
                good("/var/cache/web:64Mi", "/proc/x"),
                "writable[0].path: writable path \"/proc/x\" is under /proc",
            ),
            (
                good("/var/cache/web:64Mi", "/x:fast"),
                "writable[0].path: unknown option \"fast\"",
            ),
            (
                good("/var/cache/web:64Mi", "/run"),
                "writable[1].path: /run is also writable[0]",
            ),
            (good("    why: cache\n", ""), "writable[0].why: missing"),
            (
                good("why: cache", "why: \"\""),
                "writable[0].why: expected a non-empty string",
            ),
            (
                good("images: [web, ", "images: [Web, "),
                "images[0]: image pattern \"Web\" has 'W'",
            ),
            (
                good("images: [web, ", "images: [\"web:1\", "),
                "images[0]: image pattern \"web:1\" has a `:`",
            ),
            (
                good("images: [web, ", "images: [\"*\", "),
                "images[0]: image pattern \"*\" matches every image",
            ),
            (
                good("\"*/web-*\"", "web"),
                "images[1]: \"web\" is listed twice",
            ),
            (good("images: [web, \"*/web-*\"]\n", ""), "images: missing"),
            (
                good("name: web", "name: auto"),
                "name: \"auto\": expected a DNS label",
            ),
            (
                good("name: web", "name: Web"),
                "name: \"Web\": expected a DNS label",
            ),
            (
                good("ready: tcp:8080", "ready: tcp:0"),
                "proven.ready: \"tcp:0\": invalid port \"0\"",
            ),
            (
                good("ready: tcp:8080", "ready: soon"),
                "proven.ready: \"soon\": expected tcp:PORT",
            ),
            (
                good("ready: tcp:8080", "ready: http://127.0.0.1:80"),
                "proven.ready: \"http://127.0.0.1:80\": give the path: http://127.0.0.1:80/",
            ),
            (
                good("date: 2026-11-30", "date: 2026-13-01"),
                "proven.date: \"2026-13-01\": expected YYYY-MM-DD",
            ),
            (good("date: 2026-11-30", "date: 30.11.2026"), "proven.date"),
            (
                good("  packages: [web=1.0-1, libweb=2]\n", ""),
                "proven.packages: missing",
            ),
            (
                good("rounds: 2", "rounds: two"),
                "proven.discover.rounds: expected a whole number",
            ),
            (
                good("command: [web, --foreground]", "command: web"),
                "proven.command: expected a non-empty list",
            ),
            (
                good("description: a web server", "description: \"a\\nb\""),
                "description: expected one line",
            ),
            (
                good("writable:\n", "writable: {}\nx:\n"),
                "writable: expected a list",
            ),
            (
                GOOD[..GOOD.find("proven:").expect("proven")].to_string(),
                "proven: missing: an entry that matches images",
            ),
            (
                good("name: web", "name: web\nname: web"),
                "web.yaml: line 2: duplicate mapping key: name",
            ),
            ("- a\n".to_string(), "web.yaml: expected a map"),
            ("name: [\n".to_string(), "web.yaml: line "),
        ];
        for (text, needle) in cases {
            let e = parse_entry(&text, "web.yaml")
                .expect_err(needle)
                .to_string();
            assert!(e.starts_with("catalog file web.yaml: "), "{e}");
            assert!(e.contains(needle), "expected {needle:?} in {e:?}");
        }
    }

    /// An image proven to need no writable path has an entry with `writable: []`
    /// (what `rofs discover --format profile` writes for it).
    #[test]
    fn an_entry_may_make_nothing_writable() {
        let text = GOOD[..GOOD.find("writable:").expect("writable")].to_string()
            + "writable: []\n"
            + &GOOD[GOOD.find("notes:").expect("notes")..];
        let e = parse_entry(&text, "web.yaml").unwrap_or_else(|e| panic!("{e}"));
        assert!(e.writable.is_empty() && e.paths().is_empty());
        assert_eq!(
            parse_entry(&e.to_yaml(), "web.yaml").expect("reads back"),
            e
        );
    }

    #[test]
    fn a_generic_entry_needs_no_proof() {
        let text = "name: scratch\ndescription: d\nimages: []\nwritable: [{path: /scratch:empty, why: w}]\n";
        let e = parse_entry(text, "scratch.yaml").expect("valid");
        assert!(e.images.is_empty() && e.proven.is_none());
        assert!(!e.matches("scratch"));
    }

    #[test]
    fn a_catalog_refuses_names_used_twice_or_unlike_the_file() {
        let a = "name: a\ndescription: d\nimages: []\nwritable: [{path: /a, why: w}]\n";
        let e = Catalog::parse([("a.yaml", a), ("a-copy.yaml", a)]).expect_err("file name");
        assert_eq!(
            e.to_string(),
            "catalog file a-copy.yaml: name: \"a\" differs from the file name: entry NAME lives in NAME.yaml"
        );
        let e = Catalog::parse([("a.yaml", a), ("a.yaml", a)]).expect_err("twice");
        assert_eq!(
            e.to_string(),
            "catalog file a.yaml: name: \"a\" is also the name in a.yaml"
        );
        let c = Catalog::parse([
            ("b.yaml", &a.replace("name: a", "name: b")[..]),
            ("a.yaml", a),
        ])
        .expect("valid");
        assert_eq!(c.names(), "a, b");
    }

    #[test]
    fn ready_checks_print_as_written() {
        for text in [
            "tcp:5432",
            "http://127.0.0.1:8080/health?x=1",
            "log:ready to accept",
            "5s",
            "2m",
            "500ms",
        ] {
            let r: Ready = text.parse().expect(text);
            assert_eq!(r.to_string(), text);
        }
        assert_eq!(
            "1500ms".parse::<Ready>().expect("ms"),
            Ready::After(std::time::Duration::from_millis(1500))
        );
        for (bad, says) in [
            ("0s", "more than zero"),
            ("5", "give a unit"),
            ("5h", "unknown unit"),
            ("tcp:", "invalid port"),
            ("tcp:65536", "invalid port"),
            ("tcp:http", "invalid port"),
            ("log:", "empty log pattern"),
            ("log:(", "not a regex"),
            ("http://localhost:80/", "must be 127.0.0.1"),
            ("http://10.0.0.1:80/", "must be 127.0.0.1"),
            ("http://127.0.0.1/", "give the port"),
            ("soon", "expected tcp:PORT"),
            ("", "expected tcp:PORT"),
        ] {
            let e = bad.parse::<Ready>().expect_err(bad);
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
