//! A process replaced under its pid between collection and analysis (issue 13, finding 12):
//! image-attribution must not describe the collected process with the newcomer's files.
//!
//! The test drives the library the way a run does — [`LiveLinux`] collects the process (and
//! keeps its `/proc/PID` handle), then [`Analyzers::analyze`] runs image-attribution on the
//! record — with the pid handed to another process in between. To get the same pid for the
//! newcomer deterministically, the test re-runs itself as pid 1 of a fresh PID namespace
//! (`unshare --pid --fork --mount-proc`: its own `/proc`, where nothing but the test forks) and
//! sets `/proc/sys/kernel/ns_last_pid` to the pid minus one before starting the newcomer; it
//! then checks that the newcomer did get the pid (a bounded number of tries, though in the
//! private namespace the first always does).

mod support;

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use vmpipe::model::Cell;
use vmpipe::pipeline::AnalyzerConfig;
use vmpipe::plugin::{Analyzers, PluginSearch};
use vmpipe::source::linux::{Detail, LiveLinux};
use vmpipe::source::{Selection, Source};

/// Set in the environment of the copy of the test that runs inside the PID namespace.
const INSIDE: &str = "VMPIPE_TEST_PIDNS";

/// Where both processes map their page: fixed, far from anything a static binary maps.
const ADDR: u64 = 0x5000_0000_0000;
const PAGE: u64 = 4096;

/// The file offset of the executable `PT_LOAD` of the ELF file at `path`, page-aligned, as
/// `readelf -lW` (binutils) reads it.
fn text_offset(path: &Path) -> u64 {
    let out = Command::new("readelf")
        .arg("-lW")
        .arg(path)
        .output()
        .expect("run readelf (binutils)");
    assert!(out.status.success(), "readelf -lW {}", path.display());
    let text = String::from_utf8_lossy(&out.stdout);
    let offset = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.first() == Some(&"LOAD") && f.iter().any(|w| w.contains('E')))
        .and_then(|f| u64::from_str_radix(f[1].trim_start_matches("0x"), 16).ok())
        .unwrap_or_else(|| panic!("no executable PT_LOAD in {}:\n{text}", path.display()));
    offset & !(PAGE - 1)
}

/// The inode `/proc/PID/map_files/START-END` (followed) names: what the kernel says is
/// mapped there.
fn mapped_inode(pid: u32, start: u64, end: u64) -> u64 {
    std::fs::metadata(format!("/proc/{pid}/map_files/{start:x}-{end:x}"))
        .expect("stat map_files entry")
        .ino()
}

/// Runs this test again as pid 1 of a new PID namespace with its own /proc, and asserts that
/// it passed there.
fn rerun_in_pid_namespace(name: &str) {
    support::require_root("it writes /proc/sys/kernel/ns_last_pid and creates a PID namespace");
    support::require_tool("unshare", "util-linux");
    let out = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "--"])
        .arg(std::env::current_exe().expect("test binary"))
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1")
        .output()
        .expect("run unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} in a new PID namespace: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A process collected, then replaced under its pid: what analyzers are handed.
struct Replaced {
    /// The collected record (with its `/proc/PID` handle), analysed by `analyzers`.
    c: vmpipe::source::Collected,
    /// Index of the payload's region in `c.regions`.
    at: usize,
    /// The payload the collected process mapped (not ELF).
    payload: std::path::PathBuf,
    /// The newcomer, holding the pid with an ELF file mapped at the payload's range.
    _newcomer: support::Target,
    _files: tempfile::TempDir,
}

/// Collects a process mapping a non-ELF payload at [`ADDR`], lets it exit, starts a newcomer
/// under the same pid mapping a real ELF file's text (a copy of /bin/true, at the same file
/// offset) at the same range, and only then runs the analyzers `use`d (name, options) on the
/// collected record. Must run inside the test's own PID namespace.
fn collect_then_replace(analyzers: &[(&str, &str)]) -> Replaced {
    assert_eq!(
        rustix::process::getpid().as_raw_nonzero().get(),
        1,
        "not pid 1 of a PID namespace of the test's own"
    );
    support::require_tool("readelf", "binutils");

    let files = tempfile::tempdir().expect("temp dir");
    let elf = files.path().join("true");
    std::fs::copy("/bin/true", &elf).expect("copy /bin/true");
    let offset = text_offset(&elf);
    let payload = files.path().join("payload.bin");
    std::fs::write(&payload, vec![0xccu8; (offset + PAGE) as usize]).expect("write payload");
    assert_ne!(
        &std::fs::read(&payload).expect("read payload")[..4],
        b"\x7fELF"
    );
    assert_eq!(&std::fs::read(&elf).expect("read elf")[..4], b"\x7fELF");
    let args = |file: &Path| {
        let file = file.as_os_str().to_owned();
        move |_: &Path| {
            vec![
                file.clone(),
                format!("{offset:x}").into(),
                format!("{ADDR:x}").into(),
            ]
        }
    };

    let a = support::start_target("reusetarget", args(&payload), &[]);
    let pid = a.pid();
    assert_eq!(a.mappings.get("mapped"), Some(&(ADDR, ADDR + PAGE)));
    let payload_ino = std::fs::metadata(&payload).expect("stat payload").ino();
    assert_eq!(mapped_inode(pid, ADDR, ADDR + PAGE), payload_ino);

    // Collected as a run collects it: the record keeps the /proc/PID handle for analyzers.
    let source = LiveLinux::new(Detail::Smaps, Selection::default());
    let mut c = source.collect(pid).expect("collected");
    assert!(c.memory.is_some(), "no memory handle for pid {pid}");
    let at = c
        .regions
        .iter()
        .position(|r| r.start == ADDR && r.end == ADDR + PAGE)
        .expect("the payload's region");
    assert_eq!(c.regions[at].inode, payload_ino);

    // The collected process exits and is reaped; the newcomer gets its pid.
    drop(a);
    let mut newcomer = None;
    for _ in 0..10 {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string())
            .expect("write ns_last_pid");
        let t = support::start_target("reusetarget", args(&elf), &[]);
        if t.pid() == pid {
            newcomer = Some(t);
            break;
        }
    }
    let newcomer = newcomer.unwrap_or_else(|| panic!("no newcomer got pid {pid} in 10 tries"));
    assert_eq!(newcomer.mappings.get("mapped"), Some(&(ADDR, ADDR + PAGE)));
    // The kernel now answers for the pid with the ELF file at that very range.
    let elf_ino = std::fs::metadata(&elf).expect("stat elf").ino();
    assert_eq!(mapped_inode(pid, ADDR, ADDR + PAGE), elf_ino);

    let configs: Vec<AnalyzerConfig> = analyzers
        .iter()
        .map(|(name, options)| AnalyzerConfig::unplaced(name, options.parse().expect("options")))
        .collect();
    let analyzers = Analyzers::load(
        &configs,
        Path::new("pid-reuse.toml"),
        &PluginSearch::new(Vec::new(), false),
    )
    .expect("analyzers");
    analyzers.analyze(&mut c);
    Replaced {
        c,
        at,
        payload,
        _newcomer: newcomer,
        _files: files,
    }
}

/// A cell as text: bytes lossily, absent empty.
fn text(cell: &Cell) -> String {
    match cell {
        Cell::Text(s) => s.to_string(),
        Cell::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Cell::Absent => String::new(),
        other => panic!("unexpected cell {other:?}"),
    }
}

#[test]
fn replaced_process_is_not_attributed_with_the_newcomers_files() {
    if std::env::var_os(INSIDE).is_none() {
        return rerun_in_pid_namespace(
            "replaced_process_is_not_attributed_with_the_newcomers_files",
        );
    }
    let Replaced { c, at, payload, .. } = collect_then_replace(&[("image-attribution", "")]);
    let payload = payload.as_os_str().as_bytes();

    // Region columns: image, segment.
    let cells = c.analysis.region(at);
    assert_eq!(text(&cells[0]).as_bytes(), payload);
    // Table 0, images: image … unexplained_exec (11), attribution (12).
    let row = c
        .analysis
        .rows
        .iter()
        .find(|r| r.table == 0 && text(&r.cells[0]).as_bytes() == payload)
        .expect("an images row for the payload");
    let attribution = text(&row.cells[12]);
    // No part of the newcomer's ELF file (its text) for a payload that is not ELF.
    assert_eq!(
        text(&cells[1]),
        "",
        "the payload's region got segment {:?} from the newcomer's file (attributed {attribution:?})",
        cells[1]
    );
    assert!(
        !attribution.starts_with("elf") && attribution.contains("replaced"),
        "the payload is attributed {attribution:?}"
    );
    // Executable memory that no ELF image explains stays flagged as such.
    assert_eq!(row.cells[11], Cell::Bool(true), "unexplained_exec");
}

#[test]
fn replaced_process_gets_no_exact_page_counts_from_the_newcomer() {
    if std::env::var_os(INSIDE).is_none() {
        return rerun_in_pid_namespace(
            "replaced_process_gets_no_exact_page_counts_from_the_newcomer",
        );
    }
    support::require_root("exact = true reads /proc/kpagecount");
    let Replaced { c, at, .. } = collect_then_replace(&[("share-modes", "exact = true")]);
    // The newcomer's page at the range is resident (it read it), mapped by it alone: read
    // through its pagemap, it would count 4096 bytes for the collected process.
    let cells = c.analysis.region(at);
    // Region columns: share_mode, exact_private, exact_shared.
    assert_eq!(
        (&cells[1], &cells[2]),
        (&Cell::Absent, &Cell::Absent),
        "exact counts for a process gone, from the newcomer's pagemap"
    );
    assert!(
        c.errors
            .iter()
            .any(|e| e.plugin == "share-modes" && e.error.contains("replaced")),
        "no warning that the process was replaced: {:?}",
        c.errors
    );
}
