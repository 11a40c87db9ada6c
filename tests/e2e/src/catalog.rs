//! The catalog of profiles (`catalog/<family>.yaml`), read the way the tests need it: each
//! entry's writable paths (as `-w` specs), the image it was proven on and how to tell that
//! the app is ready. The podman suite (tests/catalog.rs) and the cluster suite
//! (tests/cluster/tests/catalog.rs) drive their lists from here, so a new entry is tested
//! without touching a test.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

/// One writable path of an entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Writable {
    /// the `-w` spec (`/run/postgresql:memory:1Mi:empty`)
    pub spec: String,
    /// why the path is in the profile
    pub why: String,
}

impl Writable {
    /// The path alone (the spec up to its first `:`).
    pub fn path(&self) -> &str {
        self.spec.split(':').next().unwrap_or_default()
    }

    /// Whether the `why` accounts for a path the app becomes ready without: it says why the
    /// path is kept (the word "kept": logs written later, state written at shutdown...) or
    /// what fails without it ("without it ...", proven by another test).
    pub fn kept(&self) -> bool {
        let why = self.why.to_ascii_lowercase();
        why.contains("kept") || why.contains("without it")
    }
}

/// How a test knows the app is ready (`proven.ready`).
#[derive(Debug, Clone, PartialEq)]
pub enum Ready {
    /// `tcp:PORT`: the port accepts a connection
    Tcp(u16),
    /// `http://127.0.0.1:PORT/PATH`: `GET /PATH` answers 200
    Http(u16, String),
    /// `log:TEXT`: the log contains TEXT (the tests match a plain substring; an entry whose
    /// REGEX uses regex syntax is refused by [`parse_ready`])
    Log(String),
    /// a duration (`10s`): still running after it
    After(Duration),
}

impl Ready {
    /// The container port the check talks to.
    pub fn port(&self) -> Option<u16> {
        match self {
            Ready::Tcp(p) | Ready::Http(p, _) => Some(*p),
            _ => None,
        }
    }

    /// The same check as a Kubernetes `readinessProbe` (none for log and duration checks).
    pub fn probe(&self) -> Option<Value> {
        match self {
            Ready::Tcp(p) => Some(json!({"tcpSocket": {"port": p}, "periodSeconds": 1})),
            Ready::Http(p, path) => {
                Some(json!({"httpGet": {"port": p, "path": path}, "periodSeconds": 1}))
            }
            _ => None,
        }
    }
}

/// Parses `proven.ready`.
pub fn parse_ready(s: &str) -> Result<Ready, String> {
    if let Some(p) = s.strip_prefix("tcp:") {
        return p
            .parse()
            .map(Ready::Tcp)
            .map_err(|e| format!("ready {s:?}: port: {e}"));
    }
    if let Some(rest) = s.strip_prefix("http://127.0.0.1:") {
        let (port, path) = rest.split_once('/').unwrap_or((rest, ""));
        let port = port
            .parse()
            .map_err(|e| format!("ready {s:?}: port: {e}"))?;
        return Ok(Ready::Http(port, format!("/{path}")));
    }
    if let Some(re) = s.strip_prefix("log:") {
        if re.chars().any(|c| "\\^$.|?*+()[]{}".contains(c)) {
            return Err(format!(
                "ready {s:?}: the tests match log lines as plain text; use text without regex syntax"
            ));
        }
        return Ok(Ready::Log(re.to_string()));
    }
    let secs = s
        .strip_suffix('s')
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(|| {
            format!("ready {s:?}: want tcp:PORT, http://127.0.0.1:PORT/PATH, log:TEXT or Ns")
        })?;
    Ok(Ready::After(Duration::from_secs(secs)))
}

/// A catalog entry with a `proven` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub name: String,
    /// the file it came from
    pub file: PathBuf,
    pub writable: Vec<Writable>,
    /// `proven.image`
    pub image: String,
    pub ready: Ready,
    /// `proven.ready` as written (what `rofs discover --ready` takes)
    pub ready_text: String,
    /// `proven.discover.humanEdits` (`none`: the paths are discover's answer as printed);
    /// `None` when the entry has no `proven.discover` record
    pub human_edits: Option<String>,
    /// `proven.user` (a numeric uid, as a string: `runAsUser`)
    pub user: Option<u64>,
    /// `proven.command`
    pub command: Option<Vec<String>>,
}

impl Entry {
    /// `-w SPEC` for every path, except `without`.
    pub fn writable_args(&self, without: Option<&str>) -> Vec<String> {
        self.writable
            .iter()
            .filter(|w| Some(w.path()) != without)
            .flat_map(|w| ["--writable".to_string(), w.spec.clone()])
            .collect()
    }

    /// The pod as a user writes it: one container `app`, read-only root, the image's port
    /// (with `host_port` as its hostPort for podman), `restartPolicy: Never` (a crash is
    /// final), the entry's user and command, and the ready check as a readinessProbe.
    pub fn pod(&self, name: &str, host_port: Option<u16>) -> String {
        let mut sec = json!({"readOnlyRootFilesystem": true});
        if let Some(u) = self.user {
            sec["runAsUser"] = json!(u);
        }
        let mut c = json!({
            "name": "app",
            "image": self.image,
            "imagePullPolicy": "Never",
            "securityContext": sec,
        });
        if let Some(p) = self.ready.port() {
            let mut port = json!({"containerPort": p});
            if let Some(h) = host_port {
                port["hostPort"] = json!(h);
            }
            c["ports"] = json!([port]);
        }
        if let Some(probe) = self.ready.probe() {
            c["readinessProbe"] = probe;
        }
        if let Some(cmd) = &self.command {
            c["command"] = json!(cmd);
        }
        let pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": false,
                "containers": [c],
            },
        });
        serde_json::to_string_pretty(&pod).expect("pod JSON")
    }
}

fn field<'a>(doc: &'a Value, ptr: &str, file: &Path) -> Result<&'a Value, String> {
    doc.pointer(ptr)
        .ok_or_else(|| format!("{}: no {}", file.display(), ptr.replace('/', ".")))
}

fn string(doc: &Value, ptr: &str, file: &Path) -> Result<String, String> {
    field(doc, ptr, file)?
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| {
            format!(
                "{}: {} is not a string",
                file.display(),
                ptr.replace('/', ".")
            )
        })
}

/// Parses one catalog file; `Ok(None)` when it has no `proven` section (nothing to test).
pub fn parse_entry(file: &Path, text: &str) -> Result<Option<Entry>, String> {
    let doc: Value =
        serde_saphyr::from_str(text).map_err(|e| format!("{}: {e}", file.display()))?;
    if doc.get("proven").is_none() {
        return Ok(None);
    }
    let name = string(&doc, "/name", file)?;
    let mut writable = Vec::new();
    if let Some(list) = doc.get("writable") {
        let list = list
            .as_array()
            .ok_or_else(|| format!("{}: writable is not a list", file.display()))?;
        for (i, w) in list.iter().enumerate() {
            writable.push(Writable {
                spec: string(w, "/path", file).map_err(|e| format!("{e} (writable[{i}])"))?,
                why: string(w, "/why", file).map_err(|e| format!("{e} (writable[{i}])"))?,
            });
        }
    }
    let ready_text = string(&doc, "/proven/ready", file)?;
    let ready = parse_ready(&ready_text).map_err(|e| format!("{}: proven.{e}", file.display()))?;
    let human_edits = match doc.pointer("/proven/discover") {
        None | Some(Value::Null) => None,
        Some(_) => Some(string(&doc, "/proven/discover/humanEdits", file)?),
    };
    // `proven.user` is a string in the catalog; the tests run it as `runAsUser`, so a uid
    let user = match doc.pointer("/proven/user") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
                .parse::<u64>()
                .map_err(|_| {
                    format!(
                        "{}: proven.user {v}: the tests run it as runAsUser, which needs a numeric uid",
                        file.display()
                    )
                })?,
        ),
    };
    let command = match doc.pointer("/proven/command") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("{}: proven.command: not strings", file.display()))?,
        ),
        Some(_) => return Err(format!("{}: proven.command is not a list", file.display())),
    };
    Ok(Some(Entry {
        name,
        file: file.to_path_buf(),
        writable,
        image: string(&doc, "/proven/image", file)?,
        ready,
        ready_text,
        human_edits,
        user,
        command,
    }))
}

/// Every proven entry of `<workspace>/catalog/*.yaml`, sorted by name. Panics on a file
/// that does not parse (a broken catalog must fail the suite, not shrink it).
pub fn entries() -> Vec<Entry> {
    let dir = crate::workspace_root().join("catalog");
    let mut out = Vec::new();
    let listing = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read the catalog {}: {e}", dir.display()));
    for f in listing {
        let path = f.expect("catalog dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        match parse_entry(&path, &text) {
            Ok(Some(e)) => out.push(e),
            Ok(None) => {}
            Err(e) => panic!("{e}"),
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Entries selected by `ROFS_CATALOG_ONLY` (comma-separated names; all when unset).
pub fn selected() -> Vec<Entry> {
    let only = std::env::var("ROFS_CATALOG_ONLY").unwrap_or_default();
    let names: Vec<&str> = only.split(',').filter(|s| !s.is_empty()).collect();
    entries()
        .into_iter()
        .filter(|e| names.is_empty() || names.contains(&e.name.as_str()))
        .collect()
}

/// Lines of a log that tell of a write refused by the read-only root (C's
/// "Read-only file system", Go's lower-case one, `EROFS`).
pub fn erofs_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("read-only file system") || l.contains("erofs")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_checks() {
        assert_eq!(parse_ready("tcp:5432"), Ok(Ready::Tcp(5432)));
        assert_eq!(
            parse_ready("http://127.0.0.1:9090/-/ready"),
            Ok(Ready::Http(9090, "/-/ready".into()))
        );
        assert_eq!(
            parse_ready("http://127.0.0.1:80"),
            Ok(Ready::Http(80, "/".into()))
        );
        assert_eq!(
            parse_ready("log:Server startup in"),
            Ok(Ready::Log("Server startup in".into()))
        );
        assert_eq!(
            parse_ready("15s"),
            Ok(Ready::After(Duration::from_secs(15)))
        );
        assert!(parse_ready("log:start.*done").is_err());
        assert!(parse_ready("tcp:x").is_err());
        assert!(parse_ready("http://example:80/").is_err());
        assert!(parse_ready("soon").is_err());
    }

    #[test]
    fn entry_parses_and_builds_the_pod() {
        let text = r#"
name: pg
description: d
images: ["postgres"]
writable:
  - path: /run/postgresql:memory:1Mi:empty
    why: "socket"
  - path: /var/log/x
    why: "kept: logs written later"
  - path: /tmp
    why: "without it uploads fail"
proven:
  image: localhost/x:1
  ready: tcp:5432
  user: "70"
"#;
        let e = parse_entry(Path::new("pg.yaml"), text)
            .expect("parses")
            .expect("proven");
        assert_eq!(e.name, "pg");
        assert_eq!(e.writable[0].path(), "/run/postgresql");
        assert!(!e.writable[0].kept());
        assert!(e.writable[1].kept());
        assert!(e.writable[2].kept());
        assert_eq!(
            e.writable_args(Some("/var/log/x")),
            vec![
                "--writable",
                "/run/postgresql:memory:1Mi:empty",
                "--writable",
                "/tmp"
            ]
        );
        let pod: Value = serde_json::from_str(&e.pod("p", Some(4321))).expect("JSON");
        let c = &pod["spec"]["containers"][0];
        assert_eq!(
            c["ports"][0],
            json!({"containerPort": 5432, "hostPort": 4321})
        );
        assert_eq!(c["securityContext"]["runAsUser"], 70);
        assert_eq!(c["readinessProbe"]["tcpSocket"]["port"], 5432);
        assert_eq!(pod["spec"]["restartPolicy"], "Never");
    }

    #[test]
    fn entry_errors_name_the_file_and_field() {
        let f = Path::new("catalog/x.yaml");
        assert_eq!(parse_entry(f, "name: x\n").expect("no proven"), None);
        let e = parse_entry(f, "name: x\nproven: {image: i}\n").expect_err("no ready");
        assert_eq!(e, "catalog/x.yaml: no .proven.ready");
        let e = parse_entry(
            f,
            "name: x\nwritable: [{path: /a}]\nproven: {image: i, ready: tcp:1}\n",
        )
        .expect_err("no why");
        assert_eq!(e, "catalog/x.yaml: no .why (writable[0])");
        let e = parse_entry(
            f,
            "name: x\nproven: {image: i, ready: tcp:1, user: postgres}\n",
        )
        .expect_err("user");
        assert!(e.contains("needs a numeric uid"), "{e}");
    }

    #[test]
    fn erofs_lines_in_c_and_go_spelling() {
        let log = "ok\nopen() \"/run/x.pid\" failed (30: Read-only file system)\nopen /var/lib/p/lock: read-only file system\nEROFS here\n";
        assert_eq!(erofs_lines(log).len(), 3);
        assert!(erofs_lines("all fine\n").is_empty());
    }
}
