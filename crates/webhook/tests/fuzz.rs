//! Bounded fuzzing of the review handler, in `cargo test` (the brief asks for a smoke mode that
//! runs in CI; cargo-fuzz would need a nightly-only sanitizer build of tokio/rustls/ring).
//!
//! A small deterministic mutator (xorshift, fixed seed; `ROFS_FUZZ_SEED` / `ROFS_FUZZ_SECONDS`
//! to explore further) mutates the fixtures two ways: structurally (replace, delete or insert
//! JSON values anywhere, with values chosen to hit the annotation grammar and the pod shape)
//! and as bytes (flip, insert, delete, truncate, splice). Properties, for every input:
//! - `review_bytes` returns (no panic), and errors only for non-AdmissionReview input;
//! - the response carries the request's uid;
//! - a patch applies to the request's object and gives exactly the core's rewrite;
//! - the patched pod, reviewed again, gets no patch (reinvocation-safe).

use std::time::{Duration, Instant};

use base64::Engine as _;
use rofs_webhook::{Config, review_bytes};
use serde_json::{Map, Value, json};

use crate::util::fixture;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const WORDS: &[&str] = &[
    "rofs.io/writable",
    "rofs.io/profile",
    "rofs.io/containers",
    "rofs.io/seeder",
    "rofs.io/skip",
    "rofs.io/status",
    "rofs.io/agent-image",
    "writable.rofs.io/nginx",
    "profile.rofs.io/app",
    "writable.rofs.io/",
    "rofs.io/writeable",
    "/var/lib/nginx",
    "/tmp:empty",
    "/run:memory:1Mi:empty",
    "/x:64Mi:disk",
    "/",
    "..",
    "/proc/x",
    "/.rofs",
    "nginx",
    "java",
    "tomcat",
    "tmp",
    "agent",
    "shell",
    "true",
    "false",
    ",",
    "\n",
    ":",
    "~",
    "~1",
    "~0",
    "/a~b",
    "Always",
    "Pod",
    "CREATE",
    "UPDATE",
    "",
    "é",
    "\u{0}",
    "readOnlyRootFilesystem",
    "initContainers",
    "volumes",
    "volumeMounts",
    "emptyDir",
    "{\"initContainers\":[\"rofs-install\"]}",
    "1e400",
    "-0",
    "Memory",
];

fn random_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 3 { 5 } else { 8 }) {
        0 => Value::Null,
        1 => json!(rng.below(3) == 0),
        2 => json!(rng.next() as i64),
        3 => json!(rng.pick(WORDS)),
        4 => json!(format!(
            "{}{}{}",
            rng.pick(WORDS),
            rng.pick(WORDS),
            rng.pick(WORDS)
        )),
        5 => Value::Array(
            (0..rng.below(3))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        6 => {
            let mut m = Map::new();
            for _ in 0..rng.below(3) {
                m.insert(rng.pick(WORDS).to_string(), random_value(rng, depth + 1));
            }
            Value::Object(m)
        }
        _ => {
            json!({"name": rng.pick(&["nginx", "app", "x", "rofs-install", "NGINX"]), "image": rng.pick(WORDS)})
        }
    }
}

/// Walk to a random node and replace, delete or add something there.
fn mutate_tree(v: &mut Value, rng: &mut Rng, depth: usize) {
    let descend = depth < 12 && rng.below(4) != 0;
    match v {
        Value::Object(m) if !m.is_empty() => {
            let keys: Vec<String> = m.keys().cloned().collect();
            let key = rng.pick(&keys).clone();
            if descend {
                if let Some(child) = m.get_mut(&key) {
                    return mutate_tree(child, rng, depth + 1);
                }
            }
            match rng.below(3) {
                0 => {
                    m.remove(&key);
                }
                1 => {
                    m.insert(rng.pick(WORDS).to_string(), random_value(rng, depth));
                }
                _ => {
                    m.insert(key, random_value(rng, depth));
                }
            }
        }
        Value::Array(a) if !a.is_empty() => {
            let i = rng.below(a.len());
            if descend {
                return mutate_tree(&mut a[i], rng, depth + 1);
            }
            match rng.below(3) {
                0 => {
                    a.remove(i);
                }
                1 => {
                    let dup = a[i].clone();
                    a.insert(i, dup);
                }
                _ => a[i] = random_value(rng, depth),
            }
        }
        other => *other = random_value(rng, depth),
    }
}

fn mutate_bytes(bytes: &mut Vec<u8>, rng: &mut Rng) {
    for _ in 0..=rng.below(4) {
        if bytes.is_empty() {
            bytes.push(b'{');
        }
        let i = rng.below(bytes.len());
        match rng.below(5) {
            0 => bytes[i] ^= 1 << rng.below(8),
            1 => bytes.insert(i, *rng.pick(b"{}[]\",:\\0-e~/ \xff")),
            2 => {
                bytes.remove(i);
            }
            3 => bytes.truncate(i),
            _ => {
                let j = rng.below(bytes.len());
                let (a, b) = (i.min(j), i.max(j));
                let piece = bytes[a..b].to_vec();
                let at = rng.below(bytes.len());
                bytes.splice(at..at, piece);
            }
        }
    }
}

#[derive(Default, Debug)]
struct Counts {
    runs: u64,
    reviews: u64,
    patched: u64,
    denied: u64,
}

fn check(body: &[u8], config: &Config, counts: &mut Counts) {
    counts.runs += 1;
    let Ok(reviewed) = review_bytes(body, config) else {
        return;
    };
    counts.reviews += 1;
    if !reviewed.response.response.allowed {
        counts.denied += 1;
    }
    let request: Value = serde_json::from_slice(body).expect("review_bytes accepted it: JSON");
    let response = serde_json::to_value(&reviewed.response).expect("response JSON");
    assert_eq!(response["response"]["uid"], request["request"]["uid"]);
    let Some(b64) = response.pointer("/response/patch").and_then(Value::as_str) else {
        return;
    };
    counts.patched += 1;
    let patch: json_patch::Patch = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("base64"),
    )
    .expect("patch");
    let object = request["request"]["object"].clone();
    let mut patched = object.clone();
    json_patch::patch(&mut patched, &patch).expect("the patch applies to the object");
    let mut expected = object.clone();
    rofs_core::rewrite_pod_template(
        &mut expected,
        &rofs_core::Location::root(),
        None,
        &config.settings_for(&object),
    )
    .expect("mutated, so the core succeeded");
    assert_eq!(
        patched,
        expected,
        "patch != core for {}",
        String::from_utf8_lossy(body)
    );
    let mut again = request.clone();
    again["request"]["object"] = patched;
    let again_bytes = again.to_string().into_bytes();
    let second = review_bytes(&again_bytes, config).expect("still a review");
    assert!(
        second.response.response.patch.is_none(),
        "not idempotent: {}\nsecond patch: {:?}",
        String::from_utf8_lossy(body),
        second.response.response.patch
    );
}

/// Runs made whatever the time budget (see the loop).
const MIN_RUNS: u64 = 2_000;

#[test]
fn mutated_fixtures_never_panic_and_patches_are_exact() {
    let seed = std::env::var("ROFS_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9e37_79b9_7f4a_7c15_u64);
    let budget = Duration::from_secs(
        std::env::var("ROFS_FUZZ_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(8),
    );
    let configs = [
        Config::default(),
        Config::parse(
            "profiles: [tmp]\nimageProfiles: [{image: '*nginx*', profiles: [nginx]}, {image: '*', writable: ['/var/cache:8Mi']}]\nonInvalid: allow",
            "fuzz",
        )
        .expect("config"),
    ];
    let seeds: Vec<Value> = [
        "deployment-pod.json",
        "init-and-volumes.json",
        "escaped-keys.json",
        "invalid-annotation.json",
        "service.json",
        "pod-update.json",
    ]
    .iter()
    .map(|n| fixture(n))
    .collect();
    let mut rng = Rng(seed | 1);
    let start = Instant::now();
    let mut counts = Counts::default();
    // A fixed number of runs first, whatever the machine's speed: with a
    // given seed the counts checked below are then the same on every run
    // (a loaded machine once got too few inside the time budget); the
    // budget only adds runs after them.
    while counts.runs < MIN_RUNS || (start.elapsed() < budget && counts.runs < 200_000) {
        let mut doc = rng.pick(&seeds).clone();
        for _ in 0..=rng.below(3) {
            // Mostly inside the pod (where the core works), sometimes anywhere.
            match rng.below(10) {
                0..=6 => match doc.pointer_mut("/request/object/metadata/annotations") {
                    Some(target) if rng.below(2) == 0 => mutate_tree(target, &mut rng, 0),
                    _ => match doc.pointer_mut("/request/object") {
                        Some(target) => mutate_tree(target, &mut rng, 0),
                        None => mutate_tree(&mut doc, &mut rng, 0),
                    },
                },
                _ => mutate_tree(&mut doc, &mut rng, 0),
            }
        }
        let mut body = doc.to_string().into_bytes();
        if rng.below(5) == 0 {
            mutate_bytes(&mut body, &mut rng);
        }
        check(&body, rng.pick(&configs), &mut counts);
    }
    eprintln!("fuzz smoke (seed {seed:#x}): {counts:?}");
    assert!(counts.runs > 100, "too few runs: {counts:?}");
    assert!(
        counts.reviews * 2 > counts.runs,
        "most inputs must stay reviews: {counts:?}"
    );
    assert!(
        counts.patched > 10 && counts.denied > 10,
        "the core must be exercised: {counts:?}"
    );
}
