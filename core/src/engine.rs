//! The engine: collects processes in parallel (rayon) and streams them, in pid order, to the
//! sinks.
//!
//! Processes are taken in batches. While the sinks write batch *k* on one thread, the other
//! threads of the pool collect batch *k+1*; only two batches are ever in memory, never the
//! whole machine's regions. Output order is the source's pid order whatever the thread count,
//! so the same input gives the same bytes.

use std::time::Instant;

use rayon::prelude::*;
use thiserror::Error;

use crate::plugin::Analyzers;
use crate::sink::{RunOutput, Sink, SinkError};
use crate::source::{Collected, Source, SourceError};
use crate::summary::RunSummary;

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
    /// Processes collected per batch (0 picks a default).
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
    Sink(#[from] SinkError),
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

/// Collects and analyzes one batch in parallel; the result is in pid order.
fn collect_batch(
    source: &dyn Source,
    analyzers: &Analyzers,
    pids: &[u32],
    progress: Option<&dyn Progress>,
) -> Vec<Collected> {
    pids.par_iter()
        .with_max_len(1)
        .filter_map(|&pid| {
            if let Some(p) = progress {
                p.advance(1);
            }
            let mut c = source.collect(pid)?;
            // Analyzers run inside this process's task; afterwards its memory handle is
            // dropped, so open descriptors stay bounded by the batch size.
            analyzers.analyze(&mut c);
            Some(c)
        })
        .collect()
}

fn write_batch(
    batch: Vec<Collected>,
    sinks: &mut [Box<dyn Sink>],
    summary: &mut RunSummary,
) -> Result<(), SinkError> {
    for c in &batch {
        summary.add(c);
        for sink in sinks.iter_mut() {
            sink.process(c)?;
        }
    }
    Ok(())
}

/// Runs `source` into `sinks` and closes them; returns the summary and the files written. On error the sinks are dropped unfinished, so
/// no output file appears.
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
    let mut chunks = pids.chunks(batch);
    let progress = options.progress.as_deref();
    if let Some(p) = progress {
        p.start(pids.len() as u64);
    }
    pool.install(|| -> Result<(), SinkError> {
        let mut pending = chunks
            .next()
            .map(|c| collect_batch(source, analyzers, c, progress));
        while let Some(current) = pending.take() {
            let next = chunks.next();
            let (collected, written) = rayon::join(
                || next.map(|c| collect_batch(source, analyzers, c, progress)),
                || write_batch(current, &mut sinks, &mut summary),
            );
            written?;
            pending = collected;
        }
        Ok(())
    })?;
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
    Ok((summary, files))
}
