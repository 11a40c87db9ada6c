//! Settings from flags and the config file, into the core's [`Settings`].

use anyhow::{Context, Result, bail};
use rofs_core::settings::{MAX_WRITABLE_PATHS, MAX_WRITABLE_VOLUMES, check_limit};
use rofs_core::{Seeder, Settings, WritablePath};

use crate::cli::SettingsArgs;

/// Split `NAME=VALUE` into its container scope and value. A value starting with `/` (a path)
/// or without `=` applies to every container.
fn scoped(value: &str) -> (Option<&str>, &str) {
    if value.starts_with('/') {
        return (None, value);
    }
    match value.split_once('=') {
        Some((name, rest)) => (Some(name.trim()), rest.trim()),
        None => (None, value),
    }
}

/// Read a config file (YAML or JSON) with the [`Settings`] schema.
pub fn read_config(path: &std::path::Path) -> Result<Settings> {
    let name = path.display();
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading config file {name}"))?;
    let value = rofs_manifest::yaml::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "config file {name}{}: {}",
            e.line.map(|l| format!(", line {l}")).unwrap_or_default(),
            e.message
        )
    })?;
    if value.is_null() {
        return Ok(Settings::default());
    }
    let settings: Settings =
        serde_json::from_value(value).map_err(|e| anyhow::anyhow!("config file {name}: {e}"))?;
    settings
        .validate()
        .map_err(|e| anyhow::anyhow!("config file {name}: {e}"))?;
    Ok(settings)
}

/// Build the settings layer of a run: config file first, then the flags on top.
pub fn from_args(args: &SettingsArgs) -> Result<Settings> {
    let mut settings = match &args.config {
        Some(path) => read_config(path)?,
        None => Settings::default(),
    };
    let mut flags = Settings::default();
    for value in &args.writable {
        let (container, path) = scoped(value);
        let path: WritablePath = path
            .parse()
            .with_context(|| format!("--writable {value}"))?;
        match container {
            Some(c) => flags
                .per_container
                .entry(c.to_string())
                .or_default()
                .writable
                .push(path),
            None => flags.writable.push(path),
        }
    }
    for value in &args.profile {
        let (container, name) = scoped(value);
        let profile =
            rofs_core::profiles::lookup(name).with_context(|| format!("--profile {value}"))?;
        match container {
            Some(c) => flags
                .per_container
                .entry(c.to_string())
                .or_default()
                .profiles
                .push(profile.name.to_string()),
            None => flags.profiles.push(profile.name.to_string()),
        }
    }
    if !args.containers.is_empty() {
        flags.containers = Some(args.containers.clone());
    }
    if let Some(s) = &args.seeder {
        flags.seeder = Some(s.parse::<Seeder>().context("--seeder")?);
    }
    if let Some(image) = &args.agent_image {
        if image.trim().is_empty() {
            bail!("--agent-image: expected an image reference");
        }
        flags.agent_image = Some(image.clone());
    }
    flags.writable_volumes.clone_from(&args.writable_volumes);
    if let Some(r) = &args.reload {
        flags.reload = Some(r.parse().context("--reload")?);
    }
    if let Some(c) = &args.sync_conflict {
        flags.sync_conflict = Some(c.parse().context("--sync-conflict")?);
    }
    if let Some(v) = &args.kube_version {
        flags.kube_version = Some(v.parse().context("--kube-version")?);
    }
    flags.rollout_on_change = args.rollout_on_change;
    check_limit("writable paths", flags.writable_count(), MAX_WRITABLE_PATHS)
        .context("--writable")?;
    check_limit(
        "writable volumes",
        flags.writable_volumes.len(),
        MAX_WRITABLE_VOLUMES,
    )
    .context("--writable-volume")?;
    flags.validate().context("flags")?;
    settings.merge(&flags);
    Ok(settings)
}
