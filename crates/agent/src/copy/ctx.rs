//! What every copy worker shares: paths for messages, who we are, the
//! counters, and the fallbacks learned on the way.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};

use crate::meta::{Identity, Meta, NotKeptCounters, S_ISGID, S_ISUID};

pub(crate) struct CopyCtx<'a> {
    pub src_root: &'a Path,
    pub dst_root: &'a Path,
    pub id: &'a Identity,
    pub nk: &'a NotKeptCounters,
    /// Test hook: abort the process after this many files (crash tests).
    pub fault_after_files: Option<u64>,
    pub files_done: AtomicU64,
    pub bytes_done: AtomicU64,
    /// DST has no setgid bit: what we create belongs to (euid, egid).
    pub fresh: bool,
    /// `copy_file_range` refused (different filesystems): use `sendfile`.
    pub(super) no_cfr: AtomicBool,
    pub(super) no_sendfile: AtomicBool,
    /// `O_NOATIME` refused (not the owner, no CAP_FOWNER): open without it.
    pub(super) no_noatime: AtomicBool,
}

impl<'a> CopyCtx<'a> {
    pub fn new(
        src_root: &'a Path,
        dst_root: &'a Path,
        id: &'a Identity,
        nk: &'a NotKeptCounters,
        fault_after_files: Option<u64>,
        dst_setgid: bool,
    ) -> Self {
        CopyCtx {
            src_root,
            dst_root,
            id,
            nk,
            fault_after_files,
            fresh: !dst_setgid,
            files_done: AtomicU64::new(0),
            bytes_done: AtomicU64::new(0),
            no_cfr: AtomicBool::new(false),
            no_sendfile: AtomicBool::new(false),
            no_noatime: AtomicBool::new(false),
        }
    }
}

/// The mode a directory is created with (the umask is 0). Its final mode
/// when that leaves it writable and searchable by us (`rwx` for the owner)
/// and has no setuid/setgid bit (stripped or not depending on ownership,
/// and setgid would pass on to its children while we fill it), in a tree
/// without an inherited setgid bit: no `chmod` later. Otherwise `0700`,
/// and the final mode is set after its contents.
pub(super) fn initial_dir_mode(ctx: &CopyCtx<'_>, meta: &Meta) -> u32 {
    let perm = meta.perm();
    if ctx.fresh && perm & 0o700 == 0o700 && perm & (S_ISUID | S_ISGID) == 0 {
        perm
    } else {
        0o700
    }
}
