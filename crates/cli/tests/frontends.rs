//! The tool integrations, run for real: the kubectl plugin through kubectl, the kustomize
//! plugin through `kubectl kustomize`, the KRM function protocol (through kpt when it is
//! installed), and the Helm post-renderer protocol exactly as Helm 3 and Helm 4 run it.
//! Each must give the same pods as `rofs patch` with the same settings.
//!
//! Without kubectl these tests fail under CI (CI=true) and are skipped, with a message, when
//! run by hand.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const ROFS: &str = env!("CARGO_BIN_EXE_rofs");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A directory holding the test binary under every name a tool runs it by.
struct Bin {
    dir: tempfile::TempDir,
}

impl Bin {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in ["rofs", "kubectl-rofs", "rofs-krm", "RofsPatch"] {
            std::os::unix::fs::symlink(ROFS, dir.path().join(name)).expect("symlink");
        }
        Bin { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// PATH with this directory first.
    fn search_path(&self) -> OsString {
        let mut paths = vec![self.dir.path().to_path_buf()];
        paths.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        std::env::join_paths(paths).expect("PATH")
    }
}

/// Find a tool on PATH. Missing: a failure under CI, a skip (with a message) by hand.
fn tool(name: &str, required_in_ci: bool) -> Option<PathBuf> {
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
        assert!(
            !(ci && required_in_ci),
            "{name} is not on PATH: CI must install it (these tests run the real tool)"
        );
        eprintln!("SKIPPED: {name} is not on PATH; install it to run this test");
    }
    found
}

fn run(cmd: &mut Command, stdin: Option<&[u8]>) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    let mut pipe = child.stdin.take().expect("stdin");
    if let Some(data) = stdin {
        // A command that fails before reading its input (a bad flag) closes the pipe: its
        // exit status and stderr are what the caller checks.
        if let Err(e) = pipe.write_all(data) {
            assert_eq!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe,
                "writing stdin: {e}"
            );
        }
    }
    drop(pipe);
    child.wait_with_output().expect("waiting")
}

fn ok(cmd: &mut Command, stdin: Option<&[u8]>) -> String {
    let out = run(cmd, stdin);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Every non-empty document of a YAML stream.
fn documents(text: &str) -> Vec<Value> {
    rofs_manifest::yaml::split_documents(text)
        .iter()
        .map(|d| {
            rofs_manifest::yaml::from_str(d.text)
                .unwrap_or_else(|e| panic!("bad YAML at line {}: {e:?}", d.first_line))
        })
        .filter(|v| !v.is_null())
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in the output"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------- kubectl plugin

#[test]
fn kubectl_plugin_patches_like_rofs_patch() {
    let Some(kubectl) = tool("kubectl", true) else {
        return;
    };
    let bin = Bin::new();
    let deployment = repo().join("examples/nginx/deployment.yaml");
    let list = ok(
        Command::new(&kubectl)
            .args(["plugin", "list"])
            .env("PATH", bin.search_path()),
        None,
    );
    assert!(
        list.contains("kubectl-rofs"),
        "kubectl plugin list:\n{list}"
    );

    let via_kubectl = ok(
        Command::new(&kubectl)
            .args(["rofs", "patch", "--profile", "nginx", "-f"])
            .arg(&deployment)
            .env("PATH", bin.search_path()),
        None,
    );
    let direct = ok(
        Command::new(ROFS)
            .args(["patch", "--profile", "nginx", "-f"])
            .arg(&deployment),
        None,
    );
    assert_eq!(via_kubectl, direct);
    assert!(via_kubectl.contains("readOnlyRootFilesystem: true"));

    // Help and usage errors name the command the user typed.
    let help = ok(
        Command::new(&kubectl)
            .args(["rofs", "patch", "--help"])
            .env("PATH", bin.search_path()),
        None,
    );
    assert!(help.contains("Usage: kubectl rofs patch"), "{help}");
    let bad = run(
        Command::new(&kubectl)
            .args(["rofs", "patch", "--no-such-flag"])
            .env("PATH", bin.search_path()),
        None,
    );
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("Usage: kubectl rofs patch"), "{stderr}");
}

// ---------------------------------------------------------------- kustomize

/// `rofs patch` of the example's base deployment with the settings of its rofs.yaml.
fn patch_with_rofs_yaml(config: &Path) -> Vec<Value> {
    let rofs_yaml = rofs_manifest::yaml::from_str(&read(config)).expect("rofs.yaml");
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = dir.path().join("settings.json");
    std::fs::write(&settings, rofs_yaml["spec"].to_string()).expect("writing settings");
    documents(&ok(
        Command::new(ROFS)
            .arg("patch")
            .arg("--config")
            .arg(&settings)
            .arg(repo().join("examples/kustomize/base/deployment.yaml")),
        None,
    ))
}

fn assert_same_pods(got: &[Value], want: &[Value]) {
    let got = find(got, "Deployment", "web");
    let want = find(want, "Deployment", "web");
    assert_eq!(
        got["spec"]["template"], want["spec"]["template"],
        "pod template differs from `rofs patch`"
    );
    assert_eq!(got["spec"], want["spec"]);
    assert!(
        got["spec"]["template"]["spec"]["initContainers"]
            .as_array()
            .is_some_and(|c| !c.is_empty()),
        "not patched"
    );
}

#[test]
fn kubectl_kustomize_runs_the_example_exec_plugin() {
    let Some(kubectl) = tool("kubectl", true) else {
        return;
    };
    let example = repo().join("examples/kustomize");
    // The committed wrapper script, pointed at the binary under test.
    let out = ok(
        Command::new(&kubectl)
            .args(["kustomize", "--enable-alpha-plugins"])
            .arg(&example)
            .env("KUSTOMIZE_PLUGIN_HOME", example.join("plugin"))
            .env("ROFS", ROFS),
        None,
    );
    let want = patch_with_rofs_yaml(&example.join("rofs.yaml"));
    assert_same_pods(&documents(&out), &want);

    // The binary itself installed as the plugin (no script): rofs reads its name.
    let home = tempfile::tempdir().expect("temp dir");
    let dir = home.path().join("rofs.io/v1alpha1/rofspatch");
    std::fs::create_dir_all(&dir).expect("plugin dir");
    std::os::unix::fs::symlink(ROFS, dir.join("RofsPatch")).expect("symlink");
    let out = ok(
        Command::new(&kubectl)
            .args(["kustomize", "--enable-alpha-plugins"])
            .arg(&example)
            .env("KUSTOMIZE_PLUGIN_HOME", home.path()),
        None,
    );
    assert_same_pods(&documents(&out), &want);
}

#[test]
fn kubectl_kustomize_shows_exec_plugin_errors() {
    let Some(kubectl) = tool("kubectl", true) else {
        return;
    };
    let example = repo().join("examples/kustomize");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        "resources:\n  - deployment.yaml\ntransformers:\n  - rofs.yaml\n",
    )
    .expect("kustomization");
    std::fs::copy(
        example.join("base/deployment.yaml"),
        dir.path().join("deployment.yaml"),
    )
    .expect("deployment");
    std::fs::write(
        dir.path().join("rofs.yaml"),
        "apiVersion: rofs.io/v1alpha1\nkind: RofsPatch\nmetadata:\n  name: broken\nspec:\n  writeable: [/tmp]\n",
    )
    .expect("rofs.yaml");
    let out = run(
        Command::new(&kubectl)
            .args(["kustomize", "--enable-alpha-plugins"])
            .arg(dir.path())
            .env("KUSTOMIZE_PLUGIN_HOME", example.join("plugin"))
            .env("ROFS", ROFS),
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "kustomize succeeded:\n{stderr}");
    assert!(
        stderr.contains(r#"RofsPatch "broken": functionConfig.spec: unknown field `writeable`"#),
        "kustomize's error does not show rofs's message:\n{stderr}"
    );
}

/// A ResourceList as kustomize sends it to a KRM function.
fn resource_list(function_config: &str) -> String {
    let deployment = read(&repo().join("examples/kustomize/base/deployment.yaml"));
    let item: String = deployment
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("    {l}\n"))
        .collect();
    format!(
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n  - {}{function_config}",
        item.trim_start()
    )
}

#[test]
fn krm_function_patches_like_rofs_patch() {
    let bin = Bin::new();
    let example = repo().join("examples/kustomize");
    let config = read(&example.join("function/rofs.yaml"));
    let config: String = config
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("  {l}\n"))
        .collect();
    let input = resource_list(&format!("functionConfig:\n{config}"));
    // kustomize runs the exec path with no arguments: the name `rofs-krm` selects `krm`.
    let out = ok(
        &mut Command::new(bin.path("rofs-krm")),
        Some(input.as_bytes()),
    );
    let list = rofs_manifest::yaml::from_str(&out).expect("ResourceList on stdout");
    assert_eq!(list["kind"], "ResourceList");
    assert!(
        list.get("results").is_none(),
        "results: {}",
        list["results"]
    );
    let items = list["items"].as_array().expect("items").clone();
    assert_same_pods(&items, &patch_with_rofs_yaml(&example.join("rofs.yaml")));
}

#[test]
fn krm_function_reports_a_bad_function_config() {
    let input = resource_list(
        "functionConfig:\n  apiVersion: rofs.io/v1alpha1\n  kind: RofsPatch\n  metadata:\n    name: broken\n  spec:\n    writable: [relative/path]\n",
    );
    let out = run(Command::new(ROFS).arg("krm"), Some(input.as_bytes()));
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).expect("UTF-8");
    let list = rofs_manifest::yaml::from_str(&stdout).expect("a ResourceList even on error");
    let results = list["results"].as_array().expect("results");
    assert!(
        results.iter().any(|r| r["severity"] == "error"
            && r["message"]
                .as_str()
                .is_some_and(|m| m.contains("relative/path"))),
        "no error result naming the bad path: {results:?}"
    );
    // kustomize drops a failed function's stdout: the message must be on stderr too.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("rofs: error:") && stderr.contains("relative/path"),
        "{stderr}"
    );

    // A container named in the settings that no pod has: an error result on that config.
    let input = resource_list(
        "functionConfig:\n  apiVersion: rofs.io/v1alpha1\n  kind: RofsPatch\n  metadata:\n    name: rofs\n  spec:\n    containers: [no-such-container]\n",
    );
    let out = run(Command::new(ROFS).arg("krm"), Some(input.as_bytes()));
    assert_eq!(out.status.code(), Some(1));
    let list =
        rofs_manifest::yaml::from_str(&String::from_utf8_lossy(&out.stdout)).expect("ResourceList");
    assert_eq!(list["results"][0]["severity"], "error");
}

#[test]
fn kpt_runs_the_example_krm_function() {
    // kpt speaks the same ResourceList protocol as kustomize and can run exec functions;
    // `kubectl kustomize` cannot (it has no --enable-exec), so kpt is the real runner here.
    let Some(kpt) = tool("kpt", false) else {
        return;
    };
    let function = repo().join("examples/kustomize/function");
    let out = ok(
        Command::new(kpt)
            .args(["fn", "eval", "../base", "--exec", "./rofs-krm"])
            .args(["--fn-config", "rofs.yaml", "--output", "unwrap"])
            .current_dir(&function)
            .env("ROFS", ROFS),
        None,
    );
    assert_same_pods(
        &documents(&out),
        &patch_with_rofs_yaml(&repo().join("examples/kustomize/rofs.yaml")),
    );
}

// ---------------------------------------------------------------- Helm

const HELM_FIXTURE: &str = "tests/data/helm-template-web.yaml";

/// `--post-renderer-args` as a user passes them to `helm install`.
const POST_RENDERER_ARGS: [&str; 2] = ["--profile=web=nginx", "--writable=web=/tmp:empty"];

fn check_post_rendered(input: &str, output: &str) {
    let before = documents(input);
    let after = documents(output);
    assert_eq!(before.len(), after.len(), "documents lost or added");
    for kind in ["ServiceAccount", "ConfigMap", "Service"] {
        let name = if kind == "ConfigMap" {
            "web-config"
        } else {
            "web"
        };
        assert_eq!(
            find(&after, kind, name),
            find(&before, kind, name),
            "{kind} changed"
        );
    }
    let pod = &find(&after, "Deployment", "web")["spec"]["template"];
    let web = &pod["spec"]["containers"][0];
    assert_eq!(web["securityContext"]["readOnlyRootFilesystem"], true);
    let mounts: Vec<&str> = web["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .filter_map(|m| m["mountPath"].as_str())
        .collect();
    for path in ["/etc/nginx/conf.d", "/var/lib/nginx", "/tmp", "/run"] {
        assert!(mounts.contains(&path), "{path} not mounted: {mounts:?}");
    }
    assert_eq!(
        pod["metadata"]["annotations"]["checksum/config"],
        find(&before, "Deployment", "web")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    );
    // The hook keeps its annotations (Helm 4 and Helm >= 3.21 post-render hooks too).
    let hook = find(&after, "Job", "web-test-connection");
    assert_eq!(hook["metadata"]["annotations"]["helm.sh/hook"], "test");
    // Helm's `# Source:` comments stay with their documents.
    assert!(output.contains(
        "# Source: web/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment"
    ));
}

#[test]
fn helm3_post_renderer_protocol() {
    let input = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join(HELM_FIXTURE));
    // helm install web ./web --post-renderer rofs --post-renderer-args patch
    //   --post-renderer-args --profile=web=nginx --post-renderer-args --writable=web=/tmp:empty
    // Helm 3 runs the executable with those args, the rendered manifests on stdin.
    let output = ok(
        Command::new(ROFS).arg("patch").args(POST_RENDERER_ARGS),
        Some(input.as_bytes()),
    );
    check_post_rendered(&input, &output);
    // Same as patching the file.
    let from_file = ok(
        Command::new(ROFS)
            .arg("patch")
            .args(POST_RENDERER_ARGS)
            .arg(HELM_FIXTURE)
            .current_dir(env!("CARGO_MANIFEST_DIR")),
        None,
    );
    assert_eq!(output, from_file);
    // helm upgrade renders and post-renders again: nothing changes on a second pass.
    let again = ok(
        Command::new(ROFS).arg("patch").args(POST_RENDERER_ARGS),
        Some(output.as_bytes()),
    );
    assert_eq!(again, output);

    // A failure: non-zero exit, nothing on stdout (Helm reports stderr), no partial output.
    let out = run(
        Command::new(ROFS).args(["patch", "--profile=web=no-such-profile"]),
        Some(input.as_bytes()),
    );
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-profile"));
}

/// Helm 4 runs a postrenderer/v1 plugin of runtime subprocess like this (helm
/// internal/plugin/subprocess_commands.go, PrepareCommands): the platformCommand's
/// `command` split at spaces, `$VARS` expanded, then its `args`, then the
/// --post-renderer-args; manifests on stdin, HELM_PLUGIN_DIR and HELM_PLUGIN_NAME set.
#[test]
fn helm4_plugin_yaml_runs_rofs_patch() {
    let plugin_dir = repo().join("deploy/helm-plugin");
    let plugin =
        rofs_manifest::yaml::from_str(&read(&plugin_dir.join("plugin.yaml"))).expect("plugin.yaml");
    // The keys Helm 4's MetadataV1 knows (it decodes plugin.yaml strictly).
    let known = [
        "apiVersion",
        "name",
        "type",
        "runtime",
        "version",
        "sourceURL",
        "config",
        "runtimeConfig",
    ];
    for key in plugin.as_object().expect("a map").keys() {
        assert!(known.contains(&key.as_str()), "Helm 4 rejects key {key}");
    }
    assert_eq!(plugin["apiVersion"], "v1");
    assert_eq!(plugin["type"], "postrenderer/v1");
    assert_eq!(plugin["runtime"], "subprocess");
    let name = plugin["name"].as_str().expect("name");
    assert!(
        name.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    );
    assert_eq!(
        plugin["version"].as_str(),
        Some(env!("CARGO_PKG_VERSION")),
        "plugin version follows the rofs version"
    );
    let commands = plugin["runtimeConfig"]["platformCommand"]
        .as_array()
        .expect("platformCommand");
    let command = commands
        .iter()
        .find(|c| c.get("os").is_none() && c.get("arch").is_none())
        .expect("a platformCommand for every platform");

    let bin = Bin::new();
    let expand = |s: &str| s.replace("${HELM_PLUGIN_DIR}", &plugin_dir.to_string_lossy());
    let parts: Vec<String> = command["command"]
        .as_str()
        .expect("command")
        .split(' ')
        .map(expand)
        .collect();
    let mut argv: Vec<String> = parts[1..].to_vec();
    argv.extend(
        command["args"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| expand(a.as_str().expect("arg"))),
    );
    argv.extend(POST_RENDERER_ARGS.map(String::from));
    // Go's exec.Command looks a bare name up in PATH, as Command does with this PATH.
    let program = which(&parts[0], &bin.search_path());
    let input = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join(HELM_FIXTURE));
    let output = ok(
        Command::new(program)
            .args(&argv)
            .env("PATH", bin.search_path())
            .env("HELM_PLUGIN_DIR", &plugin_dir)
            .env("HELM_PLUGIN_NAME", name),
        Some(input.as_bytes()),
    );
    check_post_rendered(&input, &output);
    let helm3 = ok(
        Command::new(ROFS).arg("patch").args(POST_RENDERER_ARGS),
        Some(input.as_bytes()),
    );
    assert_eq!(output, helm3);
}

fn which(program: &str, path: &OsString) -> PathBuf {
    if program.contains('/') {
        return PathBuf::from(program);
    }
    std::env::split_paths(path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} not on PATH"))
}
