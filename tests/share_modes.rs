//! The share-modes built-in: modes per region as the crate docs' table says for memory built
//! to be shared in every way; exact page sharing from pagemap/kpagecount against how the test
//! process built it; per-mode totals against the region rows; memory by user against
//! `smem -u`.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use support::{Table, start_target};

const PAGE: u64 = 4096;

fn pipeline(dir: &Path, options: &str) -> std::path::PathBuf {
    let file = dir.join("p.toml");
    std::fs::write(
        &file,
        format!(
            "[source]\ntype = \"live\"\n[[analyzer]]\nuse = \"share-modes\"\noptions = {{ {options} }}\n[[sink]]\ntype = \"csv\"\ndir = {:?}\n",
            dir.join("out").to_str().unwrap()
        ),
    )
    .unwrap();
    file
}

#[test]
fn modes_and_exact_sharing_follow_how_the_memory_was_made() {
    support::require_root("exact = true reads /proc/kpagecount");
    let parent = start_target("sharetarget", |d| vec![d.as_os_str().to_owned()], &[]);
    let pid_of = |who: &str| -> u32 {
        parent
            .lines
            .iter()
            .find_map(|l| l.strip_prefix(&format!("{who} ")))
            .unwrap()
            .parse()
            .unwrap()
    };
    let (ppid, cpid) = (pid_of("parent"), pid_of("child"));
    assert_eq!(ppid, parent.pid());
    for pid in [ppid, cpid] {
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(pid as i32).unwrap(),
            rustix::process::Signal::STOP,
        )
        .unwrap();
    }
    parent.stop();
    let dir = tempfile::tempdir().unwrap();
    let out = support::vmpipe()
        .arg("run")
        .arg(pipeline(dir.path(), "exact = true"))
        .args(["-q", "--pid", &ppid.to_string(), "--pid", &cpid.to_string()])
        .output()
        .unwrap();
    // Let the child go before asserting anything.
    let _ = Command::new("kill")
        .args(["-9", &cpid.to_string()])
        .status();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let regions = Table::read(&dir.path().join("out/regions.csv"));
    let region = |pid: u32, name: &str| {
        let (start, end) = parent.mappings[name];
        let r = *regions
            .rows_for(pid)
            .iter()
            .find(|r| regions.num(r, "start") == Some(start))
            .unwrap_or_else(|| panic!("pid {pid}: no {name}"));
        assert_eq!(regions.num(r, "end"), Some(end));
        r
    };
    // (process, mapping, mode). The kernel copies page tables at fork only for private
    // anonymous memory that has pages: the child's view of the file and shared mappings, which
    // it never touched, is empty.
    for (pid, name, mode) in [
        (ppid, "file_shared", "SHM"),
        (ppid, "file_private", "COW"),
        (ppid, "anon_cow", "COW"),
        (ppid, "anon_shared", "SHM"),
        (ppid, "anon_empty", "NUL"),
        (cpid, "file_shared", "NUL"),
        (cpid, "file_private", "NUL"),
        (cpid, "anon_cow", "COW"),
        (cpid, "anon_shared", "NUL"),
        (cpid, "anon_empty", "NUL"),
        (cpid, "child_private", "PRV"),
    ] {
        assert_eq!(
            regions.get(region(pid, name), "share_mode"),
            mode,
            "pid {pid} {name}"
        );
    }
    // anon_cow: the child wrote 3 of its 8 pages; each process now maps 3 pages alone and
    // shares the other 5.
    for pid in [ppid, cpid] {
        let r = region(pid, "anon_cow");
        assert_eq!(regions.num(r, "exact_private"), Some(3 * PAGE), "pid {pid}");
        assert_eq!(regions.num(r, "exact_shared"), Some(5 * PAGE), "pid {pid}");
    }
    let own = region(cpid, "child_private");
    assert_eq!(regions.num(own, "exact_private"), Some(4 * PAGE));
    assert_eq!(regions.num(own, "exact_shared"), Some(0));

    // Per-mode totals are the sums of the region rows, and add up to the process totals.
    let modes = Table::read(&dir.path().join("out/share_modes.csv"));
    let procs = Table::read(&dir.path().join("out/processes.csv"));
    for pid in [ppid, cpid] {
        let mut sums: HashMap<String, [u64; 5]> = HashMap::new();
        for r in regions.rows_for(pid) {
            let s = sums
                .entry(regions.get(r, "share_mode").to_string())
                .or_default();
            s[0] += 1;
            s[1] += regions.num(r, "size").unwrap();
            s[2] += regions.num(r, "rss").unwrap();
            s[3] +=
                regions.num(r, "shared_dirty").unwrap() + regions.num(r, "private_dirty").unwrap();
            s[4] += regions.num(r, "swap").unwrap();
        }
        let rows = modes.rows_for(pid);
        assert_eq!(rows.len(), sums.len());
        let (mut resident, mut swapped) = (0, 0);
        for m in rows {
            let s = sums[modes.get(m, "mode")];
            let got = ["regions", "virtual", "resident", "dirty", "swapped"]
                .map(|c| modes.num(m, c).unwrap());
            assert_eq!(got, s, "pid {pid} mode {}", modes.get(m, "mode"));
            resident += s[2];
            swapped += s[4];
        }
        let p = procs.rows_for(pid)[0];
        assert_eq!(procs.num(p, "rss"), Some(resident));
        assert_eq!(procs.num(p, "swap"), Some(swapped));
    }
}

#[test]
fn exact_counts_need_root_and_say_so() {
    support::require_tool("setpriv", "util-linux");
    support::require_root("it runs vmpipe as nobody");
    let dir = tempfile::tempdir().unwrap();
    support::set_mode(dir.path(), 0o777);
    let file = pipeline(dir.path(), "exact = true");
    support::set_mode(&file, 0o644);
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_vmpipe"))
        .arg("run")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refused its options: exact = true needs root"),
        "{err}"
    );
}

/// Removes the test user when dropped.
struct TestUser(String);

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.0).status();
    }
}

#[test]
fn memory_by_user_equals_smem() {
    support::require_root("it creates a user");
    support::require_tool("smem", "smem");
    support::require_tool("useradd", "passwd");
    let name = format!("vmpt{}", std::process::id());
    let made = Command::new("useradd")
        .args(["-M", "-r", "-s", "/usr/sbin/nologin", &name])
        .status()
        .unwrap();
    assert!(made.success(), "useradd {name}");
    let _user = TestUser(name.clone());
    let uid = String::from_utf8(
        Command::new("id")
            .args(["-u", &name])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let uid = uid.trim().to_string();
    let wrapper = [
        "setpriv",
        &format!("--reuid={uid}"),
        &format!("--regid={uid}"),
        "--clear-groups",
    ];
    let targets: Vec<_> = (0..2)
        .map(|_| support::start_map_target_with(&wrapper, b"plain.bin"))
        .collect();
    for t in &targets {
        t.stop();
    }
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(dir.path(), "");
    let run = support::vmpipe()
        .arg("run")
        .arg(&file)
        .args([
            "-q",
            "--pid",
            &targets[0].pid().to_string(),
            "--pid",
            &targets[1].pid().to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let smem = Command::new("smem").args(["-u", "-H"]).output().unwrap();
    let text = String::from_utf8_lossy(&smem.stdout);
    let row: Vec<u64> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.first() == Some(&name.as_str()))
        .unwrap_or_else(|| panic!("smem -u has no row for {name}:\n{text}"))[1..]
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    // smem -u: User Count Swap USS PSS RSS (kB).
    let users = Table::read(&dir.path().join("out/users.csv"));
    let ours = users
        .rows
        .iter()
        .find(|r| users.get(r, "user") == name)
        .unwrap();
    assert_eq!(users.num(ours, "uid"), Some(uid.parse().unwrap()));
    assert_eq!(users.num(ours, "count"), Some(row[0]));
    for (col, kb) in ["swap", "uss", "pss", "rss"].iter().zip(&row[1..]) {
        assert_eq!(users.num(ours, col), Some(kb * 1024), "{col}");
    }
}
