//! The plan of one pod, as values: what the planner ([`crate::plan`]) decides and the emitter
//! ([`crate::emit`]) writes. Testable without JSON.

use crate::error::Location;
use crate::names::{
    AGENT_IMAGE_VOLUME, AGENT_VOLUME, INSTALL_CONTAINER, STATE_VOLUME, SYNC_CONTAINER,
    SYNC_INIT_CONTAINER, seed_container_name,
};
use crate::pod::ContainerList;
use crate::settings::{AgentDelivery, Conflict, Medium, Reload, Seeder, Settings, WritablePath};
use crate::status::StatusAnnotation;

/// What the planner is asked: the settings layers, the earlier rewrite's status, and where
/// the annotations are (for errors about them).
pub struct Request<'a> {
    /// Flags, config file, webhook defaults.
    pub settings: &'a Settings,
    /// The workload's annotations (they win).
    pub annotations: &'a Settings,
    /// What an earlier rewrite applied (its paths and copies are kept).
    pub previous: &'a StatusAnnotation,
    /// `kubectl.kubernetes.io/default-container`, if the template names one.
    pub default_container: Option<&'a str>,
    pub annotations_at: &'a Location,
}

/// One writable path of one container, and its volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathPlan {
    pub path: WritablePath,
    pub volume: String,
}

/// A container rofs changes: read-only root, a mount per path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetPlan {
    pub list: ContainerList,
    pub index: usize,
    pub name: String,
    /// A run-to-completion initContainer of the workload.
    pub init: bool,
    pub paths: Vec<PathPlan>,
}

impl TargetPlan {
    /// Some path of this container is seeded: it gets a `rofs-seed-<name>` initContainer.
    pub fn seeds(&self) -> bool {
        self.paths.iter().any(|p| p.path.seed)
    }

    /// Some path seeded into a disk-backed volume: its seed marker must be on disk too.
    pub fn seeds_disk(&self) -> bool {
        self.paths
            .iter()
            .any(|p| p.path.seed && p.path.medium == Medium::Disk)
    }
}

/// One of the workload's own initContainers, given mounts of the main container's volumes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedMounts {
    pub list: ContainerList,
    pub index: usize,
    /// (volume, mountPath)
    pub mounts: Vec<(String, String)>,
}

/// One configMap/secret/... volume that the app sees as a writable copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyPlan {
    pub source: String,
    /// `configMap`, `secret`, `projected` or `downwardAPI`.
    pub kind: &'static str,
    pub copy: String,
}

impl CopyPlan {
    /// Secrets (and projected volumes, which may hold them) stay in memory, never on disk.
    pub fn in_memory(&self) -> bool {
        matches!(self.kind, "secret" | "projected")
    }
}

/// The writable copies of a pod and their sync containers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopiesPlan {
    pub copies: Vec<CopyPlan>,
    /// The container whose image and securityContext the sync containers take (the first
    /// app container that mounts a copied volume, else the first initContainer).
    pub runner: (ContainerList, usize),
    pub reload: Option<Reload>,
    pub conflict: Conflict,
    /// The sidecar is a native sidecar (Kubernetes >= 1.29), else a plain container.
    pub native: bool,
    /// rofs sets `shareProcessNamespace: true` (a signal reload, and the pod does not).
    pub share_process_namespace: bool,
}

/// Everything rofs will do to one pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodPlan {
    pub seeder: Seeder,
    pub agent_image: String,
    /// How the agent reaches the seed and sync containers (when [`PodPlan::install`] is set).
    pub delivery: AgentDelivery,
    pub targets: Vec<TargetPlan>,
    pub shared: Vec<SharedMounts>,
    pub copies: Option<CopiesPlan>,
    /// `rofs-install` runs, with the securityContext of this container; decided once for
    /// seeding and copies.
    pub install: Option<(ContainerList, usize)>,
}

impl PodPlan {
    /// Containers that get a seed initContainer, in order.
    pub fn seeded(&self) -> impl Iterator<Item = &TargetPlan> {
        self.targets.iter().filter(|t| t.seeds())
    }

    /// `rofs-install` is placed with the seed containers (else with the sync containers).
    pub fn install_with_seeds(&self) -> bool {
        self.install.is_some() && self.seeder == Seeder::Agent && self.seeded().next().is_some()
    }

    /// The agent comes from an `image` volume (no `rofs-install`).
    pub fn image_volume(&self) -> bool {
        self.install.is_some() && self.delivery == AgentDelivery::ImageVolume
    }

    /// Names of the initContainers rofs adds, as recorded in the status.
    pub fn init_container_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        if self.install.is_some() && !self.image_volume() {
            names.push(INSTALL_CONTAINER.to_string());
        }
        names.extend(self.seeded().map(|t| seed_container_name(&t.name)));
        if let Some(c) = &self.copies {
            names.push(SYNC_INIT_CONTAINER.to_string());
            if c.native {
                names.push(SYNC_CONTAINER.to_string());
            }
        }
        names
    }

    /// Names of the volumes rofs adds, in the order they are written.
    pub fn volume_names(&self) -> Vec<String> {
        let seeded = self.seeded().next().is_some();
        let mut names = Vec::new();
        if seeded {
            names.push(AGENT_VOLUME.to_string());
        }
        if self.image_volume() && self.install_with_seeds() {
            names.push(AGENT_IMAGE_VOLUME.to_string());
        }
        if self.seeded().any(TargetPlan::seeds_disk) {
            names.push(STATE_VOLUME.to_string());
        }
        for t in &self.targets {
            names.extend(t.paths.iter().map(|p| p.volume.clone()));
        }
        if let Some(c) = &self.copies {
            if !seeded {
                names.push(AGENT_VOLUME.to_string());
            }
            if self.image_volume() && !self.install_with_seeds() {
                names.push(AGENT_IMAGE_VOLUME.to_string());
            }
            names.extend(c.copies.iter().map(|c| c.copy.clone()));
        }
        names
    }
}
