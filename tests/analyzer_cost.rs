//! Analyzer cost on hostile maps (issue 13, found reproducing finding 8): about 650 KB of
//! attacker-chosen maps lines, in every shape that could make a built-in analyzer or a sink
//! super-linear, each through `pipelines/capture.toml` (every built-in analyzer, the CSV and
//! text sinks) in at most 10 s and 256 MiB peak RSS.
//!
//! Peak RSS is the child's `ru_maxrss` as the kernel reports it to `wait4`, read through GNU
//! time (`/usr/bin/time -f %M`). At 036e0a7 the distinct-paths shape took 16.8 s in the debug
//! build these tests run (8.2 s in release): image-attribution looked each region's image up by
//! scanning every image of the process so far (quadratic in distinct paths).
//!
//! Set `VMPIPE_BIN` to run against another build.

mod support;

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

/// How much maps text each shape holds.
const BYTES: usize = 650_000;
/// The limits of issue 13.
const MAX_TIME: Duration = Duration::from_secs(10);

/// Lines from `line(i)` for i = 0, 1, … until the next would pass [`BYTES`].
fn shape(line: impl Fn(usize) -> String) -> String {
    let mut out = String::with_capacity(BYTES);
    for i in 0.. {
        let l = line(i);
        if out.len() + l.len() > BYTES {
            break;
        }
        out.push_str(&l);
    }
    out
}

/// Runs capture.toml on a capture whose only process has `maps`, measured, and checks the run
/// succeeded within the bounds and wrote a region row per line.
fn measure(name: &str, maps: &str) {
    let cap = tempfile::tempdir().expect("temp dir");
    let proc1 = cap.path().join("proc/1");
    std::fs::create_dir_all(&proc1).expect("mkdir");
    std::fs::write(proc1.join("maps"), maps).expect("write maps");
    let out = tempfile::tempdir().expect("temp dir");
    let csv = out.path().join("csv");
    let pipeline = support::repo().join("pipelines/capture.toml");
    let m = support::run_measured(
        &[
            OsStr::new("run"),
            pipeline.as_os_str(),
            OsStr::new("--input"),
            cap.path().as_os_str(),
            OsStr::new("--out"),
            csv.as_os_str(),
            OsStr::new("-q"),
        ],
        2 * MAX_TIME,
    );
    m.assert_bounded(name, "");
    assert!(m.output.status.success(), "{name}: {}", m.stderr());
    let lines = maps.lines().count();
    let regions = read_regions(&csv.join("regions.csv"));
    assert_eq!(regions, lines, "{name}: every line is a region row");
    eprintln!(
        "{name}: {lines} lines, {:.2?}, {} KiB",
        m.wall,
        m.peak_rss >> 10
    );
}

fn read_regions(path: &Path) -> usize {
    support::Table::read(path).rows.len()
}

fn check(name: &str, maps: &str) {
    // One at a time: the time limit is for one run, not for six sharing the cores.
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    measure(name, maps);
}

/// Every line a different file: one image per region (the quadratic case at 036e0a7).
#[test]
fn distinct_paths() {
    check(
        "distinct paths",
        &shape(|i| format!("0-1 r-xp 0 0:0 1 /{i:x}\n")),
    );
}

/// Every line the same file.
#[test]
fn same_path() {
    check(
        "same path",
        &shape(|i| format!("{:x}-{:x} r-xp 0 0:0 1 /a\n", i << 12, (i + 1) << 12)),
    );
}

/// 256 TiB regions, each a different file.
#[test]
fn huge_ranges() {
    check(
        "huge ranges",
        &shape(|i| format!("0-ffffffffffff r-xp 0 0:0 1 /{i:x}\n")),
    );
}

/// Anonymous writable-executable regions in descending, overlapping order.
#[test]
fn overlapping_unsorted_rwx() {
    check(
        "overlapping unsorted rwx",
        &shape(|i| {
            let s = (1u64 << 40) - ((i as u64) << 13);
            format!("{s:x}-{:x} rwxp 0 0:0 0 \n", s + 0x10_0000)
        }),
    );
}

/// A guard page below every writable region (thread-stack look-alikes).
#[test]
fn many_guards() {
    check(
        "many guards",
        &shape(|i| {
            let s = (i as u64) * 0x3000;
            format!(
                "{s:x}-{:x} ---p 0 0:0 0 \n{:x}-{:x} rw-p 0 0:0 0 \n",
                s + 0x1000,
                s + 0x1000,
                s + 0x3000
            )
        }),
    );
}

/// One real ELF file of this machine (the vmpipe binary under test), claimed under a
/// different device number on every line: each line is a distinct (device, inode) key, so a
/// layout cache keyed by what the capture claims parses the file once per line.
#[test]
fn one_real_elf_under_many_devices() {
    use std::os::unix::fs::MetadataExt;
    let bin = support::vmpipe_path();
    let path = Path::new(&bin).canonicalize().expect("the binary's path");
    let ino = std::fs::metadata(&path).expect("stat the binary").ino();
    let p = path.to_str().expect("a UTF-8 path");
    check(
        "one ELF, many devices",
        &shape(|i| {
            format!(
                "0-1 r-xp 0 {:x}:{:x} {ino} {p}\n",
                (i >> 8) & 0xff,
                i & 0xff
            )
        }),
    );
}
