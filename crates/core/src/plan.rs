//! The planner: a pod (read by [`crate::pod`]) and the settings layers in, one plan for the
//! whole pod out ([`crate::model::PodPlan`]): which containers become read-only, which path of
//! which container gets which volume, what is seeded and how, which configMap/secret volumes
//! get a writable copy, and whether the agent is installed. Pure: no JSON is written here
//! ([`crate::emit`] does that), so plans are tested as values.

use std::collections::{BTreeMap, BTreeSet};

use crate::copies::plan_copies;
use crate::error::{Clash, ErrorKind, Location, RewriteError};
use crate::model::{PathPlan, PodPlan, Request, SharedMounts, TargetPlan};
use crate::names::{DEFAULT_AGENT_IMAGE, SYNC_CONTAINER, volume_name};
use crate::paths::resolve_paths;
use crate::pod::{ContainerList, ContainerRef, Pod};
use crate::settings::{
    AgentDelivery, KubeVersion, MAX_POD_MOUNTS, MAX_WRITABLE_PATHS, Seeder, WritablePath,
    is_within, self_and_ancestors,
};

/// Plan the rewrite of `pod`. Warnings are for the user (ignored options, paths already
/// mounted, copies no container mounts).
pub fn plan(
    pod: &Pod,
    req: &Request<'_>,
    warnings: &mut Vec<String>,
) -> Result<PodPlan, RewriteError> {
    let [s, a] = [req.settings, req.annotations];
    // Annotations must name containers of this pod; flag-level names are checked by the
    // caller across the whole input (a stream holds many workloads).
    let known: BTreeSet<&str> = pod.names().collect();
    if let Some(name) = a.container_names().find(|n| !known.contains(n)) {
        return Err(RewriteError::new(
            req.annotations_at.clone(),
            ErrorKind::UnknownContainer {
                name: name.to_string(),
                known: known.iter().map(|n| n.to_string()).collect(),
            },
        ));
    }
    let mut plan = PodPlan {
        seeder: a.seeder.or(s.seeder).unwrap_or_default(),
        delivery: (a.agent_delivery.or(s.agent_delivery)).unwrap_or_else(|| {
            AgentDelivery::default_for(s.kube_version.unwrap_or(KubeVersion::DEFAULT))
        }),
        agent_image: (a.agent_image.as_deref())
            .or(s.agent_image.as_deref())
            .unwrap_or(DEFAULT_AGENT_IMAGE)
            .to_string(),
        targets: plan_targets(pod, req, warnings)?,
        shared: Vec::new(),
        copies: plan_copies(pod, req, warnings)?,
        install: None,
    };
    let first_seeded = plan.seeded().next().map(|t| (t.list, t.index));
    plan.install = match (plan.seeder, first_seeded, &plan.copies) {
        (Seeder::Agent, Some(first), _) => Some(first),
        (_, _, Some(copies)) => Some(copies.runner),
        _ => None,
    };
    plan.shared = plan_shared(pod, &plan, req)?;
    check_names(pod, &plan)?;
    Ok(plan)
}

/// The containers that become read-only and their paths.
fn plan_targets(
    pod: &Pod,
    req: &Request<'_>,
    warnings: &mut Vec<String>,
) -> Result<Vec<TargetPlan>, RewriteError> {
    let selection = (req.annotations.containers.as_ref()).or(req.settings.containers.as_ref());
    let mut targets = Vec::new();
    let mut total = 0;
    for c in &pod.containers {
        if selection.is_some_and(|s| !s.contains(&c.name)) {
            continue;
        }
        let (paths, distinct) = resolve_paths(
            &c.name,
            c.image.as_deref(),
            req.previous.writable.get(&c.name),
            [req.settings, req.annotations],
            c.init,
            warnings,
        );
        // Nested paths count too: they were parsed, merged and compared.
        total += distinct;
        if total > MAX_WRITABLE_PATHS {
            return Err(RewriteError::new(
                req.annotations_at.clone(),
                ErrorKind::TooMany {
                    what: "writable paths",
                    limit: MAX_WRITABLE_PATHS,
                },
            ));
        }
        targets.push(plan_target(c, paths, warnings));
    }
    Ok(targets)
}

/// A container's paths, minus those already under one of its mounts.
fn plan_target(
    c: &ContainerRef,
    paths: Vec<WritablePath>,
    warnings: &mut Vec<String>,
) -> TargetPlan {
    // Mount path -> its first place in the container's list (the one a warning names).
    let mut mounts: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, m) in c.mounts.iter().enumerate() {
        mounts.entry(m.path.as_str()).or_insert(i);
    }
    let mut planned = Vec::new();
    for path in paths {
        let under = self_and_ancestors(&path.path)
            .filter_map(|a| mounts.get(a))
            .min();
        if let Some(&i) = under {
            warnings.push(format!(
                "container {:?}: {} is already under a volume mounted at {}; left as it is",
                c.name, path.path, c.mounts[i].path
            ));
            continue;
        }
        let volume = volume_name(&c.name, &path.path);
        planned.push(PathPlan { path, volume });
    }
    TargetPlan {
        list: c.list,
        index: c.index,
        name: c.name.clone(),
        init: c.init,
        paths: planned,
    }
}

/// The volumeMounts rofs adds to the pod besides the shared ones: each writable path's mount,
/// the seed containers' (the agent, the durable state, each seeded path), `rofs-install`'s
/// and the sync containers' (the agent, each copy's source and copy); with the agent in an
/// image volume, no `rofs-install` but one more mount (the image) in each container running
/// the agent.
fn own_mounts(plan: &PodPlan) -> usize {
    let image = usize::from(plan.image_volume());
    let paths: usize = plan.targets.iter().map(|t| t.paths.len()).sum();
    let seeds: usize = (plan.seeded())
        .map(|t| {
            let agent = if plan.seeder == Seeder::Agent {
                image
            } else {
                0
            };
            1 + agent + usize::from(t.seeds_disk()) + t.paths.iter().filter(|p| p.path.seed).count()
        })
        .sum();
    let install = usize::from(plan.install.is_some() && !plan.image_volume());
    let sync = plan
        .copies
        .as_ref()
        .map_or(0, |c| 2 * (1 + image + 2 * c.copies.len()));
    paths + seeds + install + sync
}

/// The workload's own initContainers also see the main container's writable paths (they
/// often prepare files there): the `kubectl.kubernetes.io/default-container`, else the first
/// app container rofs changes. Selected or not: mounting is harmless, a missing file is not.
/// Not where the initContainer has something of its own at or above the path.
///
/// That is paths × initContainers mounts: counted first, and refused past
/// [`MAX_POD_MOUNTS`] (with rofs's other mounts) before any is made.
fn plan_shared(
    pod: &Pod,
    plan: &PodPlan,
    req: &Request<'_>,
) -> Result<Vec<SharedMounts>, RewriteError> {
    let targets = &plan.targets;
    let main = (req.default_container)
        .and_then(|n| targets.iter().find(|t| t.name == n && !t.init))
        .or_else(|| targets.iter().find(|t| t.list == ContainerList::Containers));
    let Some(main) = main else {
        return Ok(Vec::new());
    };
    let inits: Vec<(&ContainerRef, &[PathPlan])> = (pod.containers.iter())
        .filter(|c| c.init)
        .map(|init| {
            let own: &[PathPlan] = targets
                .iter()
                .find(|t| t.init && t.index == init.index)
                .map_or(&[], |t| &t.paths);
            (init, own)
        })
        .collect();
    let shares = |init: &ContainerRef, own: &[PathPlan], p: &PathPlan| {
        let path = p.path.path.as_str();
        !init.mounts.iter().any(|m| is_within(path, &m.path))
            && !own
                .iter()
                .any(|o| is_within(path, &o.path.path) || is_within(&o.path.path, path))
    };
    let mut count = own_mounts(plan);
    for &(init, own) in &inits {
        count += main.paths.iter().filter(|p| shares(init, own, p)).count();
    }
    if count > MAX_POD_MOUNTS {
        return Err(RewriteError::new(
            req.annotations_at.clone(),
            ErrorKind::TooManyMounts {
                count,
                limit: MAX_POD_MOUNTS,
                main: main.name.clone(),
                paths: main.paths.len(),
                init_containers: inits.len(),
            },
        ));
    }
    Ok(inits
        .into_iter()
        .map(|(init, own)| SharedMounts {
            list: init.list,
            index: init.index,
            mounts: (main.paths.iter())
                .filter(|p| shares(init, own, p))
                .map(|p| (p.volume.clone(), p.path.path.clone()))
                .collect(),
        })
        .collect())
}

/// rofs's names must be free in the pod.
fn check_names(pod: &Pod, plan: &PodPlan) -> Result<(), RewriteError> {
    let clash = |at: Location, name: &str, clash: Clash| {
        let name = name.to_string();
        Err(RewriteError::new(at, ErrorKind::NameClash { name, clash }))
    };
    let copies: BTreeMap<&str, &str> = (plan.copies.iter().flat_map(|c| &c.copies))
        .map(|c| (c.copy.as_str(), c.source.as_str()))
        .collect();
    for name in plan.volume_names() {
        if pod.volumes.contains_key(&name) {
            let what = copies
                .get(name.as_str())
                .map_or(Clash::Volume, |s| Clash::CopyOf(s.to_string()));
            return clash(pod.at.key("volumes"), &name, what);
        }
    }
    let known: BTreeSet<&str> = pod.names().collect();
    for name in plan.init_container_names() {
        if known.contains(name.as_str()) {
            let (key, what) = if name.starts_with("rofs-sync") {
                ("containers", Clash::Container)
            } else {
                ("initContainers", Clash::InitContainer)
            };
            return clash(pod.at.key(key), &name, what);
        }
    }
    if plan.copies.as_ref().is_some_and(|c| !c.native) && known.contains(SYNC_CONTAINER) {
        return clash(pod.at.key("containers"), SYNC_CONTAINER, Clash::Container);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::Mount;
    use crate::settings::Settings;
    use crate::status::StatusAnnotation;

    fn wp(s: &str) -> WritablePath {
        s.parse().expect("valid")
    }

    /// A container with mounts `(volume, path)`.
    fn container(
        list: ContainerList,
        index: usize,
        name: &str,
        mounts: &[(&str, &str)],
    ) -> ContainerRef {
        ContainerRef {
            list,
            index,
            name: name.into(),
            init: list == ContainerList::InitContainers,
            image: None,
            mounts: mounts
                .iter()
                .map(|(v, p)| Mount {
                    volume: Some((*v).into()),
                    path: (*p).into(),
                })
                .collect(),
        }
    }

    fn pod(containers: Vec<ContainerRef>, volumes: &[(&str, Option<&'static str>)]) -> Pod {
        Pod {
            at: Location::root().key("spec"),
            containers,
            volumes: volumes.iter().map(|(n, k)| (n.to_string(), *k)).collect(),
            share_process_namespace: false,
        }
    }

    fn plan_of(pod: &Pod, settings: &Settings) -> (PodPlan, Vec<String>) {
        let mut warnings = Vec::new();
        let at = Location::root();
        let req = Request {
            settings,
            annotations: &Settings::default(),
            previous: &StatusAnnotation::default(),
            default_container: None,
            annotations_at: &at,
        };
        let plan = plan(pod, &req, &mut warnings).expect("plan");
        (plan, warnings)
    }

    #[test]
    fn one_plan_decides_install_volumes_and_init_containers() {
        let p = pod(
            vec![
                container(
                    ContainerList::Containers,
                    0,
                    "app",
                    &[("config", "/etc/app")],
                ),
                container(ContainerList::InitContainers, 0, "migrate", &[]),
            ],
            &[("config", Some("configMap"))],
        );
        let mut s = Settings {
            writable: vec![
                wp("/var/lib/app"),
                wp("/tmp:memory:1Mi:empty"),
                wp("/etc/app/x"),
            ],
            ..Settings::default()
        };
        let (plan, warnings) = plan_of(&p, &s);
        assert_eq!(plan.install, Some((ContainerList::Containers, 0)));
        assert!(plan.install_with_seeds());
        assert_eq!(
            plan.init_container_names(),
            ["rofs-install", "rofs-seed-app"]
        );
        assert_eq!(
            plan.volume_names(),
            ["rofs", "rofs-state", "rofs-app-tmp", "rofs-app-var-lib-app"]
        );
        // The initContainer shares the app's volumes; /etc/app/x is under a mount.
        assert_eq!(plan.shared.len(), 1);
        assert_eq!(plan.shared[0].mounts.len(), 2);
        assert!(
            warnings[0].contains("already under a volume mounted at /etc/app"),
            "{warnings:?}"
        );

        // Only empty paths and a writable volume: rofs-install comes with the sync containers.
        s.writable = vec![wp("/tmp:empty")];
        s.writable_volumes = vec!["config".into()];
        let (plan, _) = plan_of(&p, &s);
        assert!(!plan.install_with_seeds());
        assert_eq!(plan.install, Some((ContainerList::Containers, 0)));
        assert_eq!(
            plan.init_container_names(),
            ["rofs-install", "rofs-sync-init", "rofs-sync"]
        );
        assert_eq!(
            plan.volume_names(),
            ["rofs-app-tmp", "rofs", "rofs-copy-config"]
        );
    }

    #[test]
    fn shell_seeder_needs_no_install_without_copies() {
        let p = pod(
            vec![container(ContainerList::Containers, 0, "app", &[])],
            &[],
        );
        let s = Settings {
            writable: vec![wp("/data")],
            seeder: Some(Seeder::Shell),
            ..Settings::default()
        };
        let (plan, _) = plan_of(&p, &s);
        assert_eq!(plan.install, None);
        assert_eq!(plan.init_container_names(), ["rofs-seed-app"]);
    }

    #[test]
    fn name_clashes_are_typed() {
        let p = pod(
            vec![container(ContainerList::Containers, 0, "app", &[])],
            &[("rofs", None)],
        );
        let s = Settings {
            writable: vec![wp("/data")],
            ..Settings::default()
        };
        let mut warnings = Vec::new();
        let at = Location::root();
        let req = Request {
            settings: &s,
            annotations: &Settings::default(),
            previous: &StatusAnnotation::default(),
            default_container: None,
            annotations_at: &at,
        };
        let e = plan(&p, &req, &mut warnings).expect_err("clash");
        assert_eq!(e.at.to_string(), "spec.volumes");
        assert_eq!(
            e.kind,
            ErrorKind::NameClash {
                name: "rofs".into(),
                clash: Clash::Volume
            }
        );
    }
}
