//! Fixture loading and the run of one fixture through [`rofs_manifest::patch`].
//!
//! A fixture is a file in `tests/fixtures/` (YAML or JSON). Its first lines may be comments
//! `# rofs-args: FLAGS...`: the `rofs patch` settings flags to apply (several lines are
//! joined; words are split on whitespace, no quoting). Supported flags, with the meaning
//! of `rofs patch`: `-w/--writable [CONTAINER=]PATH[:...]`, `-p/--profile [CONTAINER=]NAME`,
//! `-c/--container NAME`, `--seeder agent|shell`, `--agent-image IMAGE`,
//! `--agent-delivery install|image-volume`, `--writable-volume NAME`,
//! `--reload HOOK`, `--sync-conflict app|source`, `--kube-version V`, `--rollout-on-change`
//! (also `--flag=value`).
//! The header is test metadata, not input: it is removed before patching (JSON has no
//! comments), so the snapshot shows exactly what rofs made of the rest.

use std::path::{Path, PathBuf};

use rofs_core::Settings;
use rofs_manifest::{Format, Input, Patched};
use serde_json::Value;

pub const HEADER: &str = "# rofs-args:";

pub struct Fixture {
    pub name: String,
    pub args: Vec<String>,
    /// The input without its header.
    pub input: String,
}

impl Fixture {
    pub fn load(path: &Path) -> Fixture {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let mut args = Vec::new();
        let mut rest = text.as_str();
        while let Some(line) = rest.lines().next() {
            let Some(a) = line.strip_prefix(HEADER) else {
                break;
            };
            args.extend(a.split_whitespace().map(String::from));
            rest = rest.get(line.len() + 1..).unwrap_or_default();
        }
        Fixture {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            args,
            input: rest.to_string(),
        }
    }

    pub fn settings(&self) -> Settings {
        settings_from_args(&self.args).unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }

    /// Patch `text` with this fixture's settings.
    pub fn patch(&self, text: &str) -> Patched {
        rofs_manifest::patch(
            &[Input {
                name: &self.name,
                text,
            }],
            &self.settings(),
            Format::Auto,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }
}

/// Every fixture file, sorted.
pub fn all() -> Vec<Fixture> {
    let dir = fixtures_dir();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    assert!(paths.len() >= 20, "fixtures missing in {}", dir.display());
    paths.iter().map(|p| Fixture::load(p)).collect()
}

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The settings flags of `rofs patch`, turned into a [`Settings`] layer the same way.
pub fn settings_from_args(args: &[String]) -> Result<Settings, String> {
    let mut s = Settings::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag {
            // The same `[CONTAINER=]VALUE` parser as `rofs patch`.
            "-w" | "--writable" => s.add_writable(&value()?).map_err(|e| e.to_string())?,
            "-p" | "--profile" => s.add_profile(&value()?).map_err(|e| e.to_string())?,
            "-c" | "--container" => s.containers.get_or_insert_with(Vec::new).push(value()?),
            "--seeder" => s.seeder = Some(value()?.parse().map_err(|e| format!("{e}"))?),
            "--agent-image" => s.agent_image = Some(value()?),
            "--agent-delivery" => {
                s.agent_delivery = Some(value()?.parse().map_err(|e| format!("{e}"))?)
            }
            "--writable-volume" => s.writable_volumes.push(value()?),
            "--reload" => s.reload = Some(value()?.parse().map_err(|e| format!("{e}"))?),
            "--sync-conflict" => {
                s.sync_conflict = Some(value()?.parse().map_err(|e| format!("{e}"))?)
            }
            "--kube-version" => {
                s.kube_version = Some(value()?.parse().map_err(|e| format!("{e}"))?)
            }
            "--rollout-on-change" => s.rollout_on_change = true,
            other => return Err(format!("unsupported flag in {HEADER} {other}")),
        }
    }
    s.validate().map_err(|e| e.to_string())?;
    Ok(s)
}

/// The documents of a patched stream, parsed back (YAML or concatenated JSON).
pub fn documents(output: &str) -> Vec<Value> {
    if output.trim_start().starts_with('{') {
        return serde_json::Deserializer::from_str(output)
            .into_iter::<Value>()
            .map(|v| v.expect("rofs wrote valid JSON"))
            .collect();
    }
    rofs_manifest::yaml::split_documents(output)
        .into_iter()
        .filter(|d| {
            !d.text
                .lines()
                .all(|l| l.trim().is_empty() || l.trim().starts_with('#'))
        })
        .map(|d| {
            rofs_manifest::yaml::from_str(d.text)
                .unwrap_or_else(|e| panic!("rofs wrote YAML it cannot read: {e:?}\n{}", d.text))
        })
        .collect()
}

/// Documents with `kind: List` replaced by their items.
pub fn flatten(docs: Vec<Value>) -> Vec<Value> {
    let mut out = Vec::new();
    for d in docs {
        if rofs_core::workload::is_list(&d) {
            let items = d["items"].as_array().cloned().unwrap_or_default();
            out.extend(flatten(items));
        } else {
            out.push(d);
        }
    }
    out
}

/// The pod template of a workload document (the Pod itself for kind Pod).
pub fn pod_template(doc: &Value) -> Option<&Value> {
    let (api, kind) = rofs_core::workload::type_meta(doc)?;
    let path = rofs_core::workload::pod_template_path(api, kind)?;
    let mut v = doc;
    for k in path {
        v = v.get(*k)?;
    }
    Some(v)
}

/// `Kind name` of a document, for messages.
pub fn describe(doc: &Value) -> String {
    rofs_manifest::describe(doc)
}
