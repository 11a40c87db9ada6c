//! `rofs audit --format sarif`: the report as a SARIF 2.1.0 log (OASIS, errata01), for code
//! scanning (GitHub, GitLab, Azure DevOps, IDE viewers).
//!
//! What each result carries (docs/audit.md, "SARIF"):
//! - `locations[0].physicalLocation`: the file and the exact region ([`crate::positions`]):
//!   the field when the document has it, else the container's (or volume's) list item from
//!   its `-`. A document rendered by Helm (`# Source:` comment) points at its template file
//!   when that file is found under a template root (`--chart-root`, the working directory)
//!   and the container recognised in it; the rendered region then is a `relatedLocation`.
//!   Otherwise the rendered stream's region, and `properties.regionIn` says which;
//! - `logicalLocations`: the workload and container (`namespace/Kind/name/container`);
//! - `partialFingerprints["rofsFinding/v1"]`: SHA-256 of rule, kind, namespace, name, the
//!   container's list and name, and the field below the container. No line number, no list
//!   index: moving a container or a document keeps the fingerprint;
//! - `fixes`: the document as `rofs patch` writes it, replacing the document's region;
//! - `suppressions`: `inSource`, the `rofs.io/audit-ignore` annotation's reason.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::cluster::is_cluster_source;
use crate::model::{ContainerType, Document, Finding, Report, Rule, Severity};
use crate::positions::{self, DocTree, Region};
use crate::rules::RULES;

/// The schema a log names in `$schema`: the OASIS SARIF 2.1.0 schema (errata01).
pub const SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// Where rule help lives (`helpUri`): docs/audit.md, one anchor per rule.
pub const HELP_BASE: &str = "https://github.com/rofs-dev/rofs/blob/main/docs/audit.md";

/// The key of rofs's fingerprint in `partialFingerprints` (versioned: a change of what is
/// hashed gets a new key, so old alerts are not matched wrongly).
pub const FINGERPRINT_KEY: &str = "rofsFinding/v1";

/// What the log says about the run, and where Helm templates are looked for.
#[derive(Debug, Clone, Default)]
pub struct SarifOptions {
    /// rofs's version (`tool.driver.semanticVersion`).
    pub version: String,
    /// The exit code rofs ends with, and why (`invocations[0]`).
    pub exit_code: i32,
    pub exit_code_description: String,
    /// Directories a `# Source: CHART/templates/x.yaml` path is tried under (`--chart-root`,
    /// then the working directory). Empty: the rendered stream's regions only.
    pub template_roots: Vec<PathBuf>,
}

/// SARIF `level` of a severity: critical and high are errors, medium a warning, low a note.
pub fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// GitHub code scanning's `security-severity` (0-10; >= 9 critical, >= 7 high, >= 4 medium).
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.0",
        Severity::High => "7.5",
        Severity::Medium => "5.0",
        Severity::Low => "2.0",
    }
}

/// The log as text (pretty JSON, final newline).
pub fn render(report: &Report, options: &SarifOptions) -> String {
    let mut s = serde_json::to_string_pretty(&log(report, options)).unwrap_or_default();
    s.push('\n');
    s
}

/// The log.
pub fn log(report: &Report, options: &SarifOptions) -> Value {
    let rules: Vec<Value> = RULES.iter().map(rule).collect();
    let mut trees = Trees::default();
    let documents: HashMap<(&str, usize), &Document> = report
        .documents
        .iter()
        .map(|d| ((d.source.file.as_str(), d.source.document), d))
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let doc = documents
                .get(&(f.source.file.as_str(), f.source.document))
                .copied();
            result(f, doc, options, &mut trees)
        })
        .collect();
    let mut driver = json!({
        "name": "rofs",
        "informationUri": "https://github.com/rofs-dev/rofs",
        "rules": rules,
    });
    if !options.version.is_empty() {
        driver["semanticVersion"] = json!(options.version);
    }
    json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": driver},
            "invocations": [{
                // The audit ran to its end: findings are a result, not a failure of the run.
                "executionSuccessful": options.exit_code != 2,
                "exitCode": options.exit_code,
                "exitCodeDescription": options.exit_code_description,
            }],
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    })
}

fn rule(r: &Rule) -> Value {
    // docs/audit.md's heading `### ROFS-A001 container-writable-root (high)`, as GitHub
    // makes it an anchor.
    let anchor = format!("{}-{}-{}", r.id, r.name, r.severity).to_ascii_lowercase();
    let mut markdown = r.help.to_string();
    if !r.peers.is_empty() {
        markdown.push_str("\n\nThe same check elsewhere: ");
        let peers: Vec<String> = r
            .peers
            .iter()
            .map(|p| format!("{} `{}`", p.tool, p.id))
            .collect();
        markdown.push_str(&peers.join(", "));
        markdown.push('.');
    }
    json!({
        "id": r.id,
        "name": r.name,
        "shortDescription": {"text": r.short},
        "fullDescription": {"text": r.long},
        "help": {"text": r.help, "markdown": markdown},
        "helpUri": format!("{HELP_BASE}#{anchor}"),
        "defaultConfiguration": {"level": level(r.severity)},
        "properties": {
            "tags": ["security", "kubernetes", "read-only-root-filesystem"],
            "security-severity": security_severity(r.severity),
            "problem.severity": r.severity.as_str(),
        },
    })
}

/// Parsed documents, by (file, document), built once each.
#[derive(Default)]
struct Trees(HashMap<(String, usize), Option<DocTree>>);

impl Trees {
    fn get(&mut self, doc: &Document) -> Option<&DocTree> {
        self.0
            .entry((doc.source.file.clone(), doc.source.document))
            .or_insert_with(|| positions::document_at(&doc.text, doc.source.line))
            .as_ref()
    }
}

/// The list a container is in, by its type.
fn list_of(t: Option<ContainerType>) -> &'static str {
    match t {
        Some(ContainerType::Container) => "containers",
        Some(ContainerType::InitContainer | ContainerType::Sidecar) => "initContainers",
        Some(ContainerType::Ephemeral) => "ephemeralContainers",
        None => "volumes",
    }
}

/// The field below the finding's object (`/securityContext/readOnlyRootFilesystem`), the
/// object being the container or volume: no list index in it.
fn relative_field(f: &Finding) -> &str {
    f.pointer
        .strip_prefix(f.object_pointer.as_str())
        .filter(|rest| rest.is_empty() || rest.starts_with('/'))
        .unwrap_or(&f.pointer)
}

/// The name of the finding's object: the container, or the volume's `name`.
fn object_name(f: &Finding, doc: Option<&Document>) -> String {
    if let Some(c) = &f.container {
        return c.clone();
    }
    doc.and_then(|d| d.value.as_ref())
        .and_then(|v| v.pointer(&f.object_pointer))
        .and_then(|o| o.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// `partialFingerprints["rofsFinding/v1"]`: independent of lines, list order and file.
pub fn fingerprint(f: &Finding, object: &str) -> String {
    let mut h = Sha256::new();
    for part in [
        f.rule,
        &f.kind,
        f.namespace.as_deref().unwrap_or(""),
        &f.name,
        list_of(f.container_type),
        object,
        relative_field(f),
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// An artifact URI for a file as given: relative paths stay relative (to `%SRCROOT%`, the
/// directory rofs ran in), absolute ones become `file://` URIs. `None` for standard input
/// and a cluster (`rofs audit --cluster`): no file to point at.
pub fn artifact_location(file: &str) -> Option<Value> {
    if file == crate::STDIN || file == "-" || file.is_empty() || is_cluster_source(file) {
        return None;
    }
    let p = file.replace('\\', "/");
    if p.starts_with('/') {
        return Some(json!({"uri": format!("file://{}", encode(&p))}));
    }
    let p = p.trim_start_matches("./");
    Some(json!({"uri": encode(p), "uriBaseId": "%SRCROOT%"}))
}

/// Percent-encode what may not stand in a URI path.
fn encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn region_json(r: &Region) -> Value {
    json!({
        "startLine": r.start_line,
        "startColumn": r.start_column,
        "endLine": r.end_line,
        "endColumn": r.end_column,
    })
}

fn physical(artifact: Value, region: &Region) -> Value {
    json!({"artifactLocation": artifact, "region": region_json(region)})
}

/// Where the finding is in the rendered (or given) document: the field when it exists, else
/// its object, else the document. With what was found.
fn rendered_region(f: &Finding, tree: &DocTree) -> (Region, &'static str, bool) {
    let field = tree.locate_pointer(&f.pointer);
    if field.exact {
        return (field.region, "field", field.via_alias);
    }
    let object = tree.locate_pointer(&f.object_pointer);
    if object.exact {
        return (object.region, "object", object.via_alias);
    }
    (object.region, "document", object.via_alias)
}

fn result(f: &Finding, doc: Option<&Document>, options: &SarifOptions, trees: &mut Trees) -> Value {
    let object = object_name(f, doc);
    let mut props = Map::new();
    props.insert("severity".into(), json!(f.severity.as_str()));
    props.insert("document".into(), json!(f.source.document));
    props.insert("field".into(), json!(f.field));
    props.insert("fixCommand".into(), json!(f.fix.command));
    if is_cluster_source(&f.source.file) {
        props.insert("source".into(), json!(f.source.file));
    }
    if let Some(t) = f.container_type {
        props.insert("containerType".into(), json!(t.as_str()));
    }

    let mut location = Map::new();
    let mut related = Vec::new();
    let artifact = artifact_location(&f.source.file);
    let tree = doc.and_then(|d| trees.get(d));
    let rendered = tree.map(|t| rendered_region(f, t));
    if let Some((_, what, via_alias)) = rendered {
        if via_alias {
            props.insert("viaAlias".into(), json!(true));
        }
        props.insert("regionOf".into(), json!(what));
    }
    let template = f
        .source
        .template
        .as_deref()
        .map(|t| template_location(f, t, &object, &options.template_roots));
    match (&template, &rendered, &artifact) {
        (Some(Ok((phys, how))), _, _) => {
            location.insert("physicalLocation".into(), phys.clone());
            props.insert("regionIn".into(), json!("template"));
            props.insert("templateMatchedBy".into(), json!(how));
            if let (Some((r, _, _)), Some(a)) = (&rendered, &artifact) {
                related.push(json!({
                    "id": 1,
                    "physicalLocation": physical(a.clone(), r),
                    "message": {"text": "the rendered document"},
                }));
            }
        }
        (_, Some((r, _, _)), Some(a)) => {
            location.insert("physicalLocation".into(), physical(a.clone(), r));
            props.insert(
                "regionIn".into(),
                json!(if f.source.template.is_some() {
                    "rendered"
                } else {
                    "file"
                }),
            );
        }
        _ => {
            props.insert("regionIn".into(), json!("none"));
        }
    }
    if let Some(t) = &f.source.template {
        props.insert("template".into(), json!(t));
    }
    if let Some(Err(why)) = &template {
        props.insert("templateNotMapped".into(), json!(why));
    }
    location.insert("logicalLocations".into(), json!([logical(f, &object)]));

    let mut r = json!({
        "ruleId": f.rule,
        "ruleIndex": RULES.iter().position(|x| x.id == f.rule).map_or(-1, |i| i as i64),
        "level": level(f.severity),
        "message": {"text": f.message},
        "locations": [Value::Object(location)],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(f, &object)},
    });
    if !related.is_empty() {
        r["relatedLocations"] = json!(related);
    }
    if let (Some(fix), Some(a)) = (fix(f, doc), &artifact) {
        let mut fix = fix;
        fix["artifactChanges"][0]["artifactLocation"] = a.clone();
        r["fixes"] = json!([fix]);
    }
    if let Some(s) = &f.suppressed {
        let mut sup = json!({
            "kind": "inSource",
            "justification": s.reason,
            "properties": {"annotation": s.annotation},
        });
        if let (Some(tree), Some(a)) = (tree, &artifact)
            && let Some(region) = annotation_region(tree, &s.annotation)
        {
            sup["location"] = json!({"physicalLocation": physical(a.clone(), &region)});
        }
        r["suppressions"] = json!([sup]);
    }
    r["properties"] = Value::Object(props);
    r
}

/// The workload and container as a logical location.
fn logical(f: &Finding, object: &str) -> Value {
    // `namespace/Kind/name/list/container`; without a namespace (kubectl's at apply time),
    // `Kind/name/list/container`.
    let mut fqn = match &f.namespace {
        Some(ns) => format!("{ns}/{}/{}", f.kind, f.name),
        None => format!("{}/{}", f.kind, f.name),
    };
    let mut props = json!({"kind": f.kind, "name": f.name});
    if let Some(n) = &f.namespace {
        props["namespace"] = json!(n);
    }
    let name = if object.is_empty() {
        f.name.clone()
    } else {
        fqn.push('/');
        fqn.push_str(list_of(f.container_type));
        fqn.push('/');
        fqn.push_str(object);
        let key = if f.container.is_some() {
            "container"
        } else {
            "volume"
        };
        props[key] = json!(object);
        object.to_string()
    };
    json!({
        "name": name,
        "fullyQualifiedName": fqn,
        "kind": if f.container.is_some() { "member" } else { "resource" },
        "properties": props,
    })
}

/// The region of the suppressing annotation: on the workload, or on its pod template.
fn annotation_region(tree: &DocTree, key: &str) -> Option<Region> {
    let key = key.replace('~', "~0").replace('/', "~1");
    [
        "/metadata/annotations/",
        "/spec/template/metadata/annotations/",
    ]
    .iter()
    .map(|p| tree.locate_pointer(&format!("{p}{key}")))
    .find(|l| l.exact)
    .map(|l| l.region)
}

/// SARIF `fix`: the document's text replaced by the one `rofs patch` writes (both without
/// their final line break, so the region ends on the document's last line).
fn fix(f: &Finding, doc: Option<&Document>) -> Option<Value> {
    let doc = doc?;
    let new = f.fix.replacement.as_deref()?;
    if new == doc.text {
        return None;
    }
    let old = doc.text.strip_suffix('\n').unwrap_or(&doc.text);
    let old = old.strip_suffix('\r').unwrap_or(old);
    let inserted = if doc.text.ends_with('\n') {
        let n = new.strip_suffix('\n').unwrap_or(new);
        n.strip_suffix('\r').unwrap_or(n)
    } else {
        new
    };
    let lines: Vec<&str> = old.split('\n').collect();
    let last = lines
        .last()
        .map_or(0, |l| l.trim_end_matches('\r').chars().count());
    let deleted = Region {
        start_line: doc.source.line,
        start_column: 1,
        end_line: doc.source.line + lines.len() - 1,
        end_column: last + 1,
    };
    Some(json!({
        "description": {"text": f.fix.command},
        "artifactChanges": [{
            "artifactLocation": {},
            "replacements": [{
                "deletedRegion": region_json(&deleted),
                "insertedContent": {"text": inserted},
            }],
        }],
    }))
}

/// The finding's place in its Helm template, or why it could not be found.
fn template_location(
    f: &Finding,
    template: &str,
    object: &str,
    roots: &[PathBuf],
) -> Result<(Value, &'static str), String> {
    if roots.is_empty() {
        return Err("no template root (--chart-root) given".into());
    }
    let file = positions::find_template(template, roots).ok_or_else(|| {
        format!(
            "{template} not found under {}",
            roots
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let text = std::fs::read_to_string(&file)
        .map_err(|e| format!("{}: cannot read: {e}", file.display()))?;
    let field: Vec<String> = relative_field(f)
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    let field: Vec<&str> = field.iter().map(String::as_str).collect();
    let (region, how, _) =
        positions::template_match(&text, list_of(f.container_type), object, &field).ok_or_else(
            || {
                format!(
                    "{} {object:?} not recognised in {}",
                    list_of(f.container_type),
                    file.display()
                )
            },
        )?;
    let artifact = artifact_location(&display_path(&file))
        .ok_or_else(|| format!("{}: not a file path", file.display()))?;
    Ok((physical(artifact, &region), how))
}

/// A path as the user would write it: relative to the working directory when below it.
fn display_path(p: &Path) -> String {
    let rel = std::env::current_dir()
        .ok()
        .and_then(|cwd| p.strip_prefix(cwd).ok().map(Path::to_path_buf));
    rel.unwrap_or_else(|| p.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests;
