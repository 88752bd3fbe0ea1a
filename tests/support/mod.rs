//! Shared helpers of the end-to-end tests: build and run test processes, run the real vmpipe
//! binary, read its CSV back.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

/// The vmpipe binary cargo built for these tests.
pub fn vmpipe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vmpipe"))
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Fails the test with a clear message unless `tool` is on PATH.
pub fn require_tool(tool: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "this test needs `{tool}` (Debian package `{package}`): apt-get install {package}"
    );
}

/// Fails the test with a clear message unless it runs as root.
pub fn require_root(why: &str) {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test must run as root: {why}"
    );
}

/// Builds `tests/targets/NAME.c` statically, once per test binary, at a unique path.
pub fn static_target(name: &str) -> PathBuf {
    build_target(name, true)
}

/// Builds `tests/targets/NAME.c` as an ordinary dynamically linked PIE.
pub fn dynamic_target(name: &str) -> PathBuf {
    build_target(name, false)
}

fn build_target(name: &str, link_static: bool) -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    require_tool("cc", "gcc");
    let dir = DIR.get_or_init(|| {
        let d = tempfile::Builder::new()
            .prefix("vmpipe-targets-")
            .tempdir()
            .expect("temp dir");
        // Readable by an unprivileged user too (the denied-process test runs vmpipe as nobody).
        set_mode(d.path(), 0o755);
        d
    });
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let kind = if link_static { "static" } else { "dynamic" };
    let exe = dir
        .path()
        .join(format!("{name}-{kind}-{}", std::process::id()));
    if !exe.exists() {
        let src = repo().join("tests/targets").join(format!("{name}.c"));
        let mut cc = Command::new("cc");
        if link_static {
            cc.arg("-static");
        }
        let out = cc
            .args(["-pthread", "-O1", "-Wall", "-o"])
            .arg(&exe)
            .arg(&src)
            .output()
            .expect("run cc");
        assert!(
            out.status.success(),
            "cc ({kind}) {} failed (is libc6-dev installed?):\n{}",
            src.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    exe
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A running test process; killed and reaped when dropped.
pub struct Target {
    pub child: Child,
    /// What it printed before `ready`: mapping name → (start, end), from its
    /// `NAME START END` lines.
    pub mappings: HashMap<String, (u64, u64)>,
    /// Every line it printed before `ready`.
    pub lines: Vec<String>,
    pub dir: tempfile::TempDir,
}

impl Target {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops it (SIGSTOP) and waits until the kernel reports it stopped.
    pub fn stop(&self) {
        let pid = Pid::from_raw(self.pid() as i32).expect("pid");
        kill_process(pid, Signal::STOP).expect("SIGSTOP");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // The name in stat may be any bytes: read bytes, take the letter after the last ')'.
            let stat = std::fs::read(format!("/proc/{}/stat", self.pid())).unwrap();
            let close = stat.iter().rposition(|&b| b == b')').unwrap_or(0);
            if stat.get(close + 2) == Some(&b'T') {
                return;
            }
            assert!(Instant::now() < deadline, "target did not stop");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The file names the map target creates (a space, a comma, a newline, invalid UTF-8).
pub const RO_NAME: &[u8] = b"data file, with\nnewline and \xff\xfe bytes.bin";
pub const DELETED_NAME: &[u8] = b"gone.bin";

/// Starts the static map target (optionally through a wrapper such as `setpriv ...`), waits
/// for `ready`, and returns it running.
pub fn start_map_target(wrapper: &[&str]) -> Target {
    start_map_target_with(wrapper, RO_NAME)
}

/// Like [`start_map_target`], with another name for the read-only file.
pub fn start_map_target_with(wrapper: &[&str], ro_name: &[u8]) -> Target {
    use std::os::unix::ffi::OsStrExt;
    let t = start_target(
        "maptarget",
        |dir| {
            vec![
                dir.as_os_str().to_owned(),
                std::ffi::OsStr::from_bytes(ro_name).to_owned(),
                std::ffi::OsStr::from_bytes(DELETED_NAME).to_owned(),
            ]
        },
        wrapper,
    );
    assert_eq!(t.mappings.len(), 6, "maptarget printed {:?}", t.mappings);
    t
}

/// Starts the static test program `tests/targets/PROGRAM.c` (a private copy of it), with the
/// arguments `args` makes from its temporary directory, optionally through a wrapper such as
/// `setpriv …`; waits for its `ready` line and returns it running, with the mappings it
/// reported (`NAME START END` lines).
pub fn start_target(
    program: &str,
    args: impl Fn(&Path) -> Vec<std::ffi::OsString>,
    wrapper: &[&str],
) -> Target {
    start_built(static_target(program), program, args, wrapper)
}

/// Like [`start_target`], for a dynamically linked build of the program.
pub fn start_dynamic_target(
    program: &str,
    args: impl Fn(&Path) -> Vec<std::ffi::OsString>,
    wrapper: &[&str],
) -> Target {
    start_built(dynamic_target(program), program, args, wrapper)
}

fn start_built(
    built: PathBuf,
    program: &str,
    args: impl Fn(&Path) -> Vec<std::ffi::OsString>,
    wrapper: &[&str],
) -> Target {
    let dir = tempfile::Builder::new()
        .prefix(&format!("vmpipe-{program}-"))
        .tempdir()
        .expect("temp dir");
    set_mode(dir.path(), 0o777);
    // Each target runs its own copy (its own inode, its own page-cache pages): targets started
    // by tests running in parallel would otherwise share text pages, and Pss/USS would move.
    let exe = dir.path().join(program);
    std::fs::copy(&built, &exe).expect("copy target");
    let args = args(dir.path());
    let spawn = || {
        let mut cmd = match wrapper.split_first() {
            Some((w, rest)) => {
                let mut c = Command::new(w);
                c.args(rest).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
    };
    // A process forked by another test thread while the copy was open for writing holds that
    // descriptor until it execs, and exec of the copy then fails with ETXTBSY: retry briefly.
    let mut attempts = 0;
    let mut child = loop {
        match spawn() {
            Err(e) if e.raw_os_error() == Some(26) && attempts < 100 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            other => break other.expect("start test target"),
        }
    };
    let stdout = child.stdout.take().expect("stdout");
    let mut mappings = HashMap::new();
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read target output");
        if line == "ready" {
            break;
        }
        let f: Vec<&str> = line.split(' ').collect();
        let hex = |s: &str| u64::from_str_radix(s, 16).ok();
        if let [name, start, end] = f[..] {
            if let (Some(s), Some(e)) = (hex(start), hex(end)) {
                mappings.insert(name.to_string(), (s, e));
            }
        }
        lines.push(line);
    }
    Target {
        child,
        mappings,
        lines,
        dir,
    }
}

/// Runs vmpipe with `args`; returns its output.
pub fn run(args: &[&str]) -> Output {
    vmpipe().args(args).output().expect("run vmpipe")
}

/// Runs the all-procs pipeline over `pids` into a fresh directory, asserting success.
pub fn sweep(pids: &[u32], extra: &[&str]) -> (tempfile::TempDir, Output) {
    let out = tempfile::tempdir().expect("temp dir");
    let pipeline = repo().join("pipelines/all-procs.toml");
    let mut cmd = vmpipe();
    cmd.arg("run")
        .arg(&pipeline)
        .arg("--out")
        .arg(out.path())
        .arg("--quiet");
    for pid in pids {
        cmd.arg("--pid").arg(pid.to_string());
    }
    cmd.args(extra);
    let output = cmd.output().expect("run vmpipe");
    assert!(
        output.status.success(),
        "vmpipe failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    (out, output)
}

/// A CSV file read back with the csv crate: header → column index, and the rows.
pub struct Table {
    pub columns: HashMap<String, usize>,
    pub rows: Vec<csv::StringRecord>,
}

impl Table {
    pub fn read(path: &Path) -> Table {
        let mut r =
            csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let columns = r
            .headers()
            .expect("header")
            .iter()
            .enumerate()
            .map(|(i, h)| (h.to_string(), i))
            .collect();
        let rows = r.records().map(|r| r.expect("record")).collect();
        Table { columns, rows }
    }

    pub fn get<'a>(&self, row: &'a csv::StringRecord, column: &str) -> &'a str {
        let i = *self
            .columns
            .get(column)
            .unwrap_or_else(|| panic!("no column {column}"));
        &row[i]
    }

    /// A numeric cell; absent (empty) is `None`.
    pub fn num(&self, row: &csv::StringRecord, column: &str) -> Option<u64> {
        let s = self.get(row, column);
        if s.is_empty() {
            None
        } else if let Some(h) = s.strip_prefix("0x") {
            Some(u64::from_str_radix(h, 16).expect("hex cell"))
        } else {
            Some(s.parse().unwrap_or_else(|_| panic!("{column}={s}")))
        }
    }

    pub fn rows_for(&self, pid: u32) -> Vec<&csv::StringRecord> {
        let p = pid.to_string();
        self.rows
            .iter()
            .filter(|r| self.get(r, "pid") == p)
            .collect()
    }
}

/// Reads a `Name: N kB` file (smaps_rollup) into bytes per name.
pub fn kb_fields(text: &str) -> HashMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let n: u64 = rest.trim().strip_suffix(" kB")?.trim().parse().ok()?;
            Some((name.to_string(), n * 1024))
        })
        .collect()
}

/// Builds a plugin crate into a target directory of the tests' own (so it does not wait on
/// the lock of the `cargo test` that runs us) and returns the library's path.
pub fn build_plugin(args: &[&str], lib: &str) -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugins");
    let out = Command::new(env!("CARGO"))
        .arg("build")
        .args(args)
        .arg("--target-dir")
        .arg(&target)
        .current_dir(repo())
        .output()
        .expect("run cargo build");
    assert!(
        out.status.success(),
        "cargo build {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = target.join("debug").join(lib);
    assert!(path.is_file(), "{} not built", path.display());
    path
}

pub fn malfind() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| build_plugin(&["-p", "vmpipe-malfind"], "libmalfind.so"))
}

/// Runs the shipped pipeline `pipelines/NAME` over the evidence at `input` into a fresh
/// directory, asserting success; returns the directory (CSV files in it).
pub fn run_offline(pipeline: &str, input: &Path) -> tempfile::TempDir {
    let out = tempfile::tempdir().expect("temp dir");
    let run = vmpipe()
        .arg("run")
        .arg(repo().join("pipelines").join(pipeline))
        .arg("--input")
        .arg(input)
        .arg("--out")
        .arg(out.path())
        .arg("-q")
        .stdout(Stdio::null())
        .output()
        .expect("run vmpipe");
    assert!(
        run.status.success(),
        "{pipeline} on {}: {}",
        input.display(),
        String::from_utf8_lossy(&run.stderr)
    );
    out
}

/// What a command cost: its output, its peak resident set (the child's own `ru_maxrss`, as
/// GNU time reports it) and its wall time.
pub struct Measured {
    pub output: Output,
    pub peak_kib: u64,
    pub seconds: f64,
}

/// Runs `cmd` under GNU time (`/usr/bin/time`, Debian package `time`), which waits for it and
/// reports its `ru_maxrss`.
pub fn run_measured(cmd: &Command) -> Measured {
    let time = Path::new("/usr/bin/time");
    assert!(
        time.is_file(),
        "this test needs GNU time (/usr/bin/time, Debian package `time`): apt-get install time"
    );
    let report = tempfile::NamedTempFile::new().expect("temp file");
    let mut timed = Command::new(time);
    timed
        .arg("-f")
        .arg("%M %e")
        .arg("-o")
        .arg(report.path())
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    let output = timed.output().expect("run under GNU time");
    let text = std::fs::read_to_string(report.path()).expect("GNU time's report");
    // The last line is ours (GNU time prints "Command exited with non-zero status" first).
    let last = text.lines().last().unwrap_or("");
    let mut f = last.split(' ');
    let peak_kib = f
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("GNU time said {text:?}"));
    let seconds = f
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("GNU time said {text:?}"));
    Measured {
        output,
        peak_kib,
        seconds,
    }
}
