//! vmpipe-loadgen — the benchmark load: N long-lived processes × M distinct mappings each.
//!
//! ```text
//! vmpipe-loadgen [-n PROCS] [-m MAPS] [-t THREADS] [--duration SECS]
//! ```
//!
//! Starts PROCS (default 200) child processes; each maps MAPS (default 300) regions of its
//! own, rotating through anonymous private written and untouched, `PROT_NONE`, read-only
//! views of a few shared files, and `MAP_SHARED` anonymous, each in its own slot of a reserved
//! range with a hole after it (so the kernel cannot merge them), plus THREADS (default 4)
//! parked threads whose stacks and guard pages count among the MAPS. Prints the children's
//! pids, one per line, then `ready`, and waits.
//!
//! Cleanup: the leader makes itself a process group leader; on SIGTERM, SIGINT (even when
//! started in the background, where shells ignore it), SIGHUP (unless ignored, as by nohup), the
//! end of `--duration`, the death of its own parent (`PR_SET_PDEATHSIG`) or of any child, it
//! kills and reaps every child and removes its files. Every child has `PR_SET_PDEATHSIG` =
//! SIGKILL, so it dies with the leader even when the leader is killed with SIGKILL.
//!
//! The children run with `argv[0]` = `vmpipe-loadgen-child`, so `smem -P '^vmpipe-loadgen-child'`
//! selects exactly the load.
#![deny(unsafe_code)]

#[cfg(target_os = "linux")]
mod layout;
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod sys;

#[cfg(target_os = "linux")]
mod linux {
    use std::fs::{self, File};
    use std::io::{self, BufRead, BufReader, Write};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, ExitCode, Stdio};
    use std::time::{Duration, Instant};

    use std::os::unix::process::CommandExt;

    use rustix::process::{self, Pid, Signal};

    use crate::layout::{self, Kind};
    use crate::sys::{self, Fill};

    const USAGE: &str = "usage: vmpipe-loadgen [-n PROCS] [-m MAPS] [-t THREADS] [--duration SECS]

Starts PROCS (default 200) processes with MAPS (default 300) distinct mappings each
(THREADS, default 4, parked threads' stacks and guard pages among them), prints their pids
one per line, then `ready`, and waits until SIGTERM/SIGINT/SIGHUP, the end of --duration or
its parent's death; then kills them all.";

    /// `argv[0]` of every load process (what `smem -P` and `ps` see).
    pub const CHILD_ARGV0: &str = "vmpipe-loadgen-child";
    /// Children started before their readiness is read (bounds open pipes).
    const BATCH: usize = 64;

    struct Options {
        procs: usize,
        maps: usize,
        threads: usize,
        duration: Option<Duration>,
    }

    struct ChildOptions {
        index: usize,
        maps: usize,
        threads: usize,
        files: PathBuf,
        parent: i32,
    }

    pub fn main() -> ExitCode {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let result = if args.first().map(String::as_str) == Some("--child") {
            parse_child(&args[1..]).and_then(|o| child(&o).map_err(|e| e.to_string()))
        } else {
            match parse(&args) {
                Ok(None) => {
                    println!("{USAGE}");
                    return ExitCode::SUCCESS;
                }
                Ok(Some(o)) => leader(&o),
                Err(e) => Err(format!("{e}\n{USAGE}")),
            }
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("vmpipe-loadgen: {e}");
                ExitCode::FAILURE
            }
        }
    }

    fn value<T: std::str::FromStr>(name: &str, v: Option<&String>) -> Result<T, String> {
        v.ok_or_else(|| format!("{name} needs a value"))?
            .parse()
            .map_err(|_| format!("{name}: not a valid number"))
    }

    fn parse(args: &[String]) -> Result<Option<Options>, String> {
        let mut o = Options {
            procs: 200,
            maps: 300,
            threads: 4,
            duration: None,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "-n" | "--procs" => o.procs = value(a, it.next())?,
                "-m" | "--maps" => o.maps = value(a, it.next())?,
                "-t" | "--threads" => o.threads = value(a, it.next())?,
                "--duration" => {
                    let secs: f64 = value(a, it.next())?;
                    o.duration = Some(
                        Duration::try_from_secs_f64(secs).map_err(|_| "--duration: bad value")?,
                    );
                }
                "-h" | "--help" => return Ok(None),
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        if o.procs == 0 {
            return Err("-n must be at least 1".into());
        }
        if o.maps < o.threads * layout::REGIONS_PER_THREAD + 1 {
            return Err("-m must exceed twice the thread count".into());
        }
        Ok(Some(o))
    }

    fn parse_child(args: &[String]) -> Result<ChildOptions, String> {
        match args {
            [index, maps, threads, files, parent] => Ok(ChildOptions {
                index: value("index", Some(index))?,
                maps: value("maps", Some(maps))?,
                threads: value("threads", Some(threads))?,
                files: PathBuf::from(files),
                parent: value("parent", Some(parent))?,
            }),
            _ => Err("--child INDEX MAPS THREADS FILES PARENT".into()),
        }
    }

    /// The running load; dropping it kills and reaps every child and removes the files.
    struct Load {
        children: Vec<Child>,
        dir: PathBuf,
    }

    impl Drop for Load {
        fn drop(&mut self) {
            for c in &mut self.children {
                let _ = c.kill();
            }
            for c in &mut self.children {
                let _ = c.wait();
            }
            let _ = fs::remove_dir_all(&self.dir);
        }
    }

    fn make_files(dir: &Path) -> io::Result<()> {
        fs::create_dir(dir)?;
        let page = sys::page_size();
        for f in 0..layout::FILES {
            let body: Vec<u8> = (0..layout::FILE_PAGES * page)
                .map(|i| b'a' + ((i / page + f) % 26) as u8)
                .collect();
            fs::write(dir.join(format!("file-{f}")), body)?;
        }
        Ok(())
    }

    fn leader(o: &Options) -> Result<(), String> {
        let started = Instant::now();
        // Before any thread or child: signals are only taken through wait_signal.
        let signals = sys::block_signals(&[sys::SIGTERM, sys::SIGINT, sys::SIGHUP, sys::SIGCHLD])
            .map_err(|e| format!("blocking signals: {e}"))?;
        // SIGHUP keeps its disposition: `nohup vmpipe-loadgen` means it.
        for s in [sys::SIGTERM, sys::SIGINT, sys::SIGCHLD] {
            sys::default_disposition(s).map_err(|e| format!("signal {s}: {e}"))?;
        }
        process::set_parent_process_death_signal(Some(Signal::TERM))
            .map_err(|e| format!("PR_SET_PDEATHSIG: {e}"))?;
        if process::getppid().is_none_or(|p| p.as_raw_nonzero().get() == 1) {
            return Err("parent already gone".into());
        }
        // Our own process group (fails harmlessly if we already lead a session).
        let _ = process::setpgid(None, None);
        let me = process::getpid().as_raw_nonzero().get();
        let exe = std::env::current_exe().map_err(|e| format!("own executable: {e}"))?;

        let mut load = Load {
            children: Vec::with_capacity(o.procs),
            dir: std::env::temp_dir().join(format!("vmpipe-loadgen.{me}")),
        };
        make_files(&load.dir).map_err(|e| format!("{}: {e}", load.dir.display()))?;

        for batch in (0..o.procs).collect::<Vec<_>>().chunks(BATCH) {
            let first = load.children.len();
            for &index in batch {
                let child = Command::new(&exe)
                    .arg0(CHILD_ARGV0)
                    .arg("--child")
                    .args([index, o.maps, o.threads].map(|n| n.to_string()))
                    .arg(&load.dir)
                    .arg(me.to_string())
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .spawn()
                    .map_err(|e| format!("starting process {index}: {e}"))?;
                load.children.push(child);
            }
            for c in &mut load.children[first..] {
                let mut line = String::new();
                if let Some(out) = c.stdout.take() {
                    BufReader::new(out)
                        .read_line(&mut line)
                        .map_err(|e| format!("process {}: {e}", c.id()))?;
                }
                if line.trim_end() != "ok" {
                    return Err(format!("process {} failed while mapping", c.id()));
                }
            }
        }

        let mut out = io::stdout().lock();
        for c in &load.children {
            writeln!(out, "{}", c.id()).map_err(|e| format!("stdout: {e}"))?;
        }
        writeln!(out, "ready")
            .and_then(|()| out.flush())
            .map_err(|e| format!("stdout: {e}"))?;
        drop(out);
        let regions = fs::read(format!("/proc/{}/maps", load.children[0].id()))
            .map(|m| m.iter().filter(|&&b| b == b'\n').count())
            .unwrap_or(0);
        eprintln!(
            "vmpipe-loadgen: {} processes ready in {:.1}s (group {me}); process {} has {regions} regions",
            o.procs,
            started.elapsed().as_secs_f64(),
            load.children[0].id(),
        );

        let deadline = o.duration.map(|d| Instant::now() + d);
        loop {
            let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if timeout == Some(Duration::ZERO) {
                return Ok(());
            }
            match sys::wait_signal(&signals, timeout).map_err(|e| format!("waiting: {e}"))? {
                Some(sys::SIGCHLD) => {
                    for c in &mut load.children {
                        if let Ok(Some(status)) = c.try_wait() {
                            return Err(format!("load process {} ended: {status}", c.id()));
                        }
                    }
                }
                Some(_) => return Ok(()),
                None => {}
            }
        }
    }

    fn child(o: &ChildOptions) -> io::Result<()> {
        process::set_parent_process_death_signal(Some(Signal::KILL))?;
        // The leader may have died before the line above: then we were reparented.
        if process::getppid() != Pid::from_raw(o.parent) {
            return Err(io::Error::other("leader gone"));
        }
        let page = sys::page_size();
        let files = (0..layout::FILES)
            .map(|f| File::open(o.files.join(format!("file-{f}"))))
            .collect::<io::Result<Vec<_>>>()?;
        let plan = layout::plan(o.index, o.maps, o.threads);
        let slots: Vec<(usize, Fill<'_>)> = plan
            .iter()
            .map(|s| {
                let fill = match s.kind {
                    Kind::AnonTouched => Fill::AnonPrivate { touch: true },
                    Kind::AnonUntouched => Fill::AnonPrivate { touch: false },
                    Kind::ProtNone => Fill::ProtNone,
                    Kind::SharedAnon => Fill::AnonShared,
                    Kind::FileRead => Fill::FileRead {
                        file: &files[s.file],
                        offset: (s.file_page * page) as u64,
                    },
                };
                (s.pages * page, fill)
            })
            .collect();
        sys::map_slots(layout::STRIDE_PAGES * page, &slots)?;
        drop(files);
        for _ in 0..o.threads {
            std::thread::Builder::new()
                .stack_size(layout::THREAD_STACK)
                .spawn(park_forever)?;
        }
        let mut out = io::stdout().lock();
        writeln!(out, "ok")?;
        out.flush()?;
        drop(out);
        park_forever()
    }

    fn park_forever() -> ! {
        loop {
            std::thread::park();
        }
    }
}

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    linux::main()
}

#[cfg(not(target_os = "linux"))]
fn main() -> std::process::ExitCode {
    eprintln!("vmpipe-loadgen: Linux only (/proc, prctl)");
    std::process::ExitCode::FAILURE
}
