//! Pod start time, unpatched (writable root, no rofs) vs patched by `rofs patch` (read-only
//! root, seeded by the agent), side by side in one run. Not part of CI (`#[ignore]`); run
//! it with `benches/e2e/start-time.sh` (see there for the settings).
//!
//! One sample = a fresh pod: from the start of `podman kube play` to the first HTTP 200 on
//! the app's page, polled every 50 ms. For the patched pod that includes `rofs-install` and
//! `rofs-seed-<c>` (init containers run one after the other before the app starts). Not
//! included: the harness's set-up of the emptyDir volumes before `kube play` (podman
//! commands, ~0.1 s each; a kubelet makes an emptyDir with a mkdir or a tmpfs mount).
//! Also reported: how long `kube play` itself took (it returns once the init containers
//! have run and the app container is started).
//! Unpatched and patched runs alternate, so drift on the machine hits both alike.

use std::time::Duration;

use rofs_e2e::{
    NGINX_IMAGE, NOSHELL_IMAGE, PlayOptions, Pod, TOMCAT_IMAGE, free_port, http_get, podman_ok,
    require, rofs_image, rofs_patch, unique_name,
};

struct App {
    name: &'static str,
    image: &'static str,
    container: &'static str,
    port: u16,
    /// the page whose first 200 means "started"
    path: &'static str,
    /// `rofs patch` arguments (plus `--agent-image`)
    args: &'static [&'static str],
}

const APPS: &[App] = &[
    App {
        name: "nginx",
        image: NGINX_IMAGE,
        container: "nginx",
        port: 80,
        path: "/rofs-e2e.txt",
        args: &["--profile", "nginx"],
    },
    App {
        name: "tomcat",
        image: TOMCAT_IMAGE,
        container: "tomcat",
        port: 8080,
        path: "/rofs-e2e.txt",
        args: &["--profile", "tomcat"],
    },
    App {
        name: "noshell",
        image: NOSHELL_IMAGE,
        container: "web",
        port: 8080,
        path: "/",
        args: &["--writable", "/srv/www"],
    },
];

fn manifest(app: &App, name: &str, host_port: u16, read_only: bool) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  containers:
  - name: {c}
    image: {image}
    ports:
    - {{containerPort: {port}, hostPort: {host_port}}}
    securityContext:
      readOnlyRootFilesystem: {read_only}
"#,
        c = app.container,
        image = app.image,
        port = app.port,
    )
}

/// Plays `yaml`; returns the time from `podman kube play` to the first 200 on `path`, and
/// how long `kube play` itself took (init containers run, containers started).
fn start_once(app: &App, yaml: &str, port: u16) -> (Duration, Duration) {
    let pod = Pod::try_play_with(yaml, PlayOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    loop {
        if let Ok((200, _)) = http_get(port, app.path) {
            return (pod.played_at.elapsed(), pod.kube_play_took);
        }
        assert!(
            pod.played_at.elapsed() < Duration::from_secs(180),
            "{} did not answer 200 on {}; log:\n{}",
            pod.name,
            app.path,
            pod.logs(app.container)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    }
}

fn ms(d: Duration) -> String {
    format!("{}", d.as_millis())
}

fn image_size(image: &str) -> String {
    let bytes: f64 = podman_ok(&["image", "inspect", "--format", "{{.Size}}", image])
        .trim()
        .parse()
        .unwrap_or(0.0);
    format!("{:.1} MB", bytes / 1e6)
}

#[test]
#[ignore = "benchmark: benches/e2e/start-time.sh"]
fn report() {
    let agent_image = rofs_image();
    require!(NGINX_IMAGE, TOMCAT_IMAGE, NOSHELL_IMAGE, &agent_image);
    let runs: usize = std::env::var("ROFS_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let only = std::env::var("ROFS_BENCH_APPS").unwrap_or_default();
    let mut rows = Vec::new();
    for app in APPS
        .iter()
        .filter(|a| only.is_empty() || only.split(',').any(|o| o == a.name))
    {
        // one untimed start of each kind warms the page cache
        let mut plain = Vec::new();
        let mut patched = Vec::new();
        let (mut plain_play, mut patched_play) = (Vec::new(), Vec::new());
        for i in 0..=runs {
            let port = free_port();
            let name = unique_name(&format!("bench-{}-plain", app.name));
            let (dp, kp) = start_once(app, &manifest(app, &name, port, false), port);
            let port = free_port();
            let name = unique_name(&format!("bench-{}-rofs", app.name));
            let mut args = app.args.to_vec();
            args.extend(["--agent-image", &agent_image]);
            let yaml = rofs_patch(&args, &manifest(app, &name, port, true));
            let (dr, kr) = start_once(app, &yaml, port);
            let warm = if i == 0 {
                " (warm-up, not counted)"
            } else {
                ""
            };
            eprintln!(
                "{} run {i}{warm}: unpatched {} ms (kube play {} ms), patched {} ms (kube play {} ms)",
                app.name,
                ms(dp),
                ms(kp),
                ms(dr),
                ms(kr)
            );
            if i > 0 {
                plain.push(dp);
                patched.push(dr);
                plain_play.push(kp);
                patched_play.push(kr);
            }
        }
        let (mp, mr) = (median(&plain), median(&patched));
        let list = |v: &[Duration]| v.iter().map(|d| ms(*d)).collect::<Vec<_>>().join(", ");
        rows.push(format!(
            "| {} | {} | {} | {} | {:+} ms ({:+.0}%) | {} / {} | {} / {} |",
            app.name,
            image_size(app.image),
            ms(mp),
            ms(mr),
            mr.as_millis() as i128 - mp.as_millis() as i128,
            (mr.as_secs_f64() / mp.as_secs_f64() - 1.0) * 100.0,
            ms(median(&plain_play)),
            ms(median(&patched_play)),
            list(&plain),
            list(&patched),
        ));
    }
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "\nPod start to first HTTP 200, median of {runs} (ms), podman {} kube play, {cpus} CPUs\n",
        podman_ok(&["version", "--format", "{{.Client.Version}}"]).trim()
    );
    println!(
        "| app | image | unpatched, writable root | patched, read-only root, seeded | overhead | of which `kube play` (median): unpatched / patched | all runs: unpatched / patched |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    println!(
        "\nrofs image ({agent_image}, run by rofs-install): {}",
        image_size(&agent_image)
    );
}
