//! `rofs audit --cluster`: the live workloads and pods of a cluster, read through the current
//! kubeconfig with kube-rs (the choice of objects is rofs_audit::cluster's, pure and tested).
//!
//! Only `list` calls, one per kind (paged by 500), in the kubeconfig context's namespace,
//! `--namespace`'s, or every namespace (`--all-namespaces`). Errors (no kubeconfig, the API
//! server unreachable, RBAC forbidding a list) are input errors: exit 2 with the reason.

use std::fmt::Debug;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::{Client, Config, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Page size of the list calls.
const PAGE: u32 = 500;

#[derive(Debug, Args, Default)]
pub struct ClusterArgs {
    /// Audit the live workloads and pods of the cluster of the current kubeconfig context
    /// (KUBECONFIG, ~/.kube/config) instead of files: Deployments, StatefulSets, DaemonSets,
    /// CronJobs, and the ReplicaSets, Jobs and Pods no such object owns. Needs `list` on
    /// them (docs/audit.md has a ClusterRole).
    #[arg(long, conflicts_with_all = ["files", "filenames"])]
    pub cluster: bool,

    /// With --cluster: the namespace to audit (default: the kubeconfig context's, else
    /// `default`).
    #[arg(short = 'n', long, value_name = "NS", requires = "cluster")]
    pub namespace: Option<String>,

    /// With --cluster: every namespace.
    #[arg(short = 'A', long, requires = "cluster", conflicts_with = "namespace")]
    pub all_namespaces: bool,
}

/// What was read: the audit source name (`cluster://CONTEXT`) and its JSON stream.
pub struct Read {
    pub name: String,
    pub text: String,
}

/// Read the cluster's objects (see the module doc).
pub fn read(args: &ClusterArgs) -> Result<Read> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the Kubernetes client")?;
    runtime.block_on(read_async(args))
}

async fn read_async(args: &ClusterArgs) -> Result<Read> {
    let kubeconfig = kube::config::Kubeconfig::read().map_err(|e| {
        anyhow!(
            "--cluster: no kubeconfig ({e}); set KUBECONFIG or write ~/.kube/config \
             (kubectl config view shows what kubectl uses)"
        )
    })?;
    let context = kubeconfig
        .current_context
        .clone()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| anyhow!("--cluster: the kubeconfig has no current-context"))?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .map_err(|e| anyhow!("--cluster: kubeconfig context {context}: {e}"))?;
    let server = config.cluster_url.to_string();
    let namespace = match (&args.namespace, args.all_namespaces) {
        (_, true) => None,
        (Some(ns), false) => Some(ns.clone()),
        (None, false) => Some(config.default_namespace.clone()),
    };
    let client =
        Client::try_from(config).map_err(|e| anyhow!("--cluster: a client for {server}: {e}"))?;
    let at = Where {
        server: &server,
        context: &context,
        namespace: namespace.as_deref(),
    };
    let mut objects = Vec::new();
    list::<Deployment>(&client, &at, &mut objects).await?;
    list::<StatefulSet>(&client, &at, &mut objects).await?;
    list::<DaemonSet>(&client, &at, &mut objects).await?;
    list::<ReplicaSet>(&client, &at, &mut objects).await?;
    list::<CronJob>(&client, &at, &mut objects).await?;
    list::<Job>(&client, &at, &mut objects).await?;
    list::<Pod>(&client, &at, &mut objects).await?;
    let objects = rofs_audit::cluster::top_level(objects);
    Ok(Read {
        name: rofs_audit::cluster::source_name(&context),
        text: rofs_audit::cluster::to_stream(&objects),
    })
}

/// Where the lists are read, for messages.
struct Where<'a> {
    server: &'a str,
    context: &'a str,
    namespace: Option<&'a str>,
}

async fn list<K>(client: &Client, at: &Where<'_>, out: &mut Vec<Value>) -> Result<()>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + DeserializeOwned
        + Serialize,
{
    let api: Api<K> = match at.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let plural = K::plural(&());
    let mut params = ListParams::default().limit(PAGE);
    loop {
        let page = api
            .list(&params)
            .await
            .map_err(|e| list_error(e, &plural, at))?;
        for item in page.items {
            let mut v = serde_json::to_value(&item)
                .with_context(|| format!("--cluster: a {} as JSON", K::kind(&())))?;
            if let Some(o) = v.as_object_mut() {
                o.insert(
                    "apiVersion".into(),
                    Value::from(K::api_version(&()).as_ref()),
                );
                o.insert("kind".into(), Value::from(K::kind(&()).as_ref()));
            }
            out.push(v);
        }
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(()),
        }
    }
}

/// A list error in words: forbidden (with the RBAC needed), not reachable, or the API's.
fn list_error(e: kube::Error, plural: &str, at: &Where<'_>) -> anyhow::Error {
    let scope = match at.namespace {
        Some(ns) => format!("in namespace {ns}"),
        None => "in all namespaces".to_string(),
    };
    match e {
        kube::Error::Api(s) if s.code == 403 => anyhow!(
            "--cluster: forbidden to list {plural} {scope} (context {}): {}; rofs audit \
             --cluster needs get/list on deployments, statefulsets, daemonsets, replicasets, \
             jobs, cronjobs and pods (docs/audit.md has a ClusterRole)",
            at.context,
            s.message
        ),
        kube::Error::Api(s) if s.code == 401 => anyhow!(
            "--cluster: the API server at {} refused the kubeconfig's credentials (context {}): {}",
            at.server,
            at.context,
            s.message
        ),
        kube::Error::Api(s) => anyhow!(
            "--cluster: listing {plural} {scope}: {} ({} {})",
            s.message,
            s.code,
            s.reason
        ),
        other => anyhow!(
            "--cluster: cannot reach the API server at {} (context {}): {}",
            at.server,
            at.context,
            chain(&other)
        ),
    }
}

/// An error and its causes, `: `-joined (kube's own message alone says little).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}
