//! Issue 14 (pod start): `--agent-delivery image-volume` on the real kubelet. The agent
//! image is an `image` volume mounted at `/.rofs/bin` in the seed container: no `rofs-install`
//! initContainer. The cluster runs Kubernetes 1.34 with the ImageVolume gate on and containerd 2
//! (scripts/kube-up.sh); the pod is nginx as its non-root user in a namespace enforcing Pod
//! Security `restricted`, so the agent runs from the image volume as a non-root user.

use std::time::Duration;

use rofs_cluster::{
    NGINX_IMAGE, Namespace, documents, pod_ip, require_cluster, rofs_image, rofs_patch, wait_http,
};
use serde_json::Value;

const START: Duration = Duration::from_secs(180);

fn pod_yaml(name: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  automountServiceAccountToken: false
  securityContext:
    runAsNonRoot: true
    runAsUser: 33
    runAsGroup: 33
    seccompProfile: {{type: RuntimeDefault}}
    sysctls: [{{name: net.ipv4.ip_unprivileged_port_start, value: "0"}}]
  containers:
  - name: nginx
    image: {NGINX_IMAGE}
    imagePullPolicy: Never
    ports: [{{containerPort: 80}}]
    securityContext:
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
      capabilities: {{drop: [ALL]}}
"#
    )
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(String::from))
        .collect()
}

#[test]
fn image_volume_delivery_seeds_without_install_container() {
    require_cluster!(NGINX_IMAGE, &rofs_image());
    let ns = Namespace::create(
        "image-volume",
        &[("pod-security.kubernetes.io/enforce", "restricted")],
    );
    let image = rofs_image();
    let args = [
        "--profile",
        "nginx",
        "--agent-image",
        &image,
        "--agent-delivery",
        "image-volume",
    ];
    let patched = rofs_patch(&args, &pod_yaml("nginx"));
    ns.kubectl_ok(&["create", "-f", "-"], Some(&patched));
    let pod = ns.wait_ready("nginx", START);

    // As stored by the API server (the field is not dropped: the gate is on): one init
    // container, the agent's image volume.
    assert_eq!(names(&pod["spec"]["initContainers"]), ["rofs-seed-nginx"]);
    let volume = pod["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == "rofs-agent")
        .cloned()
        .unwrap_or_default();
    assert_eq!(volume["image"]["reference"], image.as_str(), "{volume}");

    // The seed ran the agent from the image volume, as uid 33, and copied nginx's files.
    let log = ns.logs("nginx", "rofs-seed-nginx");
    assert!(
        log.contains("/var/lib/nginx -> ") && log.contains("done"),
        "{log}"
    );
    let ip = pod_ip(&pod);
    let body = wait_http(&ip, 80, "/rofs-e2e.txt", 200, START, || {
        ns.diagnose("nginx")
    });
    assert!(body.contains("rofs-e2e-nginx ok"), "{body}");
    ns.assert_root_read_only("nginx", "nginx");
    assert_eq!(ns.sh("nginx", "nginx", "id -u").trim(), "33");

    // The pod as stored (defaulted by the API server) patched again with the same settings
    // is unchanged: the status check takes the stored image volume for rofs's own.
    let stored = ns.kubectl_ok(&["get", "pod", "nginx", "-o", "yaml"], None);
    let again = documents(&rofs_patch(&args, &stored));
    assert_eq!(again.len(), 1);
    assert_eq!(
        again[0]["spec"], pod["spec"],
        "re-patching changed the spec"
    );
    assert_eq!(
        again[0]["metadata"]["annotations"],
        pod["metadata"]["annotations"]
    );
}
