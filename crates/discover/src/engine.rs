//! The container engine, driven through its command line (podman, or docker when it is the
//! engine present): no daemon client library, every call a `std::process::Command` with a
//! timeout, so a hung engine is an error, not a hang.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::Error;

/// The label of the named volumes a docker run gets in place of the image's VOLUMEs; its
/// value is the container's name.
const VOLUME_LABEL: &str = "io.rofs.discover.container";

/// Timeout of one engine call that does not run the app (inspect, diff, create, rm...).
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Podman,
    Docker,
}

#[derive(Debug, Clone)]
pub struct Engine {
    pub bin: String,
    pub kind: Kind,
}

/// What a finished command gave.
#[derive(Debug)]
pub struct Out {
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// stderr, else stdout, trimmed: what to quote in an error.
    pub fn message(&self) -> String {
        let s = if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        s.trim().to_string()
    }
}

/// Run `cmd`, killing it after `timeout`. Output is read on threads (no pipe deadlock).
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> std::io::Result<Out> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        if let Some(o) = stdout.as_mut() {
            let _ = o.read_to_end(&mut s);
        }
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        if let Some(o) = stderr.as_mut() {
            let _ = o.read_to_end(&mut s);
        }
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = String::from_utf8_lossy(&out_t.join().unwrap_or_default()).into_owned();
    let mut stderr = String::from_utf8_lossy(&err_t.join().unwrap_or_default()).into_owned();
    if status.is_none() {
        stderr.push_str(&format!("\n(killed after {}s)", timeout.as_secs()));
    }
    Ok(Out {
        ok: status.is_some_and(|s| s.success()),
        code: status.and_then(|s| s.code()),
        stdout,
        stderr,
    })
}

/// The image's configuration, as the engine reports it.
#[derive(Debug, Clone, Default)]
pub struct ImageConfig {
    pub user: Option<String>,
    pub volumes: Vec<String>,
    pub stop_signal: Option<String>,
    pub exposed_ports: Vec<u16>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
}

/// How a container is run.
#[derive(Debug, Clone, Default)]
pub struct RunSpec {
    pub name: String,
    pub image: String,
    pub user: Option<String>,
    pub read_only: bool,
    /// Kubernetes ignores the image's VOLUMEs: they are part of the (read-only) root.
    /// podman: `--image-volume ignore`; docker has no such option.
    pub ignore_image_volumes: bool,
    pub no_new_privileges: bool,
    /// (host dir, path in the container)
    pub binds: Vec<(PathBuf, String)>,
    /// (host port on 127.0.0.1, container port)
    pub publish: Option<(u16, u16)>,
    pub entrypoint: Option<String>,
    pub args: Vec<String>,
    pub stop_timeout: u32,
}

impl Engine {
    /// `--engine NAME`, else podman, else docker: the first that answers `version`.
    pub fn detect(wanted: Option<&str>) -> Result<Engine, Error> {
        let candidates: Vec<&str> = match wanted {
            Some(w) => vec![w],
            None => vec!["podman", "docker"],
        };
        let mut tried = Vec::new();
        for bin in candidates {
            let kind = if Path::new(bin)
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains("docker"))
            {
                Kind::Docker
            } else {
                Kind::Podman
            };
            let engine = Engine {
                bin: bin.to_string(),
                kind,
            };
            match engine.call(&["version", "--format", "{{.Client.Version}}"]) {
                Ok(out) if out.ok => return Ok(engine),
                Ok(out) => tried.push(format!("{bin}: {}", out.message())),
                Err(e) => tried.push(format!("{bin}: {e}")),
            }
        }
        Err(Error::NoEngine(tried.join("; ")))
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args);
        c
    }

    /// One engine call with the default timeout.
    pub fn call(&self, args: &[&str]) -> std::io::Result<Out> {
        run_with_timeout(self.command(args), CALL_TIMEOUT)
    }

    /// One engine call that must succeed.
    pub fn must(&self, args: &[&str]) -> Result<String, Error> {
        let out = self
            .call(args)
            .map_err(|e| Error::Engine(format!("{} {}: {e}", self.bin, args.join(" "))))?;
        if !out.ok {
            return Err(Error::Engine(format!(
                "{} {}: {}",
                self.bin,
                args.join(" "),
                out.message()
            )));
        }
        Ok(out.stdout)
    }

    /// The image's config; `Error::NoImage` when the engine does not have it locally
    /// (discover never pulls).
    pub fn inspect_image(&self, image: &str) -> Result<ImageConfig, Error> {
        let out = self
            .call(&["image", "inspect", image])
            .map_err(|e| Error::Engine(e.to_string()))?;
        if !out.ok {
            return Err(Error::NoImage {
                image: image.to_string(),
                engine: self.bin.clone(),
                why: out.message(),
            });
        }
        let v: Value = serde_json::from_str(&out.stdout)
            .map_err(|e| Error::Engine(format!("image inspect {image}: {e}")))?;
        let config = &v[0]["Config"];
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        };
        let keys = |v: &Value| -> Vec<String> {
            v.as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        let mut exposed_ports: Vec<u16> = keys(&config["ExposedPorts"])
            .iter()
            .filter(|p| p.ends_with("/tcp") || !p.contains('/'))
            .filter_map(|p| p.split('/').next()?.parse().ok())
            .collect();
        exposed_ports.sort_unstable();
        Ok(ImageConfig {
            user: config["User"]
                .as_str()
                .filter(|u| !u.is_empty())
                .map(str::to_string),
            volumes: keys(&config["Volumes"]),
            stop_signal: config["StopSignal"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            exposed_ports,
            entrypoint: strings(&config["Entrypoint"]),
            cmd: strings(&config["Cmd"]),
        })
    }

    /// The image's VOLUMEs a docker run must cover with a read-only copy of the image's
    /// content (what podman's `--image-volume=ignore` gives: the path is part of the root):
    /// empty for podman, or when the spec keeps the image's volumes.
    fn read_only_volumes(&self, spec: &RunSpec) -> Result<Vec<String>, Error> {
        if self.kind != Kind::Docker || !spec.ignore_image_volumes {
            return Ok(Vec::new());
        }
        Ok(self.inspect_image(&spec.image)?.volumes)
    }

    /// The arguments of `create`/`run` after the subcommand. `image_volumes`: see
    /// [`Engine::read_only_volumes`].
    fn run_args(&self, spec: &RunSpec, image_volumes: &[String]) -> Vec<String> {
        let mut a: Vec<String> = vec!["--name".into(), spec.name.clone()];
        if self.kind == Kind::Docker {
            // discover never pulls (podman's create/run do not pull a `localhost/` name; docker
            // would try a registry named localhost).
            a.push("--pull=never".into());
        }
        if let Some(u) = &spec.user {
            a.extend(["--user".into(), u.clone()]);
        }
        if spec.read_only {
            a.push("--read-only".into());
            if self.kind == Kind::Podman {
                // podman adds tmpfs over /tmp, /var/tmp, /run with --read-only; Kubernetes
                // does not.
                a.push("--read-only-tmpfs=false".into());
            }
        }
        if spec.ignore_image_volumes && self.kind == Kind::Podman {
            a.push("--image-volume=ignore".into());
        }
        if spec.no_new_privileges {
            a.extend(["--security-opt".into(), "no-new-privileges".into()]);
        }
        // docker has no `--image-volume=ignore`: a VOLUME gets a named volume instead of the
        // anonymous one, filled from the image (docker copies the image's content into an empty
        // volume) and mounted read-only, unless a bind covers it (the same path or a parent:
        // then it is in the bind, as in Kubernetes) or lies inside it (the read-only volume
        // would be mounted first, and runc could not create the bind's mount point in it).
        // Labelled with the container's name: `remove` deletes them.
        for (i, vol) in image_volumes.iter().enumerate() {
            let vol = vol.trim_end_matches('/');
            let related = spec.binds.iter().any(|(_, dst)| {
                let dst = dst.trim_end_matches('/');
                dst == vol || Path::new(vol).starts_with(dst) || Path::new(dst).starts_with(vol)
            });
            if related {
                continue;
            }
            a.extend([
                "--mount".into(),
                format!(
                    "type=volume,source={name}-ro{i},destination={vol},readonly,volume-label={VOLUME_LABEL}={name}",
                    name = spec.name
                ),
            ]);
        }
        for (host, dst) in &spec.binds {
            a.extend([
                "--mount".into(),
                format!("type=bind,source={},destination={dst}", host.display()),
            ]);
        }
        if let Some((host, port)) = spec.publish {
            a.extend(["--publish".into(), format!("127.0.0.1:{host}:{port}")]);
        }
        a.extend(["--stop-timeout".into(), spec.stop_timeout.to_string()]);
        if let Some(e) = &spec.entrypoint {
            a.extend(["--entrypoint".into(), e.clone()]);
        }
        a.push(spec.image.clone());
        a.extend(spec.args.iter().cloned());
        a
    }

    /// `create` a container (not started).
    pub fn create(&self, spec: &RunSpec) -> Result<(), Error> {
        let mut args = vec!["create".to_string()];
        args.extend(self.run_args(spec, &self.read_only_volumes(spec)?));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let created = self.must(&refs).map(|_| ());
        if created.is_err() {
            self.remove_volumes(&spec.name);
        }
        created
    }

    /// `run --rm` a container to completion (the seed containers); the output either way.
    pub fn run_once(&self, spec: &RunSpec, timeout: Duration) -> Result<Out, Error> {
        let mut args = vec!["run".to_string(), "--rm".to_string()];
        args.extend(self.run_args(spec, &self.read_only_volumes(spec)?));
        let mut c = Command::new(&self.bin);
        c.args(&args);
        let out = run_with_timeout(c, timeout).map_err(|e| Error::Engine(e.to_string()));
        if self.kind == Kind::Docker {
            // `--rm` does not remove named volumes; and a docker client killed on timeout
            // leaves its container running.
            self.remove(&spec.name);
        }
        out
    }

    pub fn start(&self, name: &str) -> Result<(), Error> {
        self.must(&["start", name]).map(|_| ())
    }

    /// (running, exit code)
    pub fn state(&self, name: &str) -> Result<(bool, i32), Error> {
        let s = self.must(&[
            "container",
            "inspect",
            "--format",
            "{{.State.Running}} {{.State.ExitCode}}",
            name,
        ])?;
        let mut it = s.split_whitespace();
        let running = it.next() == Some("true");
        let code = it.next().and_then(|c| c.parse().ok()).unwrap_or(0);
        Ok((running, code))
    }

    pub fn logs(&self, name: &str) -> String {
        match self.call(&["logs", name]) {
            Ok(out) => format!("{}{}", out.stdout, out.stderr),
            Err(e) => format!("(no logs: {e})"),
        }
    }

    /// Graceful stop: the image's StopSignal (the engine uses it), then SIGKILL after
    /// `timeout` seconds.
    pub fn stop(&self, name: &str, timeout: u32) -> Result<(), Error> {
        let t = timeout.to_string();
        let out = run_with_timeout(
            self.command(&["stop", "--time", &t, name]),
            Duration::from_secs(u64::from(timeout) + 60),
        )
        .map_err(|e| Error::Engine(e.to_string()))?;
        if !out.ok {
            return Err(Error::Engine(format!("stop {name}: {}", out.message())));
        }
        Ok(())
    }

    /// Remove a container and its anonymous volumes, killing it if it runs; errors ignored
    /// (cleanup).
    pub fn remove(&self, name: &str) {
        // At once: a container still running here is one discover gave up on.
        let _ = match self.kind {
            Kind::Podman => self.call(&["rm", "--force", "--volumes", "--time", "0", name]),
            Kind::Docker => self.call(&["rm", "--force", "--volumes", name]),
        };
        self.remove_volumes(name);
    }

    /// docker: the named read-only volumes of container `name` (see `run_args`).
    fn remove_volumes(&self, name: &str) {
        if self.kind != Kind::Docker {
            return;
        }
        let filter = format!("label={VOLUME_LABEL}={name}");
        if let Ok(out) = self.call(&["volume", "ls", "--quiet", "--filter", &filter]) {
            let vols: Vec<&str> = out.stdout.split_whitespace().collect();
            if !vols.is_empty() {
                let mut args = vec!["volume", "rm", "--force"];
                args.extend(vols);
                let _ = self.call(&args);
            }
        }
    }

    /// `diff`: path -> kind ('A' added, 'C' changed, 'D' deleted).
    pub fn diff(&self, name: &str) -> Result<BTreeMap<String, char>, Error> {
        let mut changes = BTreeMap::new();
        if self.kind == Kind::Podman {
            let s = self.must(&["diff", "--format", "json", name])?;
            let v: Value =
                serde_json::from_str(&s).map_err(|e| Error::Engine(format!("diff {name}: {e}")))?;
            for (key, kind) in [("added", 'A'), ("changed", 'C'), ("deleted", 'D')] {
                for p in v[key].as_array().into_iter().flatten() {
                    if let Some(p) = p.as_str() {
                        changes.insert(p.to_string(), kind);
                    }
                }
            }
        } else {
            for line in self.must(&["diff", name])?.lines() {
                if let Some((k, p)) = line.split_once(' ')
                    && let Some(kind) = k.chars().next()
                {
                    changes.insert(p.trim().to_string(), kind);
                }
            }
        }
        Ok(changes)
    }

    /// The container's volumes: (destination, host source dir).
    pub fn volume_mounts(&self, name: &str) -> Result<Vec<(String, PathBuf)>, Error> {
        let s = self.must(&["container", "inspect", "--format", "{{json .Mounts}}", name])?;
        let v: Value = serde_json::from_str(s.trim())
            .map_err(|e| Error::Engine(format!("inspect mounts {name}: {e}")))?;
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["Type"].as_str() == Some("volume"))
            .filter_map(|m| {
                Some((
                    m["Destination"].as_str()?.to_string(),
                    PathBuf::from(m["Source"].as_str()?),
                ))
            })
            .collect())
    }

    /// The root filesystem of a container (podman: `mount`; docker, rootless podman: `export`
    /// into `scratch`).
    pub fn container_fs(&self, name: &str, scratch: &Path) -> Result<Fs, Error> {
        // Rootless podman cannot mount outside `podman unshare`: export instead.
        if self.kind == Kind::Podman
            && let Ok(p) = self.must(&["mount", name])
        {
            return Ok(Fs::Mounted {
                root: PathBuf::from(p.trim()),
                engine: self.clone(),
                what: MountKind::Container(name.to_string()),
            });
        }
        self.export(name, scratch)
    }

    /// The image's filesystem (podman: `image mount`; else the export of a created container).
    pub fn image_fs(&self, image: &str, scratch: &Path) -> Result<Fs, Error> {
        if self.kind == Kind::Podman
            && let Ok(p) = self.must(&["image", "mount", image])
        {
            return Ok(Fs::Mounted {
                root: PathBuf::from(p.trim()),
                engine: self.clone(),
                what: MountKind::Image(image.to_string()),
            });
        }
        let name = crate::unique_name("image");
        // A command, in case the image has none (it never runs).
        self.must(&["create", "--name", &name, "--entrypoint", "/", image])?;
        let fs = self.export(&name, scratch);
        self.remove(&name);
        fs
    }

    fn export(&self, name: &str, scratch: &Path) -> Result<Fs, Error> {
        std::fs::create_dir_all(scratch).map_err(|e| Error::Io(scratch.into(), e))?;
        let tar = scratch.with_extension("tar");
        let t = tar.to_string_lossy().into_owned();
        self.must(&["export", "--output", &t, name])?;
        let out = run_with_timeout(
            {
                let mut c = Command::new("tar");
                c.args(["-x", "--no-same-owner", "-f", &t, "-C"])
                    .arg(scratch);
                c
            },
            CALL_TIMEOUT,
        )
        .map_err(|e| Error::Engine(format!("tar: {e}")))?;
        let _ = std::fs::remove_file(&tar);
        if !out.ok {
            return Err(Error::Engine(format!("tar -x: {}", out.message())));
        }
        Ok(Fs::Extracted(scratch.to_path_buf()))
    }
}

#[derive(Debug)]
pub enum MountKind {
    Container(String),
    Image(String),
}

/// A filesystem tree discover reads (never writes): a mount it undoes on drop, or a copy.
#[derive(Debug)]
pub enum Fs {
    Mounted {
        root: PathBuf,
        engine: Engine,
        what: MountKind,
    },
    Extracted(PathBuf),
}

impl Fs {
    pub fn root(&self) -> &Path {
        match self {
            Fs::Mounted { root, .. } => root,
            Fs::Extracted(p) => p,
        }
    }

    /// `path` (absolute, in the container) under this tree; never follows a symlink out of it
    /// because discover only `symlink_metadata`s and lists what it finds.
    pub fn at(&self, path: &str) -> PathBuf {
        self.root().join(path.trim_start_matches('/'))
    }
}

impl Drop for Fs {
    fn drop(&mut self) {
        match self {
            Fs::Mounted { engine, what, .. } => {
                let _ = match what {
                    MountKind::Container(n) => engine.call(&["umount", n]),
                    MountKind::Image(i) => engine.call(&["image", "umount", i]),
                };
            }
            Fs::Extracted(p) => {
                let _ = std::fs::remove_dir_all(p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(kind: Kind) -> Engine {
        Engine {
            bin: "engine".into(),
            kind,
        }
    }

    /// A verification run as verify.rs builds it: read-only root, image volumes ignored.
    fn verification_spec() -> RunSpec {
        RunSpec {
            name: "c1".into(),
            image: "img".into(),
            read_only: true,
            ignore_image_volumes: true,
            binds: vec![
                (PathBuf::from("/h/a"), "/var/lib/app".into()),
                (PathBuf::from("/h/b"), "/srv".into()),
                (PathBuf::from("/h/c"), "/data/sub".into()),
            ],
            publish: Some((4000, 80)),
            stop_timeout: 5,
            ..RunSpec::default()
        }
    }

    const VOLUMES: [&str; 5] = ["/data", "/var/lib/app", "/srv/x", "/cache/", "/logs"];

    #[test]
    fn podman_ignores_image_volumes_itself() {
        // The podman arguments, unchanged by the docker volumes (verify.rs never passes any
        // for podman: read_only_volumes is empty there).
        assert_eq!(
            engine(Kind::Podman).run_args(&verification_spec(), &[]),
            [
                "--name",
                "c1",
                "--read-only",
                "--read-only-tmpfs=false",
                "--image-volume=ignore",
                "--mount",
                "type=bind,source=/h/a,destination=/var/lib/app",
                "--mount",
                "type=bind,source=/h/b,destination=/srv",
                "--mount",
                "type=bind,source=/h/c,destination=/data/sub",
                "--publish",
                "127.0.0.1:4000:80",
                "--stop-timeout",
                "5",
                "img"
            ]
        );
        let podman = engine(Kind::Podman);
        assert!(
            podman
                .read_only_volumes(&verification_spec())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn docker_covers_image_volumes_with_read_only_copies() {
        let volumes: Vec<String> = VOLUMES.iter().map(|v| v.to_string()).collect();
        let a = engine(Kind::Docker).run_args(&verification_spec(), &volumes);
        let mounts: Vec<&str> = a
            .windows(2)
            .filter(|w| w[0] == "--mount")
            .map(|w| w[1].as_str())
            .collect();
        assert_eq!(
            mounts,
            [
                // /data: a bind lies inside it; /var/lib/app: a bind is it; /srv/x: in a bind
                "type=volume,source=c1-ro3,destination=/cache,readonly,volume-label=io.rofs.discover.container=c1",
                "type=volume,source=c1-ro4,destination=/logs,readonly,volume-label=io.rofs.discover.container=c1",
                "type=bind,source=/h/a,destination=/var/lib/app",
                "type=bind,source=/h/b,destination=/srv",
                "type=bind,source=/h/c,destination=/data/sub",
            ]
        );
        assert!(a.contains(&"--pull=never".to_string()), "{a:?}");
        assert!(a.contains(&"--read-only".to_string()), "{a:?}");
        for podman_only in ["--read-only-tmpfs=false", "--image-volume=ignore"] {
            assert!(!a.contains(&podman_only.to_string()), "{a:?}");
        }
    }

    #[test]
    fn docker_keeps_image_volumes_in_the_discovery_run() {
        let spec = RunSpec {
            ignore_image_volumes: false,
            ..verification_spec()
        };
        assert!(
            engine(Kind::Docker)
                .read_only_volumes(&spec)
                .unwrap()
                .is_empty()
        );
    }
}
