//! Wrong output (issue 13, findings 12–14): totals that wrap, control bytes that reach the
//! output raw, a `(deleted)` that is only a name, a replaced process attributed with the
//! newcomer's files.
//!
//! Every test runs the vmpipe binary cargo built; set `VMPIPE_TEST_BIN` to run them against
//! another build (an old one, to see them fail).

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::Table;

/// The vmpipe under test: `VMPIPE_TEST_BIN` when set, else the one cargo built.
fn vmpipe() -> Command {
    match std::env::var_os("VMPIPE_TEST_BIN") {
        Some(bin) => Command::new(bin),
        None => support::vmpipe(),
    }
}

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
