//! Process selection through a real pipeline file: by name, by user, and kernel threads.

mod support;

use std::path::Path;

use support::{Table, start_map_target, vmpipe};

fn pipeline(dir: &Path, source_extra: &str) -> std::path::PathBuf {
    let file = dir.join("p.toml");
    let out = dir.join("out");
    std::fs::write(
        &file,
        format!(
            "[source]\ntype = \"live\"\n{source_extra}\n[[sink]]\ntype = \"csv\"\ndir = {:?}\n",
            out.to_str().unwrap()
        ),
    )
    .unwrap();
    file
}

fn selected(dir: &Path) -> Vec<u32> {
    let t = Table::read(&dir.join("out/processes.csv"));
    t.rows
        .iter()
        .map(|r| t.num(r, "pid").unwrap() as u32)
        .collect()
}

#[test]
fn name_pattern_selects_by_comm() {
    let target = start_map_target(&[]);
    target.stop();
    let dir = tempfile::tempdir().unwrap();
    let me = std::process::id();
    let file = pipeline(
        dir.path(),
        &format!("pids = [{}, {me}]\nname = \"^maptarget$\"", target.pid()),
    );
    let out = vmpipe().arg("run").arg(&file).arg("-q").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(selected(dir.path()), vec![target.pid()]);
}

#[test]
fn user_selects_by_real_uid() {
    support::require_root("it starts a process as nobody");
    support::require_tool("setpriv", "util-linux");
    let root_target = start_map_target(&[]);
    let nobody_target = start_map_target(&[
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &format!(
            "pids = [{}, {}]\nuser = \"nobody\"",
            root_target.pid(),
            nobody_target.pid()
        ),
    );
    let out = vmpipe().arg("run").arg(&file).arg("-q").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(selected(dir.path()), vec![nobody_target.pid()]);
}

#[test]
fn no_match_is_a_clear_failure() {
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        &format!(
            "pids = [{}]\nname = \"^no-such-process-name$\"",
            std::process::id()
        ),
    );
    let out = vmpipe().arg("run").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no process matched the selection"));
}

/// Kernel threads have no memory map: they are listed, with 0 regions, and not as errors.
#[test]
fn kernel_threads_are_processes_with_no_regions() {
    // PF_KTHREAD in the flags field (the 9th) of /proc/PID/stat.
    const PF_KTHREAD: u64 = 0x0020_0000;
    let kthread = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let after = stat.rsplit_once(") ").map(|x| x.1).unwrap_or("");
            after
                .split(' ')
                .nth(6)
                .and_then(|f| f.parse::<u64>().ok())
                .is_some_and(|f| f & PF_KTHREAD != 0)
        })
        .expect("this test needs a visible kernel thread (not in a PID namespace without them)");
    let (out, _) = support::sweep(&[kthread], &[]);
    let procs = Table::read(&out.path().join("processes.csv"));
    let row = procs.rows_for(kthread)[0];
    assert_eq!(procs.get(row, "status"), "ok");
    assert_eq!(procs.num(row, "regions"), Some(0));
    assert_eq!(
        procs.num(row, "rss"),
        Some(0),
        "a true zero: the map was read and is empty"
    );
    assert_eq!(procs.get(row, "exe"), "");
    let comm = std::fs::read_to_string(format!("/proc/{kthread}/comm")).unwrap();
    assert_eq!(procs.get(row, "name"), comm.trim_end_matches('\n'));
    assert!(Table::read(&out.path().join("errors.csv")).rows.is_empty());
}
