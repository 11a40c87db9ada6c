//! The one job pool of the agent (the scan and the copy use it): a few
//! scoped `std::thread`s sharing a LIFO stack of jobs. A job may push more
//! jobs; the first error stops every worker. LIFO keeps the walk depth-first,
//! which keeps the number of open directory fds low.

use std::sync::{Condvar, Mutex, PoisonError};

struct Queue<J, E> {
    jobs: Vec<J>,
    /// Jobs being run right now (the jobs they push are not in `jobs` yet).
    active: usize,
    /// Workers asleep on the condition variable.
    idle: usize,
    error: Option<E>,
}

/// Runs `jobs`, and the jobs they push, on `threads` threads (the calling
/// one included). Each worker gets its own scratch value from `scratch`;
/// `work(scratch, job, new_jobs)` runs one job. Returns the first error.
pub(crate) fn run<J, E, S>(
    threads: usize,
    jobs: Vec<J>,
    scratch: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, J, &mut Vec<J>) -> Result<(), E> + Sync,
) -> Result<(), E>
where
    J: Send,
    E: Send,
{
    let queue = Mutex::new(Queue {
        jobs,
        active: 0,
        idle: 0,
        error: None,
    });
    let cv = Condvar::new();
    let worker = || {
        let mut s = scratch();
        let mut q = queue.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if q.error.is_some() {
                cv.notify_all();
                return;
            }
            let Some(job) = q.jobs.pop() else {
                if q.active == 0 {
                    cv.notify_all();
                    return;
                }
                q.idle += 1;
                q = cv.wait(q).unwrap_or_else(PoisonError::into_inner);
                q.idle -= 1;
                continue;
            };
            q.active += 1;
            drop(q);
            let mut new_jobs = Vec::new();
            let result = work(&mut s, job, &mut new_jobs);
            q = queue.lock().unwrap_or_else(PoisonError::into_inner);
            q.active -= 1;
            match result {
                Ok(()) if !new_jobs.is_empty() => {
                    // This worker takes one of them next: wake a sleeping
                    // one for each other (a wake with nobody asleep is a
                    // system call for nothing).
                    let wake = (new_jobs.len() - 1).min(q.idle);
                    q.jobs.append(&mut new_jobs);
                    for _ in 0..wake {
                        cv.notify_one();
                    }
                }
                Ok(()) => {}
                Err(e) => {
                    q.error.get_or_insert(e);
                    cv.notify_all();
                }
            }
            if q.jobs.is_empty() && q.active == 0 {
                cv.notify_all();
            }
        }
    };
    std::thread::scope(|sc| {
        for _ in 1..threads.max(1) {
            sc.spawn(worker);
        }
        worker();
    });
    let q = queue.into_inner().unwrap_or_else(PoisonError::into_inner);
    q.error.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn every_pushed_job_runs_once() {
        // A binary tree of depth 10 as jobs: 2^11 - 1 of them.
        let sum = AtomicU64::new(0);
        super::run(
            4,
            vec![0u32],
            || (),
            |_, depth, out| {
                sum.fetch_add(1, Ordering::Relaxed);
                if depth < 10 {
                    out.extend([depth + 1, depth + 1]);
                }
                Ok::<(), ()>(())
            },
        )
        .expect("no error");
        assert_eq!(sum.load(Ordering::Relaxed), (1 << 11) - 1);
    }

    #[test]
    fn the_first_error_stops_the_pool() {
        let r = super::run(
            3,
            (0..1000).collect(),
            || (),
            |_, j: u32, _| {
                if j == 500 { Err(j) } else { Ok(()) }
            },
        );
        assert_eq!(r, Err(500));
    }
}
