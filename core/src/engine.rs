//! The engine: collects processes in parallel (rayon) and streams them, in pid order, to the
//! sinks.
//!
//! The pool's threads take processes in pid order, collect and analyze each, and send it over
//! a bounded channel to one writer (the calling thread), which puts them back in pid order
//! and hands each to every sink. A thread does not take a process more than a window past
//! the last one written, so only that many processes are ever in memory, never the whole
//! machine's regions; and past [`limits::PARSED_BYTES_PER_RUN`] of parsed data held, only the
//! next process to be written is taken. Output order is the source's pid order whatever the
//! thread count, so the same input gives the same bytes.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
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
    /// At most this many processes past the last one written are taken, so at most this many
    /// are in memory at once (0 picks a default: 32 per thread, at least 64).
    pub window: usize,
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
/// update under this lock is a counter step).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How far writing has come, for the threads deciding whether they may take a process.
#[derive(Default)]
struct Progressed {
    /// Processes written (the place of the next one to write).
    written: usize,
    /// Parsed bytes held by processes collected and not yet written (see
    /// [`limits::PARSED_BYTES_PER_RUN`]).
    held: usize,
}

/// A collected process (`None`: the source skipped it) at its place in the pid list.
type Done = (usize, Option<Collected>);

/// The state the pool's threads share while a run goes on.
struct Sweep<'a> {
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
    progressed: Mutex<Progressed>,
    /// Signalled when processes are written or the run stops (threads waiting for the window).
    moved: Condvar,
}

impl Sweep<'_> {
    /// True once the run is to end early: a sink failed or panicked, or a signal asked.
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || crate::interrupt::requested().is_some()
    }

    /// Ends the run early and wakes the threads waiting for the window to see it.
    fn halt(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let _p = lock(&self.progressed);
        self.moved.notify_all();
    }

    /// One pool thread: takes the next process in pid order once the window allows it,
    /// collects and analyzes it, and sends it to the writer; until no process is left, the
    /// run stops, or the writer is gone.
    fn collect(&self, to_writer: &SyncSender<Done>) {
        loop {
            if self.stopping() {
                return;
            }
            let i = self.taken.fetch_add(1, Ordering::Relaxed);
            let Some(&pid) = self.pids.get(i) else {
                return;
            };
            {
                // The process at `written` never waits (neither condition holds for it) and
                // was taken before every waiting one, so the writer always gets it: the wait
                // always ends.
                let mut p = lock(&self.progressed);
                while (i >= p.written + self.window || (p.held > self.held_limit && i > p.written))
                    && !self.stopping()
                {
                    p = self.moved.wait(p).unwrap_or_else(|e| e.into_inner());
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
            lock(&self.progressed).held += collected.as_ref().map_or(0, |c| c.parsed_bytes);
            if to_writer.send((i, collected)).is_err() {
                return; // the writer stopped
            }
        }
    }

    /// The writer: receives collected processes, puts them back in pid order and gives each
    /// to every sink; returns how many were written and the first sink error. Stops at the
    /// first error or at SIGINT/SIGTERM.
    fn write(
        &self,
        from_pool: Receiver<Done>,
        sinks: &mut [Box<dyn Sink>],
        summary: &mut RunSummary,
    ) -> (usize, Option<OutputError>) {
        // A panicking sink (a vmpipe bug) stops the pool too, so the panic reaches the caller
        // instead of the run hanging.
        struct HaltOnPanic<'s, 'a>(&'s Sweep<'a>);
        impl Drop for HaltOnPanic<'_, '_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    self.0.halt();
                }
            }
        }
        let _halt = HaltOnPanic(self);
        let mut early: BTreeMap<usize, Option<Collected>> = BTreeMap::new();
        let mut next = 0;
        for (i, item) in from_pool {
            early.insert(i, item);
            while let Some(item) = early.remove(&next) {
                if crate::interrupt::requested().is_some() {
                    self.halt();
                    return (next, None);
                }
                let bytes = item.as_ref().map_or(0, |c| c.parsed_bytes);
                if let Some(c) = item {
                    summary.add(&c);
                    for sink in sinks.iter_mut() {
                        if let Err(e) = sink.process(&c) {
                            self.halt();
                            return (next, Some(e));
                        }
                    }
                }
                next += 1;
                let mut p = lock(&self.progressed);
                p.written = next;
                p.held -= bytes;
                self.moved.notify_all();
            }
        }
        (next, None)
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
    let window = if options.window > 0 {
        options.window
    } else {
        (pool.current_num_threads() * 32).max(64)
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
    let sweep = Sweep {
        source,
        analyzers,
        pids: &pids,
        progress,
        window,
        held_limit: limits::PARSED_BYTES_PER_RUN,
        taken: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        progressed: Mutex::new(Progressed::default()),
        moved: Condvar::new(),
    };
    // The window bounds what is in flight, so the channel never fills; its bound only backs
    // that up.
    let (to_writer, from_pool) = sync_channel::<Done>(window);
    let (done, error) = std::thread::scope(|s| {
        let sweep = &sweep;
        s.spawn(move || {
            pool.broadcast(|_| sweep.collect(&to_writer));
            // `to_writer` is dropped here: the writer's loop ends once it has every process.
        });
        sweep.write(from_pool, &mut sinks, &mut summary)
    });
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
            if pid.is_multiple_of(7) {
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
    fn sweep(threads: usize, window: usize, fault: Fault) -> (Result<(), String>, Vec<u32>, usize) {
        sweep_parsed(threads, window, fault, 0)
    }

    /// [`sweep`] with processes whose parsed regions cost `parsed` bytes each.
    fn sweep_parsed(
        threads: usize,
        window: usize,
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
            window,
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
            let (r, seen, most) = sweep_parsed(threads, 16, Fault::None, heavy);
            assert_eq!(r, Ok(()));
            assert!(seen.windows(2).all(|w| w[0] < w[1]) && seen.len() > 250);
            assert!(
                most <= threads + 2,
                "{threads} threads: {most} in memory at once"
            );
        }
        let (_, _, light) = sweep_parsed(4, 16, Fault::None, 0);
        assert!(
            light > 6,
            "without the budget the window allows more ({light})"
        );
    }

    #[test]
    fn processes_reach_the_sinks_in_pid_order_within_the_window() {
        let want: Vec<u32> = (1..=300).filter(|p| p % 7 != 0 || *p == 77).collect();
        for (threads, window) in [(1, 8), (2, 8), (4, 8), (8, 6), (3, 0)] {
            let (r, seen, most) = sweep(threads, window, Fault::None);
            assert_eq!(r, Ok(()));
            assert_eq!(seen, want, "{threads} threads");
            let window = if window > 0 {
                window
            } else {
                (threads * 32).max(64)
            };
            assert!(most <= window, "{most} in memory at once, window {window}");
        }
    }

    #[test]
    fn a_panicking_sink_ends_the_run_instead_of_hanging_it() {
        for threads in [1, 2, 4] {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = tx.send(sweep(threads, 4, Fault::PanicAt(3)).0);
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
            let (r, seen, _) = sweep(threads, 8, Fault::FailAt(50));
            assert!(r.as_ref().is_err_and(|e| e.contains("disk full")), "{r:?}");
            assert_eq!(
                seen.last(),
                Some(&48),
                "nothing after the failure is written"
            );
        }
    }
}
