//! The rules: stable IDs, severities and the words every output uses about them
//! (docs/audit.md is the user's page of the same).

use crate::model::{PeerCheck, Rule, Severity};

/// The read-only root checks of the other linters (verified against each tool's docs).
const READ_ONLY_ROOT_PEERS: &[PeerCheck] = &[
    PeerCheck {
        tool: "kube-linter",
        id: "no-read-only-root-fs",
    },
    PeerCheck {
        tool: "Polaris",
        id: "notReadOnlyRootFilesystem",
    },
    PeerCheck {
        tool: "checkov",
        id: "CKV_K8S_22",
    },
    PeerCheck {
        tool: "kubescape",
        id: "C-0017",
    },
    PeerCheck {
        tool: "Trivy",
        id: "KSV014",
    },
    PeerCheck {
        tool: "kube-score",
        id: "container-security-context-readonlyrootfilesystem",
    },
];

pub const CONTAINER_WRITABLE_ROOT: &str = "ROFS-A001";
pub const INIT_CONTAINER_WRITABLE_ROOT: &str = "ROFS-A002";
pub const EPHEMERAL_WRITABLE_ROOT: &str = "ROFS-A003";
pub const PATH_WITHOUT_VOLUME: &str = "ROFS-A004";
pub const UNSEEDED_EMPTY_DIR: &str = "ROFS-A005";
pub const MEMORY_WITHOUT_LIMIT: &str = "ROFS-A006";
pub const WRITABLE_HOST_PATH: &str = "ROFS-A007";
pub const STALE_STATUS: &str = "ROFS-A008";
pub const INVALID_SETTINGS: &str = "ROFS-A009";

/// Every rule, in ID order. IDs are never reused; a retired rule keeps its place here.
pub const RULES: &[Rule] = &[
    Rule {
        id: CONTAINER_WRITABLE_ROOT,
        name: "container-writable-root",
        short: "A container or native sidecar runs without readOnlyRootFilesystem: true",
        long: "The container's root filesystem is writable: code running in it can change its \
               own programs, libraries and configuration, and drop tools. Kubernetes has no \
               pod-level readOnlyRootFilesystem: only each container's securityContext counts.",
        help: "Run the `rofs patch` command of the finding: it sets readOnlyRootFilesystem: true \
               and gives each path the app writes an emptyDir, seeded with the image's files \
               where it has some. Suppress with the annotation rofs.io/audit-ignore or \
               audit-ignore.rofs.io/ROFS-A001 (value: the reason).",
        severity: Severity::High,
        peers: READ_ONLY_ROOT_PEERS,
    },
    Rule {
        id: INIT_CONTAINER_WRITABLE_ROOT,
        name: "init-container-writable-root",
        short: "An initContainer runs without readOnlyRootFilesystem: true",
        long: "An initContainer that runs to completion before the app starts has a writable root \
               filesystem. It runs for a short time, before the app, which is why this is a \
               rule of its own (medium), so a gate can treat it apart.",
        help: "Run the `rofs patch` command of the finding (rofs patch makes initContainers \
               read-only too, with the app's writable paths shared with them). Suppress with \
               audit-ignore.rofs.io/ROFS-A002 or audit-ignore.rofs.io/<container>.",
        severity: Severity::Medium,
        peers: READ_ONLY_ROOT_PEERS,
    },
    Rule {
        id: EPHEMERAL_WRITABLE_ROOT,
        name: "ephemeral-container-writable-root",
        short: "An ephemeral (debug) container runs without readOnlyRootFilesystem: true",
        long: "Ephemeral containers (kubectl debug) exist only on live Pods and are added through \
               the ephemeralcontainers subresource, which neither rofs patch nor the rofs webhook \
               rewrites. Debugging often needs a writable root (to install tools), so this is \
               reported as low: a record that a writable container ran in the pod.",
        help: "Give the debug container a securityContext with readOnlyRootFilesystem: true \
               (kubectl debug --custom=FILE), or suppress with audit-ignore.rofs.io/ROFS-A003.",
        severity: Severity::Low,
        peers: &[],
    },
    Rule {
        id: PATH_WITHOUT_VOLUME,
        name: "writable-path-without-volume",
        short: "A read-only container has no volume at a path its app writes",
        long: "The container's root filesystem is read-only, and a path that its app writes (known \
               from the profile for its image, or from the --config file of rofs discover) has \
               no volume mounted on it or above it: the app fails with EROFS (Read-only file \
               system) when it writes there.",
        help: "Run the `rofs patch` command of the finding: it mounts an emptyDir at each such \
               path (seeded with the image's files when the path has content). Suppress with \
               audit-ignore.rofs.io/ROFS-A004.",
        severity: Severity::High,
        peers: &[],
    },
    Rule {
        id: UNSEEDED_EMPTY_DIR,
        name: "unseeded-empty-dir",
        short: "An emptyDir hides the image's files at a path the app needs them",
        long: "An emptyDir is mounted over a path where the image has content the app needs (a \
               path classified seed by its profile or by rofs discover), and nothing copies the \
               image's files into it: the app starts with an empty directory where it expects \
               its files (missing config, templates, default data).",
        help: "Let rofs patch manage the path: remove the hand-made volume and run the `rofs \
               patch` command of the finding, which seeds the emptyDir from the image in an \
               initContainer. Suppress with audit-ignore.rofs.io/ROFS-A005.",
        severity: Severity::High,
        peers: &[],
    },
    Rule {
        id: MEMORY_WITHOUT_LIMIT,
        name: "memory-empty-dir-without-size-limit",
        short: "An emptyDir with medium: Memory has no sizeLimit",
        long: "A tmpfs emptyDir (medium: Memory) counts against the memory limit of the \
               containers that write it; without a sizeLimit an app that fills it is killed \
               for memory (or, without a memory limit, uses the node's memory) instead of \
               getting a clear ENOSPC.",
        help: "Give the volume a sizeLimit (with rofs: -w PATH:memory:SIZE, e.g. \
               /run:memory:1Mi). Suppress with audit-ignore.rofs.io/ROFS-A006.",
        severity: Severity::Medium,
        peers: &[],
    },
    Rule {
        id: WRITABLE_HOST_PATH,
        name: "writable-host-path",
        short: "A container mounts a hostPath volume writable",
        long: "A hostPath volume is mounted without readOnly: true: the container writes to the \
               node's own filesystem, outside the pod, where the writes survive the pod and \
               other pods (and the node) can read them. A read-only root does not help: the \
               mount is writable on its own.",
        help: "Mount the hostPath with readOnly: true, or use an emptyDir (rofs patch -w PATH) or \
               a PersistentVolumeClaim. Suppress with audit-ignore.rofs.io/ROFS-A007.",
        severity: Severity::High,
        peers: &[
            PeerCheck {
                tool: "kube-linter",
                id: "writable-host-mount",
            },
            PeerCheck {
                tool: "kubescape",
                id: "C-0045",
            },
            PeerCheck {
                tool: "Trivy",
                id: "KSV023",
            },
        ],
    },
    Rule {
        id: STALE_STATUS,
        name: "stale-rofs-patch",
        short: "A workload rofs patched no longer matches its rofs settings",
        long: "The pod template carries rofs.io/status (rofs patched it), but its settings \
               (annotations, containers, volumes) changed since: patching it again would change \
               it, so what runs is not what the settings ask for (e.g. a path added to \
               rofs.io/writable has no volume yet).",
        help: "Run the `rofs patch` command of the finding again (patching is idempotent: an up to \
               date workload comes back unchanged). Suppress with \
               audit-ignore.rofs.io/ROFS-A008.",
        severity: Severity::Medium,
        peers: &[],
    },
    Rule {
        id: INVALID_SETTINGS,
        name: "invalid-rofs-settings",
        short: "rofs cannot patch the workload: its rofs annotations or status are invalid",
        long: "The workload's rofs annotations are invalid (a typo in a key, a bad path), or its \
               rofs.io/status was not written by rofs: rofs patch refuses it, and the rofs \
               webhook denies its pods (onInvalid: deny) or admits them unchanged, writable.",
        help: "Correct the annotation the message names (docs/reference.md lists them). Suppress \
               with audit-ignore.rofs.io/ROFS-A009.",
        severity: Severity::High,
        peers: &[],
    },
];

/// A rule by ID.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_sorted_and_well_formed() {
        let ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(ids, sorted);
        for r in RULES {
            assert!(r.id.starts_with("ROFS-A") && r.id.len() == 9, "{}", r.id);
            assert!(!r.short.ends_with('.'), "{}", r.id);
            assert!(
                r.help.contains(r.id),
                "{}: help says how to suppress it",
                r.id
            );
        }
    }
}
