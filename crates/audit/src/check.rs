//! The checks of one workload: its pod template in, findings out (without their fix, which
//! is made per file, see [`crate::fix`]).

use rofs_core::pod::ContainerList;
use rofs_core::settings::{is_within, normalize_path};
use rofs_core::{Location, Settings, StatusAnnotation, workload};
use serde_json::{Map, Value};

use crate::known::{KnownPath, known_paths, profiles_for_image};
use crate::model::{ContainerType, Severity};
use crate::rules::{self, rule};
use crate::suppress::{Outcome, Suppressions};

/// What the webhook would do to a pod: `rofs audit --effective`.
pub struct Webhook<'a> {
    /// The webhook's settings for a pod (its config file's defaults and image profiles):
    /// `rofs_webhook::Config::settings_for`.
    pub settings_for: &'a (dyn Fn(&Value) -> Settings + Sync),
    /// `onInvalid: deny` (pods with invalid rofs annotations are denied).
    pub deny_invalid: bool,
}

/// The settings an audit works with.
pub struct Context<'a> {
    /// Writable paths the audit was told about (`--config`, `--profile`).
    pub given: &'a Settings,
    /// How messages name `given` (`--config discover.yaml`).
    pub given_origin: &'a str,
    pub webhook: Option<&'a Webhook<'a>>,
}

/// How a finding is resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remedy {
    /// Running the file's `rofs patch` command.
    Patch,
    /// Doing this first (rofs patch leaves it alone), then running the command.
    First(String),
    /// Doing this: `rofs patch` does not change it.
    Instead(String),
}

/// A finding before its fix and source are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raw {
    pub rule: &'static str,
    pub severity: Severity,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub container: Option<String>,
    pub container_type: Option<ContainerType>,
    pub field: Location,
    pub object: Location,
    pub message: String,
    pub suppressed: Option<crate::model::Suppression>,
    pub remedy: Remedy,
}

/// What the checks of one document found.
#[derive(Debug, Default)]
pub struct Checked {
    pub findings: Vec<Raw>,
    /// `(container, catalog entry)` for containers whose image the catalog matches while
    /// neither the settings nor the annotations name a profile: the fix adds `--profile auto`.
    pub image_profiles: Vec<(String, String)>,
    /// The workload says `rofs.io/skip: "true"`: rofs patch leaves it alone.
    pub skipped: bool,
}

/// Check one document (recursing into `kind: List`).
pub fn check_document(doc: &Value, ctx: &Context<'_>) -> Checked {
    let mut out = Checked::default();
    check_at(doc, &Location::root(), ctx, &mut out);
    out
}

fn check_at(doc: &Value, at: &Location, ctx: &Context<'_>, out: &mut Checked) {
    if workload::is_list(doc) {
        for (i, item) in doc
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            check_at(item, &at.key("items").index(i), ctx, out);
        }
        return;
    }
    let Some((api_version, kind)) = workload::type_meta(doc) else {
        return;
    };
    let Some(path) = workload::pod_template_path(api_version, kind) else {
        return;
    };
    Workload::new(doc, at, kind, path, ctx, out).check();
}

/// Everything a workload's checks share.
struct Workload<'a, 'o> {
    doc: &'a Value,
    kind: String,
    namespace: Option<String>,
    name: String,
    /// The document's place (inside a List: `items[i]`).
    at: Location,
    template_path: &'static [&'static str],
    /// The pod template's place.
    tpl_at: Location,
    ctx: &'a Context<'a>,
    suppressions: Suppressions,
    out: &'o mut Checked,
}

fn str_at<'v>(v: &'v Value, pointer: &str) -> Option<&'v str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn annotations_of(v: Option<&Value>) -> Option<&Map<String, Value>> {
    v.and_then(|v| v.get("metadata"))
        .and_then(|m| m.get("annotations"))
        .and_then(Value::as_object)
}

impl<'a, 'o> Workload<'a, 'o> {
    fn new(
        doc: &'a Value,
        at: &Location,
        kind: &str,
        template_path: &'static [&'static str],
        ctx: &'a Context<'a>,
        out: &'o mut Checked,
    ) -> Self {
        let name = match (
            str_at(doc, "/metadata/name"),
            str_at(doc, "/metadata/generateName"),
        ) {
            (Some(n), _) => n.to_string(),
            (None, Some(g)) => format!("{g}*"),
            _ => String::new(),
        };
        let mut tpl_at = at.clone();
        for k in template_path {
            tpl_at = tpl_at.key(k);
        }
        let template = template_of(doc, template_path);
        let workload_annotations = if template_path.is_empty() {
            None
        } else {
            annotations_of(Some(doc))
        };
        Workload {
            doc,
            kind: kind.to_string(),
            namespace: str_at(doc, "/metadata/namespace").map(String::from),
            name,
            at: at.clone(),
            template_path,
            tpl_at,
            ctx,
            suppressions: Suppressions::read(workload_annotations, annotations_of(template)),
            out,
        }
    }

    fn workload_name(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        rule_id: &'static str,
        container: Option<(&str, ContainerType)>,
        field: Location,
        object: Location,
        message: String,
        remedy: Remedy,
    ) {
        let severity = rule(rule_id).map_or(Severity::High, |r| r.severity);
        let mut message = format!("{}: {message}", self.workload_name());
        let suppressed = match self.suppressions.find(rule_id, container.map(|c| c.0)) {
            Outcome::None => None,
            Outcome::Suppressed(s) => Some(s),
            Outcome::NoReason(key) => {
                message.push_str(&format!(
                    " (annotation {key} gives no reason, so it suppresses nothing)"
                ));
                None
            }
        };
        self.out.findings.push(Raw {
            rule: rule_id,
            severity,
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            container: container.map(|c| c.0.to_string()),
            container_type: container.map(|c| c.1),
            field,
            object,
            message,
            suppressed,
            remedy,
        });
    }

    fn check(mut self) {
        let Some(template) = template_of(self.doc, self.template_path) else {
            let kind = self.kind.clone();
            let at = self.tpl_at.clone();
            self.push(
                rules::INVALID_SETTINGS,
                None,
                at.clone(),
                self.at.clone(),
                format!("rofs cannot patch it: {at}: a {kind} needs a pod template here"),
                Remedy::Instead(format!("give the {kind} a pod template at {at}")),
            );
            return;
        };
        // The workload's own rofs annotations (the template's win), as rofs patch reads them.
        let mut all = if self.template_path.is_empty() {
            Map::new()
        } else {
            annotations_of(Some(self.doc)).cloned().unwrap_or_default()
        };
        all.extend(annotations_of(Some(template)).cloned().unwrap_or_default());
        let parsed = rofs_core::annotations::parse(&all);
        self.out.skipped |= parsed.as_ref().is_ok_and(|a| a.skip);
        let annotation_settings = parsed.map(|a| a.settings).unwrap_or_default();

        let effective = match self.ctx.webhook {
            Some(w) => self.webhook_view(template, w),
            None => {
                self.rofs_view(template);
                None
            }
        };
        let view = effective.as_ref().unwrap_or(template);
        let Some(spec) = view.get("spec").filter(|s| s.is_object()) else {
            return;
        };
        let Some(original_spec) = template.get("spec") else {
            return;
        };
        let pod = PodView {
            spec,
            original: original_spec,
            spec_at: self.tpl_at.key("spec"),
        };
        let status = pod_status(annotations_of(Some(view)));
        self.check_containers(&pod, &annotation_settings, &status);
        self.check_volumes(&pod);
    }

    /// Without `--effective`: can rofs patch the workload, and is what it patched up to date?
    fn rofs_view(&mut self, template: &Value) {
        let has_rofs_keys = annotations_of(Some(template))
            .into_iter()
            .chain(annotations_of(Some(self.doc)))
            .flat_map(|m| m.keys())
            .any(|k| {
                k.starts_with("rofs.io/")
                    || k.starts_with(rofs_core::annotations::WRITABLE_PREFIX)
                    || k.starts_with(rofs_core::annotations::PROFILE_PREFIX)
            });
        let result = if has_rofs_keys {
            // Patched again with the settings its status shows (what flags gave it then), does
            // rofs inject something else? Only the status is compared: flags it does not
            // record (agent image, reload hook) would otherwise look like a change.
            let before = pod_status(annotations_of(Some(template)));
            let mut copy = self.doc.clone();
            let settings = settings_from_status(template, &before);
            rofs_core::rewrite_document(&mut copy, &settings)
                .map(|_| {
                    let after = template_of(&copy, self.template_path)
                        .map(|t| pod_status(annotations_of(Some(t))))
                        .unwrap_or_default();
                    !same_injection(&before, &after)
                })
                .map_err(|e| e.within(&self.at))
        } else {
            // Only what the rewrite refuses in any pod (not a list, unnamed containers...).
            let at = self.tpl_at.key("spec");
            match template.get("spec").and_then(Value::as_object) {
                Some(spec) => rofs_core::pod::Pod::read(spec, &at).map(|_| false),
                None => Err(rofs_core::RewriteError::new(
                    at,
                    rofs_core::ErrorKind::MissingSpec,
                )),
            }
        };
        let status_at = self
            .tpl_at
            .key("metadata")
            .key("annotations")
            .key(rofs_core::annotations::STATUS);
        match result {
            Err(e) => self.push(
                rules::INVALID_SETTINGS,
                None,
                e.at.clone(),
                self.tpl_at.clone(),
                format!("rofs cannot patch it: {e}"),
                Remedy::Instead("correct what the message names (docs/reference.md)".into()),
            ),
            // Changed without a status: never patched (the container rules say what is
            // missing); with one: what rofs patched is out of date.
            Ok(true) if pod_status_present(template) => {
                let object = self.tpl_at.key("metadata").key("annotations");
                self.push(
                    rules::STALE_STATUS,
                    None,
                    status_at,
                    object,
                    "rofs patched it (rofs.io/status), but its settings changed since: \
                     rofs patch would change it again"
                        .into(),
                    Remedy::Patch,
                )
            }
            Ok(_) => {}
        }
    }

    /// With `--effective`: the pod as the webhook admits it (`None`: unchanged).
    fn webhook_view(&mut self, template: &Value, w: &Webhook<'_>) -> Option<Value> {
        let mut after = template.clone();
        let settings = (w.settings_for)(&after);
        match rofs_core::rewrite_pod_template(&mut after, &self.tpl_at, None, &settings) {
            Ok(_) => Some(after),
            Err(e) => {
                let what = if w.deny_invalid {
                    "the rofs webhook denies its pods"
                } else {
                    "the rofs webhook admits its pods unchanged"
                };
                self.push(
                    rules::INVALID_SETTINGS,
                    None,
                    e.at.clone(),
                    self.tpl_at.clone(),
                    format!("{what}: {e}"),
                    Remedy::Instead("correct what the message names (docs/reference.md)".into()),
                );
                None
            }
        }
    }

    fn check_containers(
        &mut self,
        pod: &PodView<'_>,
        annotations: &Settings,
        status: &StatusAnnotation,
    ) {
        let pod_level = pod
            .spec
            .pointer("/securityContext/readOnlyRootFilesystem")
            .is_some();
        for (list_key, list) in [
            ("containers", Some(ContainerList::Containers)),
            ("initContainers", Some(ContainerList::InitContainers)),
            ("ephemeralContainers", None),
        ] {
            let items = pod.spec.get(list_key).and_then(Value::as_array);
            for (index, c) in items.into_iter().flatten().enumerate() {
                let Some(name) = c.get("name").and_then(Value::as_str) else {
                    continue;
                };
                let ctype = match list {
                    Some(ContainerList::Containers) => ContainerType::Container,
                    Some(ContainerList::InitContainers)
                        if c.get("restartPolicy").and_then(Value::as_str) == Some("Always") =>
                    {
                        ContainerType::Sidecar
                    }
                    Some(ContainerList::InitContainers) => ContainerType::InitContainer,
                    None => ContainerType::Ephemeral,
                };
                let c_at = pod.container_at(list_key, name, index);
                self.check_container(pod, c, name, ctype, &c_at, pod_level, annotations, status);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn check_container(
        &mut self,
        pod: &PodView<'_>,
        c: &Value,
        name: &str,
        ctype: ContainerType,
        c_at: &Location,
        pod_level: bool,
        annotations: &Settings,
        status: &StatusAnnotation,
    ) {
        let read_only =
            c.pointer("/securityContext/readOnlyRootFilesystem") == Some(&Value::Bool(true));
        let image = c.get("image").and_then(Value::as_str);
        let init = ctype == ContainerType::InitContainer;
        let what = match ctype {
            ContainerType::Container => "container",
            ContainerType::InitContainer => "initContainer",
            ContainerType::Sidecar => "native sidecar",
            ContainerType::Ephemeral => "ephemeral container",
        };
        let known = known_paths(
            name,
            image,
            init,
            self.ctx.given,
            self.ctx.given_origin,
            annotations,
        );
        if !read_only {
            let field = c_at.key("securityContext").key("readOnlyRootFilesystem");
            let state = match c.pointer("/securityContext/readOnlyRootFilesystem") {
                Some(Value::Bool(false)) => "is false",
                None => "is not set",
                Some(_) => "is not the boolean true",
            };
            let mut message =
                format!("{what} {name:?}: {field} {state}, so its root filesystem is writable");
            if pod_level {
                message.push_str(&format!(
                    "; {}.securityContext.readOnlyRootFilesystem is set, but Kubernetes has no \
                     pod-level readOnlyRootFilesystem (PodSecurityContext has no such field: strict validation \
                     refuses it, otherwise the API server drops it): only each container's securityContext counts",
                    pod.spec_at
                ));
            }
            // rofs patch makes it read-only whatever it knows; say when it knows no path.
            if known.is_empty() && ctype != ContainerType::Ephemeral {
                let image = image.unwrap_or("?");
                message.push_str(&format!(
                    "; rofs knows no path image {image:?} writes: if the app writes files, find \
                     them with `rofs discover {image}` before patching (and audit with --config)"
                ));
            }
            let (rule_id, remedy) = match ctype {
                ContainerType::Container | ContainerType::Sidecar => {
                    (rules::CONTAINER_WRITABLE_ROOT, Remedy::Patch)
                }
                ContainerType::InitContainer => {
                    (rules::INIT_CONTAINER_WRITABLE_ROOT, Remedy::Patch)
                }
                ContainerType::Ephemeral => (
                    rules::EPHEMERAL_WRITABLE_ROOT,
                    Remedy::Instead(
                        "give the debug container securityContext.readOnlyRootFilesystem: true \
                         (kubectl debug --custom=FILE); rofs does not rewrite ephemeral containers"
                            .to_string(),
                    ),
                ),
            };
            let object = c_at.clone();
            self.push(rule_id, Some((name, ctype)), field, object, message, remedy);
        }
        // rofs's own containers (listed in the status) run rofs, not the app.
        let own = status
            .init_containers
            .iter()
            .chain(&status.containers)
            .any(|n| n == name);
        if ctype == ContainerType::Ephemeral || own {
            return;
        }
        // Containers whose image the catalog knows, when nothing names a profile for them:
        // the fix command adds `--profile auto`.
        if !init
            && !status.writable.contains_key(name)
            && self.ctx.given.profiles.is_empty()
            && annotations.profiles.is_empty()
            && !self.ctx.given.per_container.contains_key(name)
            && !annotations.per_container.contains_key(name)
        {
            for e in image.map(profiles_for_image).unwrap_or_default() {
                let entry = (name.to_string(), e.name.clone());
                if !self.out.image_profiles.contains(&entry) {
                    self.out.image_profiles.push(entry);
                }
            }
        }
        let mounts = mounts_of(c);
        if read_only {
            for k in &known {
                self.check_path_has_volume(c_at, name, ctype, k, &mounts);
            }
        }
        for m in &mounts {
            let Some(volume) = m.volume.and_then(|v| pod.volume(v)) else {
                continue;
            };
            let m_at = c_at.key("volumeMounts").index(m.index);
            if volume.get("emptyDir").is_some() {
                for k in known.iter().filter(|k| k.path.seed) {
                    self.check_seeded(pod, name, ctype, &m_at, m, k, status);
                }
            }
            if let Some(host) = volume.get("hostPath") {
                self.check_host_path(name, ctype, &m_at, m, host);
            }
        }
    }

    fn check_path_has_volume(
        &mut self,
        c_at: &Location,
        name: &str,
        ctype: ContainerType,
        k: &KnownPath,
        mounts: &[MountView<'_>],
    ) {
        if mounts.iter().any(|m| is_within(&k.path.path, &m.path)) {
            return;
        }
        let field = c_at.key("volumeMounts");
        let message = format!(
            "container {name:?} is read-only and has no volume at {} (a path its app writes, \
             from {}): the app fails with \"Read-only file system\" when it writes there",
            k.path.path, k.origin
        );
        self.push(
            rules::PATH_WITHOUT_VOLUME,
            Some((name, ctype)),
            field,
            c_at.clone(),
            message,
            Remedy::Patch,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn check_seeded(
        &mut self,
        pod: &PodView<'_>,
        name: &str,
        ctype: ContainerType,
        m_at: &Location,
        m: &MountView<'_>,
        k: &KnownPath,
        status: &StatusAnnotation,
    ) {
        // The emptyDir hides the image's files of a seed path when it is mounted at that path
        // or above it.
        if !is_within(&k.path.path, &m.path) {
            return;
        }
        // rofs seeds it (the status lists the path as seeded for this container)...
        let by_rofs = status
            .writable
            .get(name)
            .is_some_and(|paths| paths.iter().any(|p| p.path == m.path && p.seed));
        // ...or an initContainer of the pod fills the same volume (a hand-made seed).
        let by_init = pod
            .spec
            .get("initContainers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|c| c.get("name").and_then(Value::as_str) != Some(name))
            .any(|c| mounts_of(c).iter().any(|cm| cm.volume == m.volume));
        if by_rofs || by_init {
            return;
        }
        let volume = m.volume.unwrap_or_default();
        let message = format!(
            "container {name:?} mounts emptyDir {volume:?} at {}, over the image's files at {} \
             (a path with content the app needs, from {}), and nothing copies them into it: \
             the app finds it empty",
            m.path, k.path.path, k.origin
        );
        self.push(
            rules::UNSEEDED_EMPTY_DIR,
            Some((name, ctype)),
            m_at.clone(),
            m_at.clone(),
            message,
            Remedy::First(format!(
                "remove the volume {volume:?} and its mount at {}",
                m.path
            )),
        );
    }

    fn check_host_path(
        &mut self,
        name: &str,
        ctype: ContainerType,
        m_at: &Location,
        m: &MountView<'_>,
        host: &Value,
    ) {
        if m.read_only {
            return;
        }
        let host_path = host.get("path").and_then(Value::as_str).unwrap_or("?");
        let volume = m.volume.unwrap_or_default();
        let message = format!(
            "container {name:?} mounts hostPath volume {volume:?} (the node's {host_path}) at {} \
             without readOnly: true: it writes to the node's filesystem",
            m.path
        );
        self.push(
            rules::WRITABLE_HOST_PATH,
            Some((name, ctype)),
            m_at.key("readOnly"),
            m_at.clone(),
            message,
            Remedy::Instead(format!(
                "set {m_at}.readOnly: true; or, for data that need not outlive the pod, replace \
                 the hostPath volume {volume:?} with an emptyDir (remove it, then rofs patch -w \
                 {}), or use a PersistentVolumeClaim",
                m.path
            )),
        );
    }

    fn check_volumes(&mut self, pod: &PodView<'_>) {
        let volumes = pod.spec.get("volumes").and_then(Value::as_array);
        for v in volumes.into_iter().flatten() {
            let Some(name) = v.get("name").and_then(Value::as_str) else {
                continue;
            };
            let Some(empty) = v.get("emptyDir") else {
                continue;
            };
            let memory = empty.get("medium").and_then(Value::as_str) == Some("Memory");
            let sized = empty.get("sizeLimit").is_some_and(|s| !s.is_null());
            if !memory || sized {
                continue;
            }
            let v_at = pod.volume_at(name);
            let users = pod.users_of(name);
            let message = format!(
                "emptyDir {name:?} has medium: Memory and no sizeLimit{}: what is written there \
                 counts against memory without a bound of its own",
                if users.is_empty() {
                    String::new()
                } else {
                    format!(" (mounted by {})", users.join(", "))
                }
            );
            self.push(
                rules::MEMORY_WITHOUT_LIMIT,
                None,
                v_at.key("emptyDir").key("sizeLimit"),
                v_at.clone(),
                message,
                Remedy::Instead(format!(
                    "set {v_at}.emptyDir.sizeLimit (e.g. 64Mi); with rofs: -w PATH:memory:SIZE"
                )),
            );
        }
    }
}

fn template_of<'v>(doc: &'v Value, path: &[&str]) -> Option<&'v Value> {
    let mut v = doc;
    for k in path {
        v = v.get(*k)?;
    }
    v.is_object().then_some(v)
}

/// The settings a patched template was patched with, as far as its status and rofs's own
/// containers show them: the writable copies of volumes, the Kubernetes version (a `rofs-sync`
/// app container: before 1.29), the seeder (a seed container running the shell).
fn settings_from_status(template: &Value, status: &StatusAnnotation) -> Settings {
    let mut s = Settings {
        writable_volumes: status.writable_volumes.keys().cloned().collect(),
        ..Settings::default()
    };
    if status
        .containers
        .iter()
        .any(|c| c == rofs_core::names::SYNC_CONTAINER)
    {
        s.kube_version = "1.28".parse().ok();
    }
    let shell_seed = template
        .pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| {
            c.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| status.init_containers.iter().any(|i| i == n))
        })
        .any(|c| c.pointer("/command/0").and_then(Value::as_str) == Some("/bin/sh"));
    if shell_seed {
        s.seeder = Some(rofs_core::Seeder::Shell);
    }
    s
}

/// The same containers, volumes, paths and copies injected (`shareProcessNamespace` comes
/// from a reload hook, which the status does not record).
fn same_injection(a: &StatusAnnotation, b: &StatusAnnotation) -> bool {
    a.init_containers == b.init_containers
        && a.containers == b.containers
        && a.volumes == b.volumes
        && a.writable == b.writable
        && a.writable_volumes == b.writable_volumes
}

/// The template carries `rofs.io/status` (rofs patched it).
fn pod_status_present(template: &Value) -> bool {
    annotations_of(Some(template)).is_some_and(|a| a.contains_key(rofs_core::annotations::STATUS))
}

/// The status rofs recorded in the template (default when none or unreadable).
fn pod_status(annotations: Option<&Map<String, Value>>) -> StatusAnnotation {
    annotations
        .and_then(|a| a.get(rofs_core::annotations::STATUS))
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default()
}

/// A container's mount.
#[derive(Debug)]
struct MountView<'v> {
    index: usize,
    volume: Option<&'v str>,
    /// Normalized.
    path: String,
    read_only: bool,
}

fn mounts_of(c: &Value) -> Vec<MountView<'_>> {
    c.get("volumeMounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(index, m)| {
            let path = m.get("mountPath").and_then(Value::as_str)?;
            Some(MountView {
                index,
                volume: m.get("name").and_then(Value::as_str),
                path: normalize_path(path).unwrap_or_else(|_| path.to_string()),
                read_only: m.get("readOnly") == Some(&Value::Bool(true)),
            })
        })
        .collect()
}

/// The pod spec the checks read (the webhook's result with `--effective`) and the one in the
/// document, which locations point into.
struct PodView<'v> {
    spec: &'v Value,
    original: &'v Value,
    spec_at: Location,
}

impl PodView<'_> {
    /// The place of container `name` of `list` in the document: its index there (the webhook
    /// puts its own initContainers first, so indices of the view may differ).
    fn container_at(&self, list: &str, name: &str, view_index: usize) -> Location {
        let index = self
            .original
            .get(list)
            .and_then(Value::as_array)
            .and_then(|l| {
                l.iter()
                    .position(|c| c.get("name").and_then(Value::as_str) == Some(name))
            })
            .unwrap_or(view_index);
        self.spec_at.key(list).index(index)
    }

    fn volume(&self, name: &str) -> Option<&Value> {
        self.spec
            .get("volumes")
            .and_then(Value::as_array)?
            .iter()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(name))
    }

    fn volume_at(&self, name: &str) -> Location {
        let find = |spec: &Value| {
            spec.get("volumes").and_then(Value::as_array).and_then(|l| {
                l.iter()
                    .position(|v| v.get("name").and_then(Value::as_str) == Some(name))
            })
        };
        let index = find(self.original).or_else(|| find(self.spec)).unwrap_or(0);
        self.spec_at.key("volumes").index(index)
    }

    /// The containers that mount volume `name`, quoted.
    fn users_of(&self, name: &str) -> Vec<String> {
        rofs_core::pod::containers(self.spec)
            .filter(|(_, _, c)| mounts_of(c).iter().any(|m| m.volume == Some(name)))
            .filter_map(|(_, _, c)| c.get("name").and_then(Value::as_str))
            .map(|n| format!("{n:?}"))
            .collect()
    }
}
