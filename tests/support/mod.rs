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

/// The vmpipe binary cargo built for these tests, or the one `VMPIPE_BIN` names (to run the
/// tests against another build, e.g. an old one to see a test fail).
pub fn vmpipe() -> Command {
    Command::new(vmpipe_path())
}

/// The path of the binary [`vmpipe`] runs.
pub fn vmpipe_path() -> PathBuf {
    std::env::var_os("VMPIPE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_vmpipe")))
}

/// One run of vmpipe measured: what it printed, how it ended, its wall time and its peak
/// resident set (the child's `ru_maxrss`, as `/usr/bin/time -f %M` reports it).
pub struct Measured {
    /// Its output; `status` is `/usr/bin/time`'s, which is vmpipe's own.
    pub output: Output,
    /// Wall time.
    pub wall: Duration,
    /// Peak RSS in bytes.
    pub peak_rss: u64,
    /// Killed because it ran past the deadline.
    pub timed_out: bool,
}

impl Measured {
    /// Standard error as text.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// The target of issue 13 for a hostile input: finished within 10 s, peak RSS at most
    /// 256 MiB, no crash (no abort, no segfault), and a message naming `expect` on standard
    /// error (when `expect` is not empty).
    pub fn assert_bounded(&self, what: &str, expect: &str) {
        assert!(
            !self.timed_out,
            "{what}: still running after the deadline (killed)"
        );
        let err = self.stderr();
        let code = self.output.status.code();
        assert!(
            !matches!(code, Some(134 | 139)) && code.is_some(),
            "{what}: crashed ({:?}): {err}",
            self.output.status
        );
        assert!(
            !err.contains("terminated by signal"),
            "{what}: crashed: {err}"
        );
        assert!(
            self.wall <= Duration::from_secs(10),
            "{what}: took {:?} (limit 10 s)",
            self.wall
        );
        assert!(
            self.peak_rss <= 256 << 20,
            "{what}: peak RSS {} MiB (limit 256 MiB)",
            self.peak_rss >> 20
        );
        assert!(
            err.contains(expect),
            "{what}: expected {expect:?} in: {err}"
        );
    }
}

/// Runs vmpipe with `args` under `/usr/bin/time`, killing it (its whole process group)
/// after `deadline`. Its address space is capped at 8 GiB (`prlimit --as`): far above the
/// 256 MiB target, it only keeps a build that balloons (an old one) from taking the
/// machine's memory; reaching it aborts, which fails the test as a crash.
pub fn run_measured(args: &[&std::ffi::OsStr], deadline: Duration) -> Measured {
    use std::os::unix::process::CommandExt;
    require_tool("time", "time");
    require_tool("prlimit", "util-linux");
    let report = tempfile::NamedTempFile::new().expect("temp file");
    let start = Instant::now();
    let mut child = Command::new("prlimit")
        .arg(format!("--as={}", 8u64 << 30))
        .arg("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(report.path())
        .arg(vmpipe_path())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("run prlimit /usr/bin/time vmpipe");
    // Drain the pipes while waiting, so a chatty child cannot block on a full pipe.
    let mut out_pipe = child.stdout.take().expect("stdout");
    let mut err_pipe = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out_pipe, &mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err_pipe, &mut v);
        v
    });
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > deadline {
            timed_out = true;
            let group = Pid::from_raw(child.id() as i32).expect("pid");
            let _ = rustix::process::kill_process_group(group, Signal::KILL);
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let wall = start.elapsed();
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    let text = std::fs::read_to_string(report.path()).unwrap_or_default();
    // `time` writes "Command terminated by signal N" before the number when it applies.
    let mut stderr = stderr;
    for line in text.lines() {
        if line.contains("terminated by signal") {
            stderr.extend_from_slice(line.as_bytes());
            stderr.push(b'\n');
        }
    }
    let peak_kib: u64 = text
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .next_back()
        .unwrap_or(0);
    Measured {
        output: Output {
            status,
            stdout,
            stderr,
        },
        wall,
        peak_rss: peak_kib * 1024,
        timed_out,
    }
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

/// Starts the dynamically linked build of `tests/targets/PROGRAM.c` with private copies of
/// the dynamic loader and of every library it needs (found with `ldd`; the program is linked
/// with their directory as its interpreter and RPATH). No other process maps those files, so
/// the target's Pss equals its Rss and cannot move while other processes come and go.
pub fn start_private_glibc_target(program: &str) -> Target {
    require_tool("ldd", "libc-bin");
    let built = dynamic_target(program);
    let libs = tempfile::Builder::new()
        .prefix(&format!("vmpipe-{program}-libs-"))
        .tempdir()
        .expect("temp dir")
        .keep();
    set_mode(&libs, 0o755);
    let ldd = Command::new("ldd").arg(&built).output().expect("run ldd");
    let listing = String::from_utf8_lossy(&ldd.stdout).into_owned();
    let mut interpreter = None;
    for line in listing.lines() {
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.trim().split(' ').next().unwrap_or(""),
            None => line.trim().split(' ').next().unwrap_or(""),
        };
        if !path.starts_with('/') {
            continue;
        }
        let name = Path::new(path).file_name().expect("a library file name");
        std::fs::copy(path, libs.join(name)).expect("copy a library");
        if !line.contains("=>") {
            interpreter = Some(libs.join(name));
        }
    }
    let interpreter = interpreter.expect("ldd names the dynamic loader");
    let exe = libs.join(program);
    let src = repo().join("tests/targets").join(format!("{program}.c"));
    let out = Command::new("cc")
        .args(["-pthread", "-O1", "-Wall", "-o"])
        .arg(&exe)
        .arg(&src)
        .arg(format!("-Wl,--dynamic-linker={}", interpreter.display()))
        .arg(format!("-Wl,--disable-new-dtags,-rpath,{}", libs.display()))
        .output()
        .expect("run cc");
    assert!(
        out.status.success(),
        "cc {program} with private libraries: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    start_built(exe, program, |_| Vec::new(), &[])
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
        if let [name, start, end] = f[..]
            && let (Some(s), Some(e)) = (hex(start), hex(end))
        {
            mappings.insert(name.to_string(), (s, e));
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
    build_plugin_in("plugins", args, lib)
}

/// Like [`build_plugin`], into the tests' target directory `name`: for a build whose
/// settings differ (`--config …`), which must not overwrite the usual one.
pub fn build_plugin_in(name: &str, args: &[&str], lib: &str) -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
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

/// Compiles C plugin sources against the SDK's header (`plugins/sdk/include`) into the shared
/// library `out`, as strict C11 with every warning an error; `args` go after the sources
/// (defines, link flags).
pub fn cc_plugin(out: &Path, sources: &[&Path], args: &[&str]) {
    require_tool("cc", "gcc");
    let o = Command::new("cc")
        .args(["-std=c11", "-pedantic", "-Wall", "-Wextra", "-Werror"])
        .args(["-shared", "-fPIC", "-I"])
        .arg(repo().join("plugins/sdk/include"))
        .arg("-o")
        .arg(out)
        .args(sources)
        .args(args)
        .output()
        .expect("run cc");
    assert!(
        o.status.success(),
        "cc {}: {}",
        out.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}
