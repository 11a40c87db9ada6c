//! Every name and place rofs gives what it injects: volumes, containers, mount points, the
//! agent's paths. The status check ([`crate::status`]) recognises rofs's own items by these.

use sha2::{Digest, Sha256};

/// Default image of the install initContainer: the project's image at this version.
pub const DEFAULT_AGENT_IMAGE: &str = concat!("ghcr.io/rofs-dev/rofs:", env!("CARGO_PKG_VERSION"));
/// Name of the shared volume that holds the agent binary and the seed markers.
pub const AGENT_VOLUME: &str = "rofs";
/// Name of the `image` volume of the agent image (`--agent-delivery image-volume`).
pub const AGENT_IMAGE_VOLUME: &str = "rofs-agent";
/// Where [`AGENT_IMAGE_VOLUME`] is mounted: the image's `/rofs-agent` is then
/// [`AGENT_BINARY`], as `rofs-install` would have put it.
pub const AGENT_IMAGE_MOUNT: &str = "/.rofs/bin";
/// Where [`AGENT_VOLUME`] is mounted in rofs's containers.
pub const AGENT_MOUNT: &str = "/.rofs";
/// The agent binary inside the rofs image.
pub const AGENT_IN_IMAGE: &str = "/rofs-agent";
/// The agent as installed into the `rofs` volume, run inside app images.
pub const AGENT_BINARY: &str = "/.rofs/bin/rofs-agent";
/// Name of the small disk-backed volume that keeps the seed markers of disk-backed paths
/// (they must survive a node reboot with the data they describe).
pub const STATE_VOLUME: &str = "rofs-state";
/// Where [`STATE_VOLUME`] is mounted in the seed containers.
pub const DURABLE_STATE_MOUNT: &str = "/.rofs/durable";
/// Name of the install initContainer.
pub const INSTALL_CONTAINER: &str = "rofs-install";
/// Name of the initContainer that does one sync pass before the app starts.
pub const SYNC_INIT_CONTAINER: &str = "rofs-sync-init";
/// Name of the sidecar that keeps writable copies in sync.
pub const SYNC_CONTAINER: &str = "rofs-sync";
/// Where the sync containers keep their state (in the `rofs` volume: lives as long as the pod).
pub const SYNC_STATE_DIR: &str = "/.rofs/sync";
/// Where the seed containers keep the markers of memory-backed paths.
pub const SEED_STATE_DIR: &str = "/.rofs/state";

/// `rofs-seed-<container>`, the seed initContainer of a container.
pub fn seed_container_name(container: &str) -> String {
    bounded_name("rofs-seed-", container, container)
}

/// Name of the emptyDir that holds the writable copy of `volume`.
pub fn copy_name(volume: &str) -> String {
    bounded_name("rofs-copy-", volume, volume)
}

/// Where an injected container mounts the volume `volume` it writes into.
pub fn dst_mount(volume: &str) -> String {
    format!("{AGENT_MOUNT}/dst/{volume}")
}

/// `rofs-<container>-<path>` as a DNS label (at most 63 characters). When the readable form
/// is lossy or too long, a hash of the exact container and path keeps it unique.
pub fn volume_name(container: &str, path: &str) -> String {
    let slug: String = path
        .trim_start_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let readable = format!("{container}-{slug}");
    let lossless = path
        .trim_start_matches('/')
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '/')
        && !path.contains("//");
    if lossless {
        bounded_name("rofs-", &readable, &format!("{container}\0{path}"))
    } else {
        hashed_name("rofs-", &readable, &format!("{container}\0{path}"))
    }
}

/// `prefix` + `readable`, shortened with a hash of `key` when longer than 63 characters.
fn bounded_name(prefix: &str, readable: &str, key: &str) -> String {
    let full = format!("{prefix}{readable}");
    if full.len() <= 63 {
        full
    } else {
        hashed_name(prefix, readable, key)
    }
}

fn hashed_name(prefix: &str, readable: &str, key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let room = 63 - prefix.len() - 1 - hash.len();
    let mut head: String = readable.chars().take(room).collect();
    while head.ends_with('-') {
        head.pop();
    }
    // Collapse runs of '-' for readability.
    let mut collapsed = String::with_capacity(head.len());
    for c in head.chars() {
        if !(c == '-' && collapsed.ends_with('-')) {
            collapsed.push(c);
        }
    }
    format!("{prefix}{collapsed}-{hash}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_names_are_dns_labels() {
        assert_eq!(
            volume_name("nginx", "/var/lib/nginx"),
            "rofs-nginx-var-lib-nginx"
        );
        let long = volume_name(
            "a-very-long-container-name-indeed",
            "/opt/vendor/application/server/tmp",
        );
        assert!(long.len() <= 63, "{long}");
        assert!(crate::settings::is_dns_label(&long), "{long}");
        let upper = volume_name("app", "/opt/App");
        let lower = volume_name("app", "/opt/app");
        assert_ne!(upper, lower);
        assert!(crate::settings::is_dns_label(&upper), "{upper}");
        assert!(crate::settings::is_dns_label(&volume_name(
            "app", "/a_b/.x"
        )));
    }
}
