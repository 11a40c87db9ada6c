//! Any input to `rofs patch`: no panic, and when it succeeds, patching the output again gives
//! the same bytes and the same documents (idempotence, and a valid stream: directives, `---`
//! and `...` kept where YAML needs them) — for YAML and JSON, with and without annotations.
//! Seeds: `fuzz/seeds/patch`, plus the real-world corpus and the YAML test suite
//! (scripts/fuzz-smoke.sh copies them).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rofs_core::Settings;
use rofs_manifest::{Format, Input, patch};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut settings = Settings::default();
    settings.writable = vec![
        "/var/lib/app".parse().expect("valid"),
        "/tmp:memory:64Mi:empty".parse().expect("valid"),
    ];
    settings.writable_volumes = vec!["config".into()];
    settings.rollout_on_change = true;
    let input = [Input { name: "fuzz", text }];
    let Ok(first) = patch(&input, &settings, Format::Auto) else {
        return;
    };
    let again = [Input { name: "fuzz-output", text: &first.output }];
    let second = patch(&again, &settings, Format::Auto).expect("rofs output must be valid input");
    assert_eq!(first.output, second.output, "patching the output again changed it");
    assert_eq!(first.documents, second.documents, "the output has other documents");
});
