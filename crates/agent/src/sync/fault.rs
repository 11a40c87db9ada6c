//! Crash-test hook of `sync` (like seed's `ROFS_AGENT_FAULT_AFTER_FILES`):
//! `ROFS_AGENT_SYNC_FAULT=before-rename:N` aborts the process just before
//! the N-th replace of a DST file, `after-rename:N` just after it,
//! `after-exchange:N` right after the N-th `RENAME_EXCHANGE` (before the
//! version swapped out is checked), `before-save:N` before the N-th save
//! that follows a pass (its files in place and logged, the versions they
//! replaced still at their temporary names). Unset in
//! production: one environment read per process.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Environment variable of the hook.
pub const FAULT_ENV: &str = "ROFS_AGENT_SYNC_FAULT";

/// Where the hook can fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    BeforeRename,
    AfterRename,
    AfterExchange,
    BeforeSave,
}

fn parse(v: &str) -> Option<(Point, u64)> {
    let (point, n) = v.trim().split_once(':')?;
    let point = match point {
        "before-rename" => Point::BeforeRename,
        "after-rename" => Point::AfterRename,
        "after-exchange" => Point::AfterExchange,
        "before-save" => Point::BeforeSave,
        _ => return None,
    };
    Some((point, n.parse().ok()?))
}

/// Aborts the process when the hook says so for this point.
pub fn point(at: Point) {
    static CONF: OnceLock<Option<(Point, u64)>> = OnceLock::new();
    static SEEN: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
    let Some((want, n)) =
        *CONF.get_or_init(|| std::env::var(FAULT_ENV).ok().and_then(|v| parse(&v)))
    else {
        return;
    };
    if want != at {
        return;
    }
    let seen = SEEN[at as usize].fetch_add(1, Ordering::Relaxed) + 1;
    if seen == n {
        std::process::abort();
    }
}
