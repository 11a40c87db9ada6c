//! Real AdmissionReview requests over real HTTPS: the returned JSON Patch, applied with an
//! RFC 6902 implementation, gives exactly the core's rewrite and `rofs patch`'s output.

use rofs_core::Settings;
use rofs_manifest::{Format, Input};
use rofs_webhook::{Config, OnInvalid};
use serde_json::Value;

use crate::util::*;

/// The pod as `rofs patch` prints it (JSON in, JSON out), with the same server settings.
fn rofs_patch(pod: &Value, settings: &Settings) -> Value {
    let text = serde_json::to_string_pretty(pod).expect("pod JSON");
    let patched = rofs_manifest::patch(
        &[Input {
            name: "pod.json",
            text: &text,
        }],
        settings,
        Format::Json,
    )
    .expect("rofs patch");
    serde_json::from_str(&patched.output).expect("rofs patch output")
}

fn core_rewrite(pod: &Value, settings: &Settings) -> Value {
    let mut pod = pod.clone();
    rofs_core::rewrite_pod_template(&mut pod, &rofs_core::Location::root(), None, settings)
        .expect("core rewrite");
    pod
}

/// Send the fixture, apply the patch, compare with the core and with `rofs patch`; return
/// the response and the patched pod.
async fn check(name: &str, config: Config) -> (Value, Value) {
    let certs = make_certs();
    let server = start_default(&certs, config.clone()).await;
    let request = fixture(name);
    let response = post(server.addr, &certs.ca, request.to_string().as_bytes()).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let review = response.json();
    assert_eq!(review["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(review["kind"], "AdmissionReview");
    assert_eq!(review["response"]["uid"], request["request"]["uid"]);
    assert_eq!(review["response"]["allowed"], true, "{review}");

    let pod = request["request"]["object"].clone();
    let mut patched = pod.clone();
    json_patch::patch(&mut patched, &patch_of(&review)).expect("the patch applies");
    assert_eq!(
        patched,
        core_rewrite(&pod, &config.defaults),
        "{name}: patch != core"
    );
    assert_eq!(
        patched,
        rofs_patch(&pod, &config.defaults),
        "{name}: patch != rofs patch"
    );

    // Reinvocation (reinvocationPolicy: IfNeeded) and pods that `rofs patch` already fixed:
    // the same request with the patched pod gives no patch at all.
    let mut again = request.clone();
    again["request"]["object"] = patched.clone();
    let second = post(server.addr, &certs.ca, again.to_string().as_bytes()).await;
    assert_eq!(second.status, 200);
    let second = second.json();
    assert_eq!(second["response"]["allowed"], true);
    assert!(
        second["response"].get("patch").is_none(),
        "{name}: a patched pod must get no patch: {second}"
    );
    server.stop().await;
    (review, patched)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_pod_with_generate_name_and_no_name() {
    let (review, patched) = check("deployment-pod.json", Config::default()).await;
    assert_eq!(patched["metadata"].get("name"), None, "no name invented");
    assert_eq!(patched["metadata"]["generateName"], "web-6d8f9b7c5d-");
    let c = &patched["spec"]["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    let mounts: Vec<&str> = c["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .filter_map(|m| m["mountPath"].as_str())
        .collect();
    for path in ["/var/lib/nginx", "/var/log/nginx", "/run"] {
        assert!(mounts.contains(&path), "{path} not in {mounts:?}");
    }
    // The service account volume the API server added is kept, first.
    assert_eq!(
        patched["spec"]["volumes"][0]["name"],
        "kube-api-access-7xk2p"
    );
    let ops = patch_of(&review);
    let text = serde_json::to_string(&ops).expect("patch JSON");
    assert!(
        text.contains("/metadata/annotations/rofs.io~1status"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_with_existing_init_containers_and_volumes() {
    let (review, patched) = check("init-and-volumes.json", Config::default()).await;
    let inits: Vec<&str> = patched["spec"]["initContainers"]
        .as_array()
        .expect("initContainers")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        inits.last(),
        Some(&"migrate"),
        "rofs's initContainers come before the workload's: {inits:?}"
    );
    let volumes: Vec<&str> = patched["spec"]["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(&volumes[..3], ["config", "data", "scratch"]);
    // `rofs.io/containers: app`: the metrics container is left alone.
    assert!(
        patched["spec"]["containers"][1]
            .get("securityContext")
            .is_none()
    );
    // readOnlyRootFilesystem: false overridden: the core warns; kubectl shows it.
    let warnings = review["response"]["warnings"].as_array().expect("warnings");
    assert!(
        warnings.iter().any(|w| w
            .as_str()
            .is_some_and(|w| w.contains("readOnlyRootFilesystem"))),
        "{warnings:?}"
    );
}

/// The benchmark's pod (benches/webhook): a Deployment's, as the API server sends it
/// (defaulted fields, the ServiceAccount token volume in every container), two containers and
/// an initContainer. rofs's initContainers go before `migrate`: the patch adds them and changes
/// `migrate` in place, rather than turning it field by field into `rofs-install` (what a diff
/// index by index gives).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realistic_pod_with_an_init_container_gets_a_patch_by_name() {
    let (review, patched) = check("realistic-pod.json", Config::default()).await;
    let inits: Vec<&str> = patched["spec"]["initContainers"]
        .as_array()
        .expect("initContainers")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(inits.first(), Some(&"rofs-install"));
    assert_eq!(inits.last(), Some(&"migrate"));
    let ops = serde_json::to_value(patch_of(&review)).expect("patch JSON");
    let last = inits.len() - 1;
    for op in ops.as_array().expect("ops") {
        let path = op["path"].as_str().expect("path");
        if let Some(rest) = path.strip_prefix("/spec/initContainers/") {
            // Whole new containers before `migrate`, changes inside `migrate`.
            let (index, inner) = rest.split_once('/').unwrap_or((rest, ""));
            let index: usize = index.parse().expect("an index");
            if index < last {
                assert!(op["op"] == "add" && inner.is_empty(), "{op}");
            } else {
                assert!(index == last && !inner.is_empty(), "{op}");
            }
        }
    }
}

/// The webhook compares only `spec` and `metadata.annotations` (crates/webhook/src/patch.rs):
/// the core must change nothing else, on any fixture.
#[test]
fn the_core_changes_only_spec_and_annotations() {
    for name in [
        "deployment-pod.json",
        "escaped-keys.json",
        "init-and-volumes.json",
        "realistic-pod.json",
    ] {
        let pod = fixture(name)["request"]["object"].clone();
        let after = core_rewrite(&pod, &Settings::default());
        let rest = |pod: &Value| {
            let mut pod = pod.clone();
            let map = pod.as_object_mut().expect("a pod");
            map.remove("spec");
            if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("annotations");
            }
            pod
        };
        assert_ne!(after["spec"], pod["spec"], "{name}: rewritten");
        assert_eq!(rest(&after), rest(&pod), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annotation_keys_with_slash_and_tilde() {
    let (review, patched) = check("escaped-keys.json", Config::default()).await;
    let annotations = &patched["metadata"]["annotations"];
    assert_eq!(annotations["example.com/owner~team"], "payments/eu~west");
    assert_eq!(annotations["a~1b/c~0d"], "looks like an escaped pointer");
    assert!(annotations.get("rofs.io/status").is_some());
    let text = serde_json::to_string(&patch_of(&review)).expect("patch JSON");
    assert!(text.contains("rofs.io~1status"), "{text}");
    assert!(
        !text.contains("\"/metadata/annotations/rofs.io/status\""),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_defaults_and_image_profiles() {
    let config = Config::parse(
        "writable: [/tmp:empty]\nimageProfiles:\n  - image: '*nginx*'\n    profiles: [nginx]\n",
        "test",
    )
    .expect("config");
    let certs = make_certs();
    let server = start_default(&certs, config.clone()).await;
    let mut request = fixture("deployment-pod.json");
    // No annotation: the image profile alone decides.
    request["request"]["object"]["metadata"]["annotations"] = serde_json::json!({});
    let review = post(server.addr, &certs.ca, request.to_string().as_bytes())
        .await
        .json();
    let pod = request["request"]["object"].clone();
    let mut patched = pod.clone();
    json_patch::patch(&mut patched, &patch_of(&review)).expect("applies");
    // The same as `rofs patch --profile nginx=... -w /tmp:empty` for this pod.
    let mut equivalent = config.defaults.clone();
    equivalent
        .per_container
        .entry("nginx".to_string())
        .or_default()
        .profiles
        .push("nginx".parse().expect("a profile"));
    assert_eq!(patched, rofs_patch(&pod, &equivalent));
    let mounts = patched["spec"]["containers"][0]["volumeMounts"].to_string();
    assert!(
        mounts.contains("/var/lib/nginx") && mounts.contains("/tmp"),
        "{mounts}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_pods_and_updates_are_allowed_unchanged() {
    let certs = make_certs();
    let server = start_default(&certs, Config::default()).await;
    for name in ["service.json", "pod-update.json"] {
        let request = fixture(name);
        let response = post(server.addr, &certs.ca, request.to_string().as_bytes()).await;
        assert_eq!(response.status, 200);
        let review = response.json();
        assert_eq!(
            review["response"],
            serde_json::json!({"uid": request["request"]["uid"], "allowed": true}),
            "{name}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_annotations_are_denied_with_a_message_or_allowed_with_a_warning() {
    let certs = make_certs();
    let request = fixture("invalid-annotation.json");
    let server = start_default(&certs, Config::default()).await;
    let review = post(server.addr, &certs.ca, request.to_string().as_bytes())
        .await
        .json();
    let response = &review["response"];
    assert_eq!(response["allowed"], false);
    assert_eq!(response["status"]["code"], 400);
    let message = response["status"]["message"].as_str().expect("message");
    // kubectl: `admission webhook "pods.rofs.io" denied the request: <message>`
    assert!(
        message.starts_with("rofs: ") && message.contains("rofs.io/writeable"),
        "{message}"
    );
    let metrics = {
        let mut s = connect(server.addr, &[&certs.ca]).await;
        send(&mut s, "GET", "/metrics", b"").await.text()
    };
    assert!(
        metrics.contains("rofs_webhook_denials_total 1"),
        "{metrics}"
    );
    server.stop().await;

    let config = Config {
        on_invalid: OnInvalid::Allow,
        ..Config::default()
    };
    let server = start_default(&certs, config).await;
    let review = post(server.addr, &certs.ca, request.to_string().as_bytes())
        .await
        .json();
    assert_eq!(review["response"]["allowed"], true);
    assert!(review["response"].get("patch").is_none());
    let warning = review["response"]["warnings"][0].as_str().expect("warning");
    assert!(
        warning.contains("rofs.io/writeable") && warning.contains("admitted unchanged"),
        "{warning}"
    );
    server.stop().await;
}

/// The API server (Go's net/http) speaks HTTP/2 to webhooks when ALPN offers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_like_the_api_server() {
    use http_body_util::{BodyExt as _, Full};
    use hyper::body::Bytes;
    use std::sync::Arc;

    let certs = make_certs();
    let server = start_default(&certs, Config::default()).await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certs.ca.clone()).expect("CA");
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocols")
    .with_root_certificates(roots)
    .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(HOST.try_into().expect("name"), tcp)
        .await
        .expect("handshake");
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("h2 handshake");
    tokio::spawn(conn);
    let request = fixture("deployment-pod.json");
    // Several reviews multiplexed on the one connection, as the API server does.
    let mut answers = Vec::new();
    for _ in 0..4 {
        let req = hyper::Request::post(format!("https://{HOST}/mutate?timeout=2s"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(request.to_string())))
            .expect("request");
        answers.push(sender.send_request(req));
    }
    for answer in answers {
        let response = answer.await.expect("response");
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), hyper::Version::HTTP_2);
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let review: Value = serde_json::from_slice(&body).expect("JSON");
        let mut patched = request["request"]["object"].clone();
        json_patch::patch(&mut patched, &patch_of(&review)).expect("applies");
        assert_eq!(
            patched,
            core_rewrite(&request["request"]["object"], &Settings::default())
        );
    }
    server.stop().await;
}

/// Issue 9 item 1 (webhook side): a pod author forges `rofs.io/status` to list a mesh's
/// injected init container and sidecar and a PVC volume; before, rofs "removed what it had
/// injected" and the patch stripped all three. The core now refuses such a status with an
/// error, which the webhook maps like any invalid annotation: denied with the core's message
/// (`onInvalid: deny`), or admitted unchanged with it as a warning (`onInvalid: allow`);
/// never a patch that touches the three.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_status_is_denied_or_admitted_unchanged() {
    let certs = make_certs();
    let request = fixture("forged-status.json");
    let names_an_entry = |text: &str| {
        text.starts_with("rofs: ")
            && text.contains("rofs.io/status")
            && ["istio-init", "istio-proxy", "precious"]
                .iter()
                .any(|n| text.contains(n))
    };
    let server = start_default(&certs, Config::default()).await;
    let review = post(server.addr, &certs.ca, request.to_string().as_bytes())
        .await
        .json();
    let response = &review["response"];
    assert!(response.get("patch").is_none(), "{review}");
    assert_eq!(response["allowed"], false, "{review}");
    assert_eq!(response["status"]["code"], 400);
    let message = response["status"]["message"].as_str().expect("message");
    assert!(names_an_entry(message), "{message}");
    server.stop().await;

    let config = Config {
        on_invalid: OnInvalid::Allow,
        ..Config::default()
    };
    let server = start_default(&certs, config).await;
    let review = post(server.addr, &certs.ca, request.to_string().as_bytes())
        .await
        .json();
    assert_eq!(review["response"]["allowed"], true, "{review}");
    assert!(review["response"].get("patch").is_none(), "{review}");
    let warning = review["response"]["warnings"][0].as_str().expect("warning");
    assert!(
        names_an_entry(warning) && warning.contains("admitted unchanged"),
        "{warning}"
    );
    server.stop().await;
}
