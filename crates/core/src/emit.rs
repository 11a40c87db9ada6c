//! The emitter: writes a [`PodPlan`] into the pod spec (JSON) and returns the [`StatusAnnotation`] that
//! records what it injected. The order of what it writes is part of rofs's output (snapshots,
//! byte-identical re-runs): volumes after the pod's own, rofs's initContainers before the
//! workload's, mounts after each container's own.

use serde_json::{Map, Value, json};

use crate::inject::{agent_image_volume, install_container, seed_container, sync_containers};
use crate::model::{CopiesPlan, PodPlan, TargetPlan};
use crate::names::{
    AGENT_IMAGE_VOLUME, AGENT_VOLUME, INSTALL_CONTAINER, STATE_VOLUME, seed_container_name,
};
use crate::pod::{ContainerList, list_mut, map_mut};
use crate::settings::{Medium, WritablePath};
use crate::status::StatusAnnotation;

/// Write `plan` into `spec`. Warnings say what rofs overrode.
pub fn emit(
    spec: &mut Map<String, Value>,
    plan: &PodPlan,
    warnings: &mut Vec<String>,
) -> StatusAnnotation {
    let mut status = StatusAnnotation::default();
    for t in plan.targets.iter().filter(|t| !t.paths.is_empty()) {
        let paths = t.paths.iter().map(|p| p.path.clone()).collect();
        status.writable.insert(t.name.clone(), paths);
    }
    // The injected containers take the app's image and user: read before the app changes.
    let runner = plan
        .copies
        .as_ref()
        .map(|c| container(spec, c.runner).clone());
    let seeded = emit_paths(spec, plan, &mut status, warnings);
    if let (Some(copies), Some(runner)) = (&plan.copies, runner) {
        emit_copies(spec, plan, copies, &runner, seeded, &mut status);
    }
    status
}

/// Read-only roots, a volume and a mount per path, the install and seed initContainers.
/// Returns how many initContainers it put in front.
fn emit_paths(
    spec: &mut Map<String, Value>,
    plan: &PodPlan,
    status: &mut StatusAnnotation,
    warnings: &mut Vec<String>,
) -> usize {
    let seeded: Vec<&TargetPlan> = plan.seeded().collect();
    let mut volumes: Vec<Value> = Vec::new();
    if !seeded.is_empty() {
        volumes.push(
            json!({"name": AGENT_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}),
        );
    }
    let image_volume = plan.image_volume() && plan.install_with_seeds();
    if image_volume {
        volumes.push(agent_image_volume(&plan.agent_image));
    }
    // Markers of disk-backed paths live on disk too: after a node reboot the kubelet keeps
    // a disk emptyDir but not the memory-backed `rofs` volume.
    if seeded.iter().any(|t| t.seeds_disk()) {
        volumes.push(json!({"name": STATE_VOLUME, "emptyDir": {"sizeLimit": "1Mi"}}));
    }
    for p in plan.targets.iter().flat_map(|t| &t.paths) {
        volumes.push(json!({"name": p.volume, "emptyDir": empty_dir(&p.path)}));
    }
    status.volumes.extend(
        volumes
            .iter()
            .map(|v| v["name"].as_str().unwrap_or_default().to_string()),
    );

    let mut injected: Vec<Value> = Vec::new();
    if let Some(from) = plan
        .install
        .filter(|_| plan.install_with_seeds() && !image_volume)
    {
        injected.push(install_container(container(spec, from), &plan.agent_image));
        status.init_containers.push(INSTALL_CONTAINER.to_string());
    }
    for t in &seeded {
        injected.push(seed_container(
            container(spec, (t.list, t.index)),
            t,
            plan.seeder,
            image_volume,
        ));
        status.init_containers.push(seed_container_name(&t.name));
    }

    for t in &plan.targets {
        let c = container_mut(spec, (t.list, t.index));
        if c.pointer("/securityContext/readOnlyRootFilesystem") == Some(&Value::Bool(false)) {
            warnings.push(format!(
                "container {:?}: readOnlyRootFilesystem was false; rofs sets it to true",
                t.name
            ));
        }
        if let Some(c) = c.as_object_mut() {
            let sc = map_mut(c.entry("securityContext").or_insert(Value::Null));
            sc.insert("readOnlyRootFilesystem".into(), Value::Bool(true));
        }
        add_mounts(
            c,
            t.paths
                .iter()
                .map(|p| (p.volume.as_str(), p.path.path.as_str())),
        );
    }
    for s in &plan.shared {
        let c = container_mut(spec, (s.list, s.index));
        add_mounts(c, s.mounts.iter().map(|(v, p)| (v.as_str(), p.as_str())));
    }
    if !volumes.is_empty() {
        push_all(spec, "volumes", volumes, false);
    }
    let count = injected.len();
    if !injected.is_empty() {
        push_all(spec, "initContainers", injected, true);
    }
    count
}

/// Writable copies: the app's mounts renamed to the copies, the copies' volumes, the sync
/// containers (and `rofs-install`, when seeding did not bring it), after the seeds.
fn emit_copies(
    spec: &mut Map<String, Value>,
    plan: &PodPlan,
    copies: &CopiesPlan,
    runner: &Value,
    after: usize,
    status: &mut StatusAnnotation,
) {
    for list in ContainerList::ALL {
        for c in spec
            .get_mut(list.key())
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let ours = c
                .get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| status.init_containers.iter().any(|x| x == n));
            if !ours {
                rename_mounts(c, copies);
            }
        }
    }
    let mut volumes = Vec::new();
    if !status.volumes.iter().any(|v| v == AGENT_VOLUME) {
        volumes.push(
            json!({"name": AGENT_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}),
        );
        status.volumes.push(AGENT_VOLUME.to_string());
    }
    let image_volume = plan.image_volume();
    if image_volume && !plan.install_with_seeds() {
        volumes.push(agent_image_volume(&plan.agent_image));
        status.volumes.push(AGENT_IMAGE_VOLUME.to_string());
    }
    for c in &copies.copies {
        let empty_dir = if c.in_memory() {
            json!({"medium": "Memory", "sizeLimit": "8Mi"})
        } else {
            json!({})
        };
        volumes.push(json!({"name": c.copy, "emptyDir": empty_dir}));
        status.volumes.push(c.copy.clone());
        status
            .writable_volumes
            .insert(c.source.clone(), c.copy.clone());
    }
    push_all(spec, "volumes", volumes, false);
    if copies.share_process_namespace {
        spec.insert("shareProcessNamespace".into(), Value::Bool(true));
        status.share_process_namespace = true;
    }
    let [init, sidecar] = sync_containers(runner, copies, image_volume);
    let mut injected = Vec::new();
    if plan.install.is_some() && !plan.install_with_seeds() && !image_volume {
        injected.push(install_container(runner, &plan.agent_image));
        status
            .init_containers
            .insert(0, INSTALL_CONTAINER.to_string());
    }
    injected.push(init);
    status
        .init_containers
        .push(crate::names::SYNC_INIT_CONTAINER.to_string());
    if copies.native {
        injected.push(sidecar);
        status
            .init_containers
            .push(crate::names::SYNC_CONTAINER.to_string());
    } else {
        push_all(spec, "containers", vec![sidecar], false);
        status
            .containers
            .push(crate::names::SYNC_CONTAINER.to_string());
    }
    let list = list_mut(spec.entry("initContainers").or_insert(Value::Null));
    let at = after.min(list.len());
    list.splice(at..at, injected);
}

/// Point a container's mounts of copied volumes at the copies (same mountPath and subPath;
/// `readOnly` dropped: that is the point).
fn rename_mounts(c: &mut Value, copies: &CopiesPlan) {
    for m in c
        .get_mut("volumeMounts")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        let name = m.get("name").and_then(Value::as_str);
        if let Some(copy) = copies
            .copies
            .iter()
            .find(|k| Some(k.source.as_str()) == name)
        {
            m["name"] = Value::String(copy.copy.clone());
            if let Some(o) = m.as_object_mut() {
                o.shift_remove("readOnly");
            }
        }
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

fn container(spec: &Map<String, Value>, (list, index): (ContainerList, usize)) -> &Value {
    &spec[list.key()][index]
}

fn container_mut(
    spec: &mut Map<String, Value>,
    (list, index): (ContainerList, usize),
) -> &mut Value {
    &mut spec[list.key()][index]
}

fn push_all(spec: &mut Map<String, Value>, key: &str, items: Vec<Value>, front: bool) {
    let list = list_mut(spec.entry(key).or_insert(Value::Null));
    if front {
        list.splice(0..0, items);
    } else {
        list.extend(items);
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
        list_mut(obj.entry("volumeMounts").or_insert(Value::Null)).extend(mounts);
    }
}
