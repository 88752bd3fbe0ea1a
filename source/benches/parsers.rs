//! Parser micro-benchmarks (criterion; not tests: nothing here asserts a time).
//!
//! ```sh
//! cargo bench -p vmpipe-source --bench parsers -- --warm-up-time 1 --measurement-time 5
//! ```
//!
//! * `smaps/vmpipe` — [`vmpipe_source::linux::smaps::parse`] on a real smaps file of one load
//!   process (`benches/data/loadgen-child.smaps`: 346 regions, 257 KiB, captured from
//!   `benches/loadgen`), into a fresh `Vec` each time as the live collector does.
//! * `smaps/procfs` — the reference: the `procfs` crate's smaps parser
//!   (`procfs_core::process::MemoryMaps::from_buf_read`, which `procfs::process::Process::smaps`
//!   runs) on the same bytes.
//! * `vmmap/fixtures` — [`vmpipe_source::vmmap::parse`] over every fixture in
//!   `tests/fixtures/vmmap/` that parses (the damaged one is left out), one after another;
//!   `vmmap/largest` — the largest of them alone (40 KiB, 250 region rows).
//!
//! Criterion prints each throughput in MiB/s or GiB/s (`thrpt:`); BENCHMARKS.md has the figures.

// criterion_group! generates a public function it does not document.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use procfs_core::FromBufRead;
use procfs_core::process::MemoryMaps;

fn repo_file(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

fn smaps(c: &mut Criterion) {
    let path = repo_file("benches/data/loadgen-child.smaps");
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut regions = Vec::new();
    vmpipe_source::linux::smaps::parse(&text, &mut regions).expect("vmpipe parses the input");
    let reference = MemoryMaps::from_buf_read(&text[..]).expect("procfs parses the input");
    assert_eq!(
        regions.len(),
        reference.len(),
        "both parsers see every region"
    );

    let mut g = c.benchmark_group("smaps");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("vmpipe", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            vmpipe_source::linux::smaps::parse(black_box(&text), &mut out).ok();
            out
        });
    });
    g.bench_function("procfs", |b| {
        b.iter(|| MemoryMaps::from_buf_read(black_box(&text[..])).ok());
    });
    g.finish();
}

fn vmmap(c: &mut Criterion) {
    let dir = repo_file("tests/fixtures/vmmap");
    let mut reports: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .filter_map(|p| std::fs::read(p).ok())
        .filter(|text| vmpipe_source::vmmap::parse(text).is_ok())
        .collect();
    reports.sort();
    assert!(!reports.is_empty(), "no vmmap fixture parses");
    let bytes: usize = reports.iter().map(Vec::len).sum();

    let mut g = c.benchmark_group("vmmap");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("fixtures", |b| {
        b.iter(|| {
            for text in &reports {
                black_box(vmpipe_source::vmmap::parse(black_box(text)).ok());
            }
        });
    });
    // The largest report alone: per-line cost without the per-report setup of small files.
    let largest = reports.iter().max_by_key(|r| r.len()).expect("not empty");
    g.throughput(Throughput::Bytes(largest.len() as u64));
    g.bench_function("largest", |b| {
        b.iter(|| vmpipe_source::vmmap::parse(black_box(largest)).ok());
    });
    g.finish();
}

criterion_group!(benches, smaps, vmmap);
criterion_main!(benches);
