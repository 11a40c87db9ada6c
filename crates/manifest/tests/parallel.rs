//! Documents are read and rewritten on several threads (issue 14): the result must not depend
//! on how many, nor on which thread finishes first: the same output, warnings and counts as
//! one thread, and the first error in input order, even when a later document fails sooner.

mod common;
use common::bench_stream;

use rofs_core::Settings;
use rofs_manifest::{Format, Input, ManifestError, Patched};

fn settings(rollout: bool) -> Settings {
    Settings {
        writable: vec![
            "/tmp:empty".parse().expect("valid path"),
            "/var/cache/app".parse().expect("valid path"),
        ],
        rollout_on_change: rollout,
        ..Settings::default()
    }
}

fn run(name: &str, text: &str, rollout: bool, jobs: usize) -> Result<Patched, ManifestError> {
    rofs_manifest::patch_with_jobs(
        &[Input { name, text }],
        &settings(rollout),
        Format::Auto,
        jobs,
    )
}

/// Everything a run gives, as text, to compare runs.
fn outcome(r: &Result<Patched, ManifestError>) -> String {
    match r {
        Ok(p) => format!(
            "{}\n{:?}\n{} {} {}\n{:?}\n{:?}",
            p.output, p.warnings, p.documents, p.workloads, p.changed, p.containers, p.volumes
        ),
        Err(e) => format!("error: {e}"),
    }
}

fn same_on_any_number_of_threads(name: &str, text: &str) {
    for rollout in [false, true] {
        let one = outcome(&run(name, text, rollout, 1));
        for jobs in [0, 3] {
            let many = outcome(&run(name, text, rollout, jobs));
            assert!(
                one == many,
                "{name} (rollout-on-change {rollout}): {jobs} threads differ from one"
            );
        }
    }
}

#[test]
fn the_benchmark_stream_comes_out_the_same_on_any_number_of_threads() {
    let Some(text) = bench_stream(600) else {
        return;
    };
    same_on_any_number_of_threads("bench.yaml", &text);
}

#[test]
fn the_corpus_comes_out_the_same_on_any_number_of_threads() {
    let Some(dir) = common::corpus() else {
        return;
    };
    let files = common::corpus_files(&dir);
    // The corpus as one stream too: enough documents for several threads.
    let mut all = String::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("corpus file");
        same_on_any_number_of_threads(&f.display().to_string(), &text);
        if f.extension().is_some_and(|e| e == "yaml") {
            all.push_str("---\n");
            all.push_str(&text);
            all.push('\n');
        }
    }
    same_on_any_number_of_threads("corpus.yaml", &all);
}

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: app\n    image: x\n";

/// 400 Pods, with `first` at document 20 and `second` at document 390.
fn with_errors(first: &str, second: &str) -> String {
    let mut docs = vec![POD.to_string(); 400];
    docs[19] = first.to_string();
    docs[389] = second.to_string();
    docs.join("---\n")
}

#[test]
fn the_first_error_in_input_order_wins_whatever_thread_finds_it_first() {
    // A document that takes long to read, then fails, before one that fails at once.
    let mut slow =
        String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: slow\ndata:\n");
    for i in 0..5_000 {
        slow.push_str(&format!("  k{i}: \"v{i}\"\n"));
    }
    let slow_syntax = format!("{slow}  bad: [1,\n");
    let cases = [
        (slow_syntax.as_str(), "a: [1,\n"),
        (slow_syntax.as_str(), "- not a map\n"),
        ("- not a map\n", "a: [1,\n"),
        ("a: [1,\n", "- not a map\n"),
        (
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers: 7\n",
            "a: [1,\n",
        ),
        (
            "a: [1,\n",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers: 7\n",
        ),
    ];
    for (first, second) in cases {
        let text = with_errors(first, second);
        let one = run("in.yaml", &text, false, 1);
        let Err(e) = &one else {
            panic!("accepted: {first:?} ... {second:?}");
        };
        let message = e.to_string();
        assert!(
            message.starts_with("in.yaml: document 20 "),
            "the first error is document 20's: {message}\nfirst: {first}"
        );
        for jobs in [0, 2, 8] {
            for rollout in [false, true] {
                let many = run("in.yaml", &text, rollout, jobs);
                assert_eq!(
                    outcome(&many),
                    format!("error: {message}"),
                    "{jobs} threads, rollout-on-change {rollout}"
                );
            }
        }
    }
}
