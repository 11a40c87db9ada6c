//! rofs-core: the pure rewrite shared by every rofs front end.
//!
//! Input: a Kubernetes document (or a bare pod template) as a `serde_json::Value` and
//! [`Settings`]; output: the same document, rewritten so that its containers run with
//! `readOnlyRootFilesystem: true` and still find their files. No I/O happens here: `rofs patch`,
//! the Helm post-renderer, the kustomize function and the webhook are thin shells around
//! [`rewrite_document`] / [`rewrite_pod_template`], so they cannot disagree.

pub mod annotations;
mod api_defaults;
pub mod catalog;
mod copies;
mod emit;
pub mod error;
mod inject;
pub mod model;
pub mod names;
mod paths;
pub mod plan;
pub mod pod;
pub mod quantity;
pub mod rewrite;
pub mod settings;
pub mod status;
mod warnings;
pub mod workload;

pub use settings::profiles;

pub use error::{ErrorKind, Location, RewriteError};
pub use names::DEFAULT_AGENT_IMAGE;
pub use rewrite::{
    RewriteReport, rewrite_document, rewrite_pod_template, rewrite_pod_template_keeping_spec,
};
pub use settings::{
    AgentDelivery, Conflict, ContainerSettings, KubeVersion, Medium, Reload, Seeder, Settings,
    SettingsError, WritablePath,
};
pub use status::StatusAnnotation;
pub use warnings::memory_warnings;
