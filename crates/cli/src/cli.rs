//! The command line: every flag, with help that teaches.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use rofs_core::{AgentDelivery, Conflict, KubeVersion, Reload, Seeder};
use rofs_manifest::Format;

const ABOUT: &str = "Make any workload run with readOnlyRootFilesystem: true.";

const LONG_ABOUT: &str = "\
Make any workload run with readOnlyRootFilesystem: true.

rofs rewrites pod templates: every selected container gets a read-only root filesystem, an
emptyDir volume over each path it must write, and initContainers that copy the image's
original files into those volumes first (so the app still finds them).";

const AFTER_HELP: &str = "\
Examples:
  rofs patch --profile nginx examples/nginx/deployment.yaml
  rofs patch -w /var/lib/nginx -w /var/log/nginx -w /run:memory:1Mi:empty deploy.yaml -o fixed.yaml
  helm template my-chart | rofs patch --profile nginx
  kubectl rofs patch -f deploy.yaml          (with kubectl-rofs on PATH)

Reference of every flag, annotation and config key: docs/reference.md";

#[derive(Debug, Parser)]
#[command(
    name = "rofs",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    propagate_version = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Rewrite Kubernetes manifests so their containers run with a read-only root filesystem.
    #[command(after_help = PATCH_AFTER_HELP)]
    Patch(Box<PatchArgs>),
    /// Run as a kustomize plugin: a KRM function (ResourceList on stdin and stdout) or, given
    /// CONFIG, a kustomize exec plugin (the form `kubectl kustomize` can run).
    #[command(after_help = KRM_AFTER_HELP)]
    Krm {
        /// The plugin's config file (a RofsPatch). Given by kustomize when it runs rofs as an
        /// exec plugin; then stdin and stdout are plain manifest streams, not ResourceLists.
        #[arg(value_name = "CONFIG")]
        config: Option<PathBuf>,
    },
    /// Find containers that are not read-only (and what rofs would break or fix), each with
    /// the `rofs patch` command that resolves it.
    #[command(after_help = crate::audit::AUDIT_AFTER_HELP)]
    Audit(Box<crate::audit::AuditArgs>),
    /// List the catalog of profiles (image patterns, paths, where proven), or show one.
    #[command(after_help = crate::profiles::PROFILES_AFTER_HELP)]
    Profiles(crate::profiles::ProfilesArgs),
    /// Run an image, find the paths it writes, and prove them with a read-only run: prints
    /// the settings for `rofs patch`.
    #[command(after_help = crate::discover::DISCOVER_AFTER_HELP)]
    Discover(Box<crate::discover::DiscoverArgs>),
    /// (in the pod) Copy an image's files into writable volumes, exactly and safely.
    ///
    /// The same command as `rofs-agent seed`; see `rofs seed --help`.
    #[command(disable_help_flag = true)]
    Seed(AgentArgs),
    /// (in the pod) Keep writable copies of ConfigMap/Secret volumes in sync with their source.
    ///
    /// The same command as `rofs-agent sync`; see `rofs sync --help`.
    #[command(disable_help_flag = true)]
    Sync(AgentArgs),
    /// (in the pod) Copy the agent binary into a directory, atomically.
    ///
    /// The same command as `rofs-agent install`; see `rofs install --help`.
    #[command(disable_help_flag = true)]
    Install(AgentArgs),
    /// Serve the mutating admission webhook (HTTPS), or `rofs webhook certs` to make its
    /// certificates.
    #[command(after_help = crate::webhook::WEBHOOK_AFTER_HELP)]
    Webhook(Box<crate::webhook::WebhookArgs>),
}

/// The arguments of an agent command, handed to `rofs-agent` as they are (its own parser and
/// help apply, so `rofs seed` and `rofs-agent seed` cannot differ).
#[derive(Debug, Args)]
pub struct AgentArgs {
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Vec<OsString>,
}

const PATCH_AFTER_HELP: &str = "\
Input: files (multi-document YAML or JSON, `kind: List` too) or stdin (`-`, or no file).
Every kind that holds a pod template is rewritten: Pod, Deployment, StatefulSet, DaemonSet,
ReplicaSet, ReplicationController, Job, CronJob, PodTemplate. Everything else, and every field
rofs does not need to touch, passes through unchanged.

Settings also come from the workload's annotations (they win over flags):
  rofs.io/writable: \"/var/lib/nginx,/run:memory:1Mi:empty\"
  writable.rofs.io/<container>: \"/tmp:empty\"
  rofs.io/profile: nginx          profile.rofs.io/<container>: tomcat
  rofs.io/containers: app         rofs.io/seeder: shell       rofs.io/skip: \"true\"

Patching the output again changes nothing. Exit status: 0 ok, 1 bad input, 2 bad usage.

Examples:
  rofs patch --profile nginx deploy.yaml > fixed.yaml
  rofs patch -w /var/lib/nginx -w /run:memory:1Mi:empty -f deploy.yaml -o fixed.yaml
  rofs patch -w app=/tmp:empty --container app chart.yaml
  helm install web ./chart --post-renderer rofs --post-renderer-args patch \\
       --post-renderer-args --profile=nginx";

const KRM_AFTER_HELP: &str = "\
Settings come from the functionConfig (or CONFIG): either a `rofs.io/v1alpha1` object of kind
`RofsPatch` whose `spec` has the config-file keys (writable, profiles, perContainer,
containers, seeder, agentImage), or a ConfigMap whose `data` has the same keys as strings
(lists comma-separated).

Errors: exit status 1; as a KRM function the ResourceList on stdout also carries them as
`results` with severity error, and every error and warning is printed on stderr.

Installed under the name `rofs-krm`, rofs runs `rofs krm` (kustomize's exec functions take no
arguments); under the name `RofsPatch`, `rofs krm CONFIG` (kustomize's exec plugin layout).

Examples:
  kustomize build --enable-alpha-plugins --enable-exec examples/kustomize/function
  KUSTOMIZE_PLUGIN_HOME=$PWD/examples/kustomize/plugin \\
      kubectl kustomize --enable-alpha-plugins examples/kustomize
See docs/frontends.md.";

#[derive(Debug, Args)]
pub struct PatchArgs {
    /// Manifest files to patch (`-` for stdin). Without any, stdin is read.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// A manifest file to patch, like `kubectl -f`; repeatable.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub filenames: Vec<PathBuf>,

    /// Write the result to FILE (atomically: on error FILE is left untouched) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub settings: SettingsArgs,

    /// Output format. `auto`: JSON if every input is JSON, YAML otherwise.
    #[arg(long, default_value = "auto", value_parser = format_parser())]
    pub format: Format,

    /// Do not print warnings.
    #[arg(short, long)]
    pub quiet: bool,

    /// Threads that read and rewrite documents: 0 (default) one per core (at most 8), 1 one.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub jobs: usize,
}

/// The settings flags, shared by every command that rewrites pods.
#[derive(Debug, Args, Default)]
pub struct SettingsArgs {
    /// Make PATH writable: `[CONTAINER=]PATH[:memory][:SIZE][:empty]`; repeatable.
    ///
    /// `memory`: tmpfs (counts against the memory limit); SIZE: the emptyDir sizeLimit, e.g.
    /// 64Mi; `empty`: do not copy the image's files into it (for /tmp, /run). With
    /// `CONTAINER=`, only for that container.
    #[arg(short, long, value_name = "PATH")]
    pub writable: Vec<String>,

    /// Apply a profile of the catalog: `[CONTAINER=]NAME`; repeatable (`rofs profiles` lists
    /// them). `auto`: per container, the profiles whose image patterns match its image (a
    /// warning names a container no profile matches).
    #[arg(short, long, value_name = "NAME")]
    pub profile: Vec<String>,

    /// Only change the containers with this name; repeatable. Default: every container.
    #[arg(short, long = "container", value_name = "NAME")]
    pub containers: Vec<String>,

    /// Read settings from a YAML/JSON config file (flags are applied on top of it).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// How the image's files are copied: `agent` (static rofs agent, works without a shell)
    /// or `shell` (the image's own /bin/sh and cp -a).
    #[arg(long, value_name = "SEEDER")]
    pub seeder: Option<Seeder>,

    /// Image that provides the agent to the pod [default: the rofs image of this version].
    #[arg(long, value_name = "IMAGE", env = "ROFS_AGENT_IMAGE")]
    pub agent_image: Option<String>,

    /// How the agent reaches rofs's containers: `install` (the rofs-install initContainer) or
    /// `image-volume` (the agent image mounted as an `image` volume: one initContainer less;
    /// needs ImageVolume in the cluster and runtime) [default: image-volume with
    /// --kube-version 1.35 or later, else install].
    #[arg(long, value_name = "DELIVERY")]
    pub agent_delivery: Option<AgentDelivery>,

    /// Give the app a writable copy of this configMap/secret/projected volume (by volume
    /// name), kept in sync with its source by the rofs-sync sidecar; repeatable.
    #[arg(long = "writable-volume", value_name = "VOLUME")]
    pub writable_volumes: Vec<String>,

    /// After a sync, tell the app: `signal:HUP:nginx` (signal every process with that name;
    /// sets shareProcessNamespace) or `http://127.0.0.1:PORT/PATH` (POST).
    #[arg(long, value_name = "HOOK")]
    pub reload: Option<Reload>,

    /// When the app edited a synced file and the source changed too: `app` keeps the app's
    /// edit (default), `source` overwrites it.
    #[arg(long, value_name = "WINNER")]
    pub sync_conflict: Option<Conflict>,

    /// Kubernetes version of the cluster (MAJOR.MINOR). From 1.29 the sync sidecar is a
    /// native sidecar (initContainer with restartPolicy: Always), before a plain container.
    /// [default: 1.29]
    #[arg(long, value_name = "VERSION")]
    pub kube_version: Option<KubeVersion>,

    /// Add a `rofs.io/config-checksum` annotation to each pod template: a hash of the
    /// ConfigMaps and Secrets from the same input that it uses, so a change rolls the pods.
    #[arg(long)]
    pub rollout_on_change: bool,
}

/// `--format`: rofs-manifest's own type, with clap listing the values.
fn format_parser() -> impl TypedValueParser<Value = Format> {
    PossibleValuesParser::new(["auto", "yaml", "json"]).map(|s| match s.as_str() {
        "yaml" => Format::Yaml,
        "json" => Format::Json,
        _ => Format::Auto,
    })
}
