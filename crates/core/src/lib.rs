//! rofs-core: the pure rewrite shared by every rofs front end.
//!
//! Input: a Kubernetes document (or a bare pod template) as a `serde_json::Value` and
//! [`Settings`]; output: the same document, rewritten so that its containers run with
//! `readOnlyRootFilesystem: true` and still find their files. No I/O happens here: `rofs patch`,
//! the Helm post-renderer, the kustomize function and the webhook are thin shells around
//! [`rewrite_document`] / [`rewrite_pod_template`], so they cannot disagree.

pub mod annotations;
pub mod profiles;
pub mod quantity;
pub mod rewrite;
pub mod settings;
mod status;
mod sync;
pub mod workload;

pub use rewrite::{
    DEFAULT_AGENT_IMAGE, Outcome, RewriteError, Status, rewrite_document, rewrite_pod_template,
};
pub use settings::{
    Conflict, ContainerSettings, KubeVersion, Medium, Reload, Seeder, Settings, SettingsError,
    WritablePath,
};
