//! Sweeping a machine while processes and threads come and go by the hundred per second:
//! every run succeeds, every vanished process is recorded, and no region is ever attributed
//! to the wrong process (each churn child maps a file named after its own pid).

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use support::Table;

#[test]
fn sweeps_under_churn_lose_nothing_and_mix_nothing() {
    let exe = support::static_target("churn");
    let dir = tempfile::tempdir().unwrap();
    let mut churn = Command::new(&exe)
        .arg(dir.path())
        .arg("6000")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(churn.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");

    let prefix = format!("{}/churn-", dir.path().display());
    let (mut vanished, mut churn_rows, mut runs) = (0, 0, 0);
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_millis(5000) {
        let out = tempfile::tempdir().unwrap();
        let run = support::vmpipe()
            .arg("run")
            .arg(support::repo().join("pipelines/maps-only.toml"))
            .arg("--out")
            .arg(out.path())
            .arg("-q")
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "run {runs}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        runs += 1;
        let procs = Table::read(&out.path().join("processes.csv"));
        let errors = Table::read(&out.path().join("errors.csv"));
        for p in &procs.rows {
            if procs.get(p, "status") == "vanished" {
                vanished += 1;
                let pid = procs.num(p, "pid").unwrap() as u32;
                assert!(
                    !errors.rows_for(pid).is_empty(),
                    "vanished pid {pid} has no error row"
                );
            }
        }
        let regions = Table::read(&out.path().join("regions.csv"));
        for r in &regions.rows {
            let path = regions.get(r, "path");
            if let Some(name) = path.strip_prefix(prefix.as_str()) {
                let owner: u64 = name.trim_end_matches(" (deleted)").parse().unwrap();
                assert_eq!(
                    regions.num(r, "pid"),
                    Some(owner),
                    "a region of {owner} under another pid"
                );
                churn_rows += 1;
            }
        }
    }
    let spawned: u64 = lines
        .find_map(|l| l.ok()?.strip_prefix("spawned ").map(|n| n.parse().unwrap()))
        .unwrap();
    churn.wait().unwrap();
    assert!(runs >= 5, "only {runs} sweeps");
    assert!(spawned > 500, "churn spawned only {spawned} processes");
    assert!(churn_rows > 0, "no sweep saw a churn child's mapping");
    eprintln!(
        "{runs} sweeps, {spawned} processes spawned, {churn_rows} churn regions checked, {vanished} vanished"
    );
}
