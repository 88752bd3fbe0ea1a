//! Hostile input and faults: attacker-chosen names, command lines and paths stay inside their
//! cell; a disk that fills, a read-only or planted output path, a cut-short capture, oversized
//! evidence and a process at the kernel's mapping limit each end in one clear outcome.

mod support;

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::process::{Command, Output};

use support::{Table, start_target, vmpipe};
use vmpipe::model::escape::{unescape, unguard};

const NAME: &[u8] = b"=1+2\t\x1b[2J\xff";
const FILES: [&[u8]; 4] = [
    b"@evil\r.bin",
    b"-rm -rf.bin",
    b"'q,\"x\nz.bin",
    b"+cmd|' \\C calc'!A0.bin",
];

fn run_pipeline(dir: &Path, sink_extra: &str, pids: &[u32]) -> Output {
    let file = dir.join("p.toml");
    std::fs::write(
        &file,
        format!(
            "[source]\ntype = \"live\"\n[[sink]]\ntype = \"csv\"\ndir = {:?}\n{sink_extra}\n[[sink]]\ntype = \"text\"\npath = {:?}\n",
            dir.join("out").to_str().unwrap(),
            dir.join("report.txt").to_str().unwrap()
        ),
    )
    .unwrap();
    let mut cmd = vmpipe();
    cmd.arg("run").arg(&file).arg("-q");
    for p in pids {
        cmd.arg("--pid").arg(p.to_string());
    }
    cmd.output().unwrap()
}

fn cell_bytes(c: &str) -> Vec<u8> {
    unescape(unguard(c)).unwrap_or_else(|| panic!("bad escape {c:?}"))
}

#[test]
fn hostile_names_and_paths_stay_in_their_cells() {
    let target = start_target(
        "hostiletarget",
        |d| {
            let mut a = vec![d.as_os_str().to_owned(), OsString::from_vec(NAME.to_vec())];
            a.extend(FILES.iter().map(|f| OsString::from_vec(f.to_vec())));
            a
        },
        &[],
    );
    target.stop();
    let dir = tempfile::tempdir().unwrap();
    let out = run_pipeline(dir.path(), "", &[target.pid()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let procs = Table::read(&dir.path().join("out/processes.csv"));
    let row = procs.rows_for(target.pid())[0];
    let name = procs.get(row, "name");
    assert!(name.starts_with("'="), "a formula is neutralised: {name:?}");
    assert_eq!(cell_bytes(name), NAME, "the name reads back byte for byte");
    // The command line's display form: arguments joined by single spaces.
    let mut want = target_cmdline(target.pid());
    want.pop();
    for b in want.iter_mut() {
        if *b == 0 {
            *b = b' ';
        }
    }
    assert_eq!(cell_bytes(procs.get(row, "cmdline")), want);

    let regions = Table::read(&dir.path().join("out/regions.csv"));
    for (i, f) in FILES.iter().enumerate() {
        let (start, _) = target.mappings[&format!("file{i}")];
        let r = *regions
            .rows_for(target.pid())
            .iter()
            .find(|r| regions.num(r, "start") == Some(start))
            .unwrap();
        let mut path = target.dir.path().as_os_str().as_encoded_bytes().to_vec();
        path.push(b'/');
        path.extend_from_slice(f);
        assert_eq!(
            cell_bytes(regions.get(r, "path")),
            path,
            "{}",
            String::from_utf8_lossy(f)
        );
        assert_eq!(cell_bytes(regions.get(r, "process")), NAME);
    }
    // Every attacker-controlled cell that a spreadsheet would run starts with '.
    for r in &regions.rows {
        for col in ["process", "path"] {
            let c = regions.get(r, col);
            if let Some(first) = c.bytes().next() {
                assert!(
                    !b"=+-@\t\r".contains(&first),
                    "{col}: {c:?} would run as a formula"
                );
            }
        }
    }
    // The report a person reads carries no control character: no cursor move, no forged line.
    let report = std::fs::read(dir.path().join("report.txt")).unwrap();
    assert!(
        report
            .iter()
            .all(|&b| b == b'\n' || (b >= 0x20 && b != 0x7f)),
        "control bytes in the report"
    );
    let text = String::from_utf8(report).unwrap();
    assert!(!text.chars().any(|c| c.is_control() && c != '\n'));
    assert!(text.contains("=1+2\\x09\\x1b[2J\\xff"), "{text}");

    // formula_guard = false writes the cell as it is (still reversibly escaped).
    let raw = tempfile::tempdir().unwrap();
    let out = run_pipeline(raw.path(), "formula_guard = false", &[target.pid()]);
    assert!(out.status.success());
    let procs = Table::read(&raw.path().join("out/processes.csv"));
    let name = procs.get(procs.rows_for(target.pid())[0], "name");
    assert!(name.starts_with('='));
    assert_eq!(unescape(name).unwrap(), NAME);
}

fn target_cmdline(pid: u32) -> Vec<u8> {
    std::fs::read(format!("/proc/{pid}/cmdline")).unwrap()
}

/// Unmounts when dropped.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn mount_tmpfs(at: &Path, options: &str) -> Mount {
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", options, "tmpfs"])
        .arg(at)
        .status()
        .unwrap();
    assert!(ok.success(), "mount tmpfs -o {options}");
    Mount(at.to_path_buf())
}

fn all_procs(out: &Path) -> Output {
    vmpipe()
        .arg("run")
        .arg(support::repo().join("pipelines/all-procs.toml"))
        .arg("--out")
        .arg(out)
        .arg("-q")
        .stdout(std::process::Stdio::null())
        .output()
        .unwrap()
}

fn left_in(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn a_full_disk_and_a_read_only_one_fail_clearly_and_leave_nothing() {
    support::require_root("it mounts tmpfs file systems");
    let base = tempfile::tempdir().unwrap();
    let full = base.path().join("full");
    std::fs::create_dir(&full).unwrap();
    let _m = mount_tmpfs(&full, "size=16k");
    let out = all_procs(&full.join("out"));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains(full.to_str().unwrap()), "{err}");
    assert!(
        left_in(&full.join("out")).is_empty(),
        "no partial file: {:?}",
        left_in(&full.join("out"))
    );

    let ro = base.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    let _r = mount_tmpfs(&ro, "ro,size=1m");
    let out = all_procs(&ro.join("out"));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Read-only file system"), "{err}");
}

#[test]
fn a_link_planted_at_the_output_path_is_not_followed_as_root() {
    support::require_root("the protection applies to root");
    support::require_tool("setpriv", "util-linux");
    let shared = tempfile::tempdir().unwrap();
    support::set_mode(shared.path(), 0o1777);
    let victim = tempfile::tempdir().unwrap();
    let planted = shared.path().join("out");
    // Another user plants a link where the sweep will write.
    let ln = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "ln",
            "-s",
        ])
        .arg(victim.path())
        .arg(&planted)
        .status()
        .unwrap();
    assert!(ln.success());
    let out = all_procs(&planted);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to follow") && err.contains("owned by uid 65534"),
        "{err}"
    );
    assert!(
        left_in(victim.path()).is_empty(),
        "nothing written through the link"
    );
}

#[test]
fn damaged_and_oversized_evidence_is_refused_with_the_limit_named() {
    let dir = tempfile::tempdir().unwrap();
    // A snapshot archive cut in half.
    let snap = dir.path().join("snap.tar.gz");
    let o = vmpipe()
        .arg("snapshot")
        .arg("--out")
        .arg(&snap)
        .args(["--pid", &std::process::id().to_string()])
        .output()
        .unwrap();
    assert!(o.status.success());
    let bytes = std::fs::read(&snap).unwrap();
    let cut = dir.path().join("cut.tar.gz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let run = |input: &Path, pipeline: &str| {
        vmpipe()
            .arg("run")
            .arg(support::repo().join("pipelines").join(pipeline))
            .arg("--input")
            .arg(input)
            .arg("--out")
            .arg(dir.path().join("out"))
            .arg("-q")
            .output()
            .unwrap()
    };
    let o = run(&cut, "capture.toml");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cut.tar.gz"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(left_in(&dir.path().join("out")).is_empty());

    // A smaps larger than any process has (sparse: no disk used), beside an ordinary
    // process: that one process is partial, with an error row naming the limit; the capture
    // is not refused whole (issue 13, finding 9), and the other process is read.
    let big = dir.path().join("big");
    std::fs::create_dir_all(big.join("proc/7")).unwrap();
    std::fs::create_dir_all(big.join("proc/8")).unwrap();
    std::fs::File::create(big.join("proc/7/smaps"))
        .unwrap()
        .set_len(300 << 20)
        .unwrap();
    std::fs::write(
        big.join("proc/8/maps"),
        "00400000-00401000 r-xp 00000000 00:00 0 \n",
    )
    .unwrap();
    let o = run(&big, "capture.toml");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let procs = Table::read(&dir.path().join("out/processes.csv"));
    assert_eq!(procs.get(procs.rows_for(7)[0], "status"), "partial");
    assert_eq!(procs.get(procs.rows_for(8)[0], "status"), "ok");
    assert_eq!(procs.num(procs.rows_for(8)[0], "regions"), Some(1));
    let errors = Table::read(&dir.path().join("out/errors.csv"));
    let named = errors.rows_for(7).iter().any(|r| {
        let e = errors.get(r, "error");
        e.contains("proc/7/smaps") && e.contains("limit of 268435456 bytes")
    });
    assert!(named, "no error row naming the limit for pid 7");
    std::fs::remove_dir_all(dir.path().join("out")).unwrap();

    // A tar bomb: an entry that claims 2 GiB in an archive of 5 KB, refused from its header
    // before any of it is read.
    let mut header = tar::Header::new_gnu();
    header.set_path("proc/1/smaps").unwrap();
    header.set_size(2 << 30);
    header.set_mode(0o644);
    header.set_cksum();
    let mut raw = header.as_bytes().to_vec();
    raw.extend_from_slice(&[0u8; 4096]);
    let bomb = dir.path().join("bomb.tar");
    std::fs::write(&bomb, raw).unwrap();
    let o = run(&bomb, "capture.toml");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("the archive ends inside this member"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // A vmmap report larger than vmpipe reads: not read, its process a partial row naming
    // the limit (a report is one process; the run goes on).
    let report = dir.path().join("huge.vmmap.txt");
    std::fs::File::create(&report)
        .unwrap()
        .set_len((64 << 20) + 1)
        .unwrap();
    let o = run(&report, "vmmap-report.toml");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let processes = Table::read(&dir.path().join("out/processes.csv"));
    assert_eq!(processes.rows.len(), 1);
    assert_eq!(processes.get(&processes.rows[0], "status"), "partial");
    let error = processes.get(&processes.rows[0], "error");
    assert!(
        error.contains("huge.vmmap.txt")
            && error.contains("larger than vmpipe reads of one report (67108864 bytes"),
        "{error}"
    );
}

#[test]
fn a_process_at_the_mapping_limit_is_swept_whole() {
    let target = start_target("manymaps", |_| Vec::new(), &[]);
    target.stop();
    let maps = std::fs::read(format!("/proc/{}/maps", target.pid())).unwrap();
    let lines = maps.iter().filter(|&&b| b == b'\n').count();
    let limit: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(lines + 10 >= limit, "{lines} mappings, limit {limit}");
    let (out, _) = support::sweep(&[target.pid()], &[]);
    let procs = Table::read(&out.path().join("processes.csv"));
    let row = procs.rows_for(target.pid())[0];
    assert_eq!(procs.get(row, "status"), "ok");
    assert_eq!(procs.num(row, "regions"), Some(lines as u64));
}

#[test]
fn plugins_are_never_loaded_from_the_current_directory_implicitly() {
    let cwd = tempfile::tempdir().unwrap();
    std::fs::copy(support::malfind(), cwd.path().join("libcwdonly.so")).unwrap();
    std::fs::write(
        cwd.path().join("p.toml"),
        "[source]\ntype = \"live\"\n[[analyzer]]\nuse = \"cwdonly\"\n[[sink]]\ntype = \"text\"\n",
    )
    .unwrap();
    let o = vmpipe()
        .arg("validate")
        .arg("p.toml")
        .current_dir(cwd.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no analyzer \"cwdonly\""),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Named by path, it is found.
    std::fs::write(
        cwd.path().join("q.toml"),
        "[source]\ntype = \"live\"\n[[analyzer]]\nuse = \"image-attribution\"\n[[analyzer]]\nuse = \"./libcwdonly.so\"\n[[sink]]\ntype = \"text\"\n",
    )
    .unwrap();
    let o = vmpipe()
        .arg("validate")
        .arg("q.toml")
        .arg("--allow-untrusted-plugins")
        .current_dir(cwd.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `/proc/PID/mem` refused while the map is readable (what Yama's ptrace_scope=1 gives):
/// built here in a private mount namespace by covering the file with a root-only one. The
/// sweep succeeds and says, per finding, that the bytes could not be read.
#[test]
fn unreadable_process_memory_is_said_per_finding_and_the_run_succeeds() {
    support::require_root("it bind-mounts in a new mount namespace and runs as nobody");
    support::require_tool("unshare", "util-linux");
    support::require_tool("setpriv", "util-linux");
    let nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    let target = start_target("injtarget", |_| Vec::new(), &nobody);
    target.stop();
    let dir = tempfile::tempdir().unwrap();
    support::set_mode(dir.path(), 0o777);
    let lib = dir.path().join("libmalfind.so");
    std::fs::copy(support::malfind(), &lib).unwrap();
    support::set_mode(&lib, 0o755);
    let file = dir.path().join("p.toml");
    std::fs::write(
        &file,
        format!(
            "[source]\ntype = \"live\"\n[[analyzer]]\nuse = \"image-attribution\"\n[[analyzer]]\nuse = {:?}\n[[sink]]\ntype = \"csv\"\ndir = {:?}\n",
            lib.to_str().unwrap(),
            dir.path().join("out").to_str().unwrap()
        ),
    )
    .unwrap();
    support::set_mode(&file, 0o644);
    let cover = dir.path().join("cover");
    std::fs::write(&cover, "").unwrap();
    support::set_mode(&cover, 0o000);
    let pid = target.pid().to_string();
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind \"$1\" \"/proc/$2/mem\" && shift 2 && exec \"$@\"")
        .arg("sh")
        .arg(&cover)
        .arg(&pid)
        .args(nobody)
        .arg(env!("CARGO_BIN_EXE_vmpipe"))
        .arg("run")
        .arg(&file)
        .args(["-q", "--pid", &pid])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let findings = Table::read(&dir.path().join("out/findings.csv"));
    let rows = findings.rows_for(target.pid());
    assert_eq!(
        rows.len(),
        2,
        "both injected regions are still found from the map"
    );
    for r in rows {
        assert_eq!(findings.get(r, "first_bytes_hex"), "");
        assert_eq!(
            findings.get(r, "looks_like"),
            "unread: reading process memory was refused"
        );
    }
    let procs = Table::read(&dir.path().join("out/processes.csv"));
    assert_eq!(procs.get(procs.rows_for(target.pid())[0], "status"), "ok");
}
