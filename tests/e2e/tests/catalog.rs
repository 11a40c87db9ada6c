//! Every proven catalog entry (`catalog/*.yaml`, read by `rofs_e2e::catalog`) on podman:
//! patched with all its writable paths, its image runs with a read-only root, becomes ready
//! (the entry's own check) and logs no `Read-only file system`; then each path is removed in
//! turn (the others passed as `--writable`) and the app must break: exit, never become ready,
//! answer its HTTP check with 500, or log a refused write (EROFS). A path whose removal leaves
//! the app ready must account for it in its `why`: why it is kept (the word "kept": logs
//! written later, state written at shutdown...) or what fails without it ("without it ...",
//! which another test proves, as profile_paths.rs does for Tomcat's /tmp).
//! The list comes from the catalog files: a new entry is tested without a change here.
//! A second test runs `rofs discover` on every entry's image and its answer through
//! `rofs patch --config` (discover + patch + run), and compares it with the entry.
//! The cluster suite runs the same entries with `rofs patch --profile NAME`
//! (tests/cluster/tests/catalog.rs).
//!
//! Env: `ROFS_CATALOG_ONLY=a,b` tests only those entries; `ROFS_CATALOG_PARALLEL` pods at
//! once (default 4).

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rofs_e2e::catalog::{self, Entry, Ready, erofs_lines};
use rofs_e2e::{Pod, free_port, http_get, rofs_image, rofs_patch, unique_name};

/// Start-up bound: the JVM apps (Jetty, RabbitMQ, Tomcat) take 5-20 s on 2 busy cores.
const START: Duration = Duration::from_secs(180);

#[derive(Debug)]
struct Outcome {
    ready: bool,
    exit: Option<i32>,
    /// an HTTP check answered 500 (an app error, not "starting"): the first line of the body
    error_answer: Option<String>,
    erofs: Vec<String>,
    log: String,
    took: Duration,
}

impl Outcome {
    fn broken(&self) -> bool {
        !self.ready || !self.erofs.is_empty() || self.error_answer.is_some()
    }

    fn summary(&self) -> String {
        if let Some(a) = &self.error_answer {
            return format!("HTTP 500: {a}");
        }
        match (self.ready, self.exit, self.erofs.first()) {
            (_, _, Some(line)) => format!("EROFS: {}", line.trim()),
            (true, _, None) => "ready".to_string(),
            (false, Some(code), None) => format!("exited {code}"),
            (false, None, None) => format!("not ready after {:?}", self.took),
        }
    }
}

/// The entry's ready check, once: whether it passed, the HTTP status and the answer's body
/// (an app may name the refused write there, as the PHP page does, rather than in its log).
fn probe(
    entry: &Entry,
    host_port: u16,
    log: &str,
    running_for: Duration,
) -> (bool, Option<u16>, String) {
    match &entry.ready {
        Ready::Tcp(_) => (
            TcpStream::connect_timeout(
                &SocketAddr::from((Ipv4Addr::LOCALHOST, host_port)),
                Duration::from_secs(1),
            )
            .is_ok(),
            None,
            String::new(),
        ),
        Ready::Http(_, path) => match http_get(host_port, path) {
            Ok((status, body)) => (status == 200, Some(status), body),
            Err(_) => (false, None, String::new()),
        },
        Ready::Log(text) => (log.contains(text.as_str()), None, String::new()),
        Ready::After(d) => (running_for >= *d, None, String::new()),
    }
}

/// Plays the entry's pod patched with `args` and watches it until it is ready, exits, logs
/// a refused write, or START passes.
fn run(entry: &Entry, args: &[String]) -> Result<Outcome, String> {
    let name = unique_name(&format!("e2e-cat-{}", entry.name));
    let host_port = free_port();
    let input = entry.pod(&name, Some(host_port));
    let played = if args.is_empty() {
        input // no path left: the plain read-only pod
    } else {
        let agent = rofs_image();
        let mut full: Vec<&str> = vec!["--agent-image", &agent];
        full.extend(args.iter().map(String::as_str));
        rofs_patch(&full, &input)
    };
    let pod = Pod::try_play(&played)?;
    let start = Instant::now();
    // ready at two polls in a row: a server that opens its port and then aborts (MariaDB
    // without its socket directory) is not ready
    let mut streak = 0;
    loop {
        let log = pod.logs("app");
        let (state, code) = pod.state("app");
        let running = state == "running";
        let (passed, status, body) = if running {
            probe(entry, host_port, &log, start.elapsed())
        } else {
            (false, None, String::new())
        };
        // 500 is the app failing, not starting (that is 503 or no answer): final
        let error_answer =
            (status == Some(500)).then(|| body.lines().next().unwrap_or_default().to_string());
        let erofs: Vec<String> = erofs_lines(&log)
            .into_iter()
            .chain(erofs_lines(&body))
            .map(str::to_string)
            .collect();
        if passed {
            streak += 1;
        } else {
            streak = 0;
        }
        let ready = streak >= 2;
        let exit = (state == "exited").then_some(code);
        if ready
            || exit.is_some()
            || !erofs.is_empty()
            || error_answer.is_some()
            || start.elapsed() >= START
        {
            if ready {
                pod.assert_root_read_only("app");
            }
            // the log once more: what the app wrote while the check ran
            let log = pod.logs("app");
            let erofs = erofs_lines(&log)
                .into_iter()
                .chain(erofs_lines(&body))
                .map(str::to_string)
                .collect();
            return Ok(Outcome {
                ready,
                exit,
                error_answer,
                erofs,
                log,
                took: start.elapsed(),
            });
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// One pod to run: the whole profile (`without: None`) or the profile less one path.
struct Job {
    entry: Entry,
    without: Option<String>,
}

/// Checks one job; `Ok(report line)` or `Err(failure)`.
fn check(job: &Job) -> Result<String, String> {
    let e = &job.entry;
    let out = run(e, &e.writable_args(job.without.as_deref()))
        .map_err(|err| format!("{}: the pod did not start: {err}", e.name))?;
    match &job.without {
        None if out.broken() => Err(format!(
            "{} ({}) patched with its whole profile is not ready and clean: {}\n--- log ---\n{}",
            e.name,
            e.file.display(),
            out.summary(),
            tail(&out.log)
        )),
        None => Ok(format!(
            "{:<12} whole profile ({} paths): ready in {:.1?}",
            e.name,
            e.writable.len(),
            out.took
        )),
        Some(path) => {
            let w = e
                .writable
                .iter()
                .find(|w| w.path() == path)
                .expect("the job's path");
            if out.broken() {
                Ok(format!("{:<12} without {path}: {}", e.name, out.summary()))
            } else if w.kept() {
                Ok(format!(
                    "{:<12} without {path}: still ready; why: {}",
                    e.name, w.why
                ))
            } else {
                Err(format!(
                    "{} ({}): without {path} the app is still ready and logs no refused write; \
                     remove the path, or say in its `why` why it is kept (\"kept: ...\") or what \
                     fails without it (\"without it ...\")\n--- log ---\n{}",
                    e.name,
                    e.file.display(),
                    tail(&out.log)
                ))
            }
        }
    }
}

/// The entries to test (`ROFS_CATALOG_ONLY`), or `None` when podman or an image is missing
/// (a failure under ROFS_REQUIRE_TOOLS=1).
fn selected_entries() -> Option<Vec<Entry>> {
    let entries = catalog::selected();
    assert!(
        !entries.is_empty(),
        "no proven entry in catalog/*.yaml (ROFS_CATALOG_ONLY={:?})",
        std::env::var("ROFS_CATALOG_ONLY").ok()
    );
    let rofs = rofs_image();
    let mut images: Vec<&str> = entries.iter().map(|e| e.image.as_str()).collect();
    images.push(&rofs);
    if !rofs_e2e::ready(module_path!(), &images) {
        assert!(
            std::env::var("ROFS_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "podman or catalog images missing and ROFS_REQUIRE_TOOLS=1"
        );
        return None;
    }
    Some(entries)
}

#[test]
fn catalog_entries_run_read_only_and_need_each_path() {
    let Some(entries) = selected_entries() else {
        return;
    };
    let mut jobs = Vec::new();
    for e in &entries {
        jobs.push(Job {
            entry: e.clone(),
            without: None,
        });
        for w in &e.writable {
            jobs.push(Job {
                entry: e.clone(),
                without: Some(w.path().to_string()),
            });
        }
    }
    let parallel = env_number("ROFS_CATALOG_PARALLEL", 4);
    let t0 = Instant::now();
    let results = in_parallel(jobs, parallel, |job: &Job| job.entry.name.clone(), check);
    report(
        "catalog",
        &format!(
            "{} entries, {} pods in {:.0?}",
            entries.len(),
            results.len(),
            t0.elapsed()
        ),
        results,
    );
}

/// A whole number from the environment, else `default`.
fn env_number(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `work` on every item, `parallel` at a time; a panic is that item's failure, named
/// by `name`.
fn in_parallel<T: Sync>(
    items: Vec<T>,
    parallel: usize,
    name: impl Fn(&T) -> String + Sync,
    work: impl Fn(&T) -> Result<String, String> + Sync,
) -> Vec<Result<String, String>> {
    let queue = Mutex::new(items.iter().collect::<VecDeque<_>>());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..parallel.max(1) {
            s.spawn(|| {
                loop {
                    let Some(item) = queue.lock().expect("queue").pop_front() else {
                        return;
                    };
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(item)))
                        .unwrap_or_else(|p| {
                            let msg = p
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                                .unwrap_or_default();
                            Err(format!("{} panicked: {msg}", name(item)))
                        });
                    results.lock().expect("results").push(r);
                }
            });
        }
    });
    results.into_inner().expect("results")
}

/// Prints the passed checks (sorted) and the summary, then fails with every failure.
fn report(label: &str, summary: &str, mut results: Vec<Result<String, String>>) {
    results.sort_by(|a, b| {
        let k = |r: &Result<String, String>| r.clone().unwrap_or_else(|e| e);
        k(a).cmp(&k(b))
    });
    for r in results.iter().flatten() {
        eprintln!("{label}: {r}");
    }
    eprintln!("{label}: {summary}");
    let failures: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "{label}: {} of {} checks failed:\n\n{}",
        failures.len(),
        results.len(),
        failures
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

/// What `rofs discover` answered for one entry, and how its answer ran.
struct Discovered {
    specs: Vec<String>,
    rounds: String,
    took: Duration,
    run: Result<Outcome, String>,
}

/// `rofs discover` on the entry's image with the entry's ready check (no minimality runs: the
/// test above removes each path in turn), then the entry's pod patched with discover's
/// config file (`rofs patch --config`) and run.
fn discover_and_run(e: &Entry) -> Result<Discovered, String> {
    let dir = std::env::temp_dir().join(unique_name(&format!("e2e-disc-{}", e.name)));
    std::fs::create_dir_all(&dir).map_err(|err| format!("{}: {err}", dir.display()))?;
    let config = dir.join("rofs.yaml");
    let config_arg = config.to_string_lossy().into_owned();
    let agent = rofs_image();
    let t0 = Instant::now();
    let out = rofs_e2e::rofs(
        &[
            "discover",
            "--agent-image",
            &agent,
            &e.image,
            "--ready",
            &e.ready_text,
            "--ready-timeout",
            "180s",
            "--no-minimality",
            "-o",
            &config_arg,
        ],
        "",
    );
    let took = t0.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(format!(
            "{}: rofs discover {} failed ({}):\n{stderr}",
            e.name, e.image, out.status
        ));
    }
    let text = std::fs::read_to_string(&config).map_err(|err| format!("{config_arg}: {err}"))?;
    let doc: serde_json::Value = serde_saphyr::from_str(&text)
        .map_err(|err| format!("{}: discover's config is not YAML: {err}\n{text}", e.name))?;
    let specs: Vec<String> = doc["writable"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let rounds = stderr
        .lines()
        .rev()
        .find_map(|l| l.split_once("writable paths, ").map(|(_, r)| r.to_string()))
        .unwrap_or_default();
    let run = run(e, &["--config".to_string(), config_arg]);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Discovered {
        specs,
        rounds,
        took,
        run,
    })
}

/// Discover's answer compared with the entry: the same paths when the entry says
/// `humanEdits: none`; otherwise every path a person added or removed is named in
/// `humanEdits` (the record of the edit), and the differences are listed.
fn compare(e: &Entry, d: &Discovered) -> Result<String, String> {
    let mut found = d.specs.clone();
    found.sort();
    let mut listed: Vec<String> = e.writable.iter().map(|w| w.spec.clone()).collect();
    listed.sort();
    let added: Vec<&String> = listed.iter().filter(|s| !found.contains(s)).collect();
    let removed: Vec<&String> = found.iter().filter(|s| !listed.contains(s)).collect();
    let edits = e
        .human_edits
        .as_deref()
        .unwrap_or("(no proven.discover record)");
    let path = |spec: &str| spec.split(':').next().unwrap_or_default().to_string();
    let unrecorded: Vec<&String> = added
        .iter()
        .chain(&removed)
        .copied()
        .filter(|s| edits == "none" || !edits.contains(&path(s)))
        .collect();
    if !unrecorded.is_empty() || e.human_edits.is_none() {
        return Err(format!(
            "{} ({}): rofs discover found {found:?}, the entry lists {listed:?}; \
             proven.discover.humanEdits ({edits}) does not account for {unrecorded:?}: update \
             the entry to discover's answer, or name each path a person added or removed",
            e.name,
            e.file.display()
        ));
    }
    let run = match &d.run {
        Ok(out) if !out.broken() => format!("ready in {:.1?}", out.took),
        Ok(out) => {
            return Err(format!(
                "{}: patched with discover's config, the app is not ready and clean: {}\n\
                 --- log ---\n{}",
                e.name,
                out.summary(),
                tail(&out.log)
            ));
        }
        Err(err) => return Err(format!("{}: the pod did not start: {err}", e.name)),
    };
    Ok(format!(
        "{:<12} discover {:.0?}, {}: {} -> patched with it: {run}{}",
        e.name,
        d.took,
        d.rounds,
        found.join(" "),
        if added.is_empty() && removed.is_empty() {
            String::new()
        } else {
            format!("; by hand: +{added:?} -{removed:?} ({edits})")
        }
    ))
}

/// Every proven entry's image through `rofs discover`, and discover's answer through `rofs
/// patch --config` into a read-only pod that becomes ready with no refused write. The
/// answer must be the entry's paths (`humanEdits: none`), or differ only by paths the entry's
/// `humanEdits` names.
/// Env: `ROFS_CATALOG_ONLY` as above; `ROFS_DISCOVER_PARALLEL` images at once (default 3).
#[test]
fn discover_answers_every_catalog_entry_and_the_answer_runs() {
    let Some(entries) = selected_entries() else {
        return;
    };
    let parallel = env_number("ROFS_DISCOVER_PARALLEL", 3);
    let t0 = Instant::now();
    let results = in_parallel(
        entries.iter().collect(),
        parallel,
        |e: &&Entry| e.name.clone(),
        |e: &&Entry| discover_and_run(e).and_then(|d| compare(e, &d)),
    );
    report(
        "discover",
        &format!("{} images in {:.0?}", entries.len(), t0.elapsed()),
        results,
    );
}
