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
    /// Image name patterns the profile matches (default: the image's name).
    pub images: Vec<String>,
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
    if let Some((child, uid, mode)) = &p.private_child {
        parts.push(format!(
            "one level above {child} (uid {uid}, {mode:04o}, private): a volume's root belongs \
             to root, so the seed creates {child} inside it with its owner and mode"
        ));
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
    let images = if meta.images.is_empty() {
        vec![base.clone()]
    } else {
        meta.images.clone()
    };
    s.push_str(&format!(
        "images: {}\n",
        serde_json::to_string(&images).unwrap_or_default()
    ));
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
    // The agreed format: the user and command the image ran with are part of the proof.
    if let Some(u) = &report.user {
        s.push_str(&format!(
            "  user: {}\n",
            serde_json::to_string(u).unwrap_or_default()
        ));
    }
    if !report.command.is_empty() {
        s.push_str(&format!(
            "  command: {}\n",
            serde_json::to_string(&report.command).unwrap_or_default()
        ));
    }
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

    fn report() -> Report {
        let mut lib = Proposal {
            path: "/var/lib/app".into(),
            seed: true,
            files: 2,
            bytes: 2048,
            image_entries: 3,
            image_bytes: 10,
            examples: vec!["a".into(), "b".into()],
            ..Proposal::default()
        };
        lib.not_needed_for_readiness = true;
        let run = Proposal {
            path: "/run/odd dir".into(),
            memory: true,
            size_limit: Some("1Mi".into()),
            files: 1,
            bytes: 3,
            examples: vec!["x.pid".into()],
            ..Proposal::default()
        };
        Report {
            image: "localhost/app:1".into(),
            command: vec!["serve".into(), "--port=80".into()],
            user: Some("101".into()),
            ready: "tcp:80".into(),
            exercise: None,
            plan: crate::plan::Plan {
                paths: vec![run, lib],
                unplaceable: vec!["/etc/app.conf".into()],
                rewritten_configs: vec!["/etc/app.conf".into()],
            },
            rounds: 2,
            verified: true,
            minimality_checked: true,
            packages: vec!["app=1.0".into()],
            date: "2026-11-30".into(),
            seconds: 3,
        }
    }

    /// Rule 5's evidence: why the path is one level above what the app wrote.
    #[test]
    fn a_private_directory_mounted_one_level_up_says_so() {
        let mut r = report();
        r.plan.paths[1].private_child = Some(("main".into(), 101, 0o700));
        let w = why(&r.plan.paths[1], &r);
        assert!(
            w.contains("one level above main (uid 101, 0700, private): a volume's root belongs to root, so the seed creates main inside it with its owner and mode"),
            "{w}"
        );
        assert!(!why(&r.plan.paths[0], &r).contains("one level above"));
    }

    #[test]
    fn flags_are_shell_words() {
        let r = report();
        assert_eq!(
            render(&r, Format::Flags, &ProfileMeta::default()),
            "-w '/run/odd dir:memory:1Mi:empty' -w /var/lib/app\n"
        );
    }

    /// The default output is a config file rofs patch reads, with the same paths.
    #[test]
    fn config_is_read_by_rofs_patch() {
        let r = report();
        let text = render(&r, Format::Config, &ProfileMeta::default());
        let settings = rofs_manifest::config::read_settings(&text).expect(&text);
        let paths: Vec<String> = settings.writable.iter().map(ToString::to_string).collect();
        assert_eq!(paths, ["/run/odd dir:memory:1Mi:empty", "/var/lib/app"]);
        assert!(text.contains("  # 2 files written (2.0 KiB) [a, b]; seeded: the image has 3 entries here (10 B); not needed for readiness"), "{text}");
        assert!(
            text.contains("# NOTE: /etc/app.conf: written directly in a system directory"),
            "{text}"
        );
        assert!(
            text.contains("verified read-only in 2 rounds (2026-11-30)"),
            "{text}"
        );
    }

    #[test]
    fn profile_has_the_agreed_fields() {
        let r = report();
        let meta = ProfileMeta {
            name: Some("app".into()),
            description: Some("An app: \"quoted\"".into()),
            images: vec!["app".into(), "*/app-*".into()],
        };
        let text = render(&r, Format::Profile, &meta);
        // The catalog's own reader takes it (what `cargo test` checks for catalog/*.yaml).
        let entry = rofs_core::catalog::parse_entry(&text, "app.yaml")
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(entry.writable.len(), 2);
        let v = rofs_manifest::yaml::from_str(&text).expect(&text);
        assert_eq!(v["name"], "app");
        assert_eq!(v["description"], "An app: \"quoted\"");
        assert_eq!(v["images"][0], "app");
        assert_eq!(v["images"][1], "*/app-*");
        assert_eq!(v["proven"]["user"], "101");
        assert_eq!(v["proven"]["command"][1], "--port=80");
        assert_eq!(v["writable"][0]["path"], "/run/odd dir:memory:1Mi:empty");
        assert!(
            v["writable"][1]["why"]
                .as_str()
                .is_some_and(|w| w.contains("not needed"))
        );
        assert_eq!(v["proven"]["image"], "localhost/app:1");
        assert_eq!(v["proven"]["packages"][0], "app=1.0");
        assert_eq!(v["proven"]["ready"], "tcp:80");
        assert_eq!(v["proven"]["date"], "2026-11-30");
        assert_eq!(v["proven"]["discover"]["rounds"], 2);
        assert_eq!(v["proven"]["discover"]["humanEdits"], "none");
    }

    /// The catalog reads what `--format profile` writes (the agreed format, one parser).
    #[test]
    fn profile_is_a_catalog_entry() {
        let r = report();
        let meta = ProfileMeta {
            name: Some("app".into()),
            description: Some("An app".into()),
            images: vec![],
        };
        let text = render(&r, Format::Profile, &meta);
        let entry = rofs_core::catalog::parse_entry(&text, "app.yaml").expect(&text);
        assert_eq!(entry.name, "app");
        let paths: Vec<String> = entry.writable.iter().map(|p| p.path.to_string()).collect();
        assert_eq!(paths, ["/run/odd dir:memory:1Mi:empty", "/var/lib/app"]);
        let proof = entry.proven.expect("proven");
        assert_eq!(proof.ready.to_string(), "tcp:80");
        assert_eq!(proof.user.as_deref(), Some("101"));
        assert_eq!(
            proof.command.as_deref(),
            Some(&["serve".to_string(), "--port=80".to_string()][..])
        );
        assert_eq!(proof.discover.map(|d| d.rounds), Some(2));
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
