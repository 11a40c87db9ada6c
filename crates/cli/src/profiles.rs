//! `rofs profiles`: the catalog of profiles (`catalog/*.yaml`, built into rofs).

use anyhow::{Result, anyhow};
use clap::{Args, Subcommand, ValueEnum};
use rofs_core::catalog::{Catalog, Entry};

pub const PROFILES_AFTER_HELP: &str = "\
Examples:
  rofs profiles                          every profile: image patterns, paths, where proven
  rofs profiles show nginx               one profile whole: why each path, the proof
  rofs profiles --image nginx:1.27       the profiles `--profile auto` picks for that image
  rofs profiles show nginx --format yaml the entry in the catalog's file format

`--profile auto` (and `rofs.io/profile: auto`, config `profiles: [auto]`) applies, per
container, the profiles whose image patterns match the container's image: a pattern matches
the last components of the image's repository (registry host, tag and digest removed), `*`
within one component. The format and how entries are proven: docs/catalog.md";

#[derive(Debug, Args)]
pub struct ProfilesArgs {
    #[command(subcommand)]
    pub command: Option<ProfilesCommand>,
    /// Only the profiles whose image patterns match IMAGE (what `--profile auto` picks).
    #[arg(long, value_name = "IMAGE", global = true)]
    pub image: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Text, global = true)]
    pub format: ListFormat,
}

#[derive(Debug, Subcommand)]
pub enum ProfilesCommand {
    /// Print one profile whole: each path and why it is there, where it was proven.
    Show {
        /// The profile's name (`rofs profiles` lists them).
        name: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// For people.
    Text,
    /// The catalog's file format (one YAML document per profile).
    Yaml,
    /// A JSON array of profiles (one object for `show`), with the file format's keys.
    Json,
}

pub fn run(args: &ProfilesArgs) -> Result<()> {
    let catalog = Catalog::builtin().map_err(|e| anyhow!("{e}"))?;
    let text = match &args.command {
        Some(ProfilesCommand::Show { name }) => {
            if args.image.is_some() {
                return Err(anyhow!(
                    "--image selects profiles to list; `show` takes a name"
                ));
            }
            let entry = catalog.get(name).ok_or_else(|| {
                anyhow!(
                    "unknown profile {name:?}; profiles: {} (`auto` is not a profile but picks them by image)",
                    catalog.names()
                )
            })?;
            match args.format {
                ListFormat::Text => show(entry),
                ListFormat::Yaml => entry.to_yaml(),
                ListFormat::Json => pretty(&entry.to_json()),
            }
        }
        None => {
            let entries: Vec<&Entry> = match &args.image {
                Some(image) => catalog.matching(image),
                None => catalog.entries().iter().collect(),
            };
            if entries.is_empty()
                && let Some(image) = &args.image
            {
                eprintln!(
                    "rofs: no profile matches image {image:?}: `--profile auto` would warn and add no paths (`rofs discover {image}` finds them)"
                );
            }
            match args.format {
                ListFormat::Text => entries.iter().map(|e| summary(e)).collect(),
                ListFormat::Yaml => {
                    let docs: Vec<String> = entries.iter().map(|e| e.to_yaml()).collect();
                    docs.join("---\n")
                }
                ListFormat::Json => {
                    let list: Vec<serde_json::Value> =
                        entries.iter().map(|e| e.to_json()).collect();
                    pretty(&serde_json::Value::Array(list))
                }
            }
        }
    };
    crate::output::write_stdout(text.as_bytes())
}

fn pretty(value: &serde_json::Value) -> String {
    // Serializing a JSON value cannot fail.
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    s
}

fn paths(e: &Entry) -> String {
    let paths: Vec<String> = e.writable.iter().map(|p| p.path.to_string()).collect();
    paths.join(", ")
}

fn images(e: &Entry) -> String {
    if e.images.is_empty() {
        return format!("none (a generic profile: --profile {})", e.name);
    }
    let images: Vec<&str> = e.images.iter().map(|p| p.as_str()).collect();
    images.join(", ")
}

/// One profile in the list: name, description, image patterns, paths, where proven.
fn summary(e: &Entry) -> String {
    let mut out = format!(
        "{}\n    {}\n    images: {}\n    writable: {}\n",
        e.name,
        e.description,
        images(e),
        paths(e)
    );
    if let Some(p) = &e.proven {
        out += &format!("    proven on: {} ({})\n", p.image, p.date);
    }
    out
}

/// One profile whole.
fn show(e: &Entry) -> String {
    let mut out = format!(
        "{}: {}\nimages: {}\nwritable:\n",
        e.name,
        e.description,
        images(e)
    );
    for p in &e.writable {
        out += &format!("  {}\n      why: {}\n", p.path, p.why);
    }
    if let Some(notes) = &e.notes {
        out += &format!("notes: {notes}\n");
    }
    match &e.proven {
        None => out += "proven: no (a generic profile)\n",
        Some(p) => {
            out += &format!("proven on: {}\n", p.image);
            if !p.packages.is_empty() {
                out += &format!("  packages: {}\n", p.packages.join(" "));
            }
            if let Some(user) = &p.user {
                out += &format!("  user: {user}\n");
            }
            if let Some(command) = &p.command {
                out += &format!("  command: {}\n", command.join(" "));
            }
            out += &format!("  ready: {}\n  date: {}\n", p.ready, p.date);
            if let Some(d) = &p.discover {
                out += &format!(
                    "  discover: {} verification round{}, human edits: {}\n",
                    d.rounds,
                    if d.rounds == 1 { "" } else { "s" },
                    d.human_edits
                );
            }
        }
    }
    out += &format!("source: catalog/{}\n", e.file);
    out
}
