//! Writing output as root where another user owns the output directory or a directory on its
//! path (issue 13, findings 1–5): nothing is chmodded, written or followed through that user's
//! links, a run's set of files is all or nothing and from one run, and an interrupted or
//! killed run leaves no temporary file behind for long.
//!
//! The attacker is uid 65534 (`nobody`), acting through `setpriv`; its swaps are made by
//! `tests/targets/swapper.c`, which reacts to inotify events at the known points.

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{Table, vmpipe};

const ATTACKER: u32 = 65534;

fn setpriv() -> Command {
    support::require_tool("setpriv", "util-linux");
    let mut c = Command::new("setpriv");
    c.args([
        &format!("--reuid={ATTACKER}"),
        &format!("--regid={ATTACKER}"),
        "--clear-groups",
    ]);
    c
}

/// A directory the attacker owns (reachable by them: mode 0755 on the way).
fn attacker_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    support::set_mode(d.path(), 0o755);
    std::os::unix::fs::chown(d.path(), Some(ATTACKER), Some(ATTACKER)).unwrap();
    d
}

/// A root-only file (0600 in a 0700 directory) the attacker wants chmodded or overwritten.
fn victim_file() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("secret");
    std::fs::write(&f, b"root only\n").unwrap();
    support::set_mode(&f, 0o600);
    (d, f)
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|e| {
            e.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// vmpipe's temporary files (`.NAME.vmpipe-PID-RANDOM.tmp`, or tempfile's `.NAME.XXXXXX.tmp`
/// at 036e0a7) in `dir`.
fn temp_files(dir: &Path) -> Vec<String> {
    names_in(dir)
        .into_iter()
        .filter(|n| n.starts_with('.') && n.ends_with(".tmp"))
        .collect()
}

/// The all-procs pipeline over this test process into `out`.
fn sweep_into(out: &Path) -> Output {
    vmpipe()
        .arg("run")
        .arg(support::repo().join("pipelines/all-procs.toml"))
        .arg("--out")
        .arg(out)
        .args(["-q", "--pid", &std::process::id().to_string()])
        .stdout(Stdio::null())
        .output()
        .unwrap()
}

/// The attacker's swapper watching `dir`, started and ready.
struct Swapper(Child);

impl Swapper {
    fn start(dir: &Path, prefix: &str, event: &str, target: &Path) -> Swapper {
        let exe = support::static_target("swapper");
        let mut child = setpriv()
            .arg(exe)
            .arg(dir)
            .arg(prefix)
            .arg(event)
            .arg(target)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "swapper did not start");
        Swapper(child)
    }

    /// Stops it; how many swaps it made.
    fn stop(mut self) -> usize {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let mut out = String::new();
        if let Some(mut s) = self.0.stdout.take() {
            let _ = std::io::Read::read_to_string(&mut s, &mut out);
        }
        out.lines().filter(|l| l.starts_with("swapped")).count()
    }
}

impl Drop for Swapper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Finding 1. At 036e0a7 the temporary file's mode was set by path after it was closed: the
/// attacker swaps the closed temporary `errors.csv` for a link to a root-only file, and root
/// chmods that file 0644 and renames the link to `errors.csv` (the reviewer: 5 of 5 tries;
/// the swapper reacts to the close itself, so every run is attacked at that point). Then the
/// swap is made at creation instead: vmpipe must notice the name is no longer its file and
/// fail, with nothing chmodded or replaced.
#[test]
fn a_temp_file_swapped_for_a_link_never_makes_root_chmod_or_write_its_target() {
    support::require_root("the attack is on a root run");
    let (_v, victim) = victim_file();
    for (event, runs) in [("close", 5), ("create", 5)] {
        for run in 0..runs {
            let base = attacker_dir();
            let out = base.path().join("out");
            assert!(setpriv().arg("mkdir").arg(&out).status().unwrap().success());
            let swapper = Swapper::start(&out, ".errors.csv.", event, &victim);
            let o = sweep_into(&out);
            let swaps = swapper.stop();
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(
                mode(&victim),
                0o600,
                "{event} #{run}: root chmodded the link's target ({swaps} swaps): {err}"
            );
            assert_eq!(std::fs::read(&victim).unwrap(), b"root only\n");
            let errors = out.join("errors.csv");
            if let Ok(md) = std::fs::symlink_metadata(&errors) {
                assert!(
                    md.file_type().is_file(),
                    "{event} #{run}: errors.csv is the attacker's link"
                );
            }
            if event == "create" {
                assert_eq!(swaps, 1, "the swapper swapped the temporary file");
                assert_eq!(o.status.code(), Some(1), "{err}");
                assert!(err.contains("replaced by someone else"), "{err}");
                assert!(
                    !out.join("regions.csv").exists(),
                    "nothing of the run put in place"
                );
            }
        }
    }
}

/// Finding 3: `--out LINK/`, `--out LINK/.` and a link in a middle component, the link the
/// attacker's, pointing into a root-only directory. At 036e0a7 only the path as typed was
/// lstat'ed, so each of these wrote the CSV files into the root-only directory.
#[test]
fn an_attackers_link_anywhere_on_the_output_path_is_not_followed() {
    support::require_root("the rule is for a privileged run");
    let base = attacker_dir();
    let victim = tempfile::tempdir().unwrap();
    support::set_mode(victim.path(), 0o700);
    let link = base.path().join("link");
    assert!(
        setpriv()
            .arg("ln")
            .arg("-s")
            .arg(victim.path())
            .arg(&link)
            .status()
            .unwrap()
            .success()
    );
    let as_typed = |s: &str| PathBuf::from(format!("{}{s}", link.display()));
    for out in [
        as_typed("/"),
        as_typed("/."),
        link.join("sub"),
        link.join("a/b"),
    ] {
        let o = sweep_into(&out);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "--out {}: {err}", out.display());
        assert!(
            err.contains("refusing to follow") && err.contains(&format!("uid {ATTACKER}")),
            "{err}"
        );
        assert_eq!(
            names_in(victim.path()),
            Vec::<String>::new(),
            "--out {}: written through the link",
            out.display()
        );
    }
    // A report path through the link likewise.
    let pipeline = base.path().join("p.toml");
    let safe = tempfile::tempdir().unwrap();
    std::fs::write(
        &pipeline,
        format!(
            "[source]\ntype = \"live\"\n[[sink]]\ntype = \"csv\"\ndir = {:?}\n[[sink]]\ntype = \"text\"\npath = {:?}\n",
            safe.path().join("csv"),
            link.join("report.txt")
        ),
    )
    .unwrap();
    let o = vmpipe()
        .arg("run")
        .arg(&pipeline)
        .args(["-q", "--pid", &std::process::id().to_string()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("refusing to follow"));
    assert!(names_in(victim.path()).is_empty());
    assert!(
        temp_files(&safe.path().join("csv")).is_empty(),
        "the other sink's temporary files are gone"
    );
}

/// What identifies a file's version: inode and bytes.
fn version(p: &Path) -> (u64, Vec<u8>) {
    (
        std::fs::metadata(p).unwrap().ino(),
        std::fs::read(p).unwrap(),
    )
}

/// Finding 4: a directory planted at `processes.csv`. At 036e0a7 the run failed, but only
/// after `regions.csv` had been replaced: a mixed set. Now every destination is checked before
/// the first rename.
#[test]
fn a_directory_at_one_destination_fails_the_run_before_anything_is_replaced() {
    let base = tempfile::tempdir().unwrap();
    let out = base.path().join("out");
    assert!(sweep_into(&out).status.success());
    let before: Vec<_> = ["regions.csv", "errors.csv", "images.csv"]
        .iter()
        .map(|n| version(&out.join(n)))
        .collect();
    std::fs::remove_file(out.join("processes.csv")).unwrap();
    std::fs::create_dir(out.join("processes.csv")).unwrap();
    let o = sweep_into(&out);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&out.join("processes.csv").display().to_string())
            && err.contains("a directory"),
        "{err}"
    );
    for (n, b) in ["regions.csv", "errors.csv", "images.csv"]
        .iter()
        .zip(&before)
    {
        assert!(
            &version(&out.join(n)) == b,
            "{n} was replaced by the failed run"
        );
    }
    assert!(temp_files(&out).is_empty(), "{:?}", temp_files(&out));
}

/// The pids in every table of `dir` that has a pid column.
fn pids_in(dir: &Path) -> Vec<(String, Vec<String>)> {
    let mut v = Vec::new();
    for n in names_in(dir).into_iter().filter(|n| n.ends_with(".csv")) {
        let t = Table::read(&dir.join(&n));
        if t.columns.contains_key("pid") {
            let mut p: Vec<String> = t.rows.iter().map(|r| t.get(r, "pid").to_string()).collect();
            p.sort();
            p.dedup();
            v.push((n, p));
        }
    }
    v
}

/// A process to sweep; killed when dropped.
struct Sleeper(Child);

impl Sleeper {
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Finding 4: two runs into one directory at once, each over another process. At 036e0a7
/// about 1 in 40 pairs left `regions.csv` of one run with `processes.csv` of the other. Now the
/// second run fails at once on the directory's lock (a clear message), or runs after the
/// first: 100 pairs, and in every one each table holds one run's process only.
#[test]
fn concurrent_runs_into_one_directory_never_mix_their_sets() {
    let sleeper = || Sleeper(Command::new("sleep").arg("600").spawn().unwrap());
    let (a, b) = (sleeper(), sleeper());
    let base = tempfile::tempdir().unwrap();
    let out = base.path().join("out");
    let run = |pid: u32| {
        vmpipe()
            .arg("run")
            .arg(support::repo().join("pipelines/all-procs.toml"))
            .arg("--out")
            .arg(&out)
            .args(["-q", "--pid", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (mut refused, mut both) = (0, 0);
    for i in 0..100 {
        let (ca, cb) = (run(a.pid()), run(b.pid()));
        let (oa, ob) = (
            ca.wait_with_output().unwrap(),
            cb.wait_with_output().unwrap(),
        );
        for o in [&oa, &ob] {
            if !o.status.success() {
                let err = String::from_utf8_lossy(&o.stderr);
                assert!(err.contains("another vmpipe run is writing into"), "{err}");
                refused += 1;
            }
        }
        assert!(oa.status.success() || ob.status.success(), "pair {i}");
        both += usize::from(oa.status.success() && ob.status.success());
        let tables = pids_in(&out);
        let processes = &tables.iter().find(|(n, _)| n == "processes.csv").unwrap().1;
        assert_eq!(processes.len(), 1, "pair {i}: {tables:?}");
        for (name, pids) in &tables {
            assert!(
                pids.is_empty() || pids == processes,
                "pair {i}: {name} holds {pids:?}, processes.csv {processes:?}"
            );
        }
        assert!(temp_files(&out).is_empty(), "pair {i}");
    }
    eprintln!("{refused} runs refused on the lock, {both} pairs ran one after the other");
}

/// A capture of `n` processes (one real smaps, hard-linked), slow enough to interrupt: the
/// debug build takes some 6 ms a process with one thread.
fn big_capture(n: u32) -> tempfile::TempDir {
    let c = tempfile::tempdir().unwrap();
    let first = c.path().join("proc/1");
    std::fs::create_dir_all(&first).unwrap();
    std::fs::write(
        first.join("smaps"),
        std::fs::read("/proc/self/smaps").unwrap(),
    )
    .unwrap();
    for pid in 2..=n {
        let d = c.path().join(format!("proc/{pid}"));
        std::fs::create_dir(&d).unwrap();
        std::fs::hard_link(first.join("smaps"), d.join("smaps")).unwrap();
    }
    c
}

/// Starts a one-thread capture run of `input` into `out` and waits until it is well into the
/// sweep: its temporary `regions.csv` holds more than 1 MB of rows.
fn start_long_run(input: &Path, out: &Path) -> Child {
    let mut child = vmpipe()
        .arg("run")
        .arg(support::repo().join("pipelines/capture.toml"))
        .arg("--input")
        .arg(input)
        .arg("--out")
        .arg(out)
        .args(["-q", "--threads", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let grown = temp_files(out)
            .iter()
            .filter(|n| n.starts_with(".regions.csv."))
            .any(|n| std::fs::metadata(out.join(n)).is_ok_and(|m| m.len() > 1 << 20));
        if grown {
            return child;
        }
        if Instant::now() > deadline || child.try_wait().is_ok_and(|s| s.is_some()) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the run did not get going");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

const PROCESSES: u32 = 6000;

/// Finding 5: SIGTERM and SIGINT in the middle of a run. At 036e0a7 the default action killed
/// vmpipe and its hidden `.regions.csv.*.tmp` files stayed. Now the run stops taking
/// processes, removes every temporary file, leaves the previous run's files as they were, says
/// how far it came and exits 128 + the signal.
#[test]
fn sigterm_and_sigint_mid_run_remove_the_temp_files_and_say_how_far() {
    let input = big_capture(PROCESSES);
    let base = tempfile::tempdir().unwrap();
    let out = base.path().join("out");
    assert!(sweep_into(&out).status.success());
    let before = version(&out.join("regions.csv"));
    for (signal, code) in [
        (rustix::process::Signal::TERM, 143),
        (rustix::process::Signal::INT, 130),
    ] {
        let child = start_long_run(input.path(), &out);
        let pid = rustix::process::Pid::from_child(&child);
        rustix::process::kill_process(pid, signal).unwrap();
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            o.status.code(),
            Some(code),
            "{signal:?}: {:?} {err}",
            o.status
        );
        let done: usize = err
            .trim()
            .strip_prefix("vmpipe: interrupted after ")
            .and_then(|r| r.strip_suffix(&format!(" of {PROCESSES} processes")))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{err}"));
        assert!(done > 0 && done < PROCESSES as usize, "{err}");
        assert_eq!(temp_files(&out), Vec::<String>::new(), "{signal:?}");
        assert!(
            version(&out.join("regions.csv")) == before,
            "{signal:?}: the previous regions.csv was replaced"
        );
    }
}

/// Finding 5: SIGKILL cannot be caught; what it leaves, the next run into the same directory
/// recognises by name and removes (and nothing else: a user's own hidden file stays).
#[test]
fn the_leftovers_of_a_killed_run_are_removed_by_the_next() {
    let input = big_capture(PROCESSES);
    let base = tempfile::tempdir().unwrap();
    let out = base.path().join("out");
    let mut child = start_long_run(input.path(), &out);
    child.kill().unwrap();
    child.wait().unwrap();
    let left = temp_files(&out);
    assert!(
        left.iter().any(|n| n.starts_with(".regions.csv.")),
        "the killed run left its files: {left:?}"
    );
    std::fs::write(out.join(".notes.tmp"), b"mine").unwrap();
    std::fs::write(out.join("keep.txt"), b"mine").unwrap();
    let o = sweep_into(&out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(temp_files(&out), [".notes.tmp"]);
    assert_eq!(std::fs::read(out.join("keep.txt")).unwrap(), b"mine");
}

/// Finding 2: `vmpipe snapshot --out D` with D's parent the attacker's. At 036e0a7 the
/// temporary directory was written and chmodded by path: swapped for a link (the swapper
/// reacts to its creation), the snapshot went into the link's target, which became 0755. Now
/// everything is written through the directory's own descriptor: the target is untouched and
/// the snapshot fails, saying its directory was replaced.
#[test]
fn a_snapshot_directory_swapped_for_a_link_writes_and_chmods_nothing_through_it() {
    support::require_root("the attack is on a root snapshot");
    let victim = tempfile::tempdir().unwrap();
    support::set_mode(victim.path(), 0o700);
    std::fs::write(victim.path().join("marker"), b"x").unwrap();
    for run in 0..5 {
        let base = attacker_dir();
        let swapper = Swapper::start(base.path(), ".snap.", "create", victim.path());
        let o = vmpipe()
            .arg("snapshot")
            .arg("--out")
            .arg(base.path().join("snap"))
            .args(["--pid", &std::process::id().to_string()])
            .output()
            .unwrap();
        let swaps = swapper.stop();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(swaps, 1, "#{run}: the swapper swapped the directory: {err}");
        assert_eq!(
            mode(victim.path()),
            0o700,
            "#{run}: root chmodded the link's target: {err}"
        );
        assert_eq!(names_in(victim.path()), ["marker"], "#{run}: {err}");
        assert_eq!(o.status.code(), Some(1), "#{run}: {err}");
        assert!(
            std::fs::symlink_metadata(base.path().join("snap")).is_err(),
            "#{run}: nothing put at the snapshot's name"
        );
    }
}
