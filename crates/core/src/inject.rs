//! The containers rofs injects, as JSON: `rofs-install`, `rofs-seed-<C>` (agent or shell
//! seeder), `rofs-sync-init` and `rofs-sync`. Each runs as the app's user with a read-only
//! root and no privilege escalation.

use serde_json::{Map, Value, json};

use crate::model::{CopiesPlan, PathPlan, TargetPlan};
use crate::names::{
    AGENT_BINARY, AGENT_IMAGE_MOUNT, AGENT_IMAGE_VOLUME, AGENT_IN_IMAGE, AGENT_MOUNT, AGENT_VOLUME,
    DURABLE_STATE_MOUNT, INSTALL_CONTAINER, SEED_STATE_DIR, STATE_VOLUME, SYNC_STATE_DIR,
    dst_mount, seed_container_name,
};
use crate::settings::{Conflict, Medium, Reload, Seeder};

/// The securityContext of an injected container: the app container's own (so it passes the
/// same admission policies and copies as the same user), plus a read-only root and no
/// privilege escalation. `privileged` and `SYS_ADMIN` (in any spelling) are dropped: Kubernetes refuses them
/// together with `allowPrivilegeEscalation: false`, and copying files needs neither.
pub fn injected_security(app: &Value) -> Value {
    let mut sc = app
        .get("securityContext")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    // `shift_remove` keeps the order of the other keys (`remove` is `swap_remove` with
    // preserve_order). The two keys rofs sets always come last, in this order, whether or
    // not the app already had them: re-patching the output must give the same bytes.
    for key in [
        "privileged",
        "allowPrivilegeEscalation",
        "readOnlyRootFilesystem",
    ] {
        sc.shift_remove(key);
    }
    if let Some(add) = sc
        .get_mut("capabilities")
        .and_then(|c| c.get_mut("add"))
        .and_then(Value::as_array_mut)
    {
        add.retain(|c| !c.as_str().is_some_and(is_sys_admin));
    }
    sc.insert("allowPrivilegeEscalation".into(), Value::Bool(false));
    sc.insert("readOnlyRootFilesystem".into(), Value::Bool(true));
    Value::Object(sc)
}

/// The container runtimes read a capability name in any case, with or without `CAP_`
/// (containerd and CRI-O upper-case it and add the prefix), so `sys_admin` is SYS_ADMIN too.
fn is_sys_admin(name: &str) -> bool {
    let upper = name.trim().to_ascii_uppercase();
    upper.strip_prefix("CAP_").unwrap_or(&upper) == "SYS_ADMIN"
}

pub fn install_container(app: &Value, agent_image: &str) -> Value {
    json!({
        "name": INSTALL_CONTAINER,
        "image": agent_image,
        "imagePullPolicy": "IfNotPresent",
        "command": [AGENT_IN_IMAGE, "install", format!("{AGENT_MOUNT}/bin")],
        "resources": {
            "requests": {"cpu": "10m", "memory": "16Mi"},
            "limits": {"memory": "64Mi"},
        },
        "securityContext": injected_security(app),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": AGENT_VOLUME, "mountPath": AGENT_MOUNT}],
    })
}

/// `--agent-delivery image-volume`: the agent image as an `image` volume (read-only; the
/// kubelet pulls it like a container's image), instead of `rofs-install`.
pub fn agent_image_volume(agent_image: &str) -> Value {
    json!({
        "name": AGENT_IMAGE_VOLUME,
        "image": {"reference": agent_image, "pullPolicy": "IfNotPresent"},
    })
}

/// The mounts of a container that runs the agent: the `rofs` volume at `/.rofs`, and with
/// the image volume, the agent image at `/.rofs/bin` (its `/rofs-agent` is [`AGENT_BINARY`]).
fn agent_mounts(image_volume: bool) -> Vec<Value> {
    let mut mounts = vec![json!({"name": AGENT_VOLUME, "mountPath": AGENT_MOUNT})];
    if image_volume {
        mounts.push(
            json!({"name": AGENT_IMAGE_VOLUME, "mountPath": AGENT_IMAGE_MOUNT, "readOnly": true}),
        );
    }
    mounts
}

/// `rofs-seed-<container>`: the app's image, resources and user run the agent (or the
/// image's shell) to copy the image's files of each seeded path into its volume.
/// `image_volume`: the agent comes from the image volume (see [`agent_image_volume`]).
pub fn seed_container(app: &Value, t: &TargetPlan, seeder: Seeder, image_volume: bool) -> Value {
    let name = seed_container_name(&t.name);
    let seeded: Vec<&PathPlan> = t.paths.iter().filter(|p| p.path.seed).collect();
    let durable = t.seeds_disk();
    let command: Vec<String> = match seeder {
        Seeder::Agent => {
            let mut c = vec![
                AGENT_BINARY.to_string(),
                "seed".into(),
                "--state-dir".into(),
                SEED_STATE_DIR.to_string(),
            ];
            if durable {
                c.extend(["--durable-state-dir".into(), DURABLE_STATE_MOUNT.into()]);
            }
            for p in &seeded {
                c.push(p.path.path.clone());
                c.push(dst_mount(&p.volume));
            }
            c
        }
        Seeder::Shell => vec!["/bin/sh".into(), "-c".into(), shell_script(&seeded)],
    };
    let mut c = named_with_image_of(&name, app);
    c.insert("command".into(), json!(command));
    if let Some(resources) = app.get("resources").and_then(Value::as_object) {
        let mut r = resources.clone();
        r.shift_remove("claims");
        if !r.is_empty() {
            c.insert("resources".into(), Value::Object(r));
        }
    }
    c.insert("securityContext".into(), injected_security(app));
    c.insert(
        "terminationMessagePolicy".into(),
        "FallbackToLogsOnError".into(),
    );
    let mut mounts = agent_mounts(image_volume && seeder == Seeder::Agent);
    if durable {
        mounts.push(json!({"name": STATE_VOLUME, "mountPath": DURABLE_STATE_MOUNT}));
    }
    for p in t.paths.iter().filter(|p| p.path.seed) {
        mounts.push(json!({"name": p.volume, "mountPath": dst_mount(&p.volume)}));
    }
    c.insert("volumeMounts".into(), Value::Array(mounts));
    Value::Object(c)
}

/// The `--seeder shell` recipe (the blog post's `cp -a`), made safe to re-run: a marker per
/// path says its copy completed; without it, the volume is emptied and copied again. The
/// marker of a disk-backed path is kept on the disk-backed `rofs-state` volume, that of a
/// memory-backed one in the memory-backed `rofs` volume: each lives and dies with its data
/// (a node reboot empties memory volumes and keeps disk ones).
fn shell_script(seeded: &[&PathPlan]) -> String {
    let mut s = format!(
        "set -eu\nmkdir -p {SEED_STATE_DIR}\n\
seed() {{\n\
  if [ -e \"$3\" ]; then echo \"rofs: $2 already seeded, nothing to do\"; return 0; fi\n\
  if [ ! -e \"$1\" ]; then echo \"rofs: $1 is not in the image; $2 stays empty\"; : > \"$3\"; return 0; fi\n\
  (cd \"$2\" && rm -rf -- * .[!.]* ..?*)\n\
  if ! cp -a \"$1/.\" \"$2/\"; then\n\
    echo \"rofs: cp -a failed (a non-root user cannot keep ownership); copying without it\"\n\
    (cd \"$2\" && rm -rf -- * .[!.]* ..?*)\n\
    cp -R \"$1/.\" \"$2/\"\n\
  fi\n\
  : > \"$3\"\n\
  echo \"rofs: seeded $2 from $1\"\n\
}}\n"
    );
    for p in seeded {
        let dir = match p.path.medium {
            Medium::Disk => DURABLE_STATE_MOUNT.to_string(),
            Medium::Memory => SEED_STATE_DIR.to_string(),
        };
        s.push_str(&format!(
            "seed {} {} {}\n",
            sh_quote(&p.path.path),
            sh_quote(&dst_mount(&p.volume)),
            sh_quote(&format!("{dir}/{}.done", p.volume)),
        ));
    }
    s
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A container named `name` that runs the image of `app` (and pulls it the same way).
fn named_with_image_of(name: &str, app: &Value) -> Map<String, Value> {
    let mut c = Map::new();
    c.insert("name".into(), name.into());
    let image = app.get("image").cloned().unwrap_or(Value::Null);
    c.insert("image".into(), image);
    if let Some(policy) = app.get("imagePullPolicy").filter(|p| !p.is_null()) {
        c.insert("imagePullPolicy".into(), policy.clone());
    }
    c
}

/// `rofs-sync-init` (one pass, `--once`) and `rofs-sync` (keeps the copies in sync): the
/// image and user of `runner` (so the copies are the app's and a signal reaches it), the
/// agent installed by `rofs-install` (or in the image volume), no capabilities at all.
/// Source volumes are mounted read-only at `/.rofs/src/<volume>`, copies at
/// `/.rofs/dst/<copy>`.
pub fn sync_containers(runner: &Value, copies: &CopiesPlan, image_volume: bool) -> [Value; 2] {
    let mut mounts = agent_mounts(image_volume);
    let mut pairs = Vec::new();
    for c in &copies.copies {
        let src = format!("{AGENT_MOUNT}/src/{}", c.source);
        let dst = dst_mount(&c.copy);
        mounts.push(json!({"name": c.source, "mountPath": src, "readOnly": true}));
        mounts.push(json!({"name": c.copy, "mountPath": dst}));
        pairs.push(src);
        pairs.push(dst);
    }
    let mut security = injected_security(runner);
    security["capabilities"] = json!({"drop": ["ALL"]});
    let container = |name: &str, args: Vec<String>| {
        let mut command = vec![AGENT_BINARY.to_string(), "sync".into()];
        command.extend(args);
        command.extend(["--state-dir".to_string(), SYNC_STATE_DIR.to_string()]);
        command.extend(pairs.iter().cloned());
        let mut c = named_with_image_of(name, runner);
        c.insert("command".into(), json!(command));
        c.insert(
            "resources".into(),
            json!({"requests": {"cpu": "5m", "memory": "8Mi"}, "limits": {"memory": "32Mi"}}),
        );
        c.insert("securityContext".into(), security.clone());
        c.insert(
            "terminationMessagePolicy".into(),
            "FallbackToLogsOnError".into(),
        );
        c.insert("volumeMounts".into(), Value::Array(mounts.clone()));
        Value::Object(c)
    };
    let mut sidecar_args = Vec::new();
    if copies.conflict == Conflict::Source {
        sidecar_args.extend(["--conflict".to_string(), "source".to_string()]);
    }
    match &copies.reload {
        Some(Reload::Signal { signal, process }) => {
            sidecar_args.extend(["--reload-signal".to_string(), format!("{signal}:{process}")]);
        }
        Some(Reload::Http(url)) => {
            sidecar_args.extend(["--reload-url".to_string(), url.clone()]);
        }
        None => {}
    }
    let init = container(
        crate::names::SYNC_INIT_CONTAINER,
        vec!["--once".to_string()],
    );
    let mut sidecar = container(crate::names::SYNC_CONTAINER, sidecar_args);
    if copies.native {
        sidecar["restartPolicy"] = Value::String("Always".into());
    }
    [init, sidecar]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quotes() {
        assert_eq!(sh_quote("/a b'c"), r"'/a b'\''c'");
    }

    #[test]
    fn sys_admin_in_any_spelling() {
        for name in [
            "SYS_ADMIN",
            "sys_admin",
            "CAP_SYS_ADMIN",
            "cap_Sys_Admin",
            " SYS_ADMIN",
        ] {
            assert!(is_sys_admin(name), "{name}");
        }
        for name in ["NET_ADMIN", "SYS_ADMINX", "CAP_CAP_SYS_ADMIN"] {
            assert!(!is_sys_admin(name), "{name}");
        }
    }
}
