//! `rofs patch`: files or stdin in, patched stream out.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result};
use rofs_manifest::Input;

use crate::cli::PatchArgs;
use crate::output;

pub fn run(args: &PatchArgs) -> Result<()> {
    let settings = crate::settings::from_args(&args.settings)?;
    let mut paths: Vec<PathBuf> = args.files.clone();
    paths.extend(args.filenames.iter().cloned());
    if paths.is_empty() {
        paths.push(PathBuf::from("-"));
    }
    let mut texts = Vec::with_capacity(paths.len());
    for path in &paths {
        let (name, text) = if path.as_os_str() == "-" {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading stdin")?;
            ("<stdin>".to_string(), s)
        } else {
            let text =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let text = String::from_utf8(text).map_err(|e| {
                anyhow::anyhow!(
                    "{}: not UTF-8 text (byte {})",
                    path.display(),
                    e.utf8_error().valid_up_to()
                )
            })?;
            (path.display().to_string(), text)
        };
        texts.push((name, text));
    }
    let inputs: Vec<Input<'_>> = texts
        .iter()
        .map(|(name, text)| Input { name, text })
        .collect();
    let format = args.format;
    let patched = rofs_manifest::patch_with_jobs(&inputs, &settings, format, args.jobs)?;

    // Settings that name a container or volume must match one somewhere in the input.
    crate::settings::check_names(&settings, &patched.containers, &patched.volumes, "flags")?;
    if !args.quiet {
        for w in &patched.warnings {
            eprintln!("rofs: warning: {w}");
        }
    }
    match &args.output {
        Some(path) => output::write_atomic(path, patched.output.as_bytes()),
        None => output::write_stdout(patched.output.as_bytes()),
    }
}
