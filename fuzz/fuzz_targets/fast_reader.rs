//! The fast YAML reader (crates/manifest/src/fast.rs, issue 14) against serde-saphyr: every
//! document the fast reader accepts, serde-saphyr accepts with the same value (same keys in the
//! same order, same scalar types, same number spelling); whenever serde-saphyr refuses a
//! document, the fast reader gives up.
//!
//! Seeds: `fuzz/seeds/fast_reader`, plus (copied by hand, as scripts/fuzz-smoke.sh does for
//! the patch target) the manifest tests' YAML files, the real-world corpus and the YAML test
//! suite. Run:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run fast_reader fuzz/corpus/fast_reader -- -dict=fuzz/fast_reader.dict`
//! The known breaks (tests/fast_reader_adversarial.rs, `contract_break_*`) are not seeds: a
//! failing seed would stop every run at once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rofs_manifest::yaml;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for raw in yaml::split_documents(text) {
        let Some(fast) = yaml::fast_path(&raw) else {
            continue;
        };
        // The fast reader nests at most 64 levels: the fuzzer's main thread has stack enough.
        match yaml::from_str(raw.chunk) {
            // serde_json's maps compare without order: compare the texts, which keep it (and,
            // with arbitrary_precision, the numbers as spelled).
            Ok(slow) => assert_eq!(
                serde_json::to_string(&fast).expect("JSON"),
                serde_json::to_string(&slow).expect("JSON"),
                "the fast reader and serde-saphyr read {:?} differently",
                raw.chunk
            ),
            Err(e) => panic!(
                "the fast reader read {fast} from {:?}, which serde-saphyr refuses: {e:?}",
                raw.chunk
            ),
        }
    }
});
