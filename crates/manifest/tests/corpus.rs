//! The real-world corpus (`shared/corpus/realworld`, beside the repository; see its README and
//! SOURCES.md): install manifests of well-known projects, and the YAML test suite.
//!
//! Every manifest through `rofs patch`: the same documents in the same order, untouched ones
//! byte for byte, every container of every workload read-only, strict-schema valid where the
//! input was, idempotent. Every YAML test suite case: valid ones accepted (or refused only for
//! not being a Kubernetes object) and read as the suite's JSON says, written back as YAML that
//! reads the same; invalid ones refused.
//!
//! The corpus is found at `$ROFS_CORPUS`, or `shared/corpus/realworld` in a parent directory of
//! the repository. Missing: a failure under CI (`CI=true`) or with `ROFS_REQUIRE_TOOLS=1`.

mod common;
use common::{corpus, required};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use rofs_core::Settings;
use rofs_manifest::{Format, Input, ManifestError, yaml};
use serde_json::Value;

fn patch(name: &str, text: &str) -> Result<rofs_manifest::Patched, ManifestError> {
    rofs_manifest::patch(&[Input { name, text }], &Settings::default(), Format::Auto)
}

/// The documents of a YAML stream with their chunks (chunks that hold no document, such as
/// comments after the last `...`, are left out).
fn yaml_docs(text: &str) -> Vec<(String, Value)> {
    yaml::split_documents(text)
        .into_iter()
        .filter(|d| {
            d.explicit
                || !d
                    .text
                    .lines()
                    .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        })
        .map(|d| {
            let v = yaml::from_str(d.chunk).unwrap_or_else(|e| panic!("{e:?}:\n{}", d.chunk));
            (d.chunk.to_string(), v)
        })
        .collect()
}

/// Documents with their text (empty for JSON).
type Docs = Vec<(String, Value)>;

fn json_docs(text: &str) -> Vec<Value> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .map(|v| v.expect("JSON"))
        .collect()
}

/// Every (kind name, container) of the workloads of a document, Lists included.
fn containers(doc: &Value, out: &mut Vec<(String, Value)>) {
    if rofs_core::workload::is_list(doc) {
        for item in doc["items"].as_array().into_iter().flatten() {
            containers(item, out);
        }
        return;
    }
    let Some((api, kind)) = rofs_core::workload::type_meta(doc) else {
        return;
    };
    let Some(path) = rofs_core::workload::pod_template_path(api, kind) else {
        return;
    };
    let mut t = doc;
    for k in path {
        t = &t[*k];
    }
    for key in ["containers", "initContainers"] {
        for c in t["spec"][key].as_array().into_iter().flatten() {
            out.push((rofs_manifest::describe(doc), c.clone()));
        }
    }
}

fn kubernetes_validate() -> Option<String> {
    let exe = std::env::var("KUBERNETES_VALIDATE").unwrap_or_else(|_| "kubernetes-validate".into());
    let ok = Command::new(&exe)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let msg = "kubernetes-validate not found: install it with scripts/validate-schemas.sh";
        assert!(!required(), "{msg}");
        eprintln!("SKIPPED schema validation: {msg}");
    }
    ok.then_some(exe)
}

#[test]
fn real_world_manifests_are_patched_faithfully() {
    let Some(dir) = corpus() else { return };
    let files = common::corpus_files(&dir);
    let schema_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("corpus-schema");
    let _ = std::fs::remove_dir_all(&schema_dir);
    std::fs::create_dir_all(&schema_dir).expect("temp dir");
    // (input file, output file) of every changed workload, for the schema check.
    let mut pairs: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut failures = Vec::new();
    let mut workloads = 0;
    for path in &files {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let text = std::fs::read_to_string(path).expect("read");
        let out = match patch(&name, &text) {
            Ok(o) => o,
            Err(e) => {
                failures.push(format!("{name}: refused: {e}"));
                continue;
            }
        };
        let json = name.ends_with(".json");
        let (before, after): (Docs, Docs) = if json {
            let raw = |t: &str| {
                json_docs(t)
                    .into_iter()
                    .map(|v| (String::new(), v))
                    .collect()
            };
            (raw(&text), raw(&out.output))
        } else {
            (yaml_docs(&text), yaml_docs(&out.output))
        };
        if before.len() != after.len() {
            failures.push(format!(
                "{name}: {} documents in, {} out",
                before.len(),
                after.len()
            ));
            continue;
        }
        for (i, ((tin, vin), (tout, vout))) in before.iter().zip(&after).enumerate() {
            let what = rofs_manifest::describe(vin);
            if rofs_manifest::describe(vout) != what {
                failures.push(format!(
                    "{name}: document {} is now {}",
                    i + 1,
                    rofs_manifest::describe(vout)
                ));
            }
            if vin == vout && tin != tout {
                failures.push(format!(
                    "{name}: untouched document {} ({what}) not byte for byte",
                    i + 1
                ));
            }
            let mut cs = Vec::new();
            containers(vout, &mut cs);
            workloads += usize::from(!cs.is_empty());
            for (w, c) in &cs {
                if c.pointer("/securityContext/readOnlyRootFilesystem") != Some(&Value::Bool(true))
                {
                    failures.push(format!(
                        "{name}: {w}: container {} is not read-only",
                        c["name"]
                    ));
                }
            }
            if vin != vout {
                let stem = format!("{}-{i}", name.replace('.', "-"));
                let pin = schema_dir.join(format!("{stem}-in.json"));
                let pout = schema_dir.join(format!("{stem}-out.json"));
                std::fs::write(&pin, serde_json::to_string(vin).expect("json")).expect("write");
                std::fs::write(&pout, serde_json::to_string(vout).expect("json")).expect("write");
                pairs.push((pin, pout));
            }
        }
        match patch(&format!("{name} (patched)"), &out.output) {
            Ok(again) if again.output == out.output => {}
            Ok(_) => failures.push(format!("{name}: patching the output again changed it")),
            Err(e) => failures.push(format!("{name}: the output is refused: {e}")),
        }
    }
    assert!(workloads >= 30, "only {workloads} workloads in the corpus?");
    if let Some(exe) = kubernetes_validate() {
        for version in [Some("1.29.0"), None] {
            let mut cmd = Command::new(&exe);
            cmd.args(["--strict", "--quiet"]);
            if let Some(v) = version {
                cmd.args(["--kubernetes-version", v]);
            }
            for (a, b) in &pairs {
                cmd.arg(a).arg(b);
            }
            let out = cmd.output().expect("run kubernetes-validate");
            let report = String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr);
            let failed = |p: &Path| {
                let needle = format!("ERROR {} ", p.display());
                report.lines().any(|l| l.starts_with(&needle))
            };
            for (a, b) in &pairs {
                // An output must be valid wherever its input was.
                if failed(b) && !failed(a) {
                    let line = report
                        .lines()
                        .find(|l| l.contains(&b.display().to_string()))
                        .unwrap_or_default();
                    failures.push(format!("schema ({}): {line}", version.unwrap_or("newest")));
                }
            }
        }
    }
    eprintln!(
        "{} files, {workloads} workloads, {} changed documents schema-checked",
        files.len(),
        pairs.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Cases of the YAML test suite that rofs cannot read as the suite says, each with the reason
/// (reviewed; keep this list short).
const SUITE_EXCEPTIONS: &[(&str, &str)] = &[(
    "565N",
    "!!binary holding bytes that are not UTF-8: a JSON value (what rofs and the API server \
     work on) has no form for them; refused with the parser's message",
)];

/// `expected` (the suite's JSON, YAML 1.2) and `actual` (rofs's reading) mean the same:
/// numbers compare by value, and a plain word the suite reads as a string may be what YAML 1.1
/// (kubectl, rofs) makes of it (`yes` a boolean, `0o14` a number).
fn same(expected: &Value, actual: &Value, yaml11: &mut bool) -> bool {
    match (expected, actual) {
        (Value::Number(a), Value::Number(b)) => {
            a == b || a.as_f64().zip(b.as_f64()).is_some_and(|(x, y)| x == y)
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y, yaml11))
        }
        (Value::Object(a), Value::Object(b)) => {
            // Key order is not part of a map's meaning. A plain key YAML 1.1 reads as a
            // boolean or a number is that value's string to Kubernetes (`y:` is "true").
            a.len() == b.len()
                && a.iter().all(|(k, va)| match b.get(k) {
                    Some(vb) => same(va, vb, yaml11),
                    None => {
                        let k11 = yaml::from_str(&format!("{k}: 0"))
                            .ok()
                            .and_then(|m| m.as_object()?.keys().next().cloned());
                        let ok = k11
                            .filter(|k11| k11 != k)
                            .and_then(|k11| b.get(&k11))
                            .is_some_and(|vb| same(va, vb, yaml11));
                        *yaml11 |= ok;
                        ok
                    }
                })
        }
        (Value::String(s), other) if !other.is_string() => {
            let resolved = yaml::from_str(s).ok();
            let ok = resolved.is_some_and(|r| same(&r, other, &mut false));
            *yaml11 |= ok;
            ok
        }
        _ => expected == actual,
    }
}

#[test]
fn yaml_test_suite() {
    let Some(dir) = corpus() else { return };
    let suite = dir.join("yaml-test-suite");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&suite)
        .expect("yaml-test-suite")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("in.yaml").is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 400, "{} cases", cases.len());
    let exceptions: BTreeMap<&str, &str> = SUITE_EXCEPTIONS.iter().copied().collect();
    let mut failures = Vec::new();
    let (mut accepted, mut not_objects, mut refused, mut yaml11_cases, mut no_json) =
        (0, 0, 0, 0, 0);
    for case in &cases {
        let id = case
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let text = std::fs::read_to_string(case.join("in.yaml")).expect("in.yaml");
        let result = rofs_manifest::with_stack(|| patch("in.yaml", &text));
        let mut fail = |m: String| {
            if !exceptions.contains_key(id.as_str()) {
                failures.push(format!("{id}: {m}"));
            }
        };
        if case.join("error").exists() {
            match result {
                Err(_) => refused += 1,
                Ok(p) => fail(format!("invalid YAML accepted, written as:\n{}", p.output)),
            }
            continue;
        }
        let Ok(json) = std::fs::read_to_string(case.join("in.json")) else {
            // Valid YAML that JSON cannot hold (complex keys...): no panic is all we ask.
            no_json += 1;
            continue;
        };
        let expected = json_docs(&json);
        let docs: Vec<Value> = match &result {
            Ok(p) => {
                accepted += 1;
                rofs_manifest::with_stack(|| yaml_docs(&p.output))
                    .into_iter()
                    .map(|(_, v)| v)
                    .collect()
            }
            Err(ManifestError::Document { message, .. })
                if message.starts_with("expected a Kubernetes object") =>
            {
                // Read, and refused for not being a Kubernetes object: check the reading.
                not_objects += 1;
                match rofs_manifest::with_stack(|| {
                    std::panic::catch_unwind(|| yaml_docs(&text)).ok()
                }) {
                    Some(d) => d.into_iter().map(|(_, v)| v).collect(),
                    None => {
                        fail("read by rofs patch, not by the test's reader".into());
                        continue;
                    }
                }
            }
            Err(e) => {
                fail(format!("valid YAML refused: {e}"));
                continue;
            }
        };
        let mut yaml11 = false;
        if docs.len() != expected.len()
            || !docs
                .iter()
                .zip(&expected)
                .all(|(a, e)| same(e, a, &mut yaml11))
        {
            fail(format!("read as {docs:?}, the suite says {expected:?}"));
            continue;
        }
        yaml11_cases += usize::from(yaml11);
        // The writer: every document written as YAML reads back the same.
        for d in &docs {
            let written = rofs_manifest::with_stack(|| yaml::to_string(d)).expect("written");
            match rofs_manifest::with_stack(|| yaml::from_str(&written)) {
                Ok(back) if same(d, &back, &mut false) => {}
                other => fail(format!("{d:?} written as {written:?} reads as {other:?}")),
            }
        }
    }
    eprintln!(
        "YAML test suite: {} cases: {accepted} valid accepted, {not_objects} valid read and \
         refused as not Kubernetes objects, {no_json} valid without JSON (not compared), \
         {refused} invalid refused; {yaml11_cases} read the YAML 1.1 way; {} exceptions",
        cases.len(),
        exceptions.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
