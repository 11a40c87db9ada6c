//! Errors in user-written settings values.

/// Errors in user-written settings values (flags, annotations, config files).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("writable path {0:?} must be absolute (start with /)")]
    NotAbsolute(String),
    #[error("writable path {0:?} is the root directory: make sub-directories writable instead")]
    Root(String),
    #[error("writable path {0:?} contains a `.` or `..` component")]
    DotComponent(String),
    #[error(
        "writable path {0:?} is under {1}, a kernel filesystem that the container runtime mounts itself"
    )]
    KernelFs(String, &'static str),
    #[error("writable path {0:?} is under /.rofs, which rofs reserves for its own volumes")]
    Reserved(String),
    #[error(
        "writable path {start:?}... is {len} bytes long: rofs takes at most {limit} bytes (PATH_MAX)"
    )]
    PathTooLong {
        start: String,
        len: usize,
        limit: usize,
    },
    #[error(
        "writable path {start:?}... has a {len}-byte component: rofs takes at most {limit} bytes per component (NAME_MAX)"
    )]
    ComponentTooLong {
        start: String,
        len: usize,
        limit: usize,
    },
    #[error(
        "{count} profile names in one list: rofs takes at most {limit} (each profile applies once, however often it is named)"
    )]
    TooManyProfiles { count: usize, limit: usize },
    #[error("empty writable path")]
    Empty,
    #[error(
        "unknown option {option:?} in {value:?}: expected `memory`, `disk`, `empty` or a size such as `64Mi`"
    )]
    UnknownOption { value: String, option: String },
    #[error("invalid size {size:?} in {value:?}: {reason}")]
    BadSize {
        value: String,
        size: String,
        reason: String,
    },
    #[error("{value:?} sets {what} twice")]
    Twice { value: String, what: &'static str },
    #[error("unknown seeder {0:?}: expected `agent` or `shell`")]
    Seeder(String),
    #[error("unknown agent delivery {0:?}: expected `install` or `image-volume`")]
    AgentDelivery(String),
    #[error("unknown profile {name:?}; profiles: {known} (`rofs profiles` lists them)")]
    UnknownProfile { name: String, known: String },
    #[error("invalid container name {0:?}: expected a DNS label (lowercase letters, digits, `-`)")]
    ContainerName(String),
    #[error("invalid volume name {0:?}: expected a DNS label (lowercase letters, digits, `-`)")]
    VolumeName(String),
    #[error("invalid reload hook {value:?}: {reason}")]
    Reload { value: String, reason: String },
    #[error("unknown conflict policy {0:?}: expected `app` (keep the app's edit) or `source`")]
    Conflict(String),
    #[error("invalid Kubernetes version {0:?}: expected MAJOR.MINOR, e.g. 1.29")]
    KubeVersion(String),
    /// A config document that does not have the settings schema.
    #[error("{0}")]
    Config(String),
    #[error("{count} {what}: rofs takes at most {limit} per pod")]
    TooMany {
        what: &'static str,
        count: usize,
        limit: usize,
    },
}

/// A name in the settings that no pod of the input has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnknownName {
    #[error(
        "container {name:?} named in the settings is in no pod template of the input (containers seen: {})",
        if seen.is_empty() { "none".to_string() } else { seen.join(", ") }
    )]
    Container { name: String, seen: Vec<String> },
    #[error("writable volume {name:?} named in the settings is in no pod template of the input")]
    Volume { name: String },
}
