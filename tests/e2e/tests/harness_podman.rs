//! Pins down how podman 4.3 runs pods, and that the harness makes it behave like a
//! kubelet where rofs depends on it (see the docs of `rofs_e2e`).

use std::time::Duration;

use rofs_e2e::{BUSYBOX_IMAGE, NGINX_IMAGE, Pod, require, unique_name};

fn sh(pod: &Pod, c: &str, script: &str) -> String {
    let out = pod.exec(c, &["/bin/sh", "-c", script]);
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    s
}

/// podman copies an image's files into a fresh emptyDir volume; Kubernetes does not.
/// The harness's volumes are created with `nocopy`, so /etc/nginx here must be empty.
#[test]
fn emptydir_hides_the_image_contents() {
    require!(NGINX_IMAGE);
    let name = unique_name("e2e-emptydir");
    let pod = Pod::play(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: {NGINX_IMAGE}
    command: ["/bin/sh", "-c", "ls -A /etc/nginx | wc -l; stat -c '%a %u:%g' /etc/nginx"]
    volumeMounts: [{{name: cfg, mountPath: /etc/nginx}}]
  volumes:
  - {{name: cfg, emptyDir: {{}}}}
"#
    ));
    assert_eq!(pod.wait_exit("app", Duration::from_secs(60)), 0);
    let log = pod.logs("app");
    assert_eq!(log.lines().next(), Some("0"), "emptyDir not empty:\n{log}");
    assert!(
        log.contains("777 0:0"),
        "emptyDir should be 0777 root:root like the kubelet's:\n{log}"
    );
}

/// `medium: Memory` becomes a tmpfs of `sizeLimit`; two pods never share an emptyDir.
#[test]
fn memory_medium_is_a_sized_tmpfs_and_pods_do_not_share() {
    require!(BUSYBOX_IMAGE);
    let a = unique_name("e2e-mem");
    let b = unique_name("e2e-mem");
    let manifest = |name: &str| {
        format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  containers:
  - name: app
    image: {BUSYBOX_IMAGE}
    command: ["/bin/sh", "-c", "echo {name} >> /mem/who; exec sleep 600"]
    volumeMounts: [{{name: mem, mountPath: /mem}}]
    securityContext: {{readOnlyRootFilesystem: true}}
  volumes:
  - {{name: mem, emptyDir: {{medium: Memory, sizeLimit: 8Mi}}}}
"#
        )
    };
    let pa = Pod::play(&manifest(&a));
    let pb = Pod::play(&manifest(&b));
    pa.wait_running("app", Duration::from_secs(30));
    pb.wait_running("app", Duration::from_secs(30));
    let mounts = sh(&pa, "app", "grep ' /mem ' /proc/mounts");
    assert!(
        mounts.starts_with("tmpfs /mem tmpfs") && mounts.contains("size=8192k"),
        "{mounts}"
    );
    assert_eq!(sh(&pa, "app", "sleep 0.3; cat /mem/who").trim(), a);
    assert_eq!(sh(&pb, "app", "sleep 0.3; cat /mem/who").trim(), b);
    let full = sh(
        &pa,
        "app",
        "dd if=/dev/zero of=/mem/big bs=1M count=16 2>&1; echo rc=$?",
    );
    assert!(
        full.contains("No space left on device"),
        "sizeLimit not enforced: {full}"
    );
}

/// Container restart (`podman pod restart`): init containers do not run again, emptyDir
/// data survives. Pod replay: init containers run again over the kept emptyDirs.
#[test]
fn restart_keeps_data_and_replay_reruns_init_containers() {
    require!(BUSYBOX_IMAGE);
    let name = unique_name("e2e-restart");
    let pod = Pod::play(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  restartPolicy: Always
  initContainers:
  - name: init
    image: {BUSYBOX_IMAGE}
    command: ["/bin/sh", "-c", "echo init >> /data/init.log"]
    volumeMounts: [{{name: data, mountPath: /data}}]
  containers:
  - name: app
    image: {BUSYBOX_IMAGE}
    command: ["/bin/sh", "-c", "echo start >> /data/app.log; trap 'exit 0' TERM; while true; do sleep 0.2; done"]
    volumeMounts: [{{name: data, mountPath: /data}}]
    securityContext: {{readOnlyRootFilesystem: true}}
  volumes:
  - {{name: data, emptyDir: {{}}}}
"#
    ));
    let counts = |pod: &Pod| {
        sh(
            pod,
            "app",
            "sleep 0.3; cat /data/init.log | wc -l; cat /data/app.log | wc -l",
        )
    };
    // restartPolicy Always was turned into OnFailure: the init container ran once.
    assert_eq!(
        counts(&pod).split_whitespace().collect::<Vec<_>>(),
        ["1", "1"]
    );
    sh(&pod, "app", "echo mine > /data/user.txt");
    pod.restart("app");
    assert_eq!(
        counts(&pod).split_whitespace().collect::<Vec<_>>(),
        ["1", "2"]
    );
    pod.replay().expect("replay");
    pod.wait_running("app", Duration::from_secs(30));
    assert_eq!(
        counts(&pod).split_whitespace().collect::<Vec<_>>(),
        ["2", "3"]
    );
    assert_eq!(sh(&pod, "app", "cat /data/user.txt").trim(), "mine");
}
