//! Offline sources: a vmpipe snapshot analysed later gives the live run's tables byte for
//! byte; a UAC-style collection and an smem capture are read, the latter checked by smem
//! itself (`smem -S`).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{Table, start_target, vmpipe};

const ANALYZERS: &str = "[[analyzer]]\nuse = \"image-attribution\"\n[[analyzer]]\nuse = \"guard-detection\"\n[[analyzer]]\nuse = \"share-modes\"\n";

/// A pipeline file in `dir` with `source` and the capture pipeline's analyzers, writing CSV
/// into `dir/out`.
fn pipeline(dir: &Path, source: &str) -> PathBuf {
    let file = dir.join("p.toml");
    std::fs::write(
        &file,
        format!(
            "[source]\n{source}\n{ANALYZERS}[[sink]]\ntype = \"csv\"\ndir = {:?}\n",
            dir.join("out").to_str().unwrap()
        ),
    )
    .unwrap();
    file
}

fn run(file: &Path, extra: &[&str]) {
    let o = vmpipe()
        .arg("run")
        .arg(file)
        .arg("-q")
        .args(extra)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{extra:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn csv_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn assert_same_tables(live: &Path, other: &Path) {
    let names = csv_files(live);
    assert_eq!(names, csv_files(other));
    assert!(names.len() >= 8, "{names:?}");
    for n in names {
        let (x, y) = (
            std::fs::read(live.join(&n)).unwrap(),
            std::fs::read(other.join(&n)).unwrap(),
        );
        assert!(
            x == y,
            "{n} differs:\n--- live\n{}\n--- offline\n{}",
            String::from_utf8_lossy(&x),
            String::from_utf8_lossy(&y)
        );
    }
}

#[test]
fn a_snapshot_analysed_later_gives_the_live_tables() {
    support::require_tool("sha256sum", "coreutils");
    let target = start_target("threadtarget", |_| Vec::new(), &[]);
    target.stop();
    let pid = target.pid().to_string();
    let live = tempfile::tempdir().unwrap();
    run(&pipeline(live.path(), "type = \"live\""), &["--pid", &pid]);

    let work = tempfile::tempdir().unwrap();
    for name in ["snap", "snap.tar", "snap.tar.gz"] {
        let snap = work.path().join(name);
        let o = vmpipe()
            .arg("snapshot")
            .arg("--out")
            .arg(&snap)
            .args(["--pid", &pid])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        if name == "snap" {
            // The manifest's checksums hold, by sha256sum's own reckoning.
            let check = Command::new("sha256sum")
                .args(["-c", "--quiet", "SHA256SUMS"])
                .current_dir(&snap)
                .output()
                .unwrap();
            assert!(
                check.status.success(),
                "{}",
                String::from_utf8_lossy(&check.stdout)
            );
            let files = std::fs::read_to_string(snap.join("SHA256SUMS")).unwrap();
            for f in ["maps", "smaps", "status", "stat", "comm", "cmdline", "exe"] {
                assert!(
                    files.contains(&format!("  proc/{pid}/{f}\n")),
                    "{f} missing from {files}"
                );
            }
        }
        let offline = tempfile::tempdir().unwrap();
        run(
            &pipeline(offline.path(), "type = \"capture\""),
            &["--input", snap.to_str().unwrap()],
        );
        assert_same_tables(&live.path().join("out"), &offline.path().join("out"));
    }
    // A snapshot never replaces existing evidence.
    let again = vmpipe()
        .arg("snapshot")
        .arg("--out")
        .arg(work.path().join("snap"))
        .args(["--pid", &pid])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
}

/// Copies one /proc file of `pid` into `to`.
fn copy_proc(pid: u32, file: &str, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::write(to, std::fs::read(format!("/proc/{pid}/{file}")).unwrap()).unwrap();
}

#[test]
fn a_uac_collection_is_read_as_a_maps_only_sweep() {
    let target = start_target("threadtarget", |_| Vec::new(), &[]);
    target.stop();
    let pid = target.pid();
    // UAC's layout: live_response/process/proc/PID/NAME.txt, and `ls -l /proc/*/exe`.
    let uac = tempfile::tempdir().unwrap();
    let base = uac.path().join("uac-host/live_response/process");
    for f in ["maps", "comm", "cmdline", "status", "stat"] {
        copy_proc(pid, f, &base.join(format!("proc/{pid}/{f}.txt")));
    }
    let ls = Command::new("ls")
        .arg("-l")
        .arg(format!("/proc/{pid}/exe"))
        .output()
        .unwrap();
    std::fs::write(base.join("running_processes_full_paths.txt"), ls.stdout).unwrap();
    // Other UAC files are ignored.
    std::fs::write(base.join(format!("proc/{pid}/environ.txt")), "PATH=/bin").unwrap();

    let offline = tempfile::tempdir().unwrap();
    run(
        &pipeline(offline.path(), "type = \"capture\""),
        &["--input", uac.path().to_str().unwrap()],
    );
    let live = tempfile::tempdir().unwrap();
    run(
        &pipeline(live.path(), "type = \"live\"\ndetail = \"maps\""),
        &["--pid", &pid.to_string()],
    );
    // maps only: the regions and their analyzer columns are the live maps-only sweep's —
    // except the [vdso]'s parts: UAC does not save the vDSO image, so its ELF headers cannot
    // be read from this capture.
    for table in ["guards.csv", "thread_stacks.csv"] {
        let a = std::fs::read(live.path().join("out").join(table)).unwrap();
        let b = std::fs::read(offline.path().join("out").join(table)).unwrap();
        assert!(a == b, "{table} differs");
    }
    let a = Table::read(&live.path().join("out/regions.csv"));
    let b = Table::read(&offline.path().join("out/regions.csv"));
    assert_eq!(a.rows.len(), b.rows.len());
    let segment = a.columns["segment"];
    for (x, y) in a.rows.iter().zip(&b.rows) {
        for (i, (p, q)) in x.iter().zip(y.iter()).enumerate() {
            if i == segment && a.get(x, "kind") == "vdso" {
                assert_eq!(q, "", "no vDSO image in a UAC capture");
                assert!(!p.is_empty());
            } else {
                assert_eq!(p, q, "column {i} of {x:?}");
            }
        }
    }
    let procs = Table::read(&offline.path().join("out/processes.csv"));
    let row = procs.rows_for(pid)[0];
    assert_eq!(
        procs.get(row, "rss"),
        "",
        "a maps-only capture has no residency"
    );
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert_eq!(procs.get(row, "exe"), exe.to_str().unwrap());
    assert_eq!(procs.get(row, "name"), "threadtarget");
    assert_eq!(procs.num(row, "threads"), Some(5));
}

#[test]
fn an_smem_capture_reads_as_smem_reads_it() {
    support::require_tool("smem", "smem");
    support::require_tool("tar", "tar");
    let target = support::start_map_target_with(&[], b"plain.bin");
    target.stop();
    let pid = target.pid();
    // smem's capture format: PID/smaps, PID/cmdline, PID/stat and meminfo at the top of a
    // gzipped tarball (what smemcap and smem's capture script write).
    let cap = tempfile::tempdir().unwrap();
    for f in ["smaps", "cmdline", "stat"] {
        copy_proc(pid, f, &cap.path().join(format!("proc/{pid}/{f}")));
    }
    std::fs::write(
        cap.path().join("proc/meminfo"),
        std::fs::read("/proc/meminfo").unwrap(),
    )
    .unwrap();
    let tgz = cap.path().join("capture.tgz");
    let tar = Command::new("tar")
        .arg("czf")
        .arg(&tgz)
        .arg(pid.to_string())
        .arg("meminfo")
        .current_dir(cap.path().join("proc"))
        .status()
        .unwrap();
    assert!(tar.success());

    // Debian's smem reads a capture directory (its tarball reader fails on Python 3), so smem
    // is asked about the directory the tarball was made from.
    let smem = Command::new("smem")
        .arg("-S")
        .arg(cap.path())
        .args(["-H", "-c", "pid uss pss rss"])
        .output()
        .unwrap();
    assert!(
        smem.status.success(),
        "{}",
        String::from_utf8_lossy(&smem.stderr)
    );
    let text = String::from_utf8_lossy(&smem.stdout);
    let f: Vec<u64> = text
        .lines()
        .map(|l| {
            l.split_whitespace()
                .map(|v| v.parse().unwrap())
                .collect::<Vec<u64>>()
        })
        .find(|f| f.first() == Some(&u64::from(pid)))
        .unwrap_or_else(|| panic!("smem -S lists no {pid}:\n{text}"));

    let offline = tempfile::tempdir().unwrap();
    run(
        &pipeline(offline.path(), "type = \"capture\""),
        &["--input", tgz.to_str().unwrap()],
    );
    let procs = Table::read(&offline.path().join("out/processes.csv"));
    let row = procs.rows_for(pid)[0];
    assert_eq!(procs.num(row, "uss"), Some(f[1] * 1024));
    assert_eq!(procs.num(row, "pss"), Some(f[2] * 1024));
    assert_eq!(procs.num(row, "rss"), Some(f[3] * 1024));
    assert_eq!(
        procs.get(row, "name"),
        "maptarget",
        "the name comes from stat"
    );
    assert_eq!(procs.get(row, "status"), "ok");
}
