//! rofs-audit: rules over parsed Kubernetes documents -> findings, each with the rofs fix.
//!
//! `rofs audit` (crates/cli/src/audit.rs) reads the input and prints; this crate does no I/O.
//! - [`model`]: the data model every output is a view of ([`Report`], [`Finding`], [`Rule`]);
//! - [`rules`]: the rules, their stable IDs and words;
//! - [`render`]: the table and `--format json` ([`Format::Sarif`] is filled by the SARIF
//!   module).
//! - [`positions`]: line and column of a container or field in the source text (SARIF regions).
//!
//! See docs/audit.md.

pub mod model;
pub mod positions;
pub mod render;
pub mod rules;
pub mod sarif;

pub use model::{
    ContainerType, Document, Finding, Fix, PeerCheck, Report, Rule, Severity, Source, Summary,
    Suppression,
};
pub use render::Format;
pub use rules::RULES;
