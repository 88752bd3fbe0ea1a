//! The engine: collects processes in parallel (rayon) and streams them, in pid order, to the
//! sinks.
//!
//! Every thread of the pool runs the same loop: take the next process (in pid order), collect
//! and analyze it, put it among the finished ones, and — if no other thread is writing — write
//! every finished process that is next in pid order to the sinks. So writing is shared out
//! like the rest of the work: no thread waits at a batch boundary, and with one thread the
//! run is simply sequential. A thread does not take a process more than a window (two
//! batches) ahead of the last one written, so only that many processes are ever in memory,
//! never the whole machine's regions; and past [`limits::PARSED_BYTES_PER_RUN`] of parsed
//! data held, only the next process to be written is taken. Output order is the source's pid order whatever the
//! thread count, so the same input gives the same bytes.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use thiserror::Error;

use crate::model::ProcessStatus;
use crate::output::OutputError;
use crate::plugin::Analyzers;
use crate::sink::{RunOutput, RunSummary, Sink};
use crate::source::{Collected, Source, SourceError, limits};

/// Something told how far a run has come (a progress bar).
pub trait Progress: Send + Sync {
    /// The run will go through `total` processes.
    fn start(&self, total: u64);
    /// `n` more processes are done.
    fn advance(&self, n: u64);
    /// The run is over.
    fn finish(&self);
}

/// How the engine runs.
#[derive(Clone, Default)]
pub struct EngineOptions {
    /// Worker threads; `None` is one per core.
    pub threads: Option<usize>,
    /// Processes collected per batch (0 picks a default): at most two batches' worth are in
    /// memory at once.
    pub batch: usize,
    /// Told how far the run has come.
    pub progress: Option<std::sync::Arc<dyn Progress>>,
}

/// Why a run failed.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The source could not list its processes.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A sink could not write.
    #[error(transparent)]
    Sink(#[from] OutputError),
    /// SIGINT or SIGTERM arrived: the run stopped taking processes and wrote nothing.
    #[error("interrupted after {done} of {total} processes")]
    Interrupted {
        /// Processes written to the sinks before the run stopped.
        done: usize,
        /// Processes the source listed.
        total: usize,
        /// The signal.
        signal: i32,
    },
    /// The thread pool could not start.
    #[error("cannot start {threads} worker threads: {source}")]
    Pool {
        /// Threads asked for.
        threads: usize,
        /// The reason.
        #[source]
        source: rayon::ThreadPoolBuildError,
    },
}

/// The record of a process whose collection panicked (a vmpipe bug; analyzers' panics are
/// caught at the plugin boundary): an error row, so the sweep goes on and the output says so.
fn panicked(pid: u32, panic: &(dyn std::any::Any + Send)) -> Collected {
    let what = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message");
    let mut c = Collected::new(pid, false);
    c.fail(
        ProcessStatus::Partial,
        "collect",
        format!("vmpipe bug: reading this process panicked ({what}); please report it"),
    );
    c
}

/// Locks `m`, whatever a panicking thread left behind (the data stays consistent: every
/// update under these locks is a single insert, remove or counter step).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Processes collected but not yet written, by their place in the pid list (`None`: the
/// source skipped it).
struct Finished {
    ready: BTreeMap<usize, Option<Collected>>,
    /// The place of the next process to write.
    next: usize,
    /// Parsed bytes held by the processes in `ready` (see [`limits::PARSED_BYTES_PER_RUN`]).
    held: usize,
}

/// The writing side: the sinks and the summary, used by one thread at a time.
struct Writer<'s> {
    sinks: &'s mut [Box<dyn Sink>],
    summary: &'s mut RunSummary,
    error: Option<OutputError>,
}

/// The state the pool's threads share while a run goes on.
struct Pipeline<'a, 's> {
    source: &'a dyn Source,
    analyzers: &'a Analyzers,
    pids: &'a [u32],
    progress: Option<&'a dyn Progress>,
    /// At most this many processes past the last one written may be taken.
    window: usize,
    /// Past this many parsed bytes held, only the next process to write is taken.
    held_limit: usize,
    taken: AtomicUsize,
    stop: AtomicBool,
    finished: Mutex<Finished>,
    /// Signalled when processes are written (threads waiting for the window).
    written: Condvar,
    writer: Mutex<Writer<'s>>,
}

/// Stops the run when the thread holding it unwinds (a panic in a sink, a vmpipe bug): the
/// other threads, which may be waiting for the window, then end too, and the panic reaches
/// the caller instead of the run hanging.
struct StopOnPanic<'p, 'a, 's>(&'p Pipeline<'a, 's>);

impl Drop for StopOnPanic<'_, '_, '_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop.store(true, Ordering::Relaxed);
            let _f = lock(&self.0.finished);
            self.0.written.notify_all();
        }
    }
}

impl Pipeline<'_, '_> {
    /// True once the run is to end early: a sink failed or panicked, or a signal asked.
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || crate::interrupt::requested().is_some()
    }

    /// One thread's loop (see the module docs).
    fn work(&self) {
        let _stop_on_panic = StopOnPanic(self);
        loop {
            if self.stopping() {
                return;
            }
            let i = self.taken.fetch_add(1, Ordering::Relaxed);
            let Some(&pid) = self.pids.get(i) else {
                return;
            };
            // Wait for the window. The process being waited for has a smaller place, so it
            // was taken earlier by a thread that is not waiting: the wait always ends.
            {
                let mut f = lock(&self.finished);
                // And for memory: past the run's budget of parsed data held, only the next
                // process to be written is taken (so the wait always ends).
                while (i >= f.next + self.window || (f.held > self.held_limit && i > f.next))
                    && !self.stopping()
                {
                    f = self.written.wait(f).unwrap_or_else(|e| e.into_inner());
                }
            }
            if let Some(p) = self.progress {
                p.advance(1);
            }
            let collected = catch_unwind(AssertUnwindSafe(|| {
                self.source.collect(pid).map(|mut c| {
                    // Analyzers run inside this process's task; afterwards its memory handle
                    // is dropped, so open descriptors stay bounded by the window.
                    self.analyzers.analyze(&mut c);
                    c
                })
            }))
            .unwrap_or_else(|panic| Some(panicked(pid, panic.as_ref())));
            {
                let mut f = lock(&self.finished);
                f.held += collected.as_ref().map_or(0, |c| c.parsed_bytes);
                f.ready.insert(i, collected);
            }
            self.write_ready();
        }
    }

    /// Writes every finished process that is next in order, unless another thread is
    /// writing (that thread then writes it: it looks again after letting go).
    fn write_ready(&self) {
        loop {
            // Busy: the writing thread will look again. Poisoned: a sink panicked and the run
            // is stopping (see `StopOnPanic`).
            let Ok(mut w) = self.writer.try_lock() else {
                return;
            };
            loop {
                if crate::interrupt::requested().is_some() {
                    // Told to stop: nothing more is written (what was is counted in `next`),
                    // and the threads waiting for the window wake to see it.
                    self.stop.store(true, Ordering::Relaxed);
                    let _f = lock(&self.finished);
                    self.written.notify_all();
                    break;
                }
                let item = {
                    let mut f = lock(&self.finished);
                    let next = f.next;
                    match f.ready.remove(&next) {
                        Some(item) => {
                            f.held -= item.as_ref().map_or(0, |c| c.parsed_bytes);
                            item
                        }
                        None => break,
                    }
                };
                if let Some(c) = item {
                    if w.error.is_none() {
                        w.summary.add(&c);
                        let w = &mut *w;
                        for sink in w.sinks.iter_mut() {
                            if let Err(e) = sink.process(&c) {
                                w.error = Some(e);
                                self.stop.store(true, Ordering::Relaxed);
                                break;
                            }
                        }
                    }
                }
                lock(&self.finished).next += 1;
                self.written.notify_all();
            }
            drop(w);
            // A process may have been put among the finished after this thread looked last
            // and before it let go, by a thread that could not write then.
            let f = lock(&self.finished);
            if self.stopping() || !f.ready.contains_key(&f.next) {
                return;
            }
        }
    }
}

/// Runs `source` into `sinks`, closes them and puts every sink's files in place at once;
/// returns the summary and the files written. On error or interrupt (SIGINT/SIGTERM, see
/// [`crate::interrupt`]) the sinks are dropped unfinished, so no output file appears and no
/// temporary file stays.
pub fn run(
    source: &dyn Source,
    analyzers: &Analyzers,
    mut sinks: Vec<Box<dyn Sink>>,
    options: EngineOptions,
) -> Result<(RunSummary, Vec<std::path::PathBuf>), EngineError> {
    let started = Instant::now();
    let threads = options.threads.unwrap_or(0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("vmpipe-worker-{i}"))
        .build()
        .map_err(|source| EngineError::Pool { threads, source })?;
    let batch = if options.batch > 0 {
        options.batch
    } else {
        (pool.current_num_threads() * 16).max(32)
    };

    let pids = source.list()?;
    let mut summary = RunSummary {
        source: source.describe(),
        listed: pids.len(),
        ..RunSummary::default()
    };
    let progress = options.progress.as_deref();
    if let Some(p) = progress {
        p.start(pids.len() as u64);
    }
    let error = {
        let pipeline = Pipeline {
            source,
            analyzers,
            pids: &pids,
            progress,
            window: 2 * batch,
            held_limit: limits::PARSED_BYTES_PER_RUN,
            taken: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            finished: Mutex::new(Finished {
                ready: BTreeMap::new(),
                next: 0,
                held: 0,
            }),
            written: Condvar::new(),
            writer: Mutex::new(Writer {
                sinks: &mut sinks,
                summary: &mut summary,
                error: None,
            }),
        };
        pool.broadcast(|_| pipeline.work());
        let done = lock(&pipeline.finished).next;
        let writer = pipeline
            .writer
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        (writer.error, done)
    };
    let (error, done) = error;
    if let Some(e) = error {
        return Err(e.into());
    }
    let interrupted = |done| match crate::interrupt::requested() {
        Some(signal) => Err(EngineError::Interrupted {
            done,
            total: pids.len(),
            signal,
        }),
        None => Ok(()),
    };
    interrupted(done.min(pids.len()))?;
    if let Some(p) = progress {
        p.finish();
    }
    let (rows, errors) = analyzers.finish();
    summary.errors += errors.len() as u64;
    summary.elapsed = started.elapsed();
    let run = RunOutput { rows, errors };
    let mut files = Vec::new();
    for sink in sinks {
        files.extend(sink.finish(&summary, &run)?);
    }
    interrupted(pids.len())?;
    let files = crate::output::AtomicFile::commit_all(files)?;
    Ok((summary, files))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;

    /// Pids 1..=n; every 7th is not selected; collecting sleeps a pseudo-random while and
    /// counts how many processes are collected but not yet written.
    struct Slow {
        n: u32,
        in_flight: Arc<AtomicUsize>,
        most: Arc<AtomicUsize>,
        /// What each process's parsed regions cost.
        parsed: usize,
    }

    impl Source for Slow {
        fn describe(&self) -> String {
            "slow".into()
        }
        fn list(&self) -> Result<Vec<u32>, SourceError> {
            Ok((1..=self.n).collect())
        }
        fn collect(&self, pid: u32) -> Option<Collected> {
            if pid == 77 {
                self.in_flight.fetch_add(1, Ordering::SeqCst);
                panic!("a bug at 77");
            }
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_micros(u64::from(pid * 7919 % 13) * 50));
            if pid % 7 == 0 {
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                return None;
            }
            let mut c = Collected::new(pid, false);
            c.parsed_bytes = self.parsed;
            Some(c)
        }
    }

    /// Records the pids it is given (and the errors of each); fails at `fail_at`.
    struct Record {
        seen: Arc<Mutex<Vec<u32>>>,
        errors: Arc<Mutex<Vec<(u32, String)>>>,
        in_flight: Arc<AtomicUsize>,
        fault: Fault,
    }

    /// What goes wrong in the sink.
    #[derive(Clone, Copy, PartialEq)]
    enum Fault {
        None,
        /// An error at this pid.
        FailAt(u32),
        /// A panic (a sink bug) at this pid.
        PanicAt(u32),
    }

    impl Sink for Record {
        fn process(&mut self, c: &Collected) -> Result<(), OutputError> {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            if self.fault == Fault::FailAt(c.process.pid) {
                return Err(OutputError::io("/x", std::io::Error::other("disk full")));
            }
            assert!(self.fault != Fault::PanicAt(c.process.pid), "a sink bug");
            self.seen.lock().unwrap().push(c.process.pid);
            for e in &c.errors {
                self.errors
                    .lock()
                    .unwrap()
                    .push((c.process.pid, e.error.clone()));
            }
            Ok(())
        }
        fn finish(
            self: Box<Self>,
            _: &RunSummary,
            _: &RunOutput,
        ) -> Result<Vec<crate::output::AtomicFile>, OutputError> {
            Ok(vec![])
        }
    }

    /// Runs the engine over [`Slow`] into [`Record`]: the result (`Err("panicked")` when the
    /// run panicked), the pids the sink got, and the most processes in memory at once.
    fn sweep(threads: usize, batch: usize, fault: Fault) -> (Result<(), String>, Vec<u32>, usize) {
        sweep_parsed(threads, batch, fault, 0)
    }

    /// [`sweep`] with processes whose parsed regions cost `parsed` bytes each.
    fn sweep_parsed(
        threads: usize,
        batch: usize,
        fault: Fault,
        parsed: usize,
    ) -> (Result<(), String>, Vec<u32>, usize) {
        let (in_flight, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let source = Slow {
            n: 300,
            in_flight: in_flight.clone(),
            most: most.clone(),
            parsed,
        };
        let seen = Arc::new(Mutex::new(Vec::new()));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = Record {
            seen: seen.clone(),
            errors: errors.clone(),
            in_flight,
            fault,
        };
        let options = EngineOptions {
            threads: Some(threads),
            batch,
            progress: None,
        };
        let r = catch_unwind(AssertUnwindSafe(|| {
            run(&source, &Analyzers::none(), vec![Box::new(sink)], options)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }))
        .unwrap_or_else(|_| Err("panicked".to_string()));
        let seen = seen.lock().unwrap().clone();
        let errors = errors.lock().unwrap().clone();
        assert_eq!(errors.len(), usize::from(seen.contains(&77)), "{errors:?}");
        if let Some((pid, e)) = errors.first() {
            assert_eq!(*pid, 77);
            assert!(e.contains("panicked (a bug at 77)"), "{e}");
        }
        (r, seen, most.load(Ordering::SeqCst))
    }

    /// Pid 77 panics in the source: it becomes a process with an error row, and the sweep
    /// goes on (checked in `sweep`).
    #[test]
    fn parsed_data_held_stays_within_the_run_budget() {
        // Each process costs just over half the run's budget: once two are held, only the
        // next to be written may be taken, so no more than the threads' own work plus two
        // are ever in memory, far fewer than the window (16) allows.
        let heavy = limits::PARSED_BYTES_PER_RUN / 2 + 1;
        for threads in [1, 2, 4] {
            let (r, seen, most) = sweep_parsed(threads, 8, Fault::None, heavy);
            assert_eq!(r, Ok(()));
            assert!(seen.windows(2).all(|w| w[0] < w[1]) && seen.len() > 250);
            assert!(
                most <= threads + 2,
                "{threads} threads: {most} in memory at once"
            );
        }
        let (_, _, light) = sweep_parsed(4, 8, Fault::None, 0);
        assert!(
            light > 6,
            "without the budget the window allows more ({light})"
        );
    }

    #[test]
    fn processes_reach_the_sinks_in_pid_order_within_the_window() {
        let want: Vec<u32> = (1..=300).filter(|p| p % 7 != 0 || *p == 77).collect();
        for (threads, batch) in [(1, 4), (2, 4), (4, 4), (8, 3), (3, 0)] {
            let (r, seen, most) = sweep(threads, batch, Fault::None);
            assert_eq!(r, Ok(()));
            assert_eq!(seen, want, "{threads} threads");
            let window = 2 * if batch > 0 {
                batch
            } else {
                (threads * 16).max(32)
            };
            assert!(most <= window, "{most} in memory at once, window {window}");
        }
    }

    #[test]
    fn a_panicking_sink_ends_the_run_instead_of_hanging_it() {
        for threads in [1, 2, 4] {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = tx.send(sweep(threads, 2, Fault::PanicAt(3)).0);
            });
            let r = rx.recv_timeout(Duration::from_secs(30));
            assert_eq!(
                r,
                Ok(Err("panicked".to_string())),
                "{threads} threads: the run must end, with the panic"
            );
        }
    }

    #[test]
    fn a_failing_sink_stops_the_run_with_its_error() {
        for threads in [1, 2, 4] {
            let (r, seen, _) = sweep(threads, 4, Fault::FailAt(50));
            assert!(r.as_ref().is_err_and(|e| e.contains("disk full")), "{r:?}");
            assert_eq!(
                seen.last(),
                Some(&48),
                "nothing after the failure is written"
            );
        }
    }
}
