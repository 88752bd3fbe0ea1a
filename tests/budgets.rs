//! Inputs built to make vmpipe hold gigabytes (issue 13, findings 8–9): each one finishes in at
//! most 10 s with a peak resident set of at most 256 MiB (the vmpipe child's own `ru_maxrss`),
//! says what it cut short, and costs only the process that carried it.
//!
//! Before the parse budget and the streaming reader, the live case (two processes that each map
//! one file 65,000 times under a 40 KB path: 2.7 GB of smaps each) peaked at 5.3 GB.

mod support;

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::time::Duration;

use support::{Measured, Table, run_measured, start_target};

/// Past this a run is killed (the bound itself, 10 s, is checked by `assert_bounded`).
const DEADLINE: Duration = Duration::from_secs(60);

const NOBODY: [&str; 4] = [
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
];

/// The tests here measure time: one at a time, so they do not share the cores.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn check_cost(what: &str, m: &Measured) {
    m.assert_bounded(what, "");
}

fn os(args: &[OsString]) -> Vec<&OsStr> {
    args.iter().map(OsString::as_os_str).collect()
}

/// The target's `NAME VALUE` line.
fn said(t: &support::Target, name: &str) -> u64 {
    t.lines
        .iter()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("target did not say {name}: {:?}", t.lines))
}

#[test]
fn processes_with_gigabytes_of_smaps_cost_a_bounded_part_and_the_rest_is_intact() {
    let _serial = serial();
    support::require_root("it starts processes as nobody and reads them as root");
    support::require_tool("setpriv", "util-linux");
    // 160 directories of 250 bytes: a 40 KB path, mapped 65,000 times.
    let hostile = |d: &Path| vec![OsString::from(d.as_os_str()), "160".into(), "65000".into()];
    let a = start_target("longpath", hostile, &NOBODY);
    let b = start_target("longpath", hostile, &NOBODY);
    let plain = start_target("longpath", |d| vec![d.into(), "1".into(), "3".into()], &[]);
    for t in [&a, &b] {
        assert!(said(t, "maps") >= 60_000, "{:?}", t.lines);
    }
    let path_bytes = said(&a, "path-bytes") as usize;
    assert!(
        path_bytes > 4096 * 9,
        "a path far past PATH_MAX ({path_bytes})"
    );

    let out = tempfile::tempdir().unwrap();
    let pipeline = support::repo().join("pipelines/all-procs.toml");
    let mut args: Vec<OsString> = vec![
        "run".into(),
        pipeline.into(),
        "--out".into(),
        out.path().into(),
        "--threads".into(),
        "2".into(),
        "-q".into(),
    ];
    for t in [&a, &b, &plain] {
        args.push("--pid".into());
        args.push(t.child.id().to_string().into());
    }
    let m = run_measured(&os(&args), DEADLINE);
    check_cost("two processes with 2.7 GB of smaps each", &m);
    assert!(
        m.output.status.success(),
        "{}",
        String::from_utf8_lossy(&m.output.stderr)
    );

    let processes = Table::read(&out.path().join("processes.csv"));
    let status = |pid: u32| {
        let row = processes
            .rows
            .iter()
            .find(|r| processes.get(r, "pid") == pid.to_string())
            .unwrap_or_else(|| panic!("no row for {pid}"));
        (
            processes.get(row, "status").to_string(),
            processes.num(row, "regions").unwrap_or(0),
            processes.get(row, "error").to_string(),
        )
    };
    let regions = Table::read(&out.path().join("regions.csv"));
    for t in [&a, &b] {
        let pid = t.child.id();
        let (st, n, error) = status(pid);
        assert_eq!(st, "partial", "{pid}: {error}");
        assert!(error.contains("budget"), "{pid}: {error}");
        // Part, not nothing: the regions before the budget, each with the whole path.
        assert!(n > 1000 && n < said(t, "maps"), "{pid}: {n} regions");
        let mine: Vec<_> = regions
            .rows
            .iter()
            .filter(|r| regions.get(r, "pid") == pid.to_string())
            .filter(|r| regions.get(r, "path").ends_with("/mapped"))
            .collect();
        assert!(
            mine.len() as u64 > 1000,
            "{pid}: {} file regions",
            mine.len()
        );
        for r in mine {
            assert_eq!(regions.get(r, "path").len(), path_bytes);
        }
    }
    // The ordinary process beside them is whole: every mapping the kernel lists.
    let pid = plain.child.id();
    let (st, n, error) = status(pid);
    assert_eq!(st, "ok", "{error}");
    let kernel = std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .unwrap()
        .lines()
        .count() as u64;
    assert_eq!(n, kernel);
}

#[test]
fn smaps_full_of_unknown_fields_is_cut_at_the_budget() {
    let _serial = serial();
    // 120,000 records of a header and 60 fields the model does not know: 80 MB of text that
    // the old parser turned into more than a gigabyte of kept fields.
    let capture = tempfile::tempdir().unwrap();
    let proc_dir = capture.path().join("proc/4242");
    std::fs::create_dir_all(&proc_dir).unwrap();
    let mut text = Vec::with_capacity(90 << 20);
    for i in 0..120_000u64 {
        let start = 0x10000 + i * 0x2000;
        text.extend_from_slice(
            format!("{start:x}-{:x} rw-p 00000000 00:00 0\n", start + 0x1000).as_bytes(),
        );
        for f in 0..60 {
            text.extend_from_slice(format!("Zz{f}: {i}\n").as_bytes());
        }
    }
    std::fs::write(proc_dir.join("smaps"), &text).unwrap();
    std::fs::write(proc_dir.join("comm"), "fields\n").unwrap();
    let out = tempfile::tempdir().unwrap();
    let pipeline = support::repo().join("pipelines/capture.toml");
    let args: Vec<OsString> = vec![
        "run".into(),
        pipeline.into(),
        "--input".into(),
        capture.path().into(),
        "--out".into(),
        out.path().into(),
        "-q".into(),
    ];
    let m = run_measured(&os(&args), DEADLINE);
    check_cost("80 MB of unknown smaps fields", &m);
    assert!(m.output.status.success());
    let errors = std::fs::read_to_string(out.path().join("errors.csv")).unwrap();
    assert!(
        errors.contains("4242") && errors.contains("budget"),
        "{errors}"
    );
    let processes = Table::read(&out.path().join("processes.csv"));
    let row = &processes.rows[0];
    assert_eq!(processes.get(row, "status"), "partial");
    let n = processes.num(row, "regions").unwrap();
    assert!(n > 10_000 && n < 120_000, "{n} regions kept");
}

#[test]
fn an_analyzer_that_floods_its_table_is_cut_at_the_call_budget() {
    let _serial = serial();
    // The misbehaving plugin emits rows until one is refused (at most 20 million, about 1 GB
    // if the host kept every one): the host refuses past its budget for one call, the rows
    // before stay, the refusal is an error row, and vmpipe stays small.
    let plugin = support::build_plugin(
        &["--manifest-path", "tests/plugins/misbehave/Cargo.toml"],
        "libmisbehave.so",
    );
    let t = start_target("longpath", |d| vec![d.into(), "1".into(), "3".into()], &[]);
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("p.toml");
    std::fs::write(
        &pipeline,
        format!(
            "[source]\ntype = \"live\"\n[[analyzer]]\nuse = {:?}\noptions = {{ victim = \"longpath\", mode = \"flood\" }}\n[[sink]]\ntype = \"csv\"\ndir = {:?}\n",
            plugin.to_str().unwrap(),
            dir.path().join("out").to_str().unwrap()
        ),
    )
    .unwrap();
    let args: Vec<OsString> = vec![
        "run".into(),
        pipeline.into(),
        "-q".into(),
        "--pid".into(),
        t.child.id().to_string().into(),
    ];
    let m = run_measured(&os(&args), DEADLINE);
    check_cost("an analyzer emitting 20 million rows", &m);
    assert!(
        m.output.status.success(),
        "{}",
        String::from_utf8_lossy(&m.output.stderr)
    );
    let errors = std::fs::read_to_string(dir.path().join("out/errors.csv")).unwrap();
    assert!(
        errors.contains("misbehave") && errors.contains("budget"),
        "{errors}"
    );
    // The rows kept are numbered 0, 1, 2, … (after the one ordinary row): the first ones,
    // none lost in between, far fewer than emitted.
    let calls = Table::read(&dir.path().join("out/calls.csv"));
    let kept: Vec<u64> = calls
        .rows
        .iter()
        .skip(1)
        .map(|r| calls.num(r, "regions").unwrap())
        .collect();
    assert!(
        kept.len() > 100_000 && kept.len() < 20_000_000,
        "{}",
        kept.len()
    );
    assert!(kept.iter().enumerate().all(|(i, v)| *v == i as u64));
}
