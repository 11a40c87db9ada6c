//! The data model of an audit: rules, findings and the report. Every output format (the
//! table, `--format json`, `--format sarif`) is a view of a [`Report`]; the JSON one is its
//! serde form, a stable shape (docs/audit.md): fields may be added, none renamed or removed.

use serde::Serialize;

/// How bad a finding is. Ordered: `Low < Medium < High < Critical` (`--fail-on` compares).
///
/// - `critical`: the workload can damage the node or other workloads;
/// - `high`: an attacker who runs code in the container can change its programs and config
///   (no read-only root), or the app will fail at start as configured;
/// - `medium`: a narrower window of the same, or a resource an app can exhaust;
/// - `low`: worth knowing, rarely a risk on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("expected low, medium, high or critical, found {s:?}"))
    }
}

/// Which list of the pod spec a container is in, as the audit tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ContainerType {
    /// `spec.containers[]`.
    Container,
    /// `spec.initContainers[]` that runs to completion before the app starts.
    InitContainer,
    /// `spec.initContainers[]` with `restartPolicy: Always`: a native sidecar, running beside
    /// the app for the pod's whole life.
    Sidecar,
    /// `spec.ephemeralContainers[]` (`kubectl debug`), only ever on a live Pod.
    Ephemeral,
}

impl ContainerType {
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerType::Container => "container",
            ContainerType::InitContainer => "initContainer",
            ContainerType::Sidecar => "sidecar",
            ContainerType::Ephemeral => "ephemeral",
        }
    }
}

/// A peer linter's check that looks at the same thing as a rule (docs/audit.md lists them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PeerCheck {
    /// The tool: `kube-linter`, `Polaris`, `checkov`, `kubescape`, `Trivy`, `kube-score`.
    pub tool: &'static str,
    /// Its check ID.
    pub id: &'static str,
}

/// A rule: its stable ID and what a report (or SARIF's `tool.driver.rules`) says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// Stable ID, `ROFS-A001`...: never reused for another meaning.
    pub id: &'static str,
    /// Short kebab-case name (SARIF `name`).
    pub name: &'static str,
    /// One line: what is wrong (SARIF `shortDescription`).
    pub short: &'static str,
    /// Why it matters (SARIF `fullDescription`).
    pub long: &'static str,
    /// How to fix or suppress it (SARIF `help`).
    pub help: &'static str,
    /// The severity of its findings (SARIF `defaultConfiguration.level`).
    pub severity: Severity,
    /// The same check in other linters (empty: none has it).
    pub peers: &'static [PeerCheck],
}

/// Where a finding's document came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// The input file as given on the command line (or found under a directory given);
    /// `<stdin>` for standard input.
    pub file: String,
    /// The document's place in its file: 1-based, as rofs's error messages count documents.
    pub document: usize,
    /// Helm's `# Source: CHART/templates/FILE.yaml` comment above the document, when there
    /// is one: the template the document was rendered from.
    pub template: Option<String>,
    /// 1-based line in `file` where the document's text starts (its `---` marker or its
    /// first comment, as [`Document::text`] starts).
    pub line: usize,
}

/// Why a finding does not count: the annotation that suppresses it and the reason it gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Suppression {
    /// The reason, as the annotation's value says it.
    pub reason: String,
    /// The annotation key (`rofs.io/audit-ignore`, `audit-ignore.rofs.io/ROFS-A001`...).
    pub annotation: String,
}

/// How to resolve a finding with rofs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fix {
    /// The `rofs patch` command line that resolves the finding (for the whole file), or what
    /// to do where rofs cannot (ephemeral containers, hostPath mounts).
    pub command: String,
    /// With `--fix-diff`: the unified diff of the document that `command` produces, with line
    /// numbers of the input file. `None` without `--fix-diff` or when the command changes
    /// nothing in the document.
    pub diff: Option<String>,
    /// The document as `command` writes it (the whole document, the replacement for
    /// [`Document::text`]): SARIF's `fixes`. Not in the JSON output (`diff` shows it).
    #[serde(skip)]
    pub replacement: Option<String>,
}

/// One finding: a rule broken by one container (or volume) of one workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The rule's ID (see [`crate::rules::RULES`]).
    pub rule: &'static str,
    pub severity: Severity,
    /// The workload: `kind`, `metadata.namespace` (`None` when the document has none, so the
    /// namespace is kubectl's at apply time), `metadata.name` (or `generateName*`).
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// The container concerned; `None` for a finding about a volume of the pod.
    pub container: Option<String>,
    pub container_type: Option<ContainerType>,
    /// The field at fault, as people write it, from the document's root
    /// (`spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem`); it may
    /// be a field the document does not have (the one to add).
    pub field: String,
    /// `field` as an RFC 6901 JSON pointer from the document's root.
    pub pointer: String,
    /// The JSON pointer of the container (or volume) concerned: the closest object that
    /// exists in the document (SARIF regions point there when `field` is missing).
    pub object_pointer: String,
    pub message: String,
    /// `None`: the finding counts. Otherwise the annotation that suppresses it.
    pub suppressed: Option<Suppression>,
    pub fix: Fix,
    pub source: Source,
}

impl Finding {
    /// The workload as messages name it: `Deployment default/web` (`Deployment web` without
    /// a namespace).
    pub fn workload(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }
}

/// Counts over a report's findings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Findings that count (not suppressed).
    pub findings: usize,
    pub suppressed: usize,
    /// Findings that count, per severity (every severity present, zeros included).
    pub by_severity: std::collections::BTreeMap<&'static str, usize>,
}

/// One document of the input, as read: what SARIF regions and fixes are computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub source: Source,
    /// The document's text as written in its file, from line [`Source::line`]: its `---`
    /// marker and leading comments included (for a JSON stream, the JSON text).
    pub text: String,
    /// The document, parsed (`None`: empty or only comments).
    pub value: Option<serde_json::Value>,
}

/// The result of an audit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// In input order: file, document, then the order of the rules' checks.
    pub findings: Vec<Finding>,
    pub summary: Summary,
    /// Every document read, in input order (not in the JSON output).
    #[serde(skip)]
    pub documents: Vec<Document>,
}

impl Report {
    /// A report of `findings`, with its summary.
    pub fn new(findings: Vec<Finding>, documents: Vec<Document>) -> Report {
        let mut summary = Summary {
            by_severity: Severity::ALL.iter().map(|s| (s.as_str(), 0)).collect(),
            ..Summary::default()
        };
        for f in &findings {
            if f.suppressed.is_some() {
                summary.suppressed += 1;
            } else {
                summary.findings += 1;
                *summary.by_severity.entry(f.severity.as_str()).or_default() += 1;
            }
        }
        Report {
            findings,
            summary,
            documents,
        }
    }

    /// The findings that count and are at `threshold` or above (`--fail-on`).
    pub fn failing(&self, threshold: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.suppressed.is_none() && f.severity >= threshold)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The JSON shape other tools parse (docs/audit.md): written out by hand here.
    #[test]
    fn json_shape_is_stable() {
        let finding = Finding {
            rule: "ROFS-A001",
            severity: Severity::High,
            kind: "Deployment".into(),
            namespace: Some("default".into()),
            name: "web".into(),
            container: Some("nginx".into()),
            container_type: Some(ContainerType::InitContainer),
            field: "spec.template.spec.initContainers[0].securityContext.readOnlyRootFilesystem"
                .into(),
            pointer: "/spec/template/spec/initContainers/0/securityContext/readOnlyRootFilesystem"
                .into(),
            object_pointer: "/spec/template/spec/initContainers/0".into(),
            message: "m".into(),
            suppressed: None,
            fix: Fix {
                command: "rofs patch web.yaml".into(),
                diff: None,
                replacement: Some("not in the JSON".into()),
            },
            source: Source {
                file: "web.yaml".into(),
                document: 2,
                template: Some("chart/templates/web.yaml".into()),
                line: 7,
            },
        };
        let mut suppressed = finding.clone();
        suppressed.severity = Severity::Low;
        suppressed.suppressed = Some(Suppression {
            reason: "legacy".into(),
            annotation: "rofs.io/audit-ignore".into(),
        });
        let report = Report::new(vec![finding, suppressed], Vec::new());
        assert_eq!(report.failing(Severity::High), 1);
        assert_eq!(report.failing(Severity::Critical), 0);
        let f = json!({
            "rule": "ROFS-A001",
            "severity": "high",
            "kind": "Deployment",
            "namespace": "default",
            "name": "web",
            "container": "nginx",
            "containerType": "initContainer",
            "field": "spec.template.spec.initContainers[0].securityContext.readOnlyRootFilesystem",
            "pointer": "/spec/template/spec/initContainers/0/securityContext/readOnlyRootFilesystem",
            "objectPointer": "/spec/template/spec/initContainers/0",
            "message": "m",
            "suppressed": null,
            "fix": {"command": "rofs patch web.yaml", "diff": null},
            "source": {"file": "web.yaml", "document": 2, "template": "chart/templates/web.yaml", "line": 7}
        });
        let mut s = f.clone();
        s["severity"] = json!("low");
        s["suppressed"] = json!({"reason": "legacy", "annotation": "rofs.io/audit-ignore"});
        assert_eq!(
            serde_json::to_value(&report).expect("serializes"),
            json!({
                "findings": [f, s],
                "summary": {
                    "findings": 1,
                    "suppressed": 1,
                    "bySeverity": {"critical": 0, "high": 1, "low": 0, "medium": 0}
                }
            })
        );
    }
}
