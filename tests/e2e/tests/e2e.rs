//! rofs end-to-end tests: real pods under `podman kube play`, real Debian images.
//!
//! Prerequisites: `scripts/setup-podman.sh` and `scripts/build-images.sh` (or just
//! `scripts/e2e.sh`, which runs everything). Without podman or the images the tests are
//! skipped, unless `CI=true`, where they fail.

mod catalog;
mod discover;
mod discover_docker;
mod examples;
mod harness_podman;
mod nginx;
mod noshell;
mod profile_paths;
mod start_time;
mod sync;
mod tomcat;
mod webhook;
