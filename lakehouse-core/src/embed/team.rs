//! The threads that share one forward pass, from its first step to its last.
//!
//! Why not a rayon parallel iterator per step: a ten-token query's pass is ~60 steps of
//! 10–40 µs each, and every rayon step that finds the other worker asleep pays a futex wake
//! and a sleep (a sixth of a query's time in `perf`, in the scheduler). A [`Team`] is
//! formed once per pass instead: the calling thread leads, and each helper (one rayon job
//! per other pool thread) stays with the pass, spinning briefly between steps, until the
//! pass ends. Each step is cut into numbered tasks that whoever is free claims, so the
//! leader never waits for a helper that has not arrived: if the pool is busy with other
//! passes, the leader simply runs every task itself.

use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering::SeqCst};

/// A task body: called once per task number of the current step.
type Job<'a> = &'a (dyn Fn(usize) + Sync + 'a);

/// Spins of an idle helper before it starts yielding its core between looks.
const SPINS: u32 = 1 << 14;

/// Bits of [`Team::state`] for the task count and for the next task; the step number
/// takes the rest (it wraps after 2^24 steps of one pass, far more than any pass has).
const TASK_BITS: u32 = 20;

/// `(step, tasks, next)` → one state word.
fn pack(step: u64, tasks: usize, next: usize) -> u64 {
    (step << (2 * TASK_BITS)) | ((tasks as u64) << TASK_BITS) | next as u64
}

/// A state word's `(tasks, next)`.
fn unpack(state: u64) -> (usize, usize) {
    let mask = (1u64 << TASK_BITS) - 1;
    (
        ((state >> TASK_BITS) & mask) as usize,
        (state & mask) as usize,
    )
}

/// The state shared by a pass's leader and helpers.
pub(crate) struct Team {
    /// Threads that may work on the pass, the leader included.
    size: usize,
    /// The current step's number, task count and next unclaimed task, in one word (see
    /// [`pack`]) so that one load sees all three together: claiming a task is one
    /// compare-and-swap, which fails for a helper that read an earlier step's job.
    state: AtomicU64,
    /// The current step's job (a `*const Job`, on the leader's stack while the step runs).
    job: AtomicPtr<()>,
    /// Tasks of the current step finished.
    finished: AtomicUsize,
    /// A helper's task panicked: the leader re-raises it after the step.
    panicked: AtomicBool,
    /// The pass is over: helpers leave.
    over: AtomicBool,
    /// The leader's step counter (only the leader writes `job` and new steps).
    steps: AtomicU64,
}

impl Team {
    /// A team of one: steps run on the calling thread, in order.
    pub fn alone() -> Self {
        Self::new(1)
    }

    fn new(size: usize) -> Self {
        Self {
            size,
            state: AtomicU64::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            finished: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            over: AtomicBool::new(false),
            steps: AtomicU64::new(0),
        }
    }

    /// Threads that may share a step; callers cut steps into a few tasks per thread.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Runs `job(i)` for every `i` in `0..tasks` on the leader and whichever helpers are
    /// here, and returns when all have finished. Only the leader (the thread that got the
    /// team from [`with_team`]) calls this.
    pub fn run(&self, tasks: usize, job: impl Fn(usize) + Sync) {
        if self.size == 1 || tasks <= 1 {
            (0..tasks).for_each(job);
            return;
        }
        // A state word counts fewer tasks than any pass has; more would run as several steps.
        let most = (1 << TASK_BITS) - 1;
        for base in (0..tasks).step_by(most) {
            self.step(most.min(tasks - base), &|i| job(base + i));
        }
    }

    /// One step of `tasks` (< 2^[`TASK_BITS`]) tasks.
    fn step(&self, tasks: usize, job: Job) {
        let step = self.steps.fetch_add(1, SeqCst) + 1;
        self.finished.store(0, SeqCst);
        self.job.store(&job as *const Job as *mut (), SeqCst);
        self.state.store(pack(step, tasks, 0), SeqCst);
        // `job` lives in this frame and helpers call it through the published pointer: the
        // step must not end, by return or by a panic of the leader's own task, before every
        // task a helper claimed has finished. `Close` guarantees both.
        let close = Close(self);
        while let Some(i) = self.claim() {
            // Counted as finished even if it panics, so that `Close` does not wait for it.
            let _done = Finished(&self.finished);
            job(i);
        }
        drop(close);
        if self.panicked.swap(false, SeqCst) {
            panic!("a task of the forward pass panicked on a helper thread");
        }
    }

    /// Claims the next task of the current step, if one is left.
    fn claim(&self) -> Option<usize> {
        let mut state = self.state.load(SeqCst);
        loop {
            let (tasks, next) = unpack(state);
            if next >= tasks {
                return None;
            }
            match self
                .state
                .compare_exchange_weak(state, state + 1, SeqCst, SeqCst)
            {
                Ok(_) => return Some(next),
                Err(now) => state = now,
            }
        }
    }

    /// A helper's loop: claim and run tasks until the pass is over.
    fn help(&self) {
        let mut idle = Idle::default();
        while !self.over.load(SeqCst) {
            let state = self.state.load(SeqCst);
            let job = self.job.load(SeqCst) as *const Job;
            let (tasks, next) = unpack(state);
            if job.is_null() || next >= tasks {
                idle.wait();
                continue;
            }
            // The swap succeeds only while `state`'s step is current, and the leader
            // publishes a step's job before the step and replaces it only after every task
            // of the step was claimed and has finished: so if it succeeds, `job` is this
            // step's and stays alive until this task reports finished.
            if self
                .state
                .compare_exchange(state, state + 1, SeqCst, SeqCst)
                .is_err()
            {
                continue;
            }
            idle = Idle::default();
            // SAFETY: see above; the leader's `run` keeps the job borrowed until
            // `finished` counts this task.
            let job = unsafe { *job };
            if catch_unwind(AssertUnwindSafe(|| job(next))).is_err() {
                self.panicked.store(true, SeqCst);
            }
            self.finished.fetch_add(1, SeqCst);
        }
    }
}

/// Closes the current step when dropped (at its end, or while the leader unwinds from a
/// panicking task): no task can be claimed any more, and the drop returns once every task
/// claimed so far has finished, so no helper is left running a job whose frame is gone.
struct Close<'a>(&'a Team);

impl Drop for Close<'_> {
    fn drop(&mut self) {
        let team = self.0;
        let mut state = team.state.load(SeqCst);
        // Mark every task claimed: a helper's compare-and-swap on an older word fails.
        let claimed = loop {
            let (tasks, next) = unpack(state);
            if next >= tasks {
                break tasks;
            }
            let closed = state - next as u64 + tasks as u64;
            match team.state.compare_exchange(state, closed, SeqCst, SeqCst) {
                Ok(_) => break next,
                Err(now) => state = now,
            }
        };
        // Claimed tasks may be running on helpers: wait for them (each is a few µs, unless
        // the helper lost its core, which is why the wait yields after a while).
        let mut idle = Idle::default();
        while team.finished.load(SeqCst) < claimed {
            idle.wait();
        }
    }
}

/// Counts one task of the step as finished when dropped, also when the task panics.
struct Finished<'a>(&'a AtomicUsize);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Waiting for another thread of the team: spin (steps are microseconds apart), then give
/// the core away between looks, in case the thread waited for needs it.
#[derive(Default)]
struct Idle(u32);

impl Idle {
    fn wait(&mut self) {
        if self.0 < SPINS {
            self.0 += 1;
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

/// Runs `pass` as the leader of a team of every rayon pool thread, and returns its result
/// once the helpers have left. Helpers that never get a thread (the pool busy with other
/// passes) cost nothing: the leader runs every task itself.
pub(crate) fn with_team<R: Send>(pass: impl FnOnce(&Team) -> R + Send) -> R {
    let threads = rayon::current_num_threads();
    if threads == 1 {
        return pass(&Team::alone());
    }
    let team = Team::new(threads);
    /// Ends the pass for the helpers even if the leader unwinds.
    struct Over<'a>(&'a Team);
    impl Drop for Over<'_> {
        fn drop(&mut self) {
            self.0.over.store(true, SeqCst);
        }
    }
    rayon::scope(|s| {
        for _ in 1..threads {
            s.spawn(|_| team.help());
        }
        let _over = Over(&team);
        pass(&team)
    })
}

/// Runs `pass` as [`with_team`] does, but a panic in any task (the leader's or a helper's)
/// comes back as an error instead of unwinding into the caller: the step it happened in
/// has closed and waited for every claimed task first, and the helpers have left.
pub(crate) fn run_pass<R: Send>(pass: impl FnOnce(&Team) -> R + Send) -> Result<R, String> {
    catch_unwind(AssertUnwindSafe(|| with_team(pass))).map_err(|e| {
        let what = e
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| e.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_string());
        format!("the forward pass failed ({what}); please report it")
    })
}

/// A buffer that the tasks of one step write in disjoint parts. It borrows the buffer for
/// as long as it lives, so the owner cannot touch it meanwhile, and knows its length, so
/// every part handed out is checked to lie inside it.
pub(crate) struct Shared<'a> {
    ptr: *mut f32,
    len: usize,
    _buf: PhantomData<&'a mut [f32]>,
}
// SAFETY: the buffer is borrowed mutably for 'a (nobody else reaches it), and tasks write
// disjoint parts of it (the promise `slice` and the users of `at` make).
unsafe impl Send for Shared<'_> {}
unsafe impl Sync for Shared<'_> {}

impl<'a> Shared<'a> {
    /// Shares `buf` with a step's tasks.
    pub fn new(buf: &'a mut [f32]) -> Self {
        Self {
            ptr: buf.as_mut_ptr(),
            len: buf.len(),
            _buf: PhantomData,
        }
    }

    /// A pointer to the `extent` floats from `off`.
    ///
    /// # Panics
    /// When they are not all inside the buffer.
    pub fn at(&self, off: usize, extent: usize) -> *mut f32 {
        assert!(
            off.checked_add(extent).is_some_and(|end| end <= self.len),
            "{extent} floats at {off} of a buffer of {}",
            self.len
        );
        // SAFETY: `off` is inside the buffer (or one past its end when `extent` is 0).
        unsafe { self.ptr.add(off) }
    }

    /// The `len` floats from `off`, to write.
    ///
    /// # Safety
    /// No other task reads or writes them while the slice lives.
    ///
    /// # Panics
    /// When they are not all inside the buffer.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice(&self, off: usize, len: usize) -> &mut [f32] {
        // SAFETY: `at` checked the bounds; the caller promises exclusive use.
        unsafe { std::slice::from_raw_parts_mut(self.at(off, len), len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_parts_are_checked_against_the_buffer() {
        let mut buf = vec![0f32; 10];
        let shared = Shared::new(&mut buf);
        // SAFETY: one part at a time, on this thread.
        unsafe { shared.slice(8, 2) }.fill(1.0);
        assert!(!shared.at(10, 0).is_null());
        for (off, len) in [(9, 2), (11, 0), (usize::MAX, 2)] {
            let past = catch_unwind(AssertUnwindSafe(|| shared.at(off, len)));
            assert!(past.is_err(), "{len} at {off}");
        }
        assert_eq!(buf[7..], [0.0, 1.0, 1.0]);
    }

    #[test]
    fn every_task_of_every_step_runs_once() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        let counts: Vec<AtomicUsize> = (0..1000).map(|_| AtomicUsize::new(0)).collect();
        let total = pool.install(|| {
            with_team(|team| {
                assert_eq!(team.size(), 4);
                let mut total = 0;
                for step in 1..200 {
                    let n = step % 37;
                    team.run(n, |i| {
                        counts[i].fetch_add(step, SeqCst);
                    });
                    total += n;
                }
                total
            })
        });
        let want: Vec<usize> = (0..1000)
            .map(|i| (1..200).filter(|s| s % 37 > i).sum())
            .collect();
        let got: Vec<usize> = counts.iter().map(|c| c.load(SeqCst)).collect();
        assert_eq!(got, want);
        assert!(total > 0);
    }

    #[test]
    fn passes_share_a_busy_pool() {
        // More concurrent passes than threads: helpers may never get a thread.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let sums: Vec<u64> = std::thread::scope(|s| {
            let runs: Vec<_> = (0..6)
                .map(|_| {
                    s.spawn(|| {
                        pool.install(|| {
                            with_team(|team| {
                                let sum = AtomicU64::new(0);
                                for _ in 0..300 {
                                    team.run(8, |i| {
                                        sum.fetch_add(i as u64, SeqCst);
                                    });
                                }
                                sum.load(SeqCst)
                            })
                        })
                    })
                })
                .collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        assert_eq!(sums, vec![300 * 28; 6]);
    }

    #[test]
    fn a_leaders_panic_waits_for_the_helpers_and_is_an_error() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let helper_started = AtomicBool::new(false);
        let helper_done = AtomicBool::new(false);
        // Whether the helper's task had finished when the leader's unwinding left `run`:
        // it must have, since the task runs through a pointer into the step's frame.
        let done_when_run_unwound = AtomicBool::new(false);
        struct Probe<'a>(&'a AtomicBool, &'a AtomicBool);
        impl Drop for Probe<'_> {
            fn drop(&mut self) {
                self.1.store(self.0.load(SeqCst), SeqCst);
            }
        }
        let r = pool.install(|| {
            let leader = std::thread::current().id();
            run_pass(|team| {
                let _probe = Probe(&helper_done, &done_when_run_unwound);
                team.run(2, |_| {
                    if std::thread::current().id() == leader {
                        let start = std::time::Instant::now();
                        while !helper_started.load(SeqCst) && start.elapsed().as_secs() < 10 {
                            std::thread::yield_now();
                        }
                        panic!("leader boom");
                    } else {
                        helper_started.store(true, SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(200));
                        helper_done.store(true, SeqCst);
                    }
                });
            })
        });
        assert!(helper_started.load(SeqCst), "no helper arrived in 10 s");
        let e = r.expect_err("the leader's panic is an error");
        assert!(e.contains("leader boom"), "{e}");
        assert!(
            done_when_run_unwound.load(SeqCst),
            "the step unwound while a helper still ran its task"
        );
        // The pool is whole afterwards.
        let sum = pool.install(|| {
            run_pass(|team| {
                let sum = AtomicUsize::new(0);
                team.run(100, |i| {
                    sum.fetch_add(i, SeqCst);
                });
                sum.load(SeqCst)
            })
        });
        assert_eq!(sum, Ok(4950));
    }

    #[test]
    fn a_helpers_panic_reaches_the_leader() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let helper_ran = AtomicBool::new(false);
        let r = catch_unwind(AssertUnwindSafe(|| {
            pool.install(|| {
                let leader = std::thread::current().id();
                with_team(|team| {
                    team.run(2, |_| {
                        if std::thread::current().id() == leader {
                            // Hold the leader in its task until the helper has taken the
                            // other one (a dedicated two-thread pool: it arrives).
                            let start = std::time::Instant::now();
                            while !helper_ran.load(SeqCst) && start.elapsed().as_secs() < 10 {
                                std::thread::yield_now();
                            }
                        } else {
                            helper_ran.store(true, SeqCst);
                            panic!("boom");
                        }
                    });
                })
            })
        }));
        assert!(helper_ran.load(SeqCst), "no helper arrived in 10 s");
        let e = r.expect_err("the helper's panic is re-raised");
        let msg = e.downcast_ref::<&str>().copied().unwrap_or_default();
        assert!(msg.contains("helper thread"), "{msg}");
    }
}
