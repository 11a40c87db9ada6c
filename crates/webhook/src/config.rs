//! The webhook's server-wide settings: the config file (the `rofs patch --config` schema plus
//! `imageProfiles` and `onInvalid`) and the flags layered on it.
//!
//! ```yaml
//! profiles: [auto]                # every pod: the config-file keys of docs/reference.md;
//!                                 # `auto`: the catalog entries matching each container's image
//! imageProfiles:                  # per container, by its image (glob: `*` and `?`)
//!   - image: "*nginx*"
//!     profiles: [nginx]
//!   - image: "registry.example.com/billing/*"
//!     writable: ["/var/cache/billing:256Mi"]
//! onInvalid: deny                 # or allow (admit unchanged, with a warning)
//! ```
//!
//! Layers, later winning per path (as in `rofs patch`): the config file's settings and flags,
//! then the image profiles of each matching container, then the pod's own annotations.
//!
//! The catalog's image patterns (`profiles: [auto]`) are matched by rofs-core's rewrite, the
//! code `rofs patch --profile auto` runs; `imageProfiles` globs over the whole image reference
//! are matched here, with the same glob (`rofs_core::catalog::glob`).

use std::borrow::Cow;
use std::path::Path;

pub use rofs_core::catalog::glob;
use rofs_core::pod::{ContainerList, containers};
use rofs_core::settings::ProfileRef;
use rofs_core::{Settings, WritablePath};
use serde::Deserialize;
use serde_json::Value;

/// What to do with a pod whose rofs annotations are invalid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnInvalid {
    /// Deny the pod; the message names the annotation (the default: a typo must not silently
    /// produce a pod that crashes on a read-only path).
    #[default]
    Deny,
    /// Admit the pod unchanged, with a warning naming the annotation.
    Allow,
}

impl std::str::FromStr for OnInvalid {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "deny" => Ok(OnInvalid::Deny),
            "allow" => Ok(OnInvalid::Allow),
            other => Err(format!("expected `deny` or `allow`, found {other:?}")),
        }
    }
}

/// Default settings for the containers whose image matches a pattern.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ImageProfile {
    /// A glob over the container's `image` as written in the pod: `*` matches any run of
    /// characters (`/` and `:` included), `?` one character. `*nginx*` matches `nginx`,
    /// `nginx:1.27` and `docker.io/library/nginx@sha256:...`.
    pub image: String,
    pub profiles: Vec<ProfileRef>,
    pub writable: Vec<WritablePath>,
}

/// Everything the review needs besides the request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// Settings for every pod (config file, then flags).
    pub defaults: Settings,
    /// Checked in order; every matching entry applies.
    pub image_profiles: Vec<ImageProfile>,
    pub on_invalid: OnInvalid,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config file {file}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub message: String,
}

impl Config {
    /// Read a config file (YAML or JSON). An empty file is the default config.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            message: e.to_string(),
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Parse the text of a config file; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let err = |message: String| ConfigError {
            file: file.to_string(),
            message,
        };
        // The config-file reader of every front end; the webhook adds two keys.
        let mut map = rofs_manifest::config::read_map(text).map_err(err)?;
        let image_profiles: Vec<ImageProfile> = match map.remove("imageProfiles") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => serde_json::from_value(v).map_err(|e| err(format!("imageProfiles: {e}")))?,
        };
        let on_invalid = match map.remove("onInvalid") {
            None | Some(Value::Null) => OnInvalid::default(),
            Some(v) => serde_json::from_value(v).map_err(|e| err(format!("onInvalid: {e}")))?,
        };
        // The rest is the `rofs patch --config` schema (unknown keys are errors there too).
        let defaults = Settings::from_config(map).map_err(|e| err(e.to_string()))?;
        for (i, p) in image_profiles.iter().enumerate() {
            if p.image.is_empty() {
                return Err(err(format!("imageProfiles[{i}].image is empty")));
            }
        }
        Ok(Config {
            defaults,
            image_profiles,
            on_invalid,
        })
    }

    /// The settings layer for one pod: the defaults plus the image profiles of its containers
    /// (and native sidecars), as per-container settings.
    pub fn settings_for(&self, pod: &Value) -> Cow<'_, Settings> {
        if self.image_profiles.is_empty() {
            return Cow::Borrowed(&self.defaults);
        }
        // App containers and native sidecars: the containers that run the image's app.
        let spec = pod.get("spec").unwrap_or(&Value::Null);
        let runs_app = |(list, _, c): &(ContainerList, usize, &Value)| {
            *list == ContainerList::Containers
                || c.get("restartPolicy").and_then(Value::as_str) == Some("Always")
        };
        let mut settings = Cow::Borrowed(&self.defaults);
        for (_, _, container) in containers(spec).filter(runs_app) {
            let (Some(name), Some(image)) = (
                container.get("name").and_then(Value::as_str),
                container.get("image").and_then(Value::as_str),
            ) else {
                continue;
            };
            for p in self.image_profiles.iter().filter(|p| glob(&p.image, image)) {
                let entry = settings
                    .to_mut()
                    .per_container
                    .entry(name.to_string())
                    .or_default();
                entry.profiles.extend(p.profiles.iter().cloned());
                entry.writable.extend(p.writable.iter().cloned());
            }
        }
        settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_config_file() {
        let c = Config::parse(
            "profiles: [tmp]\nimageProfiles:\n  - image: '*nginx*'\n    profiles: [nginx]\nonInvalid: allow\n",
            "c.yaml",
        )
        .expect("valid");
        assert_eq!(c.defaults.profiles, ["tmp"]);
        assert_eq!(c.on_invalid, OnInvalid::Allow);
        assert_eq!(c.image_profiles[0].profiles, ["nginx"]);
        assert_eq!(Config::parse("", "c").expect("empty"), Config::default());
    }

    #[test]
    fn config_errors_name_the_file_and_key() {
        for (text, needle) in [
            ("writeable: [/x]", "writeable"),
            ("imageProfiles: [{image: x, profiles: [nope]}]", "nope"),
            ("imageProfiles: [{image: x, profile: [nginx]}]", "profile"),
            ("onInvalid: maybe", "maybe"),
            ("- a", "map"),
            ("writable: [relative]", "absolute"),
        ] {
            let e = Config::parse(text, "c.yaml").expect_err(text).to_string();
            assert!(
                e.starts_with("config file c.yaml: ") && e.contains(needle),
                "{e}"
            );
        }
    }

    #[test]
    fn image_profiles_become_per_container_settings() {
        let c = Config::parse(
            "imageProfiles: [{image: '*nginx*', profiles: [nginx]}, {image: '*', writable: [/tmp:empty]}]",
            "c",
        )
        .expect("valid");
        let pod = json!({"spec": {
            "containers": [{"name": "web", "image": "nginx:1"}, {"name": "x", "image": "busybox"}],
            "initContainers": [
                {"name": "init", "image": "nginx"},
                {"name": "side", "image": "nginx", "restartPolicy": "Always"}
            ]
        }});
        let s = c.settings_for(&pod);
        let names: Vec<&String> = s.per_container.keys().collect();
        assert_eq!(names, ["side", "web", "x"]);
        assert_eq!(s.per_container["web"].profiles, ["nginx"]);
        assert_eq!(s.per_container["web"].writable.len(), 1);
        assert!(s.per_container["x"].profiles.is_empty());
    }

    /// `profiles: [auto]` (and `auto` in an image profile) applies the catalog entries whose
    /// patterns match each container's image, through the core's rewrite (as `rofs patch`).
    #[test]
    fn auto_applies_the_catalog_entries_of_each_image() {
        for text in [
            "profiles: [auto]",
            "imageProfiles: [{image: '*', profiles: [auto]}]",
        ] {
            let c = Config::parse(text, "c").expect(text);
            let mut pod = json!({"spec": {"containers": [
                {"name": "web", "image": "localhost/rofs-e2e-nginx:bookworm"},
                {"name": "x", "image": "busybox:1.36"}
            ]}});
            let settings = c.settings_for(&pod).into_owned();
            let report = rofs_core::rewrite_pod_template(
                &mut pod,
                &rofs_core::Location::root(),
                None,
                &settings,
            )
            .expect("rewrite");
            let mounts = |i: usize| pod["spec"]["containers"][i]["volumeMounts"].to_string();
            for path in ["/var/lib/nginx", "/var/log/nginx", "/run"] {
                assert!(
                    mounts(0).contains(&format!("\"{path}\"")),
                    "{text}: {}",
                    mounts(0)
                );
            }
            assert!(
                !mounts(1).contains("/var/lib/nginx"),
                "{text}: {}",
                mounts(1)
            );
            let warning =
                "container \"x\": profile auto: no catalog profile matches image \"busybox:1.36\"";
            assert!(
                report.warnings.iter().any(|w| w.starts_with(warning)),
                "{text}: {:?}",
                report.warnings
            );
        }
    }
}
