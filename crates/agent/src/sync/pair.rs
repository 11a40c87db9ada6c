//! One SRC → DST pair at run time: one sync pass is read the source, read
//! DST, settle the writes a killed predecessor left in flight, plan, carry
//! out the actions (each write recorded in the state file before it
//! replaces anything), save the state.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::debounce::{self, Debouncer};
use super::fault::{self, Point};
use super::fsio::{self, Expect, Replaced};
use super::log::{Logger, ms};
use super::model::{PassReport, RunReport, SyncError, SyncOptions};
use super::plan::{self, Action, ConflictKind, ConflictPolicy, Entry, Snapshot, State, WriteKind};

pub(super) struct Pair {
    pub src: PathBuf,
    pub dst: PathBuf,
    state_path: PathBuf,
    state: State,
    /// Writes in flight: saved before a replace, settled by the next pass.
    pending: State,
    /// What the state file holds (saved again only when this differs).
    saved: (State, State),
    pub atomic: bool,
    pub debouncer: Debouncer,
    /// When to try again after a failed pass, and the current backoff.
    pub retry: Option<(Instant, Duration)>,
    /// Temporary files of a killed predecessor may still be in DST.
    first_pass: bool,
    /// SRC resolved, once (see [`fsio::read_source`]).
    volume: Option<PathBuf>,
    /// The state file's directory exists (created by the first save).
    state_dir_made: bool,
    /// The previous versions of this pass's targets, swapped out by
    /// `RENAME_EXCHANGE` (sync's own, checked): removed after the pass's
    /// log line, by the next save (see [`Replaced::Swapped`]).
    swapped_out: Vec<fsio::Temp>,
    /// Those that could not be removed (the error), for the log.
    unremoved: Vec<String>,
    /// The files this process put in DST, and what each holds: not read
    /// again while DST still shows the same file (see [`fsio::Identity`]).
    written: BTreeMap<PathBuf, (fsio::Identity, Entry)>,
}

/// The first retry after a failed pass, and the longest wait.
pub(super) const RETRY_FIRST: Duration = Duration::from_secs(1);
pub(super) const RETRY_MAX: Duration = Duration::from_secs(60);

fn state_err(path: &Path) -> impl FnOnce(std::io::Error) -> SyncError + '_ {
    move |source| SyncError::State {
        path: path.to_path_buf(),
        source,
    }
}

impl Pair {
    pub fn new(src: &Path, dst: &Path, opts: &SyncOptions) -> Result<Pair, SyncError> {
        let state_path = fsio::state_path(opts.state_dir.as_deref(), dst);
        let (state, pending) = fsio::load_state(&state_path).map_err(state_err(&state_path))?;
        Ok(Pair {
            src: src.to_path_buf(),
            dst: dst.to_path_buf(),
            saved: (state.clone(), pending.clone()),
            state_path,
            state,
            pending,
            atomic: src.join(debounce::DATA_LINK).is_symlink(),
            debouncer: Debouncer::new(opts.debounce, opts.debounce * 10),
            retry: None,
            first_pass: true,
            volume: None,
            state_dir_made: false,
            swapped_out: Vec::new(),
            unremoved: Vec::new(),
            written: BTreeMap::new(),
        })
    }

    /// After a pass: no retry when it was complete, else the next one
    /// (1 s, doubling up to 60 s).
    pub fn schedule_retry(&mut self, failed: bool, now: Instant) {
        self.retry = failed.then(|| {
            let backoff = self
                .retry
                .map(|(_, b)| (b * 2).min(RETRY_MAX))
                .unwrap_or(RETRY_FIRST);
            (now + backoff, backoff)
        });
    }

    /// One full pass, up to the files in place: the state is saved by
    /// [`Pair::save`] after it (the caller logs the pass first). Retries
    /// when the kubelet swapped `..data` while files were being copied.
    pub fn sync(
        &mut self,
        policy: ConflictPolicy,
        log: &Logger,
        buf: &mut [u8],
    ) -> Result<(PassReport, fsio::Source), SyncError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let source = fsio::read_source(&self.src, &mut self.volume, buf).map_err(|source| {
                SyncError::Source {
                    path: self.src.clone(),
                    source,
                }
            })?;
            self.atomic = source.atomic;
            let mut report = PassReport::default();
            let first = self.first_pass;
            if first {
                let stale = fsio::recover_temps(
                    &self.dst,
                    source.files.keys().chain(self.state.keys()),
                    &self.state,
                    &self.pending,
                    policy == ConflictPolicy::Source,
                    buf,
                );
                self.log_recovered(&stale, &mut report, log);
                self.first_pass = false;
            }
            self.log_excluded(&source, &mut report, log);
            let paths = source
                .files
                .keys()
                .chain(self.state.keys())
                .chain(self.pending.keys());
            let known = |p: &Path| self.known(first, &source, p);
            let (dst, denied) =
                fsio::read_dst(&self.dst, paths, buf, known).map_err(|source| SyncError::Dst {
                    path: self.dst.clone(),
                    source,
                })?;
            self.log_denied(&denied, &mut report, log);
            self.settle_pending(&dst);
            let denied: Vec<&Path> = denied.iter().map(|(p, _)| p.as_path()).collect();
            let moved = self.pass(&source, &dst, &denied, policy, &mut report, log, buf);
            if moved && attempt < 5 {
                self.save()?;
                continue;
            }
            return Ok((report, source));
        }
    }

    /// The file this process put at `p` and what it holds, when DST's file
    /// need not be read if it is still that one: past the first pass (a
    /// predecessor's writes in flight are settled from what DST really
    /// holds), for a path the source still has (a removal always reads the
    /// file first) and the state records as that version.
    fn known(
        &self,
        first: bool,
        source: &fsio::Source,
        p: &Path,
    ) -> Option<(fsio::Identity, Entry)> {
        if first || !source.files.contains_key(p) || self.pending.contains_key(p) {
            return None;
        }
        let (id, e) = self.written.get(p)?;
        (self.state.get(p) == Some(e) && id.readable()).then_some((*id, *e))
    }

    /// DST files sync may not read fail alone: an error naming each, left
    /// as they are, retried.
    fn log_denied(&self, denied: &[(PathBuf, String)], report: &mut PassReport, log: &Logger) {
        for (rel, e) in denied {
            report.errors += 1;
            log.line(
                "error",
                &format!(
                    "{}: cannot read it: {e}; left as it is, retried",
                    self.dst.join(rel).display()
                ),
                &[("event", "error".into())],
            );
        }
    }

    /// Unreadable files fail alone (an error, retried); symlinks out of
    /// the volume are not followed (a warning). Both are left out of the
    /// plan: their DST copies and state stay as they are.
    fn log_excluded(&self, source: &fsio::Source, report: &mut PassReport, log: &Logger) {
        for (rel, e) in &source.unreadable {
            report.errors += 1;
            log.line(
                "error",
                &format!(
                    "{}: cannot read it: {e}; its copy in {} is left as it is, retried",
                    self.src.join(rel).display(),
                    self.dst.display()
                ),
                &[("event", "error".into())],
            );
        }
        for (rel, to) in &source.refused {
            log.line(
                "warn",
                &format!(
                    "{}: a symlink to {}, out of the source volume: not followed",
                    self.src.join(rel).display(),
                    to.display()
                ),
                &[("event", "refused".into())],
            );
        }
    }

    /// The app's versions a killed predecessor had swapped out (see
    /// [`fsio::recover_temps`]). Put back (`app`), the plan that follows
    /// sees the app's edit and counts the conflict; kept aside (`source`),
    /// the source's version is settled as sync's own, so it is counted here.
    fn log_recovered(&self, stale: &[fsio::Stale], report: &mut PassReport, log: &Logger) {
        for s in stale {
            let (level, msg) = match s {
                fsio::Stale::Restored(p) => (
                    "warn",
                    format!(
                        "{}: the app's version, swapped out by a sync that was killed, is put back",
                        self.dst.join(p).display()
                    ),
                ),
                fsio::Stale::KeptAs(p, kept) => {
                    report.conflicts += 1;
                    (
                        "warn",
                        format!(
                            "{}: conflict: changed by the app while a killed sync replaced it; \
                             the source's version won (--conflict source), the app's is kept as {}",
                            self.dst.join(p).display(),
                            self.dst.join(kept).display()
                        ),
                    )
                }
                fsio::Stale::Left(t) => (
                    "warn",
                    format!(
                        "{}: a temporary file of no write in flight: left as it is",
                        self.dst.join(t).display()
                    ),
                ),
            };
            log.line(level, &msg, &[("event", "recovered".into())]);
        }
    }

    /// A write in flight when a predecessor died: if DST holds its new
    /// version, that version is sync's own (else the old one still is).
    fn settle_pending(&mut self, dst: &Snapshot) {
        for (path, written) in std::mem::take(&mut self.pending) {
            if dst.get(&path).is_some_and(|d| d.same_content(&written)) {
                self.state.insert(path, written);
            }
        }
    }

    /// Plans and acts. Returns true when `..data` moved under a failed
    /// action (the caller reads the source again).
    #[allow(clippy::too_many_arguments)]
    fn pass(
        &mut self,
        source: &fsio::Source,
        dst: &Snapshot,
        dst_denied: &[&Path],
        policy: ConflictPolicy,
        report: &mut PassReport,
        log: &Logger,
        buf: &mut [u8],
    ) -> bool {
        let excluded: Vec<&Path> = source
            .excluded()
            .chain(dst_denied.iter().copied())
            .collect();
        let keep = |p: &PathBuf| !excluded.iter().any(|x| p.starts_with(x));
        let state: State = self
            .state
            .iter()
            .filter(|(p, _)| keep(p))
            .map(|(p, e)| (p.clone(), *e))
            .collect();
        // A DST file sync may not read is left out like an unreadable source
        // file: no action on it this pass.
        let files: std::borrow::Cow<'_, Snapshot> = if dst_denied.is_empty() {
            std::borrow::Cow::Borrowed(&source.files)
        } else {
            std::borrow::Cow::Owned(
                source
                    .files
                    .iter()
                    .filter(|(p, _)| keep(p))
                    .map(|(p, e)| (p.clone(), *e))
                    .collect(),
            )
        };
        let p = plan::plan(&files, dst, &state, policy);
        for c in &p.conflicts {
            report.conflicts += 1;
            self.log_conflict(&c.path, c.kind, c.source_won, log);
        }
        // Every write of the pass, recorded as in flight in one save (the
        // source's version: what the copy will hold unless a plain source
        // changes meanwhile, see `write`).
        for a in &p.actions {
            if let Action::Write { path, entry, .. } = a {
                self.pending.insert(path.clone(), *entry);
            }
        }
        if let Err(e) = self.save_io() {
            report.errors += 1;
            log.line(
                "error",
                &format!("state file {}: {e}", self.state_path.display()),
                &[],
            );
            return false;
        }
        let dst_path = self.dst.clone();
        let mut root = fsio::DstRoot::new(&dst_path);
        for a in &p.actions {
            let result = match a {
                Action::Write { path, entry, kind } => {
                    let expect = match (kind, dst.get(path)) {
                        (WriteKind::Overwrite, _) => Expect::Any,
                        (_, None) => Expect::Absent,
                        (_, Some(d)) => Expect::File(*d),
                    };
                    self.write(
                        source, &mut root, path, entry, *kind, expect, policy, report, log, buf,
                    )
                }
                Action::Chmod { path, entry } => {
                    fsio::chmod(&self.dst, path, entry.perm()).map(|()| {
                        report.modes += 1;
                        plan::apply_to_state(&mut self.state, a);
                    })
                }
                Action::Remove { path } => fsio::remove_file(&self.dst, path).map(|()| {
                    report.removed += 1;
                    plan::apply_to_state(&mut self.state, a);
                }),
                Action::Adopt { .. } | Action::Forget { .. } => {
                    plan::apply_to_state(&mut self.state, a);
                    Ok(())
                }
            };
            if let Err(e) = result {
                if source.atomic && self.data_moved(source) {
                    return true;
                }
                report.errors += 1;
                log.line(
                    "error",
                    &format!("{}: {e}", self.dst.join(action_path(a)).display()),
                    &[],
                );
            }
        }
        false
    }

    /// One write (already recorded as in flight by `pass`): copy to a
    /// temporary file, record what it holds if that differs (saved), replace the target unless the app changed it meanwhile (a conflict,
    /// decided by the policy), record the outcome.
    #[allow(clippy::too_many_arguments)]
    fn write(
        &mut self,
        source: &fsio::Source,
        dst: &mut fsio::DstRoot<'_>,
        path: &Path,
        entry: &Entry,
        kind: WriteKind,
        expect: Expect,
        policy: ConflictPolicy,
        report: &mut PassReport,
        log: &Logger,
        buf: &mut [u8],
    ) -> std::io::Result<()> {
        // A directory on the way that the app replaced with a symlink or a
        // file is the app's: never written through. The plan saw it as a
        // conflict already (DST is read without following symlinks); this
        // is the app doing it since. `--conflict source` replaces it with a
        // real directory (planned as an overwrite).
        let make = if kind == WriteKind::Overwrite {
            fsio::Make::Replace
        } else {
            fsio::Make::Create
        };
        // What this process wrote here no longer holds until this write is done.
        self.written.remove(path);
        let mut copied = fsio::copy_to_temp(source, dst, path, entry.perm(), make, buf);
        // Out of space: the previous versions this pass swapped out (kept for
        // after its log line) are removed now, and the copy tried once more:
        // a pass never needs more room than one spare copy.
        if copied.as_ref().is_err_and(no_space) && !self.swapped_out.is_empty() {
            self.remove_swapped_out();
            copied = fsio::copy_to_temp(source, dst, path, entry.perm(), make, buf);
        }
        let copied = copied.inspect_err(|_| {
            self.pending.remove(path);
        })?;
        let Some((tmp, written, id)) = copied else {
            self.pending.remove(path);
            report.conflicts += 1;
            let kind = match expect {
                Expect::Absent => ConflictKind::AppCreated,
                _ => ConflictKind::BothChanged,
            };
            self.log_conflict(path, kind, false, log);
            self.state.insert(path.to_path_buf(), *entry);
            return Ok(());
        };
        // `pass` saved this write as in flight with the source's version;
        // only when a plain source changed since it was read does the copy
        // differ: record what was copied (one more save). Otherwise no save
        // here: the state of the writes done so far is in that same record.
        let recorded = if written == *entry {
            Ok(())
        } else {
            self.pending.insert(path.to_path_buf(), written);
            self.save_io()
        };
        // The replace removes the temporary file itself on its errors, and
        // only when it holds the new version (never the app's, swapped out).
        let replaced = match recorded {
            Err(e) => {
                tmp.discard();
                Err(e)
            }
            Ok(()) => {
                fault::point(Point::BeforeRename);
                let source_wins = policy == ConflictPolicy::Source;
                fsio::replace(&tmp, expect, &written, source_wins, buf)
            }
        };
        fault::point(Point::AfterRename);
        self.pending.remove(path);
        let replaced = replaced?;
        let won = match replaced {
            Replaced::Done => true,
            Replaced::Swapped => {
                self.swapped_out.push(tmp);
                true
            }
            Replaced::Conflict { kind, source_won } => {
                report.conflicts += 1;
                self.log_conflict(path, kind, source_won, log);
                source_won
            }
        };
        if won {
            match kind {
                WriteKind::Add => report.added += 1,
                WriteKind::Change | WriteKind::Overwrite => report.changed += 1,
            }
            self.state.insert(path.to_path_buf(), written);
            self.written.insert(path.to_path_buf(), (id, written));
        } else {
            // The app's version stays; this source version is seen.
            self.state.insert(path.to_path_buf(), *entry);
        }
        Ok(())
    }

    fn log_conflict(&self, path: &Path, kind: ConflictKind, source_won: bool, log: &Logger) {
        let kept = if source_won {
            "the source's version won (--conflict source)"
        } else {
            "kept the app's version"
        };
        log.line(
            "warn",
            &format!(
                "{}: conflict: {}; {kept}",
                self.dst.join(path).display(),
                kind.describe()
            ),
            &[("event", "conflict".into())],
        );
    }

    /// Removes what the pass swapped out, then saves the state if it
    /// changed. In that order: a version left at a temporary name is
    /// removed at the next start only while the saved state records it.
    fn save_io(&mut self) -> std::io::Result<()> {
        self.remove_swapped_out();
        if self.saved.0 == self.state && self.saved.1 == self.pending {
            return Ok(());
        }
        fsio::save_state(
            &self.state_path,
            &self.state,
            &self.pending,
            self.state_dir_made,
        )?;
        self.state_dir_made = true;
        self.saved = (self.state.clone(), self.pending.clone());
        Ok(())
    }

    /// Removes the previous versions swapped out so far. One that cannot
    /// be removed is left (a version of sync's own at a temporary name: a
    /// restart leaves it, with a warning) and its error kept for the log;
    /// it never holds up the state or the next writes.
    fn remove_swapped_out(&mut self) {
        for t in std::mem::take(&mut self.swapped_out) {
            if let Err(e) = t.remove() {
                self.unremoved.push(format!("{}: {e}", self.dst.display()));
            }
        }
    }

    /// The errors of removals since the last call, for the log.
    pub fn take_unremoved(&mut self) -> Vec<String> {
        std::mem::take(&mut self.unremoved)
    }

    pub fn save(&mut self) -> Result<(), SyncError> {
        fault::point(Point::BeforeSave);
        self.save_io().map_err(state_err(&self.state_path))
    }

    fn data_moved(&self, source: &fsio::Source) -> bool {
        match std::fs::read_link(self.src.join(debounce::DATA_LINK)) {
            Ok(t) => self.src.join(t) != source.root,
            Err(_) => true,
        }
    }
}

fn action_path(a: &Action) -> &Path {
    match a {
        Action::Write { path, .. }
        | Action::Chmod { path, .. }
        | Action::Remove { path }
        | Action::Adopt { path, .. }
        | Action::Forget { path } => path,
    }
}

fn summary(pair: &Pair, r: &PassReport, took: Duration, since: Option<Duration>) -> String {
    let mut s = format!(
        "{}: {} added, {} changed, {} removed",
        pair.dst.display(),
        r.added,
        r.changed,
        r.removed
    );
    if r.modes > 0 {
        s.push_str(&format!(", {} mode(s)", r.modes));
    }
    s.push_str(&format!(", {} conflict(s)", r.conflicts));
    if r.errors > 0 {
        s.push_str(&format!(", {} error(s)", r.errors));
    }
    s.push_str(&format!("; sync {} ms", ms(took)));
    if let Some(l) = since {
        s.push_str(&format!(", {} ms from the event", ms(l)));
    }
    s
}

pub(super) fn sync_and_log(
    pair: &mut Pair,
    opts: &SyncOptions,
    log: &Logger,
    buf: &mut [u8],
    since: Option<Instant>,
    report: &mut RunReport,
    verbose_noop: bool,
) -> Result<(PassReport, fsio::Source), SyncError> {
    let t0 = Instant::now();
    let result = pair.sync(opts.policy, log, buf);
    report.syncs += 1;
    match &result {
        Ok((r, _)) => {
            let done = Instant::now();
            report.conflicts += r.conflicts as u64;
            report.errors += r.errors as u64;
            if r.touched() {
                report.changed_syncs += 1;
            }
            if r.touched() || r.conflicts > 0 || r.errors > 0 || verbose_noop {
                log.line(
                    "info",
                    &summary(pair, r, done - t0, since.map(|s| done - s)),
                    &[
                        ("event", "sync".into()),
                        ("dst", pair.dst.display().to_string()),
                        ("added", r.added.to_string()),
                        ("changed", r.changed.to_string()),
                        ("removed", r.removed.to_string()),
                        ("conflicts", r.conflicts.to_string()),
                        ("errors", r.errors.to_string()),
                        ("sync_ms", ms(done - t0)),
                        (
                            "latency_ms",
                            since.map(|s| ms(done - s)).unwrap_or_default(),
                        ),
                    ],
                );
            }
        }
        Err(e) => {
            report.errors += 1;
            log.line("error", &e.to_string(), &[]);
        }
    }
    // The files are in place and logged; what is left is bookkeeping:
    // removing the previous versions the pass swapped out, saving the state.
    let saved = match result {
        Ok(ok) => pair.save().map(|()| ok).inspect_err(|e| {
            report.errors += 1;
            log.line("error", &e.to_string(), &[]);
        }),
        Err(e) => Err(e),
    };
    for e in pair.take_unremoved() {
        report.errors += 1;
        log.line("error", &e, &[]);
    }
    saved
}

fn no_space(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}
