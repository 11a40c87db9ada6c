//! The rewrite: a pod template and settings in, the pod template that runs with a read-only
//! root filesystem out. Pure: no I/O, no clock, no randomness; every front end calls this.
//!
//! Layout produced for a container `app` with writable paths P (see docs/reference.md):
//! - `app.securityContext.readOnlyRootFilesystem: true`;
//! - per path, an emptyDir volume `rofs-<container>-<path>` mounted at the path;
//! - when some paths are seeded, initContainers first in the list, before the workload's own:
//!   `rofs-install` (agent image, copies the static agent into the `rofs` volume) and
//!   `rofs-seed-<container>` (the app's image and securityContext, runs the agent: copies the
//!   image's files of each path into its volume, mounted at `/.rofs/dst/<volume>`);
//! - the annotation `rofs.io/status` records what was injected, so that rewriting the output
//!   again first removes it and then produces the same result (idempotence).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::annotations::{self, AnnotationError};
use crate::settings::{
    MAX_WRITABLE_PATHS, Medium, Seeder, Settings, WritablePath, is_within, self_and_ancestors,
};
pub use crate::status::Status;
use crate::workload;

/// Default image of the install initContainer: the project's image at this version.
pub const DEFAULT_AGENT_IMAGE: &str = concat!("ghcr.io/rofs-dev/rofs:", env!("CARGO_PKG_VERSION"));
/// Name of the shared volume that holds the agent binary and the seed markers.
pub const AGENT_VOLUME: &str = "rofs";
/// Where [`AGENT_VOLUME`] is mounted in rofs's containers.
pub const AGENT_MOUNT: &str = "/.rofs";
/// The agent binary inside the rofs image.
pub const AGENT_IN_IMAGE: &str = "/rofs-agent";
/// The agent as installed into the `rofs` volume, run inside app images.
pub const AGENT_BINARY: &str = "/.rofs/bin/rofs-agent";
/// Name of the small disk-backed volume that keeps the seed markers of disk-backed paths
/// (they must survive a node reboot with the data they describe).
pub const STATE_VOLUME: &str = "rofs-state";
/// Where [`STATE_VOLUME`] is mounted in the seed containers.
pub const DURABLE_STATE_MOUNT: &str = "/.rofs/durable";
/// Name of the install initContainer.
pub const INSTALL_CONTAINER: &str = "rofs-install";
/// kubectl's annotation naming a pod's main container.
const DEFAULT_CONTAINER: &str = "kubectl.kubernetes.io/default-container";

/// A rewrite that cannot be done: where in the document, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RewriteError {
    #[error("{at}: {message}")]
    Invalid { at: String, message: String },
    #[error("{at}: {error}")]
    Annotation { at: String, error: AnnotationError },
    /// The settings, the annotations and the earlier status together ask for more than
    /// the limit per pod (each path counts once per container it applies to).
    #[error(
        "{at}: more than {limit} {what} for this pod (from rofs.io/writable, writable.rofs.io/<container>, profiles and the flags or config, once per container)"
    )]
    TooMany {
        at: String,
        what: &'static str,
        limit: usize,
    },
    /// `rofs.io/status` lists something rofs did not inject (a forged annotation): nothing is
    /// removed and the pod is not rewritten.
    #[error(
        "{at}: annotation \"rofs.io/status\" lists {entry}, which rofs did not inject ({reason}); rofs leaves this pod alone: remove that entry or the annotation"
    )]
    ForgedStatus {
        at: String,
        entry: String,
        reason: String,
    },
}

impl RewriteError {
    /// The same error, located inside `outer` (e.g. `items[3]` of a `kind: List`).
    pub fn within(mut self, outer: &str) -> Self {
        let at = match &mut self {
            RewriteError::Invalid { at, .. }
            | RewriteError::Annotation { at, .. }
            | RewriteError::TooMany { at, .. }
            | RewriteError::ForgedStatus { at, .. } => at,
        };
        *at = if at.is_empty() {
            outer.to_string()
        } else {
            format!("{outer}.{at}")
        };
        self
    }
}

pub(crate) fn invalid(at: impl Into<String>, message: impl Into<String>) -> RewriteError {
    RewriteError::Invalid {
        at: at.into(),
        message: message.into(),
    }
}

/// What a rewrite did, besides changing the document.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The document held a pod template (whether or not it changed).
    pub workload: bool,
    pub changed: bool,
    /// Things the user should know (printed on stderr by the CLI, returned as admission
    /// warnings by the webhook). Each names the container and path concerned.
    pub warnings: Vec<String>,
    /// Names of all containers seen, to report settings that name a container nowhere.
    pub containers: BTreeSet<String>,
    /// Names of all volumes seen, to report writable volumes that name a volume nowhere.
    pub volumes: BTreeSet<String>,
}

/// Rewrite one document in place, whatever its kind. Documents that hold no pod template
/// (Services, ConfigMaps, CRDs...) are left untouched. `kind: List` is handled by the caller.
pub fn rewrite_document(doc: &mut Value, settings: &Settings) -> Result<Outcome, RewriteError> {
    let Some((api_version, kind)) = workload::type_meta(doc) else {
        return Ok(Outcome::default());
    };
    let Some(path) = workload::pod_template_path(api_version, kind) else {
        return Ok(Outcome::default());
    };
    let kind = kind.to_string();
    let workload_annotations = if path.is_empty() {
        None
    } else {
        doc.pointer("/metadata/annotations")
            .and_then(Value::as_object)
            .cloned()
    };
    let mut at = String::new();
    let mut template = &mut *doc;
    for key in path {
        if !at.is_empty() {
            at.push('.');
        }
        at.push_str(key);
        template = template
            .get_mut(*key)
            .ok_or_else(|| invalid(at.clone(), format!("a {kind} needs a pod template here")))?;
    }
    rewrite_pod_template(template, &at, workload_annotations.as_ref(), settings)
}

/// Rewrite a pod template (an object with `metadata` and `spec`, or a whole Pod).
///
/// `at` names the template's place in its document for error messages (empty for a Pod).
/// `workload_annotations` are the owning workload's annotations; the template's own win.
pub fn rewrite_pod_template(
    template: &mut Value,
    at: &str,
    workload_annotations: Option<&Map<String, Value>>,
    settings: &Settings,
) -> Result<Outcome, RewriteError> {
    let field = |f: &str| {
        if at.is_empty() {
            f.to_string()
        } else {
            format!("{at}.{f}")
        }
    };
    let original = template.clone();
    let tpl = template
        .as_object_mut()
        .ok_or_else(|| invalid(at, "the pod template must be an object"))?;

    // Settings from annotations: the workload's, then the template's own.
    if !tpl
        .get("metadata")
        .is_none_or(|m| m.is_null() || m.is_object())
    {
        return Err(invalid(field("metadata"), "must be a map"));
    }
    let template_annotations = match tpl.get("metadata").and_then(|m| m.get("annotations")) {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(invalid(field("metadata.annotations"), "must be a map")),
    };
    let mut all_annotations = workload_annotations.cloned().unwrap_or_default();
    all_annotations.extend(template_annotations.clone());
    let ann = annotations::parse(&all_annotations).map_err(|error| RewriteError::Annotation {
        at: field("metadata.annotations"),
        error,
    })?;
    let mut outcome = Outcome {
        workload: true,
        ..Outcome::default()
    };
    if ann.skip {
        return Ok(outcome);
    }
    // Whether the user's template had these maps without rofs's annotation in them.
    let had_metadata = tpl.get("metadata").is_some_and(|m| {
        m.as_object()
            .is_none_or(|m| m.keys().any(|k| k != "annotations"))
            || template_annotations
                .keys()
                .any(|k| k != annotations::STATUS)
    });
    let had_annotations = template_annotations
        .keys()
        .any(|k| k != annotations::STATUS);
    let previous: Status = match template_annotations.get(annotations::STATUS) {
        None => Status::default(),
        Some(v) => v
            .as_str()
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or_else(|| {
                invalid(
                    field("metadata.annotations"),
                    format!(
                        "annotation {:?} is written by rofs and cannot be read back; remove it",
                        annotations::STATUS
                    ),
                )
            })?,
    };

    let spec = tpl
        .get_mut("spec")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| invalid(field("spec"), "missing pod spec"))?;
    previous.verify(spec, &field("metadata.annotations"))?;
    previous.strip(spec);
    let pod = PodSpec::read(spec, &field("spec"))?;
    for c in pod.containers.iter().chain(&pod.init_containers) {
        outcome.containers.insert(c.name.clone());
    }
    outcome.volumes.extend(pod.volumes.iter().cloned());

    // Annotations must name containers of this pod; flag-level names are checked by the
    // caller across the whole input (a stream holds many workloads).
    for name in ann.settings.container_names() {
        if !outcome.containers.contains(name) {
            return Err(invalid(
                field("metadata.annotations"),
                format!(
                    "rofs annotations name container {name:?}, but the pod has only {}",
                    list(&outcome.containers)
                ),
            ));
        }
    }
    let selection = ann
        .settings
        .containers
        .as_ref()
        .or(settings.containers.as_ref());
    let seeder = ann.settings.seeder.or(settings.seeder).unwrap_or_default();
    let agent_image = ann
        .settings
        .agent_image
        .as_deref()
        .or(settings.agent_image.as_deref())
        .unwrap_or(DEFAULT_AGENT_IMAGE)
        .to_string();

    let mut plan = Plan::default();
    let mut total = 0;
    for target in pod.targets() {
        if selection.is_some_and(|s| !s.contains(&target.name)) {
            continue;
        }
        let paths = resolve_paths(
            &target.name,
            previous.writable.get(&target.name),
            [settings, &ann.settings],
            target.init,
            &mut outcome.warnings,
        );
        total += paths.len();
        if total > MAX_WRITABLE_PATHS {
            return Err(RewriteError::TooMany {
                at: field("metadata.annotations"),
                what: "writable paths",
                limit: MAX_WRITABLE_PATHS,
            });
        }
        plan.add_target(target, paths, &mut outcome.warnings);
    }
    // The workload's own initContainers also see the main container's writable paths (they
    // often prepare files there): the `kubectl.kubernetes.io/default-container`, else the
    // first app container rofs changes.
    let main = template_annotations
        .get(DEFAULT_CONTAINER)
        .and_then(Value::as_str)
        .filter(|n| plan.targets.iter().any(|t| t.name == *n && !t.init))
        .map(String::from)
        .or_else(|| {
            plan.targets
                .iter()
                .find(|t| t.list == "containers")
                .map(|t| t.name.clone())
        });
    plan.apply(
        spec,
        &pod,
        seeder,
        &agent_image,
        main.as_deref(),
        &mut outcome.warnings,
    )?;
    crate::sync::apply(
        spec,
        &pod.at,
        &crate::sync::Request::new(&previous, settings, &ann.settings, &agent_image),
        &mut plan.status,
        &mut outcome.warnings,
    )?;

    // Record what was injected; drop the annotation again when nothing was. Maps that rofs
    // created only for it go too; the user's own (even empty) stay as they were.
    let status = plan.status;
    if status == Status::default() {
        if previous != Status::default() {
            remove_status(tpl, had_metadata, had_annotations);
        }
    } else {
        let text = serde_json::to_string(&status).unwrap_or_default();
        annotations_mut(tpl).insert(annotations::STATUS.to_string(), Value::String(text));
    }
    outcome.warnings.extend(memory_warnings(template));
    outcome.changed = *template != original;
    Ok(outcome)
}

/// The annotations of a pod template, created where missing. `metadata: null` and
/// `annotations: null` (what Helm renders for an empty block) count as empty maps, as they do
/// for the API server; a new `metadata` goes where a person would write it, before `spec`.
pub fn annotations_mut(tpl: &mut Map<String, Value>) -> &mut Map<String, Value> {
    if !tpl.contains_key("metadata") {
        let at = tpl.keys().position(|k| k == "spec").unwrap_or(tpl.len());
        tpl.shift_insert(at, "metadata".into(), Value::Null);
    }
    let meta = map_mut(tpl.entry("metadata").or_insert(Value::Null));
    map_mut(meta.entry("annotations").or_insert(Value::Null))
}

/// `v` as a map: `null` (or anything else) becomes an empty map first. Callers have checked
/// that `v` is a map or `null`.
pub(crate) fn map_mut(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    match v {
        Value::Object(m) => m,
        _ => unreachable!("made a map above"),
    }
}

/// Remove `rofs.io/status`, and the maps that held only it.
fn remove_status(tpl: &mut Map<String, Value>, keep_metadata: bool, keep_annotations: bool) {
    if let Some(meta) = tpl.get_mut("metadata").and_then(Value::as_object_mut) {
        if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            a.shift_remove(annotations::STATUS);
            if a.is_empty() && !keep_annotations {
                meta.shift_remove("annotations");
            }
        }
        if meta.is_empty() && !keep_metadata {
            tpl.shift_remove("metadata");
        }
    }
}

fn list(names: &BTreeSet<String>) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Combine the layers for one container: earlier status < flags/config < annotations;
/// within a layer, profiles < all-container paths < per-container ones. Later wins per path.
/// Nested paths are folded into the outermost one.
fn resolve_paths(
    container: &str,
    previous: Option<&Vec<WritablePath>>,
    layers: [&Settings; 2],
    own_only: bool,
    warnings: &mut Vec<String>,
) -> Vec<WritablePath> {
    let mut by_path: BTreeMap<String, WritablePath> = BTreeMap::new();
    let mut add = |paths: &[WritablePath]| {
        for p in paths {
            by_path.insert(p.path.clone(), p.clone());
        }
    };
    if let Some(p) = previous {
        add(p);
    }
    for layer in layers {
        // Pod-wide profiles and paths describe the app; a run-to-completion initContainer
        // only gets the paths named for it (it shares the main container's otherwise).
        if !own_only {
            for name in &layer.profiles {
                if let Ok(profile) = crate::profiles::lookup(name) {
                    add(&profile.paths());
                }
            }
            add(&layer.writable);
        }
        if let Some(cs) = layer.per_container.get(container) {
            for name in &cs.profiles {
                if let Ok(profile) = crate::profiles::lookup(name) {
                    add(&profile.paths());
                }
            }
            add(&cs.writable);
        }
    }
    let (kept, covered) = outermost(by_path.into_values());
    for (p, outer) in covered {
        let outer = &kept[outer];
        if outer.medium != p.medium || outer.size_limit != p.size_limit {
            warnings.push(format!(
                "container {container:?}: {} is inside writable {}, which covers it; its own options ({p}) are ignored",
                p.path, outer.path
            ));
        } else if p.seed && !outer.seed {
            warnings.push(format!(
                "container {container:?}: {} is inside {} which is `empty`: the image's files under {} are not copied",
                p.path, outer.path, p.path
            ));
        }
    }
    kept
}

/// Split sorted, distinct paths into the outermost ones (kept) and the ones inside a kept
/// path (with the index of that path). Sorted order puts a directory before everything below
/// it, so each path's directories are looked up among those kept so far: O(n log n) in all,
/// where comparing every pair was O(n²).
pub(crate) fn outermost(
    sorted: impl Iterator<Item = WritablePath>,
) -> (Vec<WritablePath>, Vec<(WritablePath, usize)>) {
    let mut kept: Vec<WritablePath> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut covered = Vec::new();
    for p in sorted {
        let outer = self_and_ancestors(&p.path).find_map(|a| index.get(a).copied());
        match outer {
            Some(outer) => covered.push((p, outer)),
            None => {
                index.insert(p.path.clone(), kept.len());
                kept.push(p);
            }
        }
    }
    (kept, covered)
}

/// A container of the pod, as far as the rewrite needs to know it.
struct ContainerRef {
    /// `containers` or `initContainers`.
    list: &'static str,
    index: usize,
    name: String,
    /// One of the workload's own run-to-completion initContainers.
    init: bool,
    mounts: Vec<String>,
}

pub(crate) struct PodSpec {
    pub(crate) at: String,
    containers: Vec<ContainerRef>,
    init_containers: Vec<ContainerRef>,
    volumes: BTreeSet<String>,
}

impl PodSpec {
    fn read(spec: &Map<String, Value>, at: &str) -> Result<Self, RewriteError> {
        let read_list = |key: &'static str| -> Result<Vec<ContainerRef>, RewriteError> {
            let items = match spec.get(key) {
                None | Some(Value::Null) => return Ok(Vec::new()),
                Some(Value::Array(a)) => a,
                Some(_) => return Err(invalid(format!("{at}.{key}"), "must be a list")),
            };
            items
                .iter()
                .enumerate()
                .map(|(index, c)| {
                    let here = format!("{at}.{key}[{index}]");
                    let name = c
                        .get("name")
                        .and_then(Value::as_str)
                        .ok_or_else(|| invalid(&here, "a container needs a name"))?;
                    let mounts = match c.get("volumeMounts") {
                        None | Some(Value::Null) => Vec::new(),
                        Some(Value::Array(m)) => m
                            .iter()
                            .enumerate()
                            .map(|(i, m)| {
                                m.get("mountPath")
                                    .and_then(Value::as_str)
                                    .map(|p| {
                                        crate::settings::normalize_path(p)
                                            .unwrap_or_else(|_| p.to_string())
                                    })
                                    .ok_or_else(|| {
                                        invalid(
                                            format!("{here}.volumeMounts[{i}]"),
                                            "a volume mount needs a mountPath",
                                        )
                                    })
                            })
                            .collect::<Result<_, _>>()?,
                        Some(_) => {
                            return Err(invalid(format!("{here}.volumeMounts"), "must be a list"));
                        }
                    };
                    Ok(ContainerRef {
                        list: key,
                        index,
                        name: name.to_string(),
                        init: key == "initContainers"
                            && c.get("restartPolicy").and_then(Value::as_str) != Some("Always"),
                        mounts,
                    })
                })
                .collect()
        };
        let containers = read_list("containers")?;
        if containers.is_empty() {
            return Err(invalid(
                format!("{at}.containers"),
                "a pod template needs at least one container",
            ));
        }
        let init_containers = read_list("initContainers")?;
        let volumes = match spec.get("volumes") {
            None | Some(Value::Null) => BTreeSet::new(),
            Some(Value::Array(v)) => v
                .iter()
                .filter_map(|v| v.get("name").and_then(Value::as_str).map(String::from))
                .collect(),
            Some(_) => return Err(invalid(format!("{at}.volumes"), "must be a list")),
        };
        Ok(PodSpec {
            at: at.to_string(),
            containers,
            init_containers,
            volumes,
        })
    }

    /// Containers whose root becomes read-only: all of them, initContainers included
    /// (admission policies such as Gatekeeper's check initContainers too).
    fn targets(&self) -> impl Iterator<Item = &ContainerRef> {
        self.containers.iter().chain(&self.init_containers)
    }
}

/// One writable path of one container, with its volume.
struct Planned {
    path: WritablePath,
    volume: String,
}

struct TargetPlan {
    list: &'static str,
    index: usize,
    name: String,
    init: bool,
    paths: Vec<Planned>,
}

impl TargetPlan {
    /// Some path seeded into a disk-backed volume: its seed marker must be on disk too.
    fn seeds_disk(&self) -> bool {
        self.paths
            .iter()
            .any(|p| p.path.seed && p.path.medium == Medium::Disk)
    }
}

#[derive(Default)]
struct Plan {
    targets: Vec<TargetPlan>,
    status: Status,
}

impl Plan {
    fn add_target(
        &mut self,
        target: &ContainerRef,
        paths: Vec<WritablePath>,
        warnings: &mut Vec<String>,
    ) {
        let mut planned = Vec::new();
        for path in paths {
            if let Some(m) = target.mounts.iter().find(|m| is_within(&path.path, m)) {
                warnings.push(format!(
                    "container {:?}: {} is already under a volume mounted at {m}; left as it is",
                    target.name, path.path
                ));
                continue;
            }
            let volume = volume_name(&target.name, &path.path);
            planned.push(Planned { path, volume });
        }
        if !planned.is_empty() {
            self.status.writable.insert(
                target.name.clone(),
                planned.iter().map(|p| p.path.clone()).collect(),
            );
        }
        self.targets.push(TargetPlan {
            list: target.list,
            index: target.index,
            name: target.name.clone(),
            init: target.init,
            paths: planned,
        });
    }

    fn apply(
        &mut self,
        spec: &mut Map<String, Value>,
        pod: &PodSpec,
        seeder: Seeder,
        agent_image: &str,
        main: Option<&str>,
        warnings: &mut Vec<String>,
    ) -> Result<(), RewriteError> {
        let seeded: Vec<&TargetPlan> = self
            .targets
            .iter()
            .filter(|t| t.paths.iter().any(|p| p.path.seed))
            .collect();
        let mut volumes: Vec<Value> = Vec::new();
        if !seeded.is_empty() {
            volumes.push(json!({
                "name": AGENT_VOLUME,
                "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"},
            }));
        }
        // Markers of disk-backed paths live on disk too: after a node reboot the kubelet
        // keeps a disk emptyDir but not the memory-backed `rofs` volume.
        if seeded.iter().any(|t| t.seeds_disk()) {
            volumes.push(json!({"name": STATE_VOLUME, "emptyDir": {"sizeLimit": "1Mi"}}));
        }
        for t in &self.targets {
            for p in &t.paths {
                volumes.push(json!({"name": p.volume, "emptyDir": empty_dir(&p.path)}));
            }
        }
        for v in &volumes {
            let name = v["name"].as_str().unwrap_or_default();
            if pod.volumes.contains(name) {
                return Err(invalid(
                    format!("{}.volumes", pod.at),
                    format!(
                        "the pod already has a volume named {name:?}, a name rofs needs for its own volume; rename that volume"
                    ),
                ));
            }
            self.status.volumes.push(name.to_string());
        }

        // Injected initContainers, first in line.
        let mut injected: Vec<Value> = Vec::new();
        if !seeded.is_empty() {
            let first = container(spec, seeded[0].list, seeded[0].index);
            if seeder == Seeder::Agent {
                injected.push(install_container(first, agent_image));
            }
            for t in &seeded {
                let app = container(spec, t.list, t.index);
                injected.push(seed_container(app, t, seeder));
            }
        }
        let existing: BTreeSet<&str> = pod
            .containers
            .iter()
            .chain(&pod.init_containers)
            .map(|c| c.name.as_str())
            .collect();
        for c in &injected {
            let name = c["name"].as_str().unwrap_or_default();
            if existing.contains(name) {
                return Err(invalid(
                    format!("{}.initContainers", pod.at),
                    format!(
                        "the pod already has a container named {name:?}, a name rofs needs for its own initContainer; rename that container"
                    ),
                ));
            }
            self.status.init_containers.push(name.to_string());
        }

        // The app containers: read-only root, a mount per writable path.
        for t in &self.targets {
            let c = container_mut(spec, t.list, t.index);
            if c.pointer("/securityContext/readOnlyRootFilesystem") == Some(&Value::Bool(false)) {
                warnings.push(format!(
                    "container {:?}: readOnlyRootFilesystem was false; rofs sets it to true",
                    t.name
                ));
            }
            set_security(c, "readOnlyRootFilesystem", true);
            add_mounts(
                c,
                t.paths
                    .iter()
                    .map(|p| (p.volume.as_str(), p.path.path.as_str())),
            );
        }
        // The workload's own run-to-completion initContainers share the main container's
        // volumes, where they have nothing of their own at or above the path.
        // Selected or not: mounting is harmless, and a missing file there would not be.
        if let Some(main) = self.targets.iter().find(|t| Some(t.name.as_str()) == main) {
            for init in pod.init_containers.iter().filter(|c| c.init) {
                let own: &[Planned] = self
                    .targets
                    .iter()
                    .find(|t| t.init && t.index == init.index)
                    .map_or(&[], |t| &t.paths);
                let shared = main.paths.iter().filter(|p| {
                    let path = p.path.path.as_str();
                    !init.mounts.iter().any(|m| is_within(path, m))
                        && !own
                            .iter()
                            .any(|o| is_within(path, &o.path.path) || is_within(&o.path.path, path))
                });
                add_mounts(
                    container_mut(spec, init.list, init.index),
                    shared.map(|p| (p.volume.as_str(), p.path.path.as_str())),
                );
            }
        }

        if !volumes.is_empty() {
            push_all(spec, "volumes", volumes, false);
        }
        if !injected.is_empty() {
            push_all(spec, "initContainers", injected, true);
        }
        Ok(())
    }
}

fn empty_dir(p: &WritablePath) -> Value {
    let mut e = Map::new();
    if p.medium == Medium::Memory {
        e.insert("medium".into(), "Memory".into());
    }
    if let Some(size) = &p.size_limit {
        e.insert("sizeLimit".into(), size.to_string().into());
    }
    Value::Object(e)
}

fn container<'a>(spec: &'a Map<String, Value>, list: &str, index: usize) -> &'a Value {
    &spec[list][index]
}

pub(crate) fn container_mut<'a>(
    spec: &'a mut Map<String, Value>,
    list: &str,
    index: usize,
) -> &'a mut Value {
    &mut spec[list][index]
}

pub(crate) fn push_all(spec: &mut Map<String, Value>, key: &str, items: Vec<Value>, front: bool) {
    let entry = spec.entry(key).or_insert_with(|| Value::Array(Vec::new()));
    if entry.is_null() {
        *entry = Value::Array(Vec::new());
    }
    if let Some(list) = entry.as_array_mut() {
        if front {
            list.splice(0..0, items);
        } else {
            list.extend(items);
        }
    }
}

fn add_mounts<'a>(c: &mut Value, mounts: impl Iterator<Item = (&'a str, &'a str)>) {
    let mounts: Vec<Value> = mounts
        .map(|(name, path)| json!({"name": name, "mountPath": path}))
        .collect();
    if mounts.is_empty() {
        return;
    }
    if let Some(obj) = c.as_object_mut() {
        let entry = obj
            .entry("volumeMounts")
            .or_insert_with(|| Value::Array(Vec::new()));
        if entry.is_null() {
            *entry = Value::Array(Vec::new());
        }
        if let Some(list) = entry.as_array_mut() {
            list.extend(mounts);
        }
    }
}

fn set_security(c: &mut Value, key: &str, value: bool) {
    if let Some(obj) = c.as_object_mut() {
        let sc = obj
            .entry("securityContext")
            .or_insert_with(|| Value::Object(Map::new()));
        if !sc.is_object() {
            *sc = Value::Object(Map::new());
        }
        if let Some(sc) = sc.as_object_mut() {
            sc.insert(key.to_string(), Value::Bool(value));
        }
    }
}

/// The securityContext of an injected container: the app container's own (so it passes the
/// same admission policies and copies as the same user), plus a read-only root and no
/// privilege escalation. `privileged` and `SYS_ADMIN` (in any spelling) are dropped: Kubernetes refuses them
/// together with `allowPrivilegeEscalation: false`, and copying files needs neither.
pub(crate) fn injected_security(app: &Value) -> Value {
    let mut sc = app
        .get("securityContext")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    // `shift_remove` keeps the order of the other keys (`remove` is `swap_remove` with
    // preserve_order). The two keys rofs sets always come last, in this order, whether or
    // not the app already had them: re-patching the output must give the same bytes.
    for key in [
        "privileged",
        "allowPrivilegeEscalation",
        "readOnlyRootFilesystem",
    ] {
        sc.shift_remove(key);
    }
    if let Some(add) = sc
        .get_mut("capabilities")
        .and_then(|c| c.get_mut("add"))
        .and_then(Value::as_array_mut)
    {
        add.retain(|c| !c.as_str().is_some_and(is_sys_admin));
    }
    sc.insert("allowPrivilegeEscalation".into(), Value::Bool(false));
    sc.insert("readOnlyRootFilesystem".into(), Value::Bool(true));
    Value::Object(sc)
}

/// The container runtimes read a capability name in any case, with or without `CAP_`
/// (containerd and CRI-O upper-case it and add the prefix), so `sys_admin` is SYS_ADMIN too.
fn is_sys_admin(name: &str) -> bool {
    let upper = name.trim().to_ascii_uppercase();
    upper.strip_prefix("CAP_").unwrap_or(&upper) == "SYS_ADMIN"
}

pub(crate) fn install_container(app: &Value, agent_image: &str) -> Value {
    json!({
        "name": INSTALL_CONTAINER,
        "image": agent_image,
        "imagePullPolicy": "IfNotPresent",
        "command": [AGENT_IN_IMAGE, "install", format!("{AGENT_MOUNT}/bin")],
        "resources": {
            "requests": {"cpu": "10m", "memory": "16Mi"},
            "limits": {"memory": "64Mi"},
        },
        "securityContext": injected_security(app),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": AGENT_VOLUME, "mountPath": AGENT_MOUNT}],
    })
}

/// `rofs-seed-<container>`, the seed initContainer of a container.
pub(crate) fn seed_container_name(container: &str) -> String {
    bounded_name("rofs-seed-", container, container)
}

fn seed_container(app: &Value, t: &TargetPlan, seeder: Seeder) -> Value {
    let name = seed_container_name(&t.name);
    let seeded: Vec<&Planned> = t.paths.iter().filter(|p| p.path.seed).collect();
    let durable = t.seeds_disk();
    let command: Vec<String> = match seeder {
        Seeder::Agent => {
            let mut c = vec![
                AGENT_BINARY.to_string(),
                "seed".into(),
                "--state-dir".into(),
                format!("{AGENT_MOUNT}/state"),
            ];
            if durable {
                c.extend(["--durable-state-dir".into(), DURABLE_STATE_MOUNT.into()]);
            }
            for p in &seeded {
                c.push(p.path.path.clone());
                c.push(format!("{AGENT_MOUNT}/dst/{}", p.volume));
            }
            c
        }
        Seeder::Shell => vec!["/bin/sh".into(), "-c".into(), shell_script(&seeded)],
    };
    let mut c = Map::new();
    c.insert("name".into(), name.into());
    c.insert(
        "image".into(),
        app.get("image").cloned().unwrap_or(Value::Null),
    );
    if let Some(policy) = app.get("imagePullPolicy").filter(|p| !p.is_null()) {
        c.insert("imagePullPolicy".into(), policy.clone());
    }
    c.insert("command".into(), json!(command));
    if let Some(resources) = app.get("resources").and_then(Value::as_object) {
        let mut r = resources.clone();
        r.shift_remove("claims");
        if !r.is_empty() {
            c.insert("resources".into(), Value::Object(r));
        }
    }
    c.insert("securityContext".into(), injected_security(app));
    c.insert(
        "terminationMessagePolicy".into(),
        "FallbackToLogsOnError".into(),
    );
    let mut mounts = vec![json!({"name": AGENT_VOLUME, "mountPath": AGENT_MOUNT})];
    if durable {
        mounts.push(json!({"name": STATE_VOLUME, "mountPath": DURABLE_STATE_MOUNT}));
    }
    for p in t.paths.iter().filter(|p| p.path.seed) {
        mounts.push(
            json!({"name": p.volume, "mountPath": format!("{AGENT_MOUNT}/dst/{}", p.volume)}),
        );
    }
    c.insert("volumeMounts".into(), Value::Array(mounts));
    Value::Object(c)
}

/// The `--seeder shell` recipe (the blog post's `cp -a`), made safe to re-run: a marker per
/// path says its copy completed; without it, the volume is emptied and copied again. The
/// marker of a disk-backed path is kept on the disk-backed `rofs-state` volume, that of a
/// memory-backed one in the memory-backed `rofs` volume: each lives and dies with its data
/// (a node reboot empties memory volumes and keeps disk ones).
fn shell_script(seeded: &[&Planned]) -> String {
    let mut s = format!(
        "set -eu\nmkdir -p {AGENT_MOUNT}/state\n\
seed() {{\n\
  if [ -e \"$3\" ]; then echo \"rofs: $2 already seeded, nothing to do\"; return 0; fi\n\
  if [ ! -e \"$1\" ]; then echo \"rofs: $1 is not in the image; $2 stays empty\"; : > \"$3\"; return 0; fi\n\
  (cd \"$2\" && rm -rf -- * .[!.]* ..?*)\n\
  if ! cp -a \"$1/.\" \"$2/\"; then\n\
    echo \"rofs: cp -a failed (a non-root user cannot keep ownership); copying without it\"\n\
    (cd \"$2\" && rm -rf -- * .[!.]* ..?*)\n\
    cp -R \"$1/.\" \"$2/\"\n\
  fi\n\
  : > \"$3\"\n\
  echo \"rofs: seeded $2 from $1\"\n\
}}\n"
    );
    for p in seeded {
        let dir = match p.path.medium {
            Medium::Disk => DURABLE_STATE_MOUNT.to_string(),
            Medium::Memory => format!("{AGENT_MOUNT}/state"),
        };
        s.push_str(&format!(
            "seed {} {} {}\n",
            sh_quote(&p.path.path),
            sh_quote(&format!("{AGENT_MOUNT}/dst/{}", p.volume)),
            sh_quote(&format!("{dir}/{}.done", p.volume)),
        ));
    }
    s
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `rofs-<container>-<path>` as a DNS label (at most 63 characters). When the readable form
/// is lossy or too long, a hash of the exact container and path keeps it unique.
pub fn volume_name(container: &str, path: &str) -> String {
    let slug: String = path
        .trim_start_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let readable = format!("{container}-{slug}");
    let lossless = path
        .trim_start_matches('/')
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '/')
        && !path.contains("//");
    if lossless {
        bounded_name("rofs-", &readable, &format!("{container}\0{path}"))
    } else {
        hashed_name("rofs-", &readable, &format!("{container}\0{path}"))
    }
}

/// `prefix` + `readable`, shortened with a hash of `key` when longer than 63 characters.
pub(crate) fn bounded_name(prefix: &str, readable: &str, key: &str) -> String {
    let full = format!("{prefix}{readable}");
    if full.len() <= 63 {
        full
    } else {
        hashed_name(prefix, readable, key)
    }
}

fn hashed_name(prefix: &str, readable: &str, key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let room = 63 - prefix.len() - 1 - hash.len();
    let mut head: String = readable.chars().take(room).collect();
    while head.ends_with('-') {
        head.pop();
    }
    // Collapse runs of '-' for readability.
    let mut collapsed = String::with_capacity(head.len());
    for c in head.chars() {
        if !(c == '-' && collapsed.ends_with('-')) {
            collapsed.push(c);
        }
    }
    format!("{prefix}{collapsed}-{hash}")
}

/// Warnings about memory-backed volumes (kubernetes/website#36494: tmpfs counts against the
/// container's memory limit). Called by [`rewrite_pod_template`] after the rewrite.
pub fn memory_warnings(template: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let Some(spec) = template.get("spec") else {
        return out;
    };
    let status: Status = template
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(annotations::STATUS))
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    for key in ["containers", "initContainers"] {
        for c in spec
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(name) = c.get("name").and_then(Value::as_str) else {
                continue;
            };
            let Some(paths) = status.writable.get(name) else {
                continue;
            };
            let memory: Vec<&WritablePath> = paths
                .iter()
                .filter(|p| p.medium == Medium::Memory)
                .collect();
            for p in memory.iter().filter(|p| p.size_limit.is_none()) {
                out.push(format!(
                    "container {name:?}: {} is a memory volume without a size limit; what the app writes there counts against the container's memory limit and can get it OOMKilled: give it a size, e.g. {}:memory:64Mi",
                    p.path, p.path
                ));
            }
            let total: f64 = memory
                .iter()
                .filter_map(|p| p.size_limit.as_ref().map(|q| q.bytes()))
                .sum();
            let limit = c
                .pointer("/resources/limits/memory")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<crate::quantity::Quantity>().ok());
            if let Some(limit) = limit
                && total > 0.0
                && total >= limit.bytes()
            {
                out.push(format!(
                    "container {name:?}: its memory volumes may hold {} MiB but its memory limit is {limit}: full volumes alone would get it OOMKilled; raise the limit or lower the sizes",
                    (total / 1048576.0).round()
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_names_are_dns_labels() {
        assert_eq!(
            volume_name("nginx", "/var/lib/nginx"),
            "rofs-nginx-var-lib-nginx"
        );
        let long = volume_name(
            "a-very-long-container-name-indeed",
            "/opt/vendor/application/server/tmp",
        );
        assert!(long.len() <= 63, "{long}");
        assert!(crate::settings::is_dns_label(&long), "{long}");
        let upper = volume_name("app", "/opt/App");
        let lower = volume_name("app", "/opt/app");
        assert_ne!(upper, lower);
        assert!(crate::settings::is_dns_label(&upper), "{upper}");
        assert!(crate::settings::is_dns_label(&volume_name(
            "app", "/a_b/.x"
        )));
    }

    #[test]
    fn shell_quotes() {
        assert_eq!(sh_quote("/a b'c"), r"'/a b'\''c'");
    }
}

#[cfg(test)]
mod nesting {
    use super::*;

    /// The quadratic check `outermost` replaced, kept as its oracle.
    fn outermost_quadratic(
        sorted: Vec<WritablePath>,
    ) -> (Vec<WritablePath>, Vec<(WritablePath, usize)>) {
        let mut kept: Vec<WritablePath> = Vec::new();
        let mut covered = Vec::new();
        for p in sorted {
            match kept.iter().position(|k| is_within(&p.path, &k.path)) {
                Some(outer) => covered.push((p, outer)),
                None => kept.push(p),
            }
        }
        (kept, covered)
    }

    /// xorshift64: random path sets without a dependency, reproducible from the seed.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    #[test]
    fn outermost_equals_the_quadratic_check_on_random_path_sets() {
        // Segments chosen so that siblings sort between a directory and its children
        // (`/a-b` and `/a.b` sort before `/a/b`) and names are prefixes of each other.
        const SEGMENTS: [&str; 6] = ["a", "a-b", "a.b", "ab", "b", "a0"];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..3000 {
            let mut by_path: BTreeMap<String, WritablePath> = BTreeMap::new();
            for _ in 0..rng.next(40) {
                let depth = 1 + rng.next(4);
                let path: String = (0..depth)
                    .map(|_| format!("/{}", SEGMENTS[rng.next(SEGMENTS.len())]))
                    .collect();
                let options = [":memory", "", ":empty", ":1Mi"][rng.next(4)];
                let p: WritablePath = format!("{path}{options}").parse().expect("valid");
                by_path.insert(p.path.clone(), p);
            }
            let sorted: Vec<WritablePath> = by_path.into_values().collect();
            assert_eq!(
                outermost(sorted.clone().into_iter()),
                outermost_quadratic(sorted.clone()),
                "{sorted:?}"
            );
        }
    }

    #[test]
    fn ancestors_are_listed_deepest_first() {
        let a: Vec<&str> = self_and_ancestors("/a/b-c/d").collect();
        assert_eq!(a, ["/a/b-c/d", "/a/b-c", "/a"]);
    }
}
