//! The writer's helper threads for writing and fsyncing several files at once. They live as long
//! as the writer: starting a thread per multi-file round cost a `clone`, a fresh stack and a fresh
//! allocator heap (a zeroed huge page) each time, which under a put load spread over many shards
//! was several percent of the server's CPU.

use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;

/// Threads one round may use to write or fsync files in parallel, the writer's own included.
const MAX_IO_THREADS: usize = 16;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Persistent threads, started when a round first needs them.
#[derive(Default)]
pub(crate) struct IoPool {
    threads: Vec<Sender<Job>>,
}

impl IoPool {
    /// Runs `op` over `items`, in parallel when there are several: on most devices concurrent
    /// writes and flushes of different files cost little more than one, so a round touching many
    /// shards does not pay for them in series. The calling thread takes the first share itself.
    /// Results come in the order of `items`.
    pub(crate) fn parallel<T: Sync, R: Send>(
        &mut self,
        items: &[T],
        op: impl Fn(&T) -> R + Sync,
    ) -> Vec<R> {
        if items.len() <= 1 {
            return items.iter().map(&op).collect();
        }
        let chunks: Vec<&[T]> = items.chunks(items.len().div_ceil(MAX_IO_THREADS)).collect();
        let op = &op;
        let (done_tx, done_rx) = mpsc::channel::<(usize, thread::Result<Vec<R>>)>();
        let mut results: Vec<Option<Vec<R>>> = chunks.iter().map(|_| None).collect();
        for (k, &chunk) in chunks.iter().enumerate().skip(1) {
            let done = done_tx.clone();
            let job: Box<dyn FnOnce() + Send + '_> = Box::new(move || {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    chunk.iter().map(op).collect::<Vec<R>>()
                }));
                // The job's last act: once it is received, the job no longer touches `chunk`
                // or `op`.
                let _ = done.send((k, r));
            });
            // SAFETY: the job borrows `chunk` and `op`, which live until this function returns,
            // and it does not return before every job is finished with them. Each job owns a
            // clone of `done` and drops it only after its last use of the borrows (a panic in
            // `op` is caught before), or unrun, never having used them. The loop below waits
            // until `recv` fails, which happens only once every clone is dropped, that is once
            // every job has finished or was dropped unrun.
            let job: Job =
                unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + '_>, Job>(job) };
            // A share that no thread takes (none could be started, or it is gone) is done below.
            if let Some(thread) = self.thread(k - 1) {
                let _ = thread.send(job);
            }
        }
        drop(done_tx);
        results[0] = Some(chunks[0].iter().map(op).collect());
        while let Ok((k, r)) = done_rx.recv() {
            results[k] = r.ok();
        }
        // A share whose job panicked or never ran is done here rather than lost.
        results
            .into_iter()
            .zip(chunks)
            .flat_map(|(r, chunk)| r.unwrap_or_else(|| chunk.iter().map(op).collect()))
            .collect()
    }

    /// The `n`th helper thread, started if need be; `None` if the system has no thread to give.
    fn thread(&mut self, n: usize) -> Option<&Sender<Job>> {
        while self.threads.len() <= n {
            let (tx, rx) = mpsc::channel::<Job>();
            thread::Builder::new()
                .name("freshet-log-io".into())
                .spawn(move || serve(rx))
                .ok()?;
            self.threads.push(tx);
        }
        self.threads.get(n)
    }
}

/// A helper thread's life: run jobs until the writer (and with it the pool) is gone.
fn serve(rx: Receiver<Job>) {
    while let Ok(job) = rx.recv() {
        job();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_order_of_the_items_and_threads_are_reused() {
        let mut pool = IoPool::default();
        let items: Vec<u64> = (0..40).collect();
        for _ in 0..3 {
            let out = pool.parallel(&items, |&i| (i * i, thread::current().id()));
            let squares: Vec<u64> = out.iter().map(|(s, _)| *s).collect();
            assert_eq!(squares, items.iter().map(|i| i * i).collect::<Vec<_>>());
            let threads: std::collections::HashSet<_> = out.iter().map(|(_, t)| *t).collect();
            assert!(threads.len() > 1, "one thread did all the work");
        }
        // 40 items in shares of 3: 14 shares, the first on the caller, so 13 helpers, kept.
        assert_eq!(pool.threads.len(), 13);
    }

    #[test]
    fn a_share_whose_thread_panics_is_done_again_on_the_caller() {
        let mut pool = IoPool::default();
        let caller = thread::current().id();
        let items: Vec<u32> = (0..4).collect();
        let out = pool.parallel(&items, |&i| {
            if i == 3 && thread::current().id() != caller {
                panic!("injected");
            }
            i + 1
        });
        assert_eq!(out, [1, 2, 3, 4]);
        // The helper survived its job's panic and serves the next round.
        assert_eq!(pool.parallel(&items, |&i| i * 2), [0, 2, 4, 6]);
    }

    #[test]
    fn one_item_runs_on_the_caller() {
        let mut pool = IoPool::default();
        let out = pool.parallel(&[7], |_| thread::current().id());
        assert_eq!(out, [thread::current().id()]);
        assert!(pool.threads.is_empty());
    }
}
