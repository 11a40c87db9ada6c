//! rofs on a real single-node Kubernetes cluster (docs/cluster.md).
//!
//! Prerequisites: `scripts/kube-up.sh`, `scripts/build-images.sh` and
//! `scripts/kube-load-image.sh` (or just `scripts/cluster-test.sh`, which runs everything).
//! Without the cluster the tests are skipped, unless `CI=true`, where they fail.

mod apps;
mod audit;
mod catalog;
mod dry_run;
mod image_volume;
mod start_time;
mod sync;
mod webhook;
