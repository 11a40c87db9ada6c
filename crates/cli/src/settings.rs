//! Settings from flags and the config file, into the core's [`Settings`].

use anyhow::{Context, Result, bail};
use rofs_core::Settings;
use rofs_core::settings::UnknownName;
use rofs_core::settings::{MAX_WRITABLE_PATHS, MAX_WRITABLE_VOLUMES, check_limit};

use crate::cli::SettingsArgs;

/// Read a config file (YAML or JSON) with the [`Settings`] schema.
pub fn read_config(path: &std::path::Path) -> Result<Settings> {
    let name = path.display();
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading config file {name}"))?;
    rofs_manifest::config::read_settings(&text)
        .map_err(|e| anyhow::anyhow!("config file {name}: {e}"))
}

/// Build the settings layer of a run: config file first, then the flags on top.
pub fn from_args(args: &SettingsArgs) -> Result<Settings> {
    let mut settings = match &args.config {
        Some(path) => read_config(path)?,
        None => Settings::default(),
    };
    let mut flags = Settings::default();
    for value in &args.writable {
        flags
            .add_writable(value)
            .with_context(|| format!("--writable {value}"))?;
    }
    for value in &args.profile {
        flags
            .add_profile(value)
            .with_context(|| format!("--profile {value}"))?;
    }
    if !args.containers.is_empty() {
        flags.containers = Some(args.containers.clone());
    }
    flags.seeder = args.seeder;
    if let Some(image) = &args.agent_image {
        if image.trim().is_empty() {
            bail!("--agent-image: expected an image reference");
        }
        flags.agent_image = Some(image.clone());
    }
    flags.agent_delivery = args.agent_delivery;
    flags.writable_volumes.clone_from(&args.writable_volumes);
    flags.reload.clone_from(&args.reload);
    flags.sync_conflict = args.sync_conflict;
    flags.kube_version = args.kube_version;
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

/// Refuse settings that name containers or writable volumes no pod of the input has (one
/// check for `rofs patch`, the KRM function and the exec plugin); `what` names the settings.
pub fn check_names(
    settings: &Settings,
    containers: &std::collections::BTreeSet<String>,
    volumes: &std::collections::BTreeSet<String>,
    what: &str,
) -> Result<()> {
    let unknown: Vec<UnknownName> = settings.unknown_names(containers, volumes);
    if unknown.is_empty() {
        return Ok(());
    }
    let messages: Vec<String> = unknown.iter().map(ToString::to_string).collect();
    bail!("{what}: {}", messages.join("; "))
}
