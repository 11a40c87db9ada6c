//! `rofs krm`: rofs as a kustomize plugin, in the two forms kustomize can execute.
//!
//! - KRM exec function (`rofs krm`, no argument): a ResourceList on stdin, the patched
//!   ResourceList on stdout, with `results`. Spec:
//!   https://github.com/kubernetes-sigs/kustomize/blob/master/cmd/config/docs/api-conventions/functions-spec.md
//!   Runners: `kustomize build --enable-alpha-plugins --enable-exec`, `kpt fn eval --exec`.
//!   `kubectl kustomize` has no `--enable-exec` and silently skips exec functions.
//! - Exec plugin (`rofs krm CONFIG`): kustomize passes the plugin's config file as the first
//!   argument and the resources as a plain YAML stream on stdin, and reads the transformed
//!   stream on stdout. This is the form `kubectl kustomize --enable-alpha-plugins` runs.
//!
//! Both read the same RofsPatch config and end in the same core rewrite as `rofs patch`.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use rofs_core::Settings;
use serde_json::{Value, json};

use crate::output;

/// Read the functionConfig into settings: `kind: RofsPatch` with a `spec`, or a ConfigMap.
pub fn settings_from_function_config(config: Option<&Value>) -> Result<Settings> {
    let Some(config) = config.filter(|c| !c.is_null()) else {
        return Ok(Settings::default());
    };
    let kind = config
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let keys = match kind {
        "RofsPatch" => match config.get("spec") {
            None | Some(Value::Null) => serde_json::Map::new(),
            Some(Value::Object(spec)) => spec.clone(),
            Some(_) => bail!("functionConfig.spec: expected a map of settings"),
        },
        "ConfigMap" => from_config_map(config.get("data"))?,
        other => bail!(
            "functionConfig: expected kind RofsPatch (apiVersion rofs.io/v1alpha1) or ConfigMap, found {other:?}"
        ),
    };
    // The config-file schema, read as every front end reads it.
    let what = if kind == "RofsPatch" {
        "functionConfig.spec"
    } else {
        "functionConfig.data"
    };
    Settings::from_config(keys).map_err(|e| anyhow!("{what}: {e}"))
}

/// The ConfigMap form: the config-file keys, with string values (lists comma-separated,
/// booleans "true"/"false"), and `writable.<container>` / `profiles.<container>` keys.
fn from_config_map(data: Option<&Value>) -> Result<serde_json::Map<String, Value>> {
    const LISTS: [&str; 4] = ["writable", "profiles", "containers", "writableVolumes"];
    const BOOLS: [&str; 1] = ["rolloutOnChange"];
    let Some(data) = data.and_then(Value::as_object) else {
        return Ok(serde_json::Map::new());
    };
    let list = |text: &str| -> Value {
        rofs_core::settings::split_list(text)
            .map(|s| Value::String(s.to_string()))
            .collect()
    };
    let mut spec = serde_json::Map::new();
    let mut per_container = serde_json::Map::new();
    for (key, value) in data {
        let text = value
            .as_str()
            .ok_or_else(|| anyhow!("functionConfig.data.{key}: must be a string"))?;
        if let Some((field @ ("writable" | "profiles"), container)) = key.split_once('.') {
            let entry = per_container
                .entry(container.to_string())
                .or_insert_with(|| json!({}));
            entry[field] = list(text);
        } else if LISTS.contains(&key.as_str()) {
            spec.insert(key.clone(), list(text));
        } else if BOOLS.contains(&key.as_str()) {
            let b = match text.trim() {
                "true" => true,
                "false" => false,
                other => bail!(
                    "functionConfig.data.{key}: expected \"true\" or \"false\", found {other:?}"
                ),
            };
            spec.insert(key.clone(), Value::Bool(b));
        } else {
            spec.insert(key.clone(), Value::String(text.trim().to_string()));
        }
    }
    if !per_container.is_empty() {
        spec.insert("perContainer".into(), Value::Object(per_container));
    }
    Ok(spec)
}

fn result(severity: &str, message: String, item: Option<&Value>) -> Value {
    let mut r = json!({"message": message, "severity": severity});
    if let Some(item) = item {
        let meta = item.get("metadata");
        let mut reference = json!({
            "apiVersion": item.get("apiVersion").cloned().unwrap_or(Value::Null),
            "kind": item.get("kind").cloned().unwrap_or(Value::Null),
            "name": meta.and_then(|m| m.get("name")).cloned().unwrap_or(Value::Null),
        });
        if let Some(ns) = meta.and_then(|m| m.get("namespace")) {
            reference["namespace"] = ns.clone();
        }
        r["resourceRef"] = reference;
    }
    r
}

/// Run the function: returns the output ResourceList and whether it failed.
pub fn process(input: &str) -> Result<(Value, bool)> {
    let mut list = rofs_manifest::yaml::from_str(input).map_err(|e| {
        anyhow!(
            "ResourceList on stdin{}: {}",
            e.line.map(|l| format!(", line {l}")).unwrap_or_default(),
            e.message
        )
    })?;
    if list.get("kind").and_then(Value::as_str) != Some("ResourceList") {
        bail!(
            "stdin: expected a ResourceList (config.kubernetes.io/v1), as kustomize sends to KRM functions"
        );
    }
    let mut results = Vec::new();
    let mut failed = false;
    match settings_from_function_config(list.get("functionConfig")) {
        Err(e) => {
            failed = true;
            results.push(result("error", format!("{e:#}"), None));
        }
        Ok(settings) => {
            let mut seen = std::collections::BTreeSet::new();
            let mut volumes = std::collections::BTreeSet::new();
            if let Some(items) = list.get_mut("items").and_then(Value::as_array_mut) {
                let mut configs = rofs_manifest::checksum::Index::new();
                if settings.rollout_on_change {
                    for item in items.iter() {
                        rofs_manifest::checksum::index(item, &mut configs);
                    }
                }
                for item in items.iter_mut() {
                    // Each item is one object for the API server: the object size limit.
                    if let Err(e) = rofs_manifest::check_object_size(item, usize::MAX, false) {
                        failed = true;
                        results.push(result("error", e, Some(item)));
                        continue;
                    }
                    let before = item.clone();
                    match rofs_manifest::rewrite_any(item, &settings) {
                        Ok(outcome) => {
                            if settings.rollout_on_change {
                                rofs_manifest::checksum::apply(item, &configs);
                            }
                            seen.extend(outcome.containers);
                            volumes.extend(outcome.volumes);
                            for w in outcome.warnings {
                                results.push(result("warning", w, Some(item)));
                            }
                        }
                        Err(e) => {
                            failed = true;
                            results.push(result("error", e.to_string(), Some(&before)));
                        }
                    }
                }
            }
            for unknown in settings.unknown_names(&seen, &volumes) {
                failed = true;
                results.push(result("error", format!("functionConfig: {unknown}"), None));
            }
        }
    }
    if !results.is_empty() {
        list["results"] = Value::Array(results);
    }
    Ok((list, failed))
}

/// One result as a line for stderr: `Deployment default/web: message`.
fn describe_result(r: &Value) -> String {
    let message = r.get("message").and_then(Value::as_str).unwrap_or_default();
    let Some(reference) = r.get("resourceRef") else {
        return message.to_string();
    };
    let field = |k: &str| reference.get(k).and_then(Value::as_str).unwrap_or_default();
    let name = match field("namespace") {
        "" => field("name").to_string(),
        ns => format!("{ns}/{}", field("name")),
    };
    format!("{} {name}: {message}", field("kind"))
}

fn read_stdin(what: &str) -> Result<String> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .with_context(|| format!("reading {what} from stdin"))?;
    Ok(input)
}

/// Run as a KRM function (no `config`) or as a kustomize exec plugin (`config` given).
/// Returns whether the run succeeded; errors and warnings also go to stderr, because
/// kustomize drops a failed function's stdout and only shows what it wrote on stderr.
pub fn run(config: Option<&Path>) -> Result<bool> {
    if let Some(config) = config {
        return run_exec_plugin(config);
    }
    let input = read_stdin("the ResourceList")?;
    // On a thread with the stack for deeply nested documents.
    let (list, failed, text) = rofs_manifest::with_stack(|| -> Result<_> {
        let (list, failed) = process(&input)?;
        let text = rofs_manifest::yaml::to_string(&list)
            .map_err(|e| anyhow!("writing the ResourceList: {e}"))?;
        Ok((list, failed, text))
    })?;
    for r in list
        .get("results")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let severity = r.get("severity").and_then(Value::as_str).unwrap_or("info");
        eprintln!("rofs: {severity}: {}", describe_result(r));
    }
    output::write_stdout(text.as_bytes())?;
    Ok(!failed)
}

/// The exec plugin protocol: CONFIG is the RofsPatch file, stdin and stdout plain streams.
fn run_exec_plugin(config: &Path) -> Result<bool> {
    let name = config.display();
    let text =
        std::fs::read_to_string(config).with_context(|| format!("reading plugin config {name}"))?;
    let value = rofs_manifest::yaml::from_str(&text).map_err(|e| {
        anyhow!(
            "plugin config {name}{}: {}",
            e.line.map(|l| format!(", line {l}")).unwrap_or_default(),
            e.message
        )
    })?;
    // kustomize hands us a temporary copy: name the config by what the user wrote instead.
    let label = match (
        value.get("kind").and_then(Value::as_str),
        value.pointer("/metadata/name").and_then(Value::as_str),
    ) {
        (Some(kind), Some(n)) => format!("{kind} {n:?}"),
        _ => format!("plugin config {name}"),
    };
    let settings = settings_from_function_config(Some(&value))
        .map_err(|e| anyhow!("{e:#}").context(label.clone()))?;
    let input = read_stdin("the resources")?;
    let inputs = [rofs_manifest::Input {
        name: "<stdin>",
        text: &input,
    }];
    let patched = rofs_manifest::patch(&inputs, &settings, rofs_manifest::Format::Yaml)?;
    crate::settings::check_names(&settings, &patched.containers, &patched.volumes, &label)?;
    for w in &patched.warnings {
        eprintln!("rofs: warning: {w}");
    }
    output::write_stdout(patched.output.as_bytes())?;
    Ok(true)
}
