//! Hostile vmmap reports (issue 13, finding 8: "a 326 MB vmmap report → 8.8 GB, 30 s"): each
//! shape that made the parser hold many times its input, generated at the raw limit (64 MiB)
//! or past it, is run through the real binary beside a real report. Each run must end in
//! ≤ 10 s with a peak RSS ≤ 256 MiB (`/usr/bin/time -f %M`, the child's `ru_maxrss`), exit 0,
//! the hostile report a `partial` row (or, for warnings, its warnings capped) with an error
//! naming its file and the limit, and the real report read in full (its region count as its
//! own lines say).
//!
//! `VMPIPE_TEST_BIN` runs another vmpipe binary instead (to show a build before the fix
//! fails these tests).

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use support::{Table, repo, require_tool};

/// The raw limit of one report (`VMMAP_REPORT_BYTES`).
const RAW: usize = 64 << 20;
/// The line limit (`VMMAP_LINES`).
const LINES: usize = 1 << 20;
const MAX_RSS_KIB: u64 = 256 << 10;
const MAX_TIME: Duration = Duration::from_secs(10);
const PING: &str = "vmmap_ping_stop-at-entry_macos10.13.6.txt";

/// One run at a time: the time limit is about this run, not about others sharing the cores.
static SERIAL: Mutex<()> = Mutex::new(());

fn binary() -> PathBuf {
    std::env::var_os("VMPIPE_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_vmpipe")))
}

const HEADER: &str = "Process:         evil [77]\nPath:            /x\n----\n\n\
Virtual Memory Map of process 77 (evil)\nOutput report format:  2.4  -- 64-bit process\n\
VM page size:  4096 bytes\n\n==== Writable regions for process 77\n";

/// Writes `head`, then `line` repeated up to `lines` lines or `RAW` bytes in all.
fn write_report(path: &Path, head: &[u8], line: &[u8], lines: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create report"));
    f.write_all(head).expect("write");
    let n = lines.min((RAW - head.len()) / line.len());
    let chunk: Vec<u8> = line.repeat(4096);
    for _ in 0..n / 4096 {
        f.write_all(&chunk).expect("write");
    }
    for _ in 0..n % 4096 {
        f.write_all(line).expect("write");
    }
    f.flush().expect("flush");
}

/// The region rows of the real report, read from its lines: `[`, then ` SM=`.
fn ping_rows() -> u64 {
    let text =
        std::fs::read_to_string(repo().join("tests/fixtures/vmmap").join(PING)).expect("fixture");
    text.lines()
        .filter(|l| l.find('[').is_some_and(|b| l[b..].contains(" SM=")))
        .count() as u64
}

struct Outcome {
    processes: Table,
    errors: Table,
}

/// Runs the vmmap-report pipeline over a directory holding the real report and `make`'s
/// hostile `evil.txt`; checks time, memory, exit and the real report.
fn run(make: impl FnOnce(&Path)) -> Outcome {
    require_tool("time", "time");
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("in");
    std::fs::create_dir(&input).expect("mkdir");
    std::fs::copy(
        repo().join("tests/fixtures/vmmap").join(PING),
        input.join(PING),
    )
    .expect("copy fixture");
    make(&input.join("evil.txt"));
    let out = dir.path().join("out");
    let rss = dir.path().join("rss");
    let start = Instant::now();
    let output = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss)
        .arg(binary())
        .arg("run")
        .arg(repo().join("pipelines/vmmap-report.toml"))
        .arg("--input")
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .arg("-q")
        .output()
        .expect("run vmpipe under /usr/bin/time");
    let took = start.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let kib: u64 = std::fs::read_to_string(&rss)
        .ok()
        .and_then(|s| s.lines().last().and_then(|l| l.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no RSS from /usr/bin/time: {stderr}"));
    assert!(
        output.status.success(),
        "vmpipe failed ({}): {stderr}",
        output.status
    );
    assert!(
        kib <= MAX_RSS_KIB,
        "peak RSS {kib} KiB, over {MAX_RSS_KIB} KiB"
    );
    assert!(took <= MAX_TIME, "took {took:?}, over {MAX_TIME:?}");
    let processes = Table::read(&out.join("processes.csv"));
    let ping = processes.rows_for(1722);
    assert_eq!(ping.len(), 1, "the real report's process");
    assert_eq!(processes.get(ping[0], "status"), "ok");
    assert_eq!(processes.num(ping[0], "regions"), Some(ping_rows()));
    Outcome {
        processes,
        errors: Table::read(&out.join("errors.csv")),
    }
}

impl Outcome {
    /// The hostile report is a `partial` process with one error naming its file and `limit`.
    fn refused(&self, limit: &str) {
        let rows: Vec<_> = self
            .processes
            .rows
            .iter()
            .filter(|r| self.processes.get(r, "name") == "evil.txt")
            .collect();
        assert_eq!(rows.len(), 1, "one row for the hostile report");
        assert_eq!(self.processes.get(rows[0], "status"), "partial");
        let errors: Vec<&str> = self
            .errors
            .rows
            .iter()
            .filter(|r| self.errors.get(r, "process") == "evil.txt")
            .map(|r| self.errors.get(r, "error"))
            .collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("evil.txt") && errors[0].contains(limit),
            "{:?} should name the file and {limit:?}",
            errors[0]
        );
    }
}

#[test]
fn blank_lines_stop_at_the_line_limit() {
    let o = run(|p| write_report(p, HEADER.as_bytes(), b"\n", usize::MAX));
    o.refused("more than 1048576 lines");
}

#[test]
fn minimal_region_rows_stop_at_the_budget() {
    // 430 bytes a row, 600 kept: over 64 MiB after ~110,000 rows of the 156,000.
    let row = format!("A 0-1 [1] r--/r-- SM=a /lib/{}\n", "a".repeat(401));
    let o = run(|p| write_report(p, HEADER.as_bytes(), row.as_bytes(), LINES - 100));
    o.refused("budget for one report, 64 MiB");
}

#[test]
fn one_word_table_rows_stop_at_the_budget() {
    let head = format!("{HEADER}\nREGION TYPE VIRTUAL\n=========== =======\n");
    let o = run(|p| write_report(p, head.as_bytes(), b"A 1\n", LINES - 100));
    o.refused("budget for one report, 64 MiB");
}

#[test]
fn header_key_values_stop_at_the_budget() {
    // 254 bytes a line, about 300 kept: over 64 MiB after ~220,000 of the 264,000.
    let line = format!("k: {}\n", "v".repeat(250));
    let o = run(|p| {
        write_report(
            p,
            b"Process:         evil [77]\n",
            line.as_bytes(),
            LINES - 100,
        )
    });
    o.refused("budget for one report, 64 MiB");
}

#[test]
fn unrecognised_lines_keep_at_most_10000_warnings() {
    // 256 Ki lines of 256 bytes.
    let line = format!("{}\n", "x".repeat(255));
    let o = run(|p| write_report(p, HEADER.as_bytes(), line.as_bytes(), LINES - 100));
    let warnings: Vec<&str> = o
        .errors
        .rows
        .iter()
        .filter(|r| o.errors.get(r, "pid") == "77" && o.errors.get(r, "stage") == "warning")
        .map(|r| o.errors.get(r, "error"))
        .collect();
    // 10,000 kept, one saying how many more, and the report ends without its Summary.
    assert_eq!(warnings.len(), 10_002, "{:?}", warnings.last());
    assert!(
        warnings.iter().any(|w| w.contains("more warnings")),
        "{:?}",
        warnings.last()
    );
}

#[test]
fn one_long_line_is_read_to_the_line_limit() {
    let o = run(|p| {
        let mut head = HEADER.as_bytes().to_vec();
        head.extend_from_slice(b"A 0-1000 [4K] r--/r-- SM=PRV /");
        let mut f = std::fs::File::create(p).expect("create");
        f.write_all(&head).expect("write");
        f.write_all(&vec![0xff; RAW - head.len() - 1])
            .expect("write");
        f.write_all(b"\n").expect("write");
    });
    let row: Vec<_> = o.processes.rows_for(77);
    assert_eq!(row.len(), 1);
    assert_eq!(o.processes.num(row[0], "regions"), Some(1));
    assert!(
        o.errors.rows.iter().any(|r| o
            .errors
            .get(r, "error")
            .contains("line longer than 65536 bytes")),
        "no warning about the long line"
    );
}

#[test]
fn a_report_over_the_raw_limit_is_not_read() {
    let o = run(|p| {
        // 300 MB of zeros, sparse: the size says it, and reading it would find it.
        let f = std::fs::File::create(p).expect("create");
        f.set_len(300_000_000).expect("set_len");
    });
    o.refused("larger than vmpipe reads of one report (67108864 bytes");
}
