//! Wrong output (issue 13, findings 12–14): totals that wrap, control bytes that reach the
//! output raw, a `(deleted)` that is only a name, a replaced process attributed with the
//! newcomer's files.
//!
//! Every test runs the vmpipe binary cargo built; set `VMPIPE_BIN` to run them against
//! another build (an old one, to see them fail).

mod support;

use std::path::Path;
use std::process::Output;

use support::Table;

use support::vmpipe;

/// Runs `pipelines/NAME` on `input` into `out`, stdout captured; asserts success.
fn run_pipeline(pipeline: &str, input: &Path, out: &Path) -> Output {
    let o = vmpipe()
        .arg("run")
        .arg(support::repo().join("pipelines").join(pipeline))
        .arg("--input")
        .arg(input)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run vmpipe");
    assert!(
        o.status.success(),
        "{pipeline} on {}: {}",
        input.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// A capture directory holding `proc/PID/FILE` with the given contents.
fn capture(files: &[(u32, &str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (pid, name, bytes) in files {
        let d = dir.path().join("proc").join(pid.to_string());
        std::fs::create_dir_all(&d).expect("mkdir");
        std::fs::write(d.join(name), bytes).expect("write");
    }
    dir
}

/// The sum the arithmetic gives, as u128, and what a u64 total must then say: the sum when
/// it fits, `u64::MAX` (saturated) when it does not — never a wrapped small number.
fn saturated(parts: &[u64]) -> u64 {
    let truth: u128 = parts.iter().map(|&p| u128::from(p)).sum();
    u64::try_from(truth).unwrap_or(u64::MAX)
}

/// Finding 13: a capture can claim a region no address space holds (`0-ffffffffffffffff`,
/// 16 EiB less one byte). Its process's `vsize` and the run's `virtual:` total must be the
/// arithmetic sum, saturated at `u64::MAX` — at 036e0a7 they wrapped (`4095`, "virtual: 4K").
#[test]
fn vsize_of_a_16_eib_region_saturates_instead_of_wrapping() {
    let cap = capture(&[
        (1, "comm", b"one\n"),
        (1, "maps", b"0-ffffffffffffffff rw-p 00000000 00:00 0 \n"),
        (2, "comm", b"two\n"),
        (
            2,
            "maps",
            b"1000-2000 rw-p 00000000 00:00 0 \n0-ffffffffffffffff rw-p 00000000 00:00 0 \n",
        ),
    ]);
    let out = tempfile::tempdir().expect("temp dir");
    let o = run_pipeline("capture.toml", cap.path(), out.path());
    let t = Table::read(&out.path().join("processes.csv"));
    let vsize = |pid: u32| t.num(t.rows_for(pid)[0], "vsize");
    let one = saturated(&[0xffff_ffff_ffff_ffff]);
    let two = saturated(&[0x1000, 0xffff_ffff_ffff_ffff]);
    assert_eq!(vsize(1), Some(one));
    assert_eq!(vsize(2), Some(two));
    assert_eq!(two, u64::MAX, "the truth does not fit: saturated");
    // The text report's run line: the total over both, saturated, in vmpipe's units (16.0E).
    let text = String::from_utf8_lossy(&o.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("regions:"))
        .unwrap_or_else(|| panic!("no summary line in:\n{text}"));
    assert!(
        line.contains("virtual: 16.0E "),
        "the run's virtual total must saturate at 16 EiB: {line}"
    );
}

/// Finding 13, residency: two regions each claiming `Rss`/`Pss`/`Private_Dirty` of
/// (2^54 − 1) kB (2^64 − 1024 bytes). The share-modes per-process totals must saturate
/// (`u64::MAX`), not wrap to 2^64 − 2048.
#[test]
fn residency_totals_saturate_instead_of_wrapping() {
    const FIELDS: [&str; 14] = [
        "Size",
        "KernelPageSize",
        "MMUPageSize",
        "Rss",
        "Pss",
        "Shared_Clean",
        "Shared_Dirty",
        "Private_Clean",
        "Private_Dirty",
        "Referenced",
        "Anonymous",
        "Swap",
        "SwapPss",
        "Locked",
    ];
    let big_kb: u64 = (1 << 54) - 1;
    let mut smaps = String::new();
    for (a, b) in [(0x1000u64, 0x2000u64), (0x3000, 0x4000)] {
        smaps.push_str(&format!("{a:x}-{b:x} rw-p 00000000 00:00 0 \n"));
        for f in FIELDS {
            let v = match f {
                "Size" | "KernelPageSize" | "MMUPageSize" => 4,
                "Rss" | "Pss" | "Private_Dirty" => big_kb,
                _ => 0,
            };
            smaps.push_str(&format!("{f}: {v} kB\n"));
        }
        smaps.push_str("VmFlags: rd wr mr mw me ac\n");
    }
    let cap = capture(&[(1, "comm", b"big\n"), (1, "smaps", smaps.as_bytes())]);
    let out = tempfile::tempdir().expect("temp dir");
    run_pipeline("capture.toml", cap.path(), out.path());
    let truth = saturated(&[big_kb * 1024, big_kb * 1024]);
    assert_eq!(truth, u64::MAX);
    let p = Table::read(&out.path().join("processes.csv"));
    assert_eq!(p.num(p.rows_for(1)[0], "rss"), Some(truth));
    let m = Table::read(&out.path().join("share_modes.csv"));
    let rows = m.rows_for(1);
    assert_eq!(rows.len(), 1, "one share mode (PRV)");
    assert_eq!(
        m.num(rows[0], "resident"),
        Some(truth),
        "share_modes resident"
    );
    assert_eq!(m.num(rows[0], "dirty"), Some(truth), "share_modes dirty");
}

/// Finding 14, `(deleted)`: the target maps a file really named `lib (deleted)` (still
/// linked) and another file that it then unlinks. The kernel prints both with the
/// ` (deleted)` mark; regions.csv `deleted` must say `false` and `true` — the truth being the
/// test's own knowledge, checked with `stat`: the first file is still there, the second gone.
/// At 036e0a7 both read `true` (the mark alone decided).
#[test]
fn deleted_is_confirmed_for_live_processes() {
    use std::os::unix::ffi::OsStrExt;
    support::require_root("confirming (deleted) reads /proc/PID/map_files");
    let t = support::start_map_target_with(&[], b"lib (deleted)");
    let dir = t.dir.path().to_path_buf();
    let linked = dir.join("lib (deleted)");
    let gone = dir.join(std::ffi::OsStr::from_bytes(support::DELETED_NAME));
    let meta = std::fs::metadata(&linked).expect("the file named `lib (deleted)` exists");
    assert!(std::os::unix::fs::MetadataExt::nlink(&meta) > 0);
    assert!(!gone.exists(), "the target unlinked {}", gone.display());

    let out = tempfile::tempdir().expect("temp dir");
    let o = vmpipe()
        .arg("run")
        .arg(support::repo().join("pipelines/maps-only.toml"))
        .arg("--pid")
        .arg(t.pid().to_string())
        .arg("--out")
        .arg(out.path())
        .arg("-q")
        .output()
        .expect("run vmpipe");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let regions = Table::read(&out.path().join("regions.csv"));
    let row_at = |name: &str| {
        let (start, _) = t.mappings[name];
        let start = format!("{start:#x}");
        *regions
            .rows_for(t.pid())
            .iter()
            .find(|r| regions.get(r, "start") == start)
            .unwrap_or_else(|| panic!("no region at {start} ({name})"))
    };
    let ro = row_at("file_ro");
    let del = row_at("deleted_file");
    // Both carry the kernel's mark in `path`…
    assert!(regions.get(ro, "path").ends_with("/lib (deleted)"));
    assert!(regions.get(del, "path").ends_with(" (deleted)"));
    // …and only the unlinked one is deleted.
    assert_eq!(regions.get(ro, "deleted"), "false", "still linked");
    assert_eq!(regions.get(del, "deleted"), "true", "unlinked");
}

/// Finding 14, evidence: a capture's ` (deleted)` cannot be confirmed, and regions.csv says
/// so with an empty `deleted` cell; a path without the mark is `false`.
#[test]
fn deleted_is_unknown_in_evidence() {
    let cap = capture(&[
        (1, "comm", b"x\n"),
        (
            1,
            "maps",
            b"1000-2000 r--p 00000000 08:01 12 /tmp/lib (deleted)\n3000-4000 r--p 00000000 08:01 13 /tmp/lib\n",
        ),
    ]);
    let out = tempfile::tempdir().expect("temp dir");
    run_pipeline("capture.toml", cap.path(), out.path());
    let t = Table::read(&out.path().join("regions.csv"));
    let rows = t.rows_for(1);
    assert_eq!(rows.len(), 2);
    assert_eq!(t.get(rows[0], "path"), "/tmp/lib (deleted)");
    assert_eq!(t.get(rows[0], "deleted"), "", "marked, unconfirmable");
    assert_eq!(t.get(rows[1], "deleted"), "false");
}

/// Finding 14, NUL: a copy of a real vmmap report fixture with a NUL byte put into a path.
/// No CSV file may hold a raw NUL; the path cell is `\x00`-escaped and unescapes (the
/// documented scheme, applied here by hand) to exactly the bytes of the report.
#[test]
fn nul_in_a_vmmap_report_path_is_escaped_in_csv() {
    let fixture =
        support::repo().join("tests/fixtures/vmmap/vmmap_ping_stop-at-entry_macos10.13.6.txt");
    let text = std::fs::read(&fixture).expect("fixture");
    let needle = b"/usr/lib/dyld";
    let at = text
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the fixture maps dyld");
    let mut hostile = text[..at].to_vec();
    hostile.extend_from_slice(b"/usr/lib/dy\0ld");
    hostile.extend_from_slice(&text[at + needle.len()..]);
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("ping.vmmap.txt");
    std::fs::write(&report, &hostile).expect("write");
    let out = dir.path().join("out");
    run_pipeline("vmmap-report.toml", &report, &out);
    for e in std::fs::read_dir(&out).expect("out dir") {
        let p = e.expect("entry").path();
        let bytes = std::fs::read(&p).expect("read csv");
        assert!(!bytes.contains(&0), "{} holds a raw NUL", p.display());
    }
    let t = Table::read(&out.join("regions.csv"));
    let cell = t
        .rows
        .iter()
        .map(|r| t.get(r, "path"))
        .find(|p| p.contains("/usr/lib/dy"))
        .expect("the dyld region");
    assert_eq!(cell, "/usr/lib/dy\\x00ld");
    let unescaped = cell.replace("\\x00", "\0");
    assert_eq!(unescaped.as_bytes(), b"/usr/lib/dy\0ld");
}

/// Finding 14, bidi: a process named with U+202E (RIGHT-TO-LEFT OVERRIDE), U+2066 (LEFT-TO-
/// RIGHT ISOLATE) and U+200B (ZERO WIDTH SPACE). The text report must show each as `\u{…}`
/// and hold none of them raw (at 036e0a7 they reached the terminal as they were).
#[test]
fn bidi_and_format_controls_are_escaped_in_the_text_report() {
    let name = "evil\u{202e}fdp.exe\u{2066}\u{200b}\n";
    let cap = capture(&[
        (7, "comm", name.as_bytes()),
        (7, "maps", b"1000-2000 rw-p 00000000 00:00 0 \n"),
    ]);
    let out = tempfile::tempdir().expect("temp dir");
    let o = run_pipeline("capture.toml", cap.path(), out.path());
    let text = String::from_utf8(o.stdout).expect("the report is UTF-8");
    for c in ['\u{202e}', '\u{2066}', '\u{200b}'] {
        assert!(
            !text.contains(c),
            "raw U+{:04X} in the report:\n{text}",
            c as u32
        );
    }
    assert!(
        text.contains("evil\\u{202e}fdp.exe\\u{2066}\\u{200b}"),
        "the escaped name in:\n{text}"
    );
}
