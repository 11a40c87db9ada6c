//! The fast YAML reader (issue 14): every document it accepts, serde-saphyr accepts with the
//! same value (same keys in the same order, same numbers, same strings), so errors stay
//! serde-saphyr's. Checked on the real-world corpus, the YAML test suite, the benchmark
//! stream, hand-made edge cases, and mutants of all of them (one byte deleted or inserted).

mod common;
use common::{bench_stream, corpus};

use std::path::PathBuf;

use rofs_manifest::yaml;

/// What the comparison found for one text.
#[derive(Default)]
struct Tally {
    fast: usize,
    fallback: usize,
    failures: Vec<String>,
}

/// Compare the fast reader with serde-saphyr on every document of `text`.
fn compare(name: &str, text: &str, t: &mut Tally) {
    for raw in yaml::split_documents(text) {
        let Some(fast) = yaml::fast_path(&raw) else {
            t.fallback += 1;
            continue;
        };
        t.fast += 1;
        let slow = rofs_manifest::with_stack(|| yaml::from_str(raw.chunk));
        match slow {
            // serde_json's maps compare without order: compare the texts, which keep it.
            Ok(v) if serde_json::to_string(&v).ok() == serde_json::to_string(&fast).ok() => {}
            other => t.failures.push(format!(
                "{name}: the fast reader read {fast}, serde-saphyr {other:?}, from:\n{}",
                raw.chunk
            )),
        }
    }
}

/// Mutants of `text`: one byte deleted, or one of a few bytes that matter to YAML inserted,
/// at every `step`th position.
fn mutants(text: &str, step: usize) -> Vec<String> {
    let mut out = Vec::new();
    for i in (0..text.len()).step_by(step) {
        if !text.is_char_boundary(i) || !text.is_char_boundary(i + 1) {
            continue;
        }
        out.push(format!("{}{}", &text[..i], &text[i + 1..]));
        for ins in [
            " ", "\n", ":", "#", "-", "\"", "'", "{", "]", "|", "0", "&", "\t",
        ] {
            out.push(format!("{}{ins}{}", &text[..i], &text[i..]));
        }
    }
    out
}

fn assert_clean(what: &str, t: &Tally) {
    eprintln!(
        "{what}: {} documents read by the fast reader, {} left to serde-saphyr",
        t.fast, t.fallback
    );
    assert!(
        t.failures.is_empty(),
        "{} disagreements:\n{}",
        t.failures.len(),
        t.failures[..t.failures.len().min(10)].join("\n---\n")
    );
}

#[test]
fn the_fast_reader_reads_every_benchmark_document_as_serde_saphyr_does() {
    let Some(text) = bench_stream(24) else { return };
    let mut t = Tally::default();
    compare("bench", &text, &mut t);
    assert_clean("benchmark stream", &t);
    // Every document of the benchmark is in the subset (else it measures serde-saphyr).
    assert_eq!((t.fast, t.fallback), (24, 0));
    // Mutants of one document of each kind (the stream repeats 12 kinds).
    let mut t = Tally::default();
    for raw in yaml::split_documents(&text).iter().take(12) {
        for m in mutants(raw.chunk, 3) {
            compare("bench mutant", &m, &mut t);
        }
    }
    assert_clean("benchmark mutants", &t);
}

#[test]
fn the_fast_reader_reads_the_corpus_as_serde_saphyr_does() {
    let Some(dir) = corpus() else { return };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "corpus incomplete in {}", dir.display());
    let mut t = Tally::default();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("corpus file");
        compare(&f.display().to_string(), &text, &mut t);
    }
    assert_clean("real-world corpus", &t);
    assert!(
        t.fast > 100,
        "the fast reader read only {} documents",
        t.fast
    );
}

#[test]
fn the_fast_reader_reads_the_yaml_test_suite_as_serde_saphyr_does() {
    let Some(dir) = corpus() else { return };
    let suite = dir.join("yaml-test-suite");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&suite)
        .expect("yaml-test-suite")
        .filter_map(|e| e.ok().map(|e| e.path().join("in.yaml")))
        .filter(|p| p.is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 400, "{} cases", cases.len());
    let mut t = Tally::default();
    let mut m = Tally::default();
    for case in &cases {
        let text = std::fs::read_to_string(case).expect("in.yaml");
        compare(&case.display().to_string(), &text, &mut t);
        if text.len() < 400 {
            for mutant in mutants(&text, 1) {
                compare(&case.display().to_string(), &mutant, &mut m);
            }
        }
    }
    assert_clean("YAML test suite", &t);
    assert_clean("YAML test suite mutants", &m);
}

/// Edge cases at the border of the subset: whatever the fast reader accepts reads the same.
#[test]
fn the_fast_reader_agrees_on_edge_cases() {
    let cases = [
        "a: 1\n",
        "a: -1\nb: -0\nc: 0\nd: 00\ne: 0644\nf: 123456789012345678\ng: 1234567890123456789\n",
        "a: 100m\nb: 128Mi\nc: 1e3\nd: 0x1F\ne: 0o17\nf: 0b1\ng: 1_000\nh: 1:20\ni: 1.5\n",
        "a: true\nb: false\nc: null\nd: True\ne: yes\nf: on\ng: y\nh: n\ni: ~\nj: NULL\nk: off\n",
        "a: inf\nb: .inf\nc: -.inf\nd: nan\ne: .NaN\nf: -inf\ng: --inf\n",
        "a: --port\nb: -x\nc: - x\nd: -\ne: ---\nf: /etc/app\n",
        "a: 'it''s'\nb: \"x\\ty\"\nc: \"q\"\nd: ''\ne: \"\"\n",
        "\"a\": 1\n'b': 2\n\"a b\": 3\n",
        "a: x #c\nb: x#c\nc: \"x\"#c\nd: [a]#c\ne: {a: b} #c\n",
        "a: {b: c, d: [1, 2, {e: f}], g: {}}\nh: []\n",
        "a: {b: c,}\nb: [1, 2,]\n",
        "a: [b: c]\n",
        "a: {b:c}\n",
        "a: {b: }\n",
        "a: [a b, c d]\n",
        "a: [\"x\": 1]\n",
        "a: 1\na: 2\n",
        "a: {b: 1, b: 2}\n",
        "a:\n- 1\n- 2\nb:\n  - x\n  -\n  - y\n",
        "a:\n  - b: 1\n    c: 2\n  - d\n",
        "a:\n  - b: 1\n   c: 2\n",
        "a:\n  - b: 1\n     c: 2\n",
        "a:\n  b: 1\n   c: 2\n",
        "a: b\n  c\n",
        "a: b\nc\n",
        "- a\n- b\n",
        "a: |\n  x\n  y\nb: 1\n",
        "a: |-\n  x\n\n  y\n\nb: 1\n",
        "a: |\n  x\n # c\nb: 1\n",
        "a: |\n  x\n   y\n",
        "a: |\n   x\n  y\n",
        "a: |\n\n  x\n",
        "a: |2\n  x\n",
        "a: |+\n  x\n\n",
        "a: >\n  x\n",
        "a: |\nb: 1\n",
        "a: |#c\n  x\n",
        "a: | #c\n  x\n",
        "- a: |\n    x\n  b: 1\n",
        "a:\n  - |\n    x\n  - y\n",
        "a: &x 1\nb: *x\n",
        "a: !!str 1\n",
        "<<: {a: 1}\n",
        "? a\n: b\n",
        "a: b: c\n",
        "a:b\n",
        "a :b\n",
        "a : b\n",
        "a: [1,\n  2]\n",
        "a: \"x\n  y\"\n",
        "a:\n  b:\n    c:\n      d: 1\n",
        "a: x\n# c\n  # c\nb: y\n",
        "    a: 1\n",
        "a: 1\n...\n",
        "--- # c\na: 1\n",
        "%YAML 1.2\n---\na: 1\n",
        "a: 1 \nb: 2  \n",
        "a: b c d\ne: x, y\nf: {x}\ng: a]\n",
        "a: @x\nb: `x\nc: %x\nd: !x\ne: ,x\n",
        "a: registry.example.com/team/app:3.0\nb: http://x:80/y\n",
        "a:\n    - b\n  c: d\n",
        "a:\n- b\n  c: d\n",
        "a: 2001-12-14\nb: 12:30:00\n",
        "a: 1\n\n\n#c\n",
        "a: none\nb: None\nc: nil\nd: NONE\ne: Nil\nf: undefined\ng: empty\nh: Off\ni: e3\nj: x1\n",
        "a: -a\nb: -Inf\nc: -nan\nd: --\ne: -_\nf: /\ng: 0s\nh: 1d\ni: 9E\nj: 1M\n",
    ];
    let mut t = Tally::default();
    for (i, c) in cases.iter().enumerate() {
        compare(&format!("case {i}"), c, &mut t);
        for m in mutants(c, 1) {
            compare(&format!("case {i} mutant"), &m, &mut t);
        }
    }
    assert_clean("edge cases", &t);
    // The shapes Helm writes are in the subset.
    for c in [
        "a: 1\n",
        "a: {b: c, d: [1, 2, {e: f}], g: {}}\nh: []\n",
        "a:\n  - b: 1\n    c: 2\n  - d\n",
        "a: |\n  x\n  y\nb: 1\n",
        "--- # c\na: 1\n",
    ] {
        let raw = &yaml::split_documents(c)[0];
        assert!(yaml::fast_path(raw).is_some(), "not read fast: {c}");
    }
}
