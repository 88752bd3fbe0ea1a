//! Processes that cannot be read — refused, or gone — become rows with a status and an error
//! row, and the run still succeeds.

mod support;

use std::process::{Command, Stdio};

use support::{Table, start_map_target};

const NOBODY: &[&str] = &[
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
];

/// Runs the all-procs pipeline as `nobody` over `pids`.
fn sweep_as_nobody(pids: &[u32]) -> (tempfile::TempDir, std::process::Output) {
    let out = tempfile::tempdir().unwrap();
    support::set_mode(out.path(), 0o777);
    let mut cmd = Command::new(NOBODY[0]);
    cmd.args(&NOBODY[1..])
        .arg(env!("CARGO_BIN_EXE_vmpipe"))
        .arg("run")
        .arg(support::repo().join("pipelines/all-procs.toml"))
        .arg("--out")
        .arg(out.path());
    for p in pids {
        cmd.arg("--pid").arg(p.to_string());
    }
    let output = cmd.stdin(Stdio::null()).output().unwrap();
    (out, output)
}

/// A pid that surely is not in use: a child that has exited and been reaped.
fn reaped_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn denied_and_vanished_processes_are_rows_and_the_run_succeeds() {
    support::require_root("it starts processes as root and as nobody, then reads them as nobody");
    support::require_tool("setpriv", "util-linux");
    let root_target = start_map_target(&[]);
    let own_target = start_map_target(NOBODY);
    root_target.stop();
    own_target.stop();
    let gone = reaped_pid();

    let (out, output) = sweep_as_nobody(&[root_target.pid(), own_target.pid(), gone]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit {}: {stderr}", output.status);
    assert!(
        stderr.contains("1 ok") && stderr.contains("1 denied") && stderr.contains("1 vanished"),
        "{stderr}"
    );

    let procs = Table::read(&out.path().join("processes.csv"));
    let errors = Table::read(&out.path().join("errors.csv"));
    let status = |pid: u32| procs.get(procs.rows_for(pid)[0], "status").to_string();
    assert_eq!(status(root_target.pid()), "denied");
    assert_eq!(status(own_target.pid()), "ok");
    assert_eq!(status(gone), "vanished");

    let denied_row = procs.rows_for(root_target.pid())[0];
    assert_eq!(procs.get(denied_row, "rss"), "", "unknown, not zero");
    assert_eq!(
        procs.num(denied_row, "uid"),
        Some(0),
        "status is world-readable"
    );
    assert!(procs.get(denied_row, "error").contains("Permission denied"));

    let errs = errors.rows_for(root_target.pid());
    assert_eq!(errs.len(), 1, "one error row for the refusal");
    assert_eq!(errors.get(errs[0], "stage"), "smaps");
    assert!(
        errors
            .get(errs[0], "error")
            .contains(&format!("/proc/{}/smaps", root_target.pid()))
    );
    assert_eq!(errors.rows_for(gone).len(), 1);
    assert!(errors.rows_for(own_target.pid()).is_empty());

    // The readable one has its regions; the others none.
    let regions = Table::read(&out.path().join("regions.csv"));
    assert!(regions.rows_for(own_target.pid()).len() >= 15);
    assert!(regions.rows_for(root_target.pid()).is_empty());
}

#[test]
fn only_unreadable_processes_fail_the_run_with_a_clear_message() {
    let gone = reaped_pid();
    let out = tempfile::tempdir().unwrap();
    let output = support::vmpipe()
        .arg("run")
        .arg(support::repo().join("pipelines/all-procs.toml"))
        .arg("--out")
        .arg(out.path())
        .args(["--pid", &gone.to_string()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no selected process could be read: 0 denied, 1 vanished"),
        "{stderr}"
    );
    // The evidence of why is still written.
    let errors = Table::read(&out.path().join("errors.csv"));
    assert_eq!(errors.rows_for(gone).len(), 1);
}

/// Processes that exit while the sweep runs: each is either read whole or recorded as
/// vanished with an error row; none is lost, none fails the run.
#[test]
fn processes_exiting_during_the_sweep_are_recorded() {
    let target = start_map_target(&[]);
    target.stop();
    let mut children: Vec<_> = (0..60)
        .map(|i| {
            Command::new("sleep")
                .arg(format!("0.{:03}", 5 + i))
                .spawn()
                .unwrap()
        })
        .collect();
    let mut pids: Vec<u32> = children.iter().map(|c| c.id()).collect();
    pids.push(target.pid());
    let reaper = std::thread::spawn(move || {
        for c in &mut children {
            let _ = c.wait();
        }
    });
    let (out, _) = support::sweep(&pids, &["--threads", "2"]);
    reaper.join().unwrap();
    let procs = Table::read(&out.path().join("processes.csv"));
    let errors = Table::read(&out.path().join("errors.csv"));
    assert_eq!(procs.rows.len(), pids.len(), "every pid has a row");
    for pid in &pids {
        let row = procs.rows_for(*pid);
        assert_eq!(row.len(), 1, "pid {pid}");
        match procs.get(row[0], "status") {
            "ok" => {}
            "vanished" => assert!(
                !errors.rows_for(*pid).is_empty(),
                "pid {pid} has no error row"
            ),
            other => panic!("pid {pid}: status {other}"),
        }
    }
}
