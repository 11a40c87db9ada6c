//! Why a rewrite cannot be done, and where in the document.

use std::fmt;

use crate::annotations::AnnotationError;

/// One step of a [`Location`]: a map key or a list index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A place in a document, as typed steps from its root. Shown as people write it
/// (`spec.template.spec.containers[0]`), available as a JSON pointer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location(Vec<Segment>);

impl Location {
    /// The document (or pod template) itself.
    pub fn root() -> Self {
        Location(Vec::new())
    }

    /// The map entry `key` below this place.
    pub fn key(&self, key: &str) -> Self {
        let mut steps = self.0.clone();
        steps.push(Segment::Key(key.to_string()));
        Location(steps)
    }

    /// The list item `index` below this place.
    pub fn index(&self, index: usize) -> Self {
        let mut steps = self.0.clone();
        steps.push(Segment::Index(index));
        Location(steps)
    }

    /// This place, seen from a document that holds ours at `outer`.
    pub fn within(&self, outer: &Location) -> Self {
        Location(outer.0.iter().chain(&self.0).cloned().collect())
    }

    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// RFC 6901 JSON pointer (`/spec/template`; `~` and `/` in keys escaped).
    pub fn pointer(&self) -> String {
        self.0
            .iter()
            .map(|s| match s {
                Segment::Key(k) => format!("/{}", k.replace('~', "~0").replace('/', "~1")),
                Segment::Index(i) => format!("/{i}"),
            })
            .collect()
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, s) in self.0.iter().enumerate() {
            match s {
                Segment::Key(k) if n == 0 => f.write_str(k)?,
                Segment::Key(k) => write!(f, ".{k}")?,
                Segment::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// Which of rofs's names a pod already uses for something of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clash {
    /// A volume of the pod has the name of one rofs injects.
    Volume,
    /// A volume of the pod has the name of the writable copy of the volume named here.
    CopyOf(String),
    /// A container of the pod has the name of an initContainer rofs injects.
    InitContainer,
    /// A container of the pod has the name of a sync container rofs injects.
    Container,
}

/// A rewrite that cannot be done: where in the document, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {kind}")]
pub struct RewriteError {
    pub at: Location,
    pub kind: ErrorKind,
}

impl RewriteError {
    pub fn new(at: Location, kind: ErrorKind) -> Self {
        RewriteError { at, kind }
    }

    /// The same error, located inside `outer` (e.g. `items[3]` of a `kind: List`).
    pub fn within(mut self, outer: &Location) -> Self {
        self.at = self.at.within(outer);
        self
    }
}

/// What is wrong (each variant's message completes "<location>: ").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("a {kind} needs a pod template here")]
    MissingPodTemplate { kind: String },
    #[error("the pod template must be an object")]
    TemplateNotAMap,
    #[error("must be a map")]
    NotAMap,
    #[error("must be a list")]
    NotAList,
    #[error("missing pod spec")]
    MissingSpec,
    #[error("a pod template needs at least one container")]
    NoContainers,
    #[error("a container needs a name")]
    UnnamedContainer,
    #[error("a volume mount needs a mountPath")]
    MountWithoutPath,
    #[error("annotation \"rofs.io/status\" is written by rofs and cannot be read back; remove it")]
    UnreadableStatus,
    #[error(transparent)]
    Annotation(AnnotationError),
    #[error("rofs annotations name container {name:?}, but the pod has only {}", quoted(.known))]
    UnknownContainer { name: String, known: Vec<String> },
    #[error(
        "annotation rofs.io/writable-volumes names volume {name:?}, but the pod has no such volume"
    )]
    UnknownVolume { name: String },
    #[error(
        "volume {volume:?} cannot be a writable copy: only configMap, secret, projected and downwardAPI volumes can (use a writable path for anything else)"
    )]
    NotCopyable { volume: String },
    #[error("{}", clash_message(.name, .clash))]
    NameClash { name: String, clash: Clash },
    /// The settings, the annotations and the earlier status together ask for more than
    /// the limit per pod (each path counts once per container it applies to).
    #[error(
        "more than {limit} {what} for this pod (from rofs.io/writable, writable.rofs.io/<container>, profiles and the flags or config, once per container)"
    )]
    TooMany { what: &'static str, limit: usize },
    /// The volumeMounts rofs would add to the pod pass the limit per pod: mostly the main
    /// container's writable paths, mounted again into each of the workload's initContainers.
    #[error(
        "rofs would add {count} volumeMounts to this pod, more than {limit}: the {paths} writable paths of container {main:?} (from rofs.io/writable, writable.rofs.io/<container>, profiles and the flags or config) are also mounted into each of the pod's {init_containers} initContainers; name fewer paths, or give those initContainers paths of their own (writable.rofs.io/<initContainer>)"
    )]
    TooManyMounts {
        count: usize,
        limit: usize,
        main: String,
        paths: usize,
        init_containers: usize,
    },
    /// `rofs.io/status` lists something rofs did not inject (a forged annotation): nothing is
    /// removed and the pod is not rewritten.
    #[error(
        "annotation \"rofs.io/status\" lists {entry}, which rofs did not inject ({reason}); rofs leaves this pod alone: remove that entry or the annotation"
    )]
    ForgedStatus { entry: String, reason: String },
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn clash_message(name: &str, clash: &Clash) -> String {
    match clash {
        Clash::Volume => format!(
            "the pod already has a volume named {name:?}, a name rofs needs for its own volume; rename that volume"
        ),
        Clash::CopyOf(source) => format!(
            "the pod already has a volume named {name:?}, a name rofs needs for the writable copy of {source:?}; rename that volume"
        ),
        Clash::InitContainer => format!(
            "the pod already has a container named {name:?}, a name rofs needs for its own initContainer; rename that container"
        ),
        Clash::Container => format!(
            "the pod already has a container named {name:?}, a name rofs needs; rename that container"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_show_as_written_and_as_pointers() {
        let at = Location::root()
            .key("items")
            .index(3)
            .key("metadata")
            .key("annotations")
            .key("rofs.io/status");
        assert_eq!(
            at.to_string(),
            "items[3].metadata.annotations.rofs.io/status"
        );
        assert_eq!(
            at.pointer(),
            "/items/3/metadata/annotations/rofs.io~1status"
        );
        let inner = Location::root().key("spec");
        assert_eq!(
            inner
                .within(&Location::root().key("items").index(0))
                .to_string(),
            "items[0].spec"
        );
    }
}
