//! `rofs profiles` (the catalog) and `--profile auto`, through the binary.

use crate::run::rofs;

fn ok(args: &[&str], stdin: &str) -> (String, String) {
    let out = rofs(args, stdin);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "rofs {args:?}: {stderr}");
    (stdout, stderr)
}

#[test]
fn the_list_names_patterns_paths_and_proof() {
    let (out, err) = ok(&["profiles"], "");
    assert_eq!(err, "");
    // Reviewed by hand against catalog/*.yaml; tests/e2e reads the `writable:` lines.
    for block in [
        "java\n    Any JVM: java.io.tmpdir (/tmp) for temporary files and hsperfdata (same paths as tmp)\n    images: none (a generic profile: --profile java)\n    writable: /tmp:empty\n",
        "nginx\n    nginx from Debian/Ubuntu packages (nginx, nginx-light, nginx-full): body and proxy temp dirs under /var/lib/nginx, logs, the pid file in /run\n    images: rofs-e2e-nginx\n    writable: /var/lib/nginx, /var/log/nginx, /run:memory:1Mi:empty\n    proven on: localhost/rofs-e2e-nginx:bookworm (2026-11-30)\n",
        "tmp\n    Only /tmp, empty (many apps write temporary files there)\n    images: none (a generic profile: --profile tmp)\n    writable: /tmp:empty\n",
        "tomcat\n    Apache Tomcat 10 from Debian packages (tomcat10): logs, work dir (compiled JSPs), temp dir\n    images: rofs-e2e-tomcat, rofs-e2e-tomcat-war\n    writable: /var/log/tomcat10, /var/cache/tomcat10, /tmp:empty\n    proven on: localhost/rofs-e2e-tomcat:bookworm (2026-11-30)\n",
    ] {
        assert!(out.contains(block), "{block:?} not in:\n{out}");
    }
    let names: Vec<&str> = out.lines().filter(|l| !l.starts_with(' ')).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "sorted by name");
}

#[test]
fn show_prints_the_whole_entry() {
    let (out, _) = ok(&["profiles", "show", "nginx"], "");
    for needle in [
        "nginx: nginx from Debian/Ubuntu packages",
        "\nimages: rofs-e2e-nginx\n",
        "\n  /var/lib/nginx\n      why: client body, proxy, fastcgi, uwsgi and scgi temp dirs",
        "\n  /run:memory:1Mi:empty\n      why: /run/nginx.pid, written at start",
        "\nnotes: images names the image the profile is proven on, not `nginx`",
        "\nproven on: localhost/rofs-e2e-nginx:bookworm\n  packages: nginx-light=1.22.1-9+deb12u9 nginx-common=1.22.1-9+deb12u9\n  ready: http://127.0.0.1:80/\n  date: 2026-11-30\n",
        "\nsource: catalog/nginx.yaml\n",
    ] {
        assert!(out.contains(needle), "{needle:?} not in:\n{out}");
    }
    let (out, _) = ok(&["profiles", "show", "tmp"], "");
    assert!(out.contains("\nproven: no (a generic profile)\n"), "{out}");
}

#[test]
fn show_as_yaml_is_the_catalog_format_and_json_has_its_keys() {
    let catalog = rofs_core::catalog::Catalog::builtin().expect("catalog");
    for entry in catalog.entries() {
        let (yaml, _) = ok(&["profiles", "show", &entry.name, "--format", "yaml"], "");
        let back = rofs_core::catalog::parse_entry(&yaml, &entry.file).expect("parses");
        assert_eq!(&back, entry);
    }
    let (json, _) = ok(&["profiles", "--format", "json"], "");
    let list: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let names: Vec<&str> = (list.as_array().expect("a list").iter())
        .map(|e| e["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        [
            "apache-php",
            "gunicorn",
            "java",
            "jetty",
            "mariadb",
            "nginx",
            "nodejs",
            "php-fpm",
            "postgresql",
            "prometheus",
            "rabbitmq",
            "redis",
            "tmp",
            "tomcat"
        ]
    );
    let (java, nginx) = (&list[2], &list[5]);
    assert_eq!(nginx["writable"][2]["path"], "/run:memory:1Mi:empty");
    assert_eq!(nginx["proven"]["ready"], "http://127.0.0.1:80/");
    assert!(java.get("proven").is_none(), "{java}");
}

#[test]
fn an_unknown_name_is_an_error_listing_the_known_ones() {
    let out = rofs(&["profiles", "show", "ngnix"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "rofs: error: unknown profile \"ngnix\"; profiles: apache-php, gunicorn, java, jetty, mariadb, nginx, nodejs, php-fpm, postgresql, prometheus, rabbitmq, redis, tmp, tomcat (`auto` is not a profile but picks them by image)\n"
    );
}

#[test]
fn image_lists_what_auto_picks() {
    let (out, err) = ok(
        &[
            "profiles",
            "--image",
            "localhost/rofs-e2e-tomcat-war:bookworm",
        ],
        "",
    );
    assert!(
        out.starts_with("tomcat\n") && !out.contains("\nnginx\n"),
        "{out}"
    );
    assert_eq!(err, "");
    let (out, err) = ok(
        &["profiles", "--image", "nginx-prometheus-exporter:1.1"],
        "",
    );
    assert_eq!(out, "");
    assert!(
        err.starts_with("rofs: no profile matches image \"nginx-prometheus-exporter:1.1\""),
        "{err}"
    );
}

const POD: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: web
    image: localhost/rofs-e2e-nginx:bookworm
  - name: x
    image: busybox:1.36
";

/// `auto` from the flag, the annotation and a config file: nginx's paths for the nginx image,
/// a warning (not an error) naming the container whose image nothing matches.
#[test]
fn auto_applies_the_profiles_matching_each_image() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("rofs.yaml");
    std::fs::write(&config, "profiles: [auto]\n").expect("write config");
    let annotated = POD.replace(
        "  name: web\nspec",
        "  name: web\n  annotations:\n    rofs.io/profile: auto\nspec",
    );
    let config = config.to_str().expect("UTF-8 path");
    for (args, input) in [
        (&["patch", "--profile", "auto"][..], POD),
        (&["patch"][..], &annotated[..]),
        (&["patch", "--config", config][..], POD),
    ] {
        let (out, err) = ok(args, input);
        let patched: serde_json::Value = rofs_manifest::yaml::from_str(&out).expect("YAML output");
        let mounts = |i: usize| -> Vec<String> {
            let list = patched["spec"]["containers"][i]["volumeMounts"].as_array();
            list.into_iter()
                .flatten()
                .filter_map(|m| m["mountPath"].as_str())
                .map(str::to_string)
                .collect()
        };
        assert_eq!(
            mounts(0),
            ["/run", "/var/lib/nginx", "/var/log/nginx"],
            "{args:?}"
        );
        assert_eq!(mounts(1), Vec::<String>::new(), "{args:?}");
        assert!(
            err.contains(
                "container \"x\": profile auto: no catalog profile matches image \"busybox:1.36\""
            ),
            "{args:?}: {err}"
        );
        assert!(!err.contains("container \"web\""), "{err}");
    }
}
