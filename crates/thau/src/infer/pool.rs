//! A small thread pool for the engine's per-token products: fast when the machine is idle,
//! graceful when it is not.
//!
//! Decoding one token runs about 40 parallel products of a few hundred microseconds each, so
//! waking threads must cost about a microsecond (rayon's sleep/wake costs tens). candle's
//! spinning barrier pool is that fast, but its caller waits until *every* worker has checked in:
//! when other processes take the cores, a descheduled worker holds up each product for a whole
//! scheduler time slice and decoding collapses (11–55 tok/s where rayon kept 95–130, m20 f32 on
//! the shared 2-core machine under load 4–5).
//!
//! Here the caller works too, taking chunks from a shared cursor, and then waits only for the
//! workers that actually took a chunk. A worker that is not running simply misses the job.
//! Idle workers spin briefly for the next job, then sleep on a condition variable.
//!
//! Protocol (all on `SeqCst` atomics): the caller publishes the job and makes `gen` odd
//! ("open"); a worker that sees a new odd `gen` increments `active`, then checks `gen` again
//! and only touches the job if it is still the same open one. The caller, after the cursor runs
//! out, makes `gen` even ("closed") and waits for `active` to reach zero. Any worker that
//! passed its second check did so before the close, so its increment is seen by the wait; any
//! later one backs out without touching the job, which may then leave the caller's stack.

use std::cell::{Cell, UnsafeCell};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

/// Spins of an idle worker before it sleeps (about 50–100 µs).
const SPINS: u32 = 1 << 14;

/// The job being run: a type-erased `&dyn Fn(Range)` and its chunking.
#[derive(Clone, Copy)]
struct Job {
    f: *const (dyn Fn(std::ops::Range<usize>) + Sync),
    n_items: usize,
    chunk: usize,
}

struct Shared {
    gen: AtomicUsize,
    job: UnsafeCell<Job>,
    cursor: AtomicUsize,
    active: AtomicUsize,
    /// A worker panicked inside a job: the caller re-raises it.
    poisoned: AtomicBool,
    sleeping: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

// SAFETY: `job` is written only by the caller while the job is closed and no worker is active,
// and read by workers only inside an open job (see the module protocol).
unsafe impl Sync for Shared {}
unsafe impl Send for Shared {}

pub struct Pool {
    shared: Arc<Shared>,
    workers: usize,
    /// One caller at a time.
    call: Mutex<()>,
}

thread_local! {
    static IN_POOL: Cell<bool> = const { Cell::new(false) };
}

impl Pool {
    /// A pool with `threads` threads in all (the caller counts as one).
    pub fn new(threads: usize) -> Self {
        let noop: &'static (dyn Fn(std::ops::Range<usize>) + Sync) = &|_| {};
        let shared = Arc::new(Shared {
            gen: AtomicUsize::new(0),
            job: UnsafeCell::new(Job { f: noop as *const _, n_items: 0, chunk: 1 }),
            cursor: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            poisoned: AtomicBool::new(false),
            sleeping: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        });
        let workers = threads.saturating_sub(1);
        for i in 0..workers {
            let s = shared.clone();
            let spawned = std::thread::Builder::new().name(format!("thau-pool-{i}")).spawn(move || worker(&s));
            if spawned.is_err() {
                return Self { shared, workers: i, call: Mutex::new(()) };
            }
        }
        Self { shared, workers, call: Mutex::new(()) }
    }

    /// The process-wide pool, sized by `rayon::current_num_threads()` (`--threads`).
    pub fn global() -> &'static Pool {
        static POOL: OnceLock<Pool> = OnceLock::new();
        POOL.get_or_init(|| Pool::new(rayon::current_num_threads()))
    }

    pub fn threads(&self) -> usize {
        self.workers + 1
    }

    /// Run `f` over `0..n_items` in about eight ranges per thread; returns when all are done.
    pub fn run(&self, n_items: usize, f: &(dyn Fn(std::ops::Range<usize>) + Sync)) {
        if n_items == 0 {
            return;
        }
        if self.workers == 0 || IN_POOL.with(Cell::get) {
            return f(0..n_items);
        }
        let _one_caller = self.call.lock().unwrap_or_else(|p| p.into_inner());
        let s = &*self.shared;
        let chunk = n_items.div_ceil(self.threads() * 8).max(1);
        // SAFETY: the job is closed and no worker is active (the previous call waited for
        // that), so nobody reads `job` now. The lifetime of `f` is erased; the protocol makes
        // sure no worker uses it after this call returns.
        unsafe {
            let f: *const (dyn Fn(std::ops::Range<usize>) + Sync + '_) = f;
            *s.job.get() = Job {
                f: std::mem::transmute::<
                    *const (dyn Fn(std::ops::Range<usize>) + Sync + '_),
                    *const (dyn Fn(std::ops::Range<usize>) + Sync + 'static),
                >(f),
                n_items,
                chunk,
            };
        }
        s.cursor.store(0, SeqCst);
        s.gen.fetch_add(1, SeqCst); // open
        if s.sleeping.load(SeqCst) > 0 {
            let _g = s.lock.lock().unwrap_or_else(|p| p.into_inner());
            s.wake.notify_all();
        }
        IN_POOL.with(|c| c.set(true));
        work(s, f, n_items, chunk);
        IN_POOL.with(|c| c.set(false));
        s.gen.fetch_add(1, SeqCst); // close
        let mut spins = 0u32;
        while s.active.load(SeqCst) != 0 {
            if spins < SPINS {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
        if s.poisoned.swap(false, SeqCst) {
            panic!("a thread-pool worker panicked while running a job");
        }
    }
}

/// Take chunks until the cursor runs out.
fn work(s: &Shared, f: &(dyn Fn(std::ops::Range<usize>) + Sync), n_items: usize, chunk: usize) {
    loop {
        let start = s.cursor.fetch_add(1, SeqCst) * chunk;
        if start >= n_items {
            return;
        }
        f(start..n_items.min(start + chunk));
    }
}

/// Decrements `active` when a worker leaves a job, also when `f` panics.
struct Leave<'a>(&'a Shared);
impl Drop for Leave<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.poisoned.store(true, SeqCst);
        }
        self.0.active.fetch_sub(1, SeqCst);
    }
}

fn worker(s: &Shared) {
    IN_POOL.with(|c| c.set(true));
    let mut seen = s.gen.load(SeqCst);
    let mut spins = 0u32;
    loop {
        let g = s.gen.load(SeqCst);
        if g != seen && g % 2 == 1 {
            seen = g;
            spins = 0;
            s.active.fetch_add(1, SeqCst);
            let leave = Leave(s);
            if s.gen.load(SeqCst) == g {
                // SAFETY: the job `g` is still open and we are counted in `active`, so the
                // caller is waiting and `job` (and the closure it points to) are alive.
                let job = unsafe { *s.job.get() };
                work(s, unsafe { &*job.f }, job.n_items, job.chunk);
            }
            drop(leave);
            continue;
        }
        if g != seen {
            // A job opened and closed while we were away: nothing to do.
            seen = g;
        }
        if spins < SPINS {
            std::hint::spin_loop();
            spins += 1;
            continue;
        }
        let guard = s.lock.lock().unwrap_or_else(|p| p.into_inner());
        if s.gen.load(SeqCst) == seen {
            s.sleeping.fetch_add(1, SeqCst);
            let _g = s.wake.wait(guard).unwrap_or_else(|p| p.into_inner());
            s.sleeping.fetch_sub(1, SeqCst);
        }
        spins = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::Pool;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    #[test]
    fn every_item_runs_exactly_once_across_many_jobs() {
        let pool = Pool::new(3);
        for n in [1usize, 2, 7, 100, 1000, 12_345] {
            for _ in 0..20 {
                let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
                pool.run(n, &|r| {
                    for i in r {
                        hits[i].fetch_add(1, Ordering::Relaxed);
                    }
                });
                assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1), "n = {n}");
            }
        }
    }

    #[test]
    fn jobs_after_the_workers_fell_asleep_still_run_and_nested_calls_run_inline() {
        let pool = Pool::new(2);
        let sum = AtomicU64::new(0);
        pool.run(10, &|r| {
            sum.fetch_add(r.map(|i| i as u64).sum(), Ordering::Relaxed);
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        pool.run(10, &|r| {
            // A nested call from inside a job must not deadlock.
            pool.run(3, &|r2| {
                sum.fetch_add(r2.len() as u64 * 1000, Ordering::Relaxed);
            });
            sum.fetch_add(r.map(|i| i as u64).sum(), Ordering::Relaxed);
        });
        let chunks = sum.load(Ordering::Relaxed) / 1000;
        assert_eq!(sum.load(Ordering::Relaxed) % 1000, 90);
        assert!(chunks >= 3, "each chunk of the outer job ran the inner one");
    }
}
