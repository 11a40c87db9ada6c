//! The three outputs of a [`Report`]: a config file for `rofs patch --config` (default), `-w`
//! flags, and a catalog profile entry. Each path carries why it is there.

use crate::Report;
use crate::plan::{Proposal, human_bytes, is_temp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Config,
    Flags,
    Profile,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "config" => Ok(Format::Config),
            "flags" => Ok(Format::Flags),
            "profile" => Ok(Format::Profile),
            _ => Err(format!("{s:?}: expected config, flags or profile")),
        }
    }
}

/// Catalog fields only the user knows (`--name`, `--description`).
#[derive(Debug, Clone, Default)]
pub struct ProfileMeta {
    pub name: Option<String>,
    pub description: Option<String>,
}

pub fn render(report: &Report, format: Format, meta: &ProfileMeta) -> String {
    match format {
        Format::Config => config(report),
        Format::Flags => flags(report),
        Format::Profile => profile(report, meta),
    }
}

/// A YAML scalar: plain when it is safe, else double-quoted (JSON strings are YAML).
pub fn yaml_str(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | ':'))
        && s.starts_with(|c: char| c == '/' || c.is_ascii_alphabetic())
        && !s.ends_with(':')
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "y" | "n" | "yes" | "no" | "true" | "false" | "on" | "off" | "null"
        );
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    }
}

fn list(names: &[String], n: usize) -> String {
    let mut s = names.iter().take(n).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > n {
        s.push_str(", ...");
    }
    s
}

/// Why a path is there: what was written, seeded or empty, medium, verified.
pub fn why(p: &Proposal, report: &Report) -> String {
    let mut parts = Vec::new();
    let mut wrote = Vec::new();
    if p.files > 0 {
        wrote.push(format!(
            "{} file{} written ({})",
            p.files,
            if p.files == 1 { "" } else { "s" },
            human_bytes(p.bytes)
        ));
    }
    if p.dirs > 0 {
        wrote.push(format!(
            "{} director{} created",
            p.dirs,
            if p.dirs == 1 { "y" } else { "ies" }
        ));
    }
    if p.deleted > 0 {
        wrote.push(format!("{} deleted", p.deleted));
    }
    if !wrote.is_empty() {
        let ex: Vec<String> = p.examples.clone();
        parts.push(format!("{} [{}]", wrote.join(", "), list(&ex, 3)));
    }
    if let Some(line) = &p.from_verification {
        parts.push(format!("added by verification: {line}"));
    }
    if p.seed {
        match p.image_entries {
            0 => parts.push(format!(
                "seeded: the image's directory is empty; the copy keeps its owner and mode{}",
                p.owner_mode
                    .map(|(u, m)| format!(" (uid {u}, {m:04o})"))
                    .unwrap_or_default()
            )),
            n => parts.push(format!(
                "seeded: the image has {n} entr{} here ({})",
                if n == 1 { "y" } else { "ies" },
                human_bytes(p.image_bytes)
            )),
        }
    } else if is_temp(&p.path) {
        parts.push("empty: temporary/runtime directory".to_string());
    } else {
        parts.push("empty: not in the image (the app creates it)".to_string());
    }
    if p.memory {
        parts.push(format!(
            "memory: runtime files; sizeLimit {} (4x what was written, at least 1Mi)",
            p.size_limit.as_deref().unwrap_or("?")
        ));
    }
    if p.not_needed_for_readiness {
        parts.push(
            "not needed for readiness: the app started read-only without it (kept: it writes \
             here, a later write would fail)"
                .to_string(),
        );
    } else if report.verified && report.minimality_checked {
        parts.push("verified: needed (without it the read-only run fails)".to_string());
    } else if report.verified {
        parts.push("verified".to_string());
    }
    parts.join("; ")
}

fn notes(report: &Report) -> Vec<String> {
    let mut n = Vec::new();
    for f in &report.plan.unplaceable {
        n.push(format!(
            "{f}: written directly in a system directory that cannot be made writable as a \
             whole; make the app write elsewhere or mount that file (a ConfigMap with \
             --writable-volume)"
        ));
    }
    for f in &report.plan.rewritten_configs {
        n.push(format!(
            "{f}: a config file the app rewrites; if it comes from a ConfigMap or Secret in \
             the cluster, give that volume to --writable-volume"
        ));
    }
    n
}

fn header(report: &Report) -> Vec<String> {
    let mut h = vec![format!(
        "rofs discover {}{}",
        report.image,
        if report.command.is_empty() {
            String::new()
        } else {
            format!(" -- {}", report.command.join(" "))
        }
    )];
    h.push(format!(
        "ready when {}{}; {}",
        report.ready,
        report
            .exercise
            .as_deref()
            .map(|e| format!(", exercised with {e:?}"))
            .unwrap_or_default(),
        if report.verified {
            format!(
                "verified read-only in {} round{} ({})",
                report.rounds,
                if report.rounds == 1 { "" } else { "s" },
                report.date
            )
        } else {
            format!("NOT verified (--no-verify) ({})", report.date)
        }
    ));
    h
}

fn config(report: &Report) -> String {
    let mut s = String::new();
    for l in header(report) {
        s.push_str(&format!("# {l}\n"));
    }
    s.push_str("# Use: rofs patch --config THIS_FILE deploy.yaml\n");
    if report.plan.paths.is_empty() {
        s.push_str("writable: []\n");
    } else {
        s.push_str("writable:\n");
        for p in &report.plan.paths {
            s.push_str(&format!("  # {}\n", why(p, report)));
            s.push_str(&format!("  - {}\n", yaml_str(&p.spec())));
        }
    }
    for n in notes(report) {
        s.push_str(&format!("# NOTE: {n}\n"));
    }
    s
}

fn flags(report: &Report) -> String {
    let mut s: Vec<String> = report
        .plan
        .paths
        .iter()
        .map(|p| format!("-w {}", shell_word(&p.spec())))
        .collect();
    s.retain(|x| !x.is_empty());
    format!("{}\n", s.join(" "))
}

fn shell_word(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | ':' | '='))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The image's name without registry, tag or digest: `localhost/x/nginx:1` -> `nginx`.
pub fn base_name(image: &str) -> String {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    last.split(':').next().unwrap_or(last).to_string()
}

fn profile(report: &Report, meta: &ProfileMeta) -> String {
    let base = base_name(&report.image);
    let name = meta.name.clone().unwrap_or_else(|| base.clone());
    let description = meta
        .description
        .clone()
        .unwrap_or_else(|| format!("Paths {base} writes, found by rofs discover"));
    let mut s = String::new();
    for l in header(report) {
        s.push_str(&format!("# {l}\n"));
    }
    s.push_str(&format!("name: {}\n", yaml_str(&name)));
    s.push_str(&format!(
        "description: {}\n",
        serde_json::to_string(&description).unwrap_or_default()
    ));
    s.push_str(&format!(
        "images: [{}]\n",
        serde_json::to_string(&base).unwrap_or_default()
    ));
    if let Some(u) = &report.user {
        s.push_str(&format!(
            "user: {}\n",
            serde_json::to_string(u).unwrap_or_default()
        ));
    }
    if !report.command.is_empty() {
        s.push_str(&format!(
            "command: {}\n",
            serde_json::to_string(&report.command).unwrap_or_default()
        ));
    }
    if report.plan.paths.is_empty() {
        s.push_str("writable: []\n");
    } else {
        s.push_str("writable:\n");
        for p in &report.plan.paths {
            s.push_str(&format!("  - path: {}\n", yaml_str(&p.spec())));
            s.push_str(&format!(
                "    why: {}\n",
                serde_json::to_string(&why(p, report)).unwrap_or_default()
            ));
        }
    }
    s.push_str("proven:\n");
    s.push_str(&format!("  image: {}\n", yaml_str(&report.image)));
    s.push_str(&format!(
        "  packages: {}\n",
        serde_json::to_string(&report.packages).unwrap_or_default()
    ));
    s.push_str(&format!("  ready: {}\n", yaml_str(&report.ready)));
    s.push_str(&format!("  date: {}\n", report.date));
    s.push_str(&format!(
        "  discover: {{rounds: {}, humanEdits: none}}\n",
        report.rounds
    ));
    for n in notes(report) {
        s.push_str(&format!("# NOTE: {n}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_scalars() {
        assert_eq!(yaml_str("/run:memory:1Mi:empty"), "/run:memory:1Mi:empty");
        assert_eq!(yaml_str("/a b"), "\"/a b\"");
        assert_eq!(yaml_str("/a#b"), "\"/a#b\"");
        assert_eq!(yaml_str("on"), "\"on\"");
        assert_eq!(yaml_str("http://127.0.0.1:80/"), "http://127.0.0.1:80/");
    }

    #[test]
    fn base_names() {
        assert_eq!(
            base_name("localhost/rofs-e2e-nginx:bookworm"),
            "rofs-e2e-nginx"
        );
        assert_eq!(base_name("nginx"), "nginx");
        assert_eq!(base_name("reg:5000/a/b@sha256:00"), "b");
    }
}
