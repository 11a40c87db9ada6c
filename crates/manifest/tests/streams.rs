//! What issue 9 found wrong in reading and writing streams (items 10, 11, 13, 15): size and
//! depth limits, numbers as written, duplicate keys, complete error messages, and YAML
//! streams that must come out valid.

use rofs_core::Settings;
use rofs_manifest::{Format, Input, ManifestError, Patched, yaml};
use serde_json::Value;

fn settings() -> Settings {
    Settings {
        writable: vec!["/tmp".parse().expect("valid path")],
        ..Settings::default()
    }
}

fn patch_all(inputs: &[(&str, &str)], format: Format) -> Result<Patched, ManifestError> {
    let inputs: Vec<Input<'_>> = inputs
        .iter()
        .map(|(name, text)| Input { name, text })
        .collect();
    rofs_manifest::patch(&inputs, &settings(), format)
}

fn patch(text: &str) -> Result<Patched, ManifestError> {
    patch_all(&[("in.yaml", text)], Format::Auto)
}

fn ok(text: &str) -> String {
    patch(text).unwrap_or_else(|e| panic!("{e}\n{text}")).output
}

fn err(text: &str) -> String {
    match patch(text) {
        Ok(p) => panic!("accepted:\n{text}\noutput:\n{}", p.output),
        Err(e) => e.to_string(),
    }
}

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: app\n    image: x\n";
const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: b\n";

fn deployment_json(i: usize) -> String {
    format!(
        r#"{{"apiVersion":"apps/v1","kind":"Deployment","metadata":{{"name":"web-{i}","labels":{{"app":"web-{i}","tier":"frontend"}}}},"spec":{{"replicas":2,"selector":{{"matchLabels":{{"app":"web-{i}"}}}},"template":{{"metadata":{{"labels":{{"app":"web-{i}"}}}},"spec":{{"containers":[{{"name":"app","image":"registry.example/web:1.2.3","ports":[{{"containerPort":8080}}],"env":[{{"name":"MODE","value":"production"}}]}}]}}}}}}}}"#
    )
}

fn deployment_yaml(i: usize) -> String {
    format!(
        "- apiVersion: apps/v1\n  kind: Deployment\n  metadata:\n    name: web-{i}\n    labels:\n      app: web-{i}\n      tier: frontend\n  spec:\n    replicas: 2\n    selector:\n      matchLabels:\n        app: web-{i}\n    template:\n      metadata:\n        labels:\n          app: web-{i}\n      spec:\n        containers:\n        - name: app\n          image: registry.example/web:1.2.3\n          ports:\n          - containerPort: 8080\n          env:\n          - name: MODE\n            value: production\n"
    )
}

/// The List kubectl applies without complaint: 6,000 Deployments, 2.5 MB.
pub fn big_list_yaml(n: usize) -> String {
    let mut s = String::from("apiVersion: v1\nkind: List\nitems:\n");
    for i in 0..n {
        s.push_str(&deployment_yaml(i));
    }
    s
}

fn big_list_json(n: usize) -> String {
    let items: Vec<String> = (0..n).map(deployment_json).collect();
    format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[{}]}}",
        items.join(",")
    )
}

fn read_only_everywhere(list: &Value, n: usize) {
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), n);
    for item in items {
        for c in item["spec"]["template"]["spec"]["containers"]
            .as_array()
            .expect("containers")
        {
            assert_eq!(
                c["securityContext"]["readOnlyRootFilesystem"],
                Value::Bool(true),
                "{c}"
            );
        }
    }
}

// Item 10: valid input refused.

#[test]
fn a_list_of_6000_deployments_is_read_as_yaml_and_as_json() {
    let text = big_list_yaml(6000);
    assert!(text.len() > 2_500_000, "{}", text.len());
    let out = patch(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.changed, 1);
    read_only_everywhere(&yaml::from_str(&out.output).expect("YAML"), 6000);

    let json = big_list_json(6000);
    let out = patch_all(&[("in.json", &json)], Format::Auto).unwrap_or_else(|e| panic!("{e}"));
    read_only_everywhere(&serde_json::from_str(&out.output).expect("JSON"), 6000);
}

#[test]
fn an_object_over_the_api_servers_request_limit_is_refused_by_name() {
    // 3 MiB + 1 of data: more than the API server accepts in one request.
    let big = "x".repeat((3 << 20) + 1);
    let text = format!(
        "{CM}---\n{}  big: {big}\n",
        CM.replace("name: c", "name: huge")
    );
    let e = err(&text);
    for part in [
        "in.yaml: document 2",
        "ConfigMap huge",
        "3145728 bytes (3 MiB)",
        "API server",
    ] {
        assert!(e.contains(part), "{part:?} not in: {e}");
    }
    // In a List, each item is one request: the item is named.
    let list = format!(
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: huge\n  data:\n    big: {big}\n"
    );
    let e = err(&list);
    assert!(e.contains("items[0] (ConfigMap huge)"), "{e}");
    // Just under the limit is fine.
    let fits = "x".repeat(3 << 20).split_at((3 << 20) - 200).0.to_string();
    ok(&format!("{CM}  big: {fits}\n"));
}

fn nested_yaml(depth: usize) -> String {
    // `a:` maps nested `depth` levels below the document's own map.
    let mut s = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\nx:\n");
    for i in 1..depth {
        s.push_str(&" ".repeat(2 * i));
        s.push_str("a:\n");
    }
    s.push_str(&" ".repeat(2 * depth));
    s.push_str("leaf: 1\n");
    s
}

#[test]
fn deep_documents_are_read_up_to_the_limit_and_refused_beyond() {
    // 200 levels: far beyond the old limit of 64, within rofs's 1,000.
    ok(&nested_yaml(200));
    ok(&nested_yaml(998));
    let flow = format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"deep\"}},\"x\":{}1{}}}",
        "[".repeat(990),
        "]".repeat(990)
    );
    ok(&flow);
    patch_all(&[("in.json", &flow)], Format::Auto).expect("JSON, as deep");
    let e = err(&nested_yaml(1001));
    assert!(
        e.contains("in.yaml: document 1") && e.contains("nested deeper than 1000 levels"),
        "{e}"
    );
    let deep_json = flow
        .replace("[", "[[[[[[[[[[[[")
        .replace("]", "]]]]]]]]]]]]");
    let e = patch_all(&[("in.json", &deep_json)], Format::Auto)
        .unwrap_err()
        .to_string();
    assert!(e.contains("nested deeper than 1000 levels"), "{e}");
}

/// The billion laughs: still refused, with a complete message (item 13).
#[test]
fn alias_bombs_are_refused_with_a_complete_message() {
    let mut bomb = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lol\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n",
    );
    for i in 1..9 {
        let prev = format!("*a{}", i - 1);
        bomb.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            [prev.as_str(); 10].join(", ")
        ));
    }
    let e = err(&bomb);
    assert!(e.contains("in.yaml: document 1 (line "), "{e}");
    assert!(e.ends_with("refused as an alias bomb"), "{e}");
    // The same document grown by padding: the bound grows with the text, the bomb's
    // expansion does not fit.
    let padded = format!("{bomb}pad: \"{}\"\n", "p".repeat(300_000));
    assert!(err(&padded).ends_with("refused as an alias bomb"));
}

/// Keys JSON cannot hold (null, a list, a map): refused in our words, without the library's
/// advice ("use Option<String>").
#[test]
fn non_string_keys_are_refused_in_plain_words() {
    for (key, what) in [
        ("? [a, b]\n: x\n", "not a string"),
        ("? {a: b}\n: x\n", "not a string"),
        ("? \n: x\n", "null"),
        ("~: x\n", "null"),
    ] {
        let e = err(&format!("{CM}{key}"));
        assert!(
            e.starts_with("in.yaml: document 1 (line ")
                && e.ends_with(&format!(
                    "a map key is {what} (keys of Kubernetes objects are strings)"
                )),
            "{key:?}: {e}"
        );
    }
}

// Item 11: numbers as written, duplicate keys.

const NUMBERS: [&str; 4] = ["123456789012345678901234567890", "1.10", "1e3", "-0"];

#[test]
fn json_documents_rofs_does_not_change_are_written_byte_for_byte() {
    let numbers: Vec<String> = NUMBERS
        .iter()
        .enumerate()
        .map(|(i, n)| format!("\"n{i}\": {n}"))
        .collect();
    let cm = format!(
        "{{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\",\n \"metadata\": {{\"name\": \"c\"}}, {}}}",
        numbers.join(", ")
    );
    let text = format!("{cm}\n{cm}");
    let out = patch_all(&[("in.json", &text)], Format::Auto).expect("patched");
    assert_eq!(out.output, format!("{cm}\n{cm}\n"));
}

#[test]
fn numbers_in_rewritten_json_documents_are_kept_as_written() {
    let numbers: Vec<String> = NUMBERS
        .iter()
        .enumerate()
        .map(|(i, n)| format!("\"n{i}\": {n}"))
        .collect();
    let pod = format!(
        "{{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {{\"name\": \"p\"}}, \"spec\": {{\"containers\": [{{\"name\": \"app\", \"image\": \"x\", {}}}]}}}}",
        numbers.join(", ")
    );
    let out = patch_all(&[("in.json", &pod)], Format::Auto).expect("patched");
    assert_eq!(out.changed, 1);
    for (i, n) in NUMBERS.iter().enumerate() {
        assert!(
            out.output.contains(&format!("\"n{i}\": {n}")),
            "{n}:\n{}",
            out.output
        );
    }
    // Written as YAML, the same spellings.
    let out = patch_all(&[("in.json", &pod)], Format::Yaml).expect("patched");
    for (i, n) in NUMBERS.iter().enumerate() {
        assert!(
            out.output.contains(&format!("n{i}: {n}\n")),
            "{n}:\n{}",
            out.output
        );
    }
}

#[test]
fn numbers_in_rewritten_yaml_documents_are_kept_as_written() {
    let mut text = POD.to_string();
    for (i, n) in NUMBERS
        .iter()
        .chain(&["0644", "0x1F", "1_000", ".5"])
        .enumerate()
    {
        text.push_str(&format!("    n{i}: {n}\n"));
    }
    let out = patch(&text).expect("patched");
    assert_eq!(out.changed, 1);
    for (i, n) in NUMBERS
        .iter()
        .chain(&["0644", "0x1F", "1_000", ".5"])
        .enumerate()
    {
        assert!(
            out.output.contains(&format!("    n{i}: {n}\n")),
            "{n}:\n{}",
            out.output
        );
    }
    // As JSON: the spellings JSON has, the others as numbers JSON can read.
    let out = patch_all(&[("in.yaml", &text)], Format::Json).expect("patched");
    for (i, n) in [
        "123456789012345678901234567890",
        "1.10",
        "1e3",
        "-0",
        "420",
        "31",
        "1000",
        "0.5",
    ]
    .iter()
    .enumerate()
    {
        assert!(
            out.output.contains(&format!("\"n{i}\": {n},"))
                || out.output.contains(&format!("\"n{i}\": {n}\n")),
            "{n}:\n{}",
            out.output
        );
    }
}

#[test]
fn duplicate_keys_are_the_same_error_in_json_and_yaml() {
    let json = "{\"apiVersion\": \"v1\",\n \"kind\": \"ConfigMap\",\n \"metadata\": {\"name\": \"c\"},\n \"kind\": \"Secret\"}";
    let e = patch_all(&[("in.json", json)], Format::Auto)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("in.json: document 1 (line 4, column ")
            && e.contains("duplicate key \"kind\" in a map (each key may appear once)"),
        "{e}"
    );
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\nkind: Secret\n";
    let e = err(yaml);
    assert!(
        e.starts_with("in.yaml: document 1 (line 5, column 1)")
            && e.ends_with("duplicate key \"kind\" in a map (each key may appear once)"),
        "{e}"
    );
    assert!(
        !e.contains("DuplicateKeyPolicy") && !e.contains("Options"),
        "{e}"
    );
    // Nested maps too.
    let e = err(&POD.replace("  name: p\n", "  name: p\n  labels:\n    a: x\n    a: y\n"));
    assert!(
        e.contains("(line 7, column 5)") && e.contains("duplicate key \"a\""),
        "{e}"
    );
}

// Item 15: streams that must come out valid.

/// Every document of a YAML stream, parsed as a YAML parser reads the stream (directives and
/// markers included).
fn stream_values(text: &str) -> Vec<Value> {
    yaml::split_documents(text)
        .iter()
        .map(|d| yaml::from_str(d.chunk).unwrap_or_else(|e| panic!("{e:?} in:\n{text}")))
        .collect()
}

#[test]
fn directives_and_document_ends_are_kept() {
    for text in [
        "%YAML 1.1\n---\n",
        "%YAML 1.1\n---\n---\n",
        "a: 1\n...\n%YAML 1.2\n---\nb: 2\n",
        "a: 1\n...\n%YAML 1.2\n---\n",
        "# only a comment\n",
        "--- # c\na: 1\n...\n# after\n---\nb: 2\n...\n",
        "%TAG !e! tag:example.com,2000:app/\n--- !e!thing\na: 1\n",
    ] {
        assert_eq!(ok(text), text, "unchanged documents come out as written");
    }
    // The same streams with a workload that is rewritten.
    let text = format!("{POD}...\n%YAML 1.2\n---\n{CM}...\n%YAML 1.1\n---\n");
    let out = ok(&text);
    assert!(
        out.contains("...\n%YAML 1.2\n---\n") && out.ends_with("...\n%YAML 1.1\n---\n"),
        "{out}"
    );
    let values = stream_values(&out);
    assert_eq!(values.len(), 3, "{out}");
    assert_eq!(values[0]["spec"]["volumes"][0]["name"], "rofs", "{out}");
    assert_eq!(values[2], Value::Null);
    // Content on the `---` line of a rewritten document.
    let out = ok(
        "--- {apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: app, image: x}]}}\n",
    );
    assert!(out.starts_with("---\napiVersion: v1\n"), "{out}");
}

#[test]
fn separate_inputs_are_joined_into_a_valid_stream() {
    let out = patch_all(
        &[
            ("a.yaml", POD.trim_end()),
            ("b.yaml", "%YAML 1.2\n---\nkind: X\n"),
            ("c.yaml", "kind: Y\n"),
            ("d.json", "{\"kind\": \"Z\"}"),
        ],
        Format::Yaml,
    )
    .expect("patched");
    assert!(
        out.output
            .contains("\n...\n%YAML 1.2\n---\nkind: X\n---\nkind: Y\n---\nkind: Z\n"),
        "{}",
        out.output
    );
    assert_eq!(stream_values(&out.output).len(), 4, "{}", out.output);
}

#[test]
fn text_after_a_document_end_marker_is_refused() {
    let e = err("a: 1\n... invalid\n");
    assert!(e.starts_with("in.yaml: document 1 (line 2"), "{e}");
    let e = err("kind: A\n%YAML 1.2\n---\nkind: B\n");
    assert!(e.starts_with("in.yaml: document 1"), "{e}");
    let e = err("%YAML 1.2\nkind: A\n");
    assert!(e.starts_with("in.yaml: document 1"), "{e}");
}

/// Random number spellings (fixed-seed generator: the same cases every run), one per
/// rewritten Pod: each comes out spelled as written (when JSON can hold the spelling) and
/// means the same number.
#[test]
fn random_number_spellings_survive_a_rewrite() {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let digits = |next: &mut dyn FnMut(u64) -> u64, n: u64| -> String {
        let mut s = (1 + next(9)).to_string();
        for _ in 1..n {
            s.push_str(&next(10).to_string());
        }
        s
    };
    let mut json_spellings = Vec::new();
    for _ in 0..300 {
        let sign = if next(3) == 0 { "-" } else { "" };
        let int = if next(4) == 0 {
            "0".to_string()
        } else {
            let len = 1 + next(30);
            digits(&mut next, len)
        };
        let s = match next(5) {
            0 => format!("{sign}{int}"),
            1 => format!("{sign}{int}.{}0", next(100)),
            2 => format!(
                "{sign}{int}{}{}{}",
                if next(2) == 0 { "e" } else { "E" },
                ["", "+", "-"][next(3) as usize],
                next(300)
            ),
            3 => format!("{sign}{int}.{:03}e{}", next(1000), next(20)),
            _ => format!("{sign}0.{:04}", next(10_000)),
        };
        json_spellings.push(s);
    }
    let yaml_only = [
        "0644",
        "0755",
        "0x1F",
        "0x7fffffff",
        "1_000",
        "+12",
        ".5",
        "-.25",
    ];
    let pod = |n: &str| format!("{POD}    num: {n}\n");
    for (format, spellings) in [
        (
            "yaml",
            json_spellings
                .iter()
                .map(String::as_str)
                .chain(yaml_only)
                .collect::<Vec<_>>(),
        ),
        ("json", json_spellings.iter().map(String::as_str).collect()),
    ] {
        let text: String = if format == "yaml" {
            spellings
                .iter()
                .map(|n| pod(n))
                .collect::<Vec<_>>()
                .join("---\n")
        } else {
            spellings
                .iter()
                .map(|n| {
                    format!("{{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {{\"name\": \"p\"}}, \"spec\": {{\"containers\": [{{\"name\": \"app\", \"image\": \"x\", \"num\": {n}}}]}}}}\n")
                })
                .collect()
        };
        let out = patch_all(&[("in", &text)], Format::Auto).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.changed, spellings.len());
        let docs: Vec<Value> = if format == "yaml" {
            stream_values(&out.output)
        } else {
            serde_json::Deserializer::from_str(&out.output)
                .into_iter::<Value>()
                .map(|v| v.expect("JSON"))
                .collect()
        };
        assert_eq!(docs.len(), spellings.len());
        let inputs: Vec<Value> = if format == "yaml" {
            stream_values(&text)
        } else {
            serde_json::Deserializer::from_str(&text)
                .into_iter::<Value>()
                .map(|v| v.expect("JSON"))
                .collect()
        };
        let written: Vec<&str> = out
            .output
            .lines()
            .filter_map(|l| {
                l.trim_start().strip_prefix(if format == "yaml" {
                    "num: "
                } else {
                    "\"num\": "
                })
            })
            .map(|l| l.trim_end_matches(','))
            .collect();
        assert_eq!(written.len(), spellings.len(), "{}", &out.output[..2000]);
        for ((n, w), (doc, input)) in spellings.iter().zip(&written).zip(docs.iter().zip(&inputs)) {
            assert_eq!(w, n, "{format}: {n} written as {w}");
            let (a, b) = (
                &doc["spec"]["containers"][0]["num"],
                &input["spec"]["containers"][0]["num"],
            );
            assert!(
                a == b || a.as_f64().is_some_and(|x| Some(x) == b.as_f64()),
                "{format}: {n} reads back as {a}, was {b}"
            );
        }
    }
}
