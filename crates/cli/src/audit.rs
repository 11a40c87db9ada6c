//! `rofs audit`: manifests in, findings out (the rules are in crates/audit). Exit status: 0
//! clean, 1 findings at or above `--fail-on`, 2 bad usage or input.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, ValueEnum};
use rofs_audit::render::TableOptions;
use rofs_audit::{Format, Options, Severity, Webhook};
use rofs_manifest::Input;

pub const AUDIT_AFTER_HELP: &str = "\
Rules (docs/audit.md has each with its meaning, fix, suppression and the same check in
kube-linter, Polaris, checkov, kubescape, Trivy and kube-score):
  ROFS-A001 high      container or native sidecar without readOnlyRootFilesystem: true
  ROFS-A002 medium    initContainer without readOnlyRootFilesystem: true
  ROFS-A003 low       ephemeral (debug) container without readOnlyRootFilesystem: true
  ROFS-A004 high      read-only container without a volume at a path its app writes
  ROFS-A005 high      emptyDir over the image's files, and nothing seeds it
  ROFS-A006 medium    emptyDir with medium: Memory and no sizeLimit
  ROFS-A007 high      writable hostPath mount
  ROFS-A008 medium    rofs patched the workload, but its rofs settings changed since
  ROFS-A009 high      rofs cannot patch the workload (invalid rofs annotations or status)

Suppress a finding with an annotation on the workload or its pod template, the value
saying why (an empty reason suppresses nothing):
  rofs.io/audit-ignore: \"<reason>\"                       every finding
  audit-ignore.rofs.io/ROFS-A001: \"<reason>\"             one rule
  audit-ignore.rofs.io/<container>: \"<reason>\"           one container
  audit-ignore.rofs.io/<container>.ROFS-A001: \"<reason>\" one rule of one container

Exit status: 0 no finding at or above --fail-on, 1 some, 2 bad usage or input.

Examples:
  rofs audit deploy/                        every .yaml/.yml/.json under deploy/
  helm template web ./chart | rofs audit --fail-on high
  rofs audit --format json --fix-diff k8s.yaml
  rofs audit --effective --webhook-config webhook.yaml k8s/
  rofs audit --config nginx.rofs.yaml deploy.yaml     (paths found by rofs discover)";

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Color {
    /// On a terminal, unless NO_COLOR is set.
    #[default]
    Auto,
    Always,
    Never,
}

/// `--fail-on`: a severity, or `never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    At(Severity),
    Never,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Manifest files or directories (read recursively: *.yaml, *.yml, *.json); `-` for
    /// stdin. Without any, stdin is read.
    #[arg(value_name = "FILE|DIR")]
    pub files: Vec<PathBuf>,

    /// A manifest file or directory to audit, like `kubectl -f`; repeatable.
    #[arg(short = 'f', long = "filename", value_name = "FILE|DIR")]
    pub filenames: Vec<PathBuf>,

    /// Output: `table` (grouped by workload), `json` (stable shape, docs/audit.md) or
    /// `sarif` (SARIF 2.1.0).
    #[arg(long, default_value = "table", value_parser = format_parser())]
    pub format: Format,

    /// Exit with status 1 when a finding (not suppressed) has this severity or a higher one:
    /// low, medium, high, critical; `never`: exit 0 whatever is found.
    #[arg(long, value_name = "SEVERITY", default_value = "low", value_parser = fail_on_parser())]
    pub fail_on: FailOn,

    /// The paths the apps write, as a `rofs patch --config` file (what `rofs discover`
    /// writes): checked against the volumes (ROFS-A004, ROFS-A005) and part of every fix.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// A built-in profile the apps need, `[CONTAINER=]NAME`, as `rofs patch --profile`;
    /// repeatable. The catalog profiles whose image patterns match a container's image (what
    /// `--profile auto` picks) are known without it.
    #[arg(short, long, value_name = "NAME")]
    pub profile: Vec<String>,

    /// Add to each fix the unified diff of what its `rofs patch` command writes for the
    /// document, with the file's line numbers: a series per file (applied in document order
    /// with `patch -p0`, the diffs give exactly the command's output).
    #[arg(long)]
    pub fix_diff: bool,

    /// Audit the pods as the rofs webhook admits them: apply its rewrite first, so what it
    /// fixes is not reported. Assumes the webhook sees every pod of the input.
    #[arg(long)]
    pub effective: bool,

    /// The webhook's config file (as `rofs webhook --config`; implies --effective). Without
    /// it, --effective uses the webhook's defaults.
    #[arg(long, value_name = "FILE")]
    pub webhook_config: Option<PathBuf>,

    /// Colour in the table: `auto` (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_name = "WHEN", default_value = "auto")]
    pub color: Color,

    /// Helm output: the directory its `# Source: CHART/templates/...` paths are found under
    /// (the chart, or its parent); SARIF regions then point into the template files. Also
    /// tried: the working directory.
    #[arg(long, value_name = "DIR")]
    pub chart_root: Option<PathBuf>,

    #[command(flatten)]
    pub cluster: crate::audit_cluster::ClusterArgs,
}

fn format_parser() -> impl TypedValueParser<Value = Format> {
    PossibleValuesParser::new(["table", "json", "sarif"]).map(|s| match s.as_str() {
        "json" => Format::Json,
        "sarif" => Format::Sarif,
        _ => Format::Table,
    })
}

fn fail_on_parser() -> impl TypedValueParser<Value = FailOn> {
    PossibleValuesParser::new(["low", "medium", "high", "critical", "never"]).map(|s| match s
        .parse::<Severity>(
    ) {
        Ok(sev) => FailOn::At(sev),
        Err(_) => FailOn::Never,
    })
}

/// Run `rofs audit`; errors are bad input (status 2).
pub fn run(args: &AuditArgs) -> ExitCode {
    match audit(args) {
        Ok(failing) if failing => ExitCode::from(1),
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rofs: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Returns whether findings at or above `--fail-on` were found.
fn audit(args: &AuditArgs) -> Result<bool> {
    let mut paths: Vec<PathBuf> = args.files.clone();
    paths.extend(args.filenames.iter().cloned());
    if paths.is_empty() {
        paths.push(PathBuf::from("-"));
    }
    let cluster = args
        .cluster
        .cluster
        .then(|| crate::audit_cluster::read(&args.cluster))
        .transpose()?;
    let texts = match &cluster {
        Some(c) => vec![(c.name.clone(), c.text.clone())],
        None => read_inputs(&paths)?,
    };
    let inputs: Vec<Input<'_>> = texts
        .iter()
        .map(|(name, text)| Input { name, text })
        .collect();

    let mut options = Options {
        fix_diff: args.fix_diff,
        replacements: args.format == Format::Sarif,
        ..Options::default()
    };
    if let Some(path) = &args.config {
        options.given = crate::settings::read_config(path)?;
        options.fix_flags.push("--config".into());
        options.fix_flags.push(path.display().to_string());
    }
    for value in &args.profile {
        options
            .given
            .add_profile(value)
            .with_context(|| format!("--profile {value}"))?;
        options.fix_flags.push("--profile".into());
        options.fix_flags.push(value.clone());
    }
    options.given_origin = options.fix_flags.join(" ");

    // `--effective`: the webhook's own config loader and its settings per pod.
    let webhook_config = match &args.webhook_config {
        Some(path) => Some(rofs_webhook::Config::from_file(path)?),
        None if args.effective => Some(rofs_webhook::Config::default()),
        None => None,
    };
    let settings_for = |pod: &serde_json::Value| match &webhook_config {
        Some(c) => c.settings_for(pod).into_owned(),
        None => rofs_core::Settings::default(),
    };
    if let Some(c) = &webhook_config {
        options.webhook = Some(Webhook {
            settings_for: &settings_for,
            deny_invalid: c.on_invalid == rofs_webhook::OnInvalid::Deny,
        });
    }

    let mut report = rofs_audit::audit(&inputs, &options)?;
    if cluster.is_some() {
        for f in &mut report.findings {
            f.fix.command = rofs_audit::cluster::live_fix_command(
                &f.fix.command,
                &f.source.file,
                &f.kind,
                f.namespace.as_deref(),
                &f.name,
            );
        }
    }
    let failing = match args.fail_on {
        FailOn::At(threshold) => report.failing(threshold) > 0,
        FailOn::Never => false,
    };
    let table = TableOptions {
        color: match args.color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        },
        diffs: args.fix_diff,
    };
    let text = match args.format {
        Format::Sarif => rofs_audit::sarif::render(&report, &sarif_options(args, failing)),
        f => rofs_audit::render::render(&report, f, table)?,
    };
    crate::output::write_stdout(text.as_bytes())?;
    Ok(failing)
}

/// What the SARIF log says about this run, and where Helm templates are looked for.
fn sarif_options(args: &AuditArgs, failing: bool) -> rofs_audit::sarif::SarifOptions {
    let threshold = match args.fail_on {
        FailOn::At(s) => s.as_str(),
        FailOn::Never => "never",
    };
    let mut template_roots: Vec<PathBuf> = args.chart_root.iter().cloned().collect();
    if let Ok(cwd) = std::env::current_dir() {
        template_roots.push(cwd);
    }
    rofs_audit::sarif::SarifOptions {
        version: env!("CARGO_PKG_VERSION").to_string(),
        exit_code: i32::from(failing),
        exit_code_description: if failing {
            format!("findings at or above --fail-on {threshold}")
        } else {
            format!("no finding at or above --fail-on {threshold}")
        },
        template_roots,
    }
}

/// Every input's name and text: files, directories (recursively, sorted), stdin.
fn read_inputs(paths: &[PathBuf]) -> Result<Vec<(String, String)>> {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut stdin_read = false;
    let mut texts = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            if stdin_read {
                bail!("stdin (`-`) given twice");
            }
            stdin_read = true;
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading stdin")?;
            texts.push((rofs_audit::STDIN.to_string(), s));
            continue;
        }
        let meta =
            std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
        if meta.is_dir() {
            let before = files.len();
            walk(path, &mut files)?;
            files[before..].sort();
            if files.len() == before {
                bail!(
                    "{}: no *.yaml, *.yml or *.json file in this directory",
                    path.display()
                );
            }
        } else {
            files.push(path.clone());
        }
    }
    for file in files {
        let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            anyhow::anyhow!(
                "{}: not UTF-8 text (byte {})",
                file.display(),
                e.utf8_error().valid_up_to()
            )
        })?;
        texts.push((file.display().to_string(), text));
    }
    Ok(texts)
}

/// The manifest files under `dir`, as kubectl -R finds them (symlinked directories are not
/// followed, so a loop cannot recurse forever).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .with_context(|| format!("reading {}", path.display()))?;
        if kind.is_dir() {
            walk(&path, out)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
            && (kind.is_file() || path.is_file())
        {
            out.push(path);
        }
    }
    Ok(())
}
