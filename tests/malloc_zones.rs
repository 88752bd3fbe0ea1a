//! The malloc-zones analyzer end to end: glibc arenas read out of a stopped process equal what
//! the process's own `malloc_info` printed; processes without glibc malloc are `unsupported`
//! with no numbers; without memory access the zones come from the regions alone.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use support::{Table, build_plugin, set_mode, start_dynamic_target, start_target};

const NOBODY: &[&str] = &[
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
];
const HEAP_MAX: u64 = 64 << 20;
/// The columns that come from malloc's own structures: absent unless they were read.
const ALLOCATION_COLUMNS: &[&str] = &[
    "allocation_count",
    "bytes_allocated",
    "bytes_free",
    "top_size",
    "pct_full",
    "pct_frag",
    "system_mem",
];

fn plugin() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| build_plugin(&["-p", "vmpipe-malloc-zones"], "libmalloc_zones.so"))
}

/// Writes a pipeline running the analyzer into `dir/out`.
fn pipeline(dir: &Path) -> PathBuf {
    let file = dir.join("p.toml");
    std::fs::write(
        &file,
        format!(
            "[source]\ntype = \"live\"\ndetail = \"smaps\"\n\n[[analyzer]]\nuse = {:?}\n\n[[sink]]\ntype = \"csv\"\ndir = {:?}\n",
            plugin().to_str().unwrap(),
            dir.join("out").to_str().unwrap()
        ),
    )
    .unwrap();
    file
}

/// Runs vmpipe over `pids` (through `wrapper`, e.g. `setpriv …`) into a fresh directory.
fn run(wrapper: &[&str], pids: &[u32]) -> (tempfile::TempDir, Output) {
    let dir = tempfile::tempdir().unwrap();
    set_mode(dir.path(), 0o777);
    let file = pipeline(dir.path());
    let mut cmd = match wrapper.split_first() {
        Some((w, rest)) => {
            let mut c = Command::new(w);
            c.args(rest).arg(env!("CARGO_BIN_EXE_vmpipe"));
            c
        }
        None => support::vmpipe(),
    };
    cmd.arg("run").arg(&file).arg("-q");
    for p in pids {
        cmd.arg("--pid").arg(p.to_string());
    }
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    assert!(
        out.status.success(),
        "vmpipe failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    (dir, out)
}

/// The value of `name="…"` in a malloc_info line.
fn attr(line: &str, name: &str) -> Option<u64> {
    let at = line.find(&format!("{name}=\""))? + name.len() + 2;
    let rest = &line[at..];
    rest[..rest.find('"')?].parse().ok()
}

/// One `<heap>` of malloc_info.
#[derive(Clone, Copy, Debug, Default)]
struct MiHeap {
    fast_count: u64,
    fast_size: u64,
    rest_count: u64,
    rest_size: u64,
    system: u64,
}

impl MiHeap {
    /// The true free bytes. malloc_info's `rest` adds each bin chunk's raw size field,
    /// PREV_INUSE bit (always set on a chunk in a bin) included, so it is one byte per bin
    /// chunk above the byte count; its `rest` count is the bin chunks plus the top chunk.
    fn free_bytes(&self) -> u64 {
        self.fast_size + self.rest_size - (self.rest_count - 1)
    }
}

/// What malloc_info printed: the heaps in order, and the mmap total (count, size).
fn malloc_info(lines: &[String]) -> (Vec<MiHeap>, (u64, u64)) {
    let mut heaps = Vec::new();
    let mut cur: Option<MiHeap> = None;
    let mut mmap = None;
    for l in lines {
        if l.starts_with("<heap nr=") {
            cur = Some(MiHeap::default());
        } else if l.starts_with("</heap>") {
            heaps.push(cur.take().expect("heap open"));
        } else if let Some(h) = cur.as_mut() {
            if l.starts_with("<total type=\"fast\"") {
                h.fast_count = attr(l, "count").unwrap();
                h.fast_size = attr(l, "size").unwrap();
            } else if l.starts_with("<total type=\"rest\"") {
                h.rest_count = attr(l, "count").unwrap();
                h.rest_size = attr(l, "size").unwrap();
            } else if l.starts_with("<system type=\"current\"") {
                h.system = attr(l, "size").unwrap();
            }
        } else if l.starts_with("<total type=\"mmap\"") {
            mmap = Some((attr(l, "count").unwrap(), attr(l, "size").unwrap()));
        }
    }
    (heaps, mmap.expect("malloc_info's mmap total"))
}

fn hex(s: &str) -> u64 {
    u64::from_str_radix(s, 16).unwrap()
}

#[test]
fn glibc_arenas_equal_malloc_info() {
    support::require_root("reading another process's memory needs ptrace access");
    let target = start_dynamic_target("malloctarget", |_| Vec::new(), &[]);
    target.stop();
    let (dir, _) = run(&[], &[target.pid()]);
    let zones = Table::read(&dir.path().join("out/malloc_zones.csv"));
    let regions = Table::read(&dir.path().join("out/regions.csv"));
    let rows = zones.rows_for(target.pid());
    let by_name: BTreeMap<&str, &csv::StringRecord> =
        rows.iter().map(|r| (zones.get(r, "zone"), *r)).collect();
    assert_eq!(by_name.len(), rows.len(), "zone names are unique");
    let num = |r: &csv::StringRecord, c: &str| {
        zones
            .num(r, c)
            .unwrap_or_else(|| panic!("{} has no {c}", zones.get(r, "zone")))
    };
    for r in &rows {
        assert_eq!(zones.get(r, "allocator"), "glibc");
        assert_eq!(zones.get(r, "status"), "ok", "{r:?}");
    }

    let (heaps, (mmap_count, mmap_size)) = malloc_info(&target.lines);
    assert_eq!(heaps.len(), 4, "the main arena and one per thread");
    assert!(
        heaps.iter().all(|h| h.fast_count > 0 && h.rest_count > 1),
        "the target leaves chunks in fast bins and bins of every arena: {heaps:?}"
    );

    // Arenas: the main one is malloc_info's heap 0; the thread arenas are matched as a set,
    // each one's (free bytes, system size) being distinct by construction.
    let arenas: Vec<&csv::StringRecord> = rows
        .iter()
        .copied()
        .filter(|r| {
            let z = zones.get(r, "zone");
            z == "main_arena" || z.starts_with("arena_0x")
        })
        .collect();
    assert_eq!(arenas.len(), heaps.len(), "one row per arena");
    let main = by_name["main_arena"];
    assert_eq!(
        num(main, "bytes_free"),
        heaps[0].free_bytes(),
        "main arena free bytes"
    );
    assert_eq!(
        num(main, "system_mem"),
        heaps[0].system,
        "main arena system size"
    );
    assert_eq!(
        num(main, "bytes_allocated") + num(main, "bytes_free"),
        num(main, "system_mem"),
        "every byte of the main heap is a chunk: allocated or free"
    );
    let mut want: Vec<(u64, u64)> = heaps.iter().map(|h| (h.free_bytes(), h.system)).collect();
    let mut got: Vec<(u64, u64)> = arenas
        .iter()
        .map(|r| (num(r, "bytes_free"), num(r, "system_mem")))
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got, want, "(free bytes, system size) of every arena");
    for r in &arenas {
        let (free, top, sys) = (
            num(r, "bytes_free"),
            num(r, "top_size"),
            num(r, "system_mem"),
        );
        assert!(top > 0 && top <= free);
        assert!(num(r, "bytes_allocated") + free <= sys);
        assert!(sys <= num(r, "committed") && num(r, "committed") <= num(r, "virtual"));
        assert!(zones.get(r, "pct_full").parse::<f64>().unwrap() > 0.0);
        assert!(!zones.get(r, "pct_frag").is_empty());
        assert_eq!(zones.get(r, "reason"), "");
        if zones.get(r, "zone") != "main_arena" {
            assert_eq!(
                num(r, "virtual"),
                HEAP_MAX,
                "one 64 MiB heap per thread arena"
            );
        }
    }

    // Allocation counts: at least the allocations the target holds in each arena (libc's
    // own, and chunks cached in tcache, come on top). The zone holding a thread's sample
    // allocation is found through the region column.
    let zone_of = |addr: u64| -> String {
        let r = regions
            .rows_for(target.pid())
            .into_iter()
            .find(|r| {
                regions.num(r, "start").unwrap() <= addr && addr < regions.num(r, "end").unwrap()
            })
            .unwrap_or_else(|| panic!("no region holds {addr:#x}"));
        regions.get(r, "malloc_zone").to_string()
    };
    let mut live_threads = 0;
    for l in &target.lines {
        let f: Vec<&str> = l.split(' ').collect();
        if let ["live", k, count, ptr] = f[..] {
            let zone = zone_of(hex(ptr));
            if k == "0" {
                assert_eq!(zone, "main_arena");
            } else {
                assert!(zone.starts_with("arena_0x"), "thread {k}: {zone}");
                live_threads += 1;
            }
            let count: u64 = count.parse().unwrap();
            let ours = num(by_name[zone.as_str()], "allocation_count");
            assert!(
                ours >= count,
                "{zone}: {ours} allocations < the {count} thread {k} holds"
            );
        }
    }
    assert_eq!(live_threads, 3);
    let thread_zones: BTreeSet<String> = target
        .lines
        .iter()
        .filter(|l| l.starts_with("live ") && !l.starts_with("live 0 "))
        .map(|l| zone_of(hex(l.rsplit(' ').next().unwrap())))
        .collect();
    assert_eq!(thread_zones.len(), 3, "each thread has its own arena");

    // Mmapped chunks: exactly the live ones (chunk = user pointer - 16), not the freed one,
    // and as many, as large, as malloc_info's mmap total.
    let want: BTreeSet<u64> = target
        .lines
        .iter()
        .filter_map(|l| l.strip_prefix("mmapped "))
        .map(|l| hex(l.split(' ').next().unwrap()) - 16)
        .collect();
    let gone = target
        .lines
        .iter()
        .find_map(|l| l.strip_prefix("unmapped "))
        .map(|a| hex(a) - 16)
        .unwrap();
    let chunks: Vec<&csv::StringRecord> = rows
        .iter()
        .copied()
        .filter(|r| zones.get(r, "zone").starts_with("mmapped_chunk_0x"))
        .collect();
    let got: BTreeSet<u64> = chunks
        .iter()
        .map(|r| hex(zones.get(r, "zone").trim_start_matches("mmapped_chunk_0x")))
        .collect();
    assert_eq!(got, want);
    assert!(!got.contains(&gone));
    assert_eq!(chunks.len() as u64, mmap_count);
    assert_eq!(
        chunks.iter().map(|r| num(r, "system_mem")).sum::<u64>(),
        mmap_size
    );
    for r in &chunks {
        assert_eq!(num(r, "allocation_count"), 1);
        assert_eq!(num(r, "bytes_allocated"), num(r, "virtual"));
        assert_eq!(num(r, "bytes_free"), 0);
        assert_eq!(zones.get(r, "top_size"), "");
    }
    assert_eq!(rows.len(), arenas.len() + chunks.len(), "no other rows");
}

/// Builds `tests/targets/NAME.c` with `musl-gcc -static` and starts it; waits for `ready`.
fn start_musl(name: &str) -> (std::process::Child, tempfile::TempDir) {
    support::require_tool("musl-gcc", "musl-tools");
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join(name);
    let src = support::repo().join(format!("tests/targets/{name}.c"));
    let out = Command::new("musl-gcc")
        .args(["-static", "-O1", "-Wall", "-o"])
        .arg(&exe)
        .arg(&src)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "musl-gcc {}: {}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut child = Command::new(&exe).stdout(Stdio::piped()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|l| l == "ready");
    assert!(ready, "{name} did not get ready");
    (child, dir)
}

#[test]
fn processes_without_glibc_malloc_are_unsupported_without_numbers() {
    support::require_root("reading another process's memory needs ptrace access");
    support::require_tool("nm", "binutils");
    let (mut musl, _dir) = start_musl("musltarget");
    let musl_pid = musl.id();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(musl_pid as i32).unwrap(),
        rustix::process::Signal::STOP,
    )
    .unwrap();
    // A statically linked glibc program: no libc.so.6, so no version banner to confirm the
    // layout; its main_arena is found (at the address its symbol table gives) but not read.
    let static_glibc = start_target("threadtarget", |_| Vec::new(), &[]);
    static_glibc.stop();
    let (dir, _) = run(&[], &[musl_pid, static_glibc.pid()]);
    let _ = musl.kill();
    let _ = musl.wait();

    let zones = Table::read(&dir.path().join("out/malloc_zones.csv"));
    let musl_rows = zones.rows_for(musl_pid);
    assert_eq!(musl_rows.len(), 1, "one row says why");
    let r = musl_rows[0];
    assert_eq!(zones.get(r, "zone"), "unknown");
    assert_eq!(zones.get(r, "allocator"), "unknown");
    assert_eq!(zones.get(r, "status"), "unsupported");
    assert!(zones.get(r, "reason").contains("libc.so.6 is not mapped"));
    for c in ALLOCATION_COLUMNS
        .iter()
        .chain(&["virtual", "committed", "resident"])
    {
        assert_eq!(zones.get(r, c), "", "{c}: absent, not 0");
    }

    let nm = Command::new("nm")
        .arg(support::static_target("threadtarget"))
        .output()
        .unwrap();
    let symbols = String::from_utf8_lossy(&nm.stdout);
    let main_arena = symbols
        .lines()
        .find_map(|l| l.strip_suffix(" d main_arena"))
        .map(hex)
        .expect("nm lists main_arena");
    let rows = zones.rows_for(static_glibc.pid());
    assert!(!rows.is_empty());
    for r in &rows {
        assert_eq!(zones.get(r, "allocator"), "glibc");
        assert_eq!(zones.get(r, "status"), "unsupported");
        assert!(
            zones
                .get(r, "reason")
                .contains(&format!("main_arena at {main_arena:#x}")),
            "{}",
            zones.get(r, "reason")
        );
        for c in ALLOCATION_COLUMNS {
            assert_eq!(zones.get(r, c), "", "{c}: absent, not 0");
        }
    }
}

#[test]
fn without_memory_access_zones_come_from_the_regions() {
    // On this machine (no Yama LSM) nobody may read the memory of its own processes: vmpipe
    // run as nobody over a target run as nobody would read everything. So the refusal is
    // built: in a private mount namespace, /proc/PID/mem is covered by a root-only file, and
    // vmpipe, as nobody, gets EACCES opening it — what Yama's ptrace_scope=1 would give —
    // while /proc/PID/smaps stays readable.
    support::require_root("it starts processes as nobody and bind-mounts in a new namespace");
    support::require_tool("setpriv", "util-linux");
    support::require_tool("unshare", "util-linux");
    let target = start_dynamic_target("malloctarget", |_| Vec::new(), NOBODY);
    target.stop();
    let cover = tempfile::NamedTempFile::new().unwrap();
    set_mode(cover.path(), 0o000);
    let pid = target.pid().to_string();
    let mut wrapper = vec![
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        "mount --bind \"$1\" \"/proc/$2/mem\" && shift 2 && exec \"$@\"",
        "sh",
        cover.path().to_str().unwrap(),
        pid.as_str(),
    ];
    wrapper.extend_from_slice(NOBODY);
    let (dir, _) = run(&wrapper, &[target.pid()]);

    let zones = Table::read(&dir.path().join("out/malloc_zones.csv"));
    let regions = Table::read(&dir.path().join("out/regions.csv"));
    let procs = Table::read(&dir.path().join("out/processes.csv"));
    assert_eq!(procs.get(procs.rows_for(target.pid())[0], "status"), "ok");
    let rows = zones.rows_for(target.pid());
    let region_rows = regions.rows_for(target.pid());
    let mut blocks = 0;
    for r in &rows {
        let zone = zones.get(r, "zone");
        assert_eq!(zones.get(r, "allocator"), "glibc");
        assert_eq!(zones.get(r, "status"), "no-memory");
        assert!(
            zones.get(r, "reason").contains("refused"),
            "{}",
            zones.get(r, "reason")
        );
        for c in ALLOCATION_COLUMNS {
            assert_eq!(zones.get(r, c), "", "{zone} {c}: absent, not 0");
        }
        // The figures are the sums over the regions the region column puts in the zone.
        let mine: Vec<&&csv::StringRecord> = region_rows
            .iter()
            .filter(|x| regions.get(x, "malloc_zone") == zone)
            .collect();
        assert!(!mine.is_empty(), "{zone} has regions");
        let sum = |f: &dyn Fn(&csv::StringRecord) -> u64| mine.iter().map(|x| f(x)).sum::<u64>();
        let n = |x: &csv::StringRecord, c: &str| regions.num(x, c).unwrap();
        assert_eq!(
            zones.num(r, "virtual"),
            Some(sum(&|x| n(x, "size"))),
            "{zone}"
        );
        assert_eq!(
            zones.num(r, "resident"),
            Some(sum(&|x| n(x, "rss"))),
            "{zone}"
        );
        assert_eq!(
            zones.num(r, "dirty"),
            Some(sum(&|x| n(x, "private_dirty") + n(x, "shared_dirty"))),
            "{zone}"
        );
        assert_eq!(
            zones.num(r, "swapped"),
            Some(sum(&|x| n(x, "swap"))),
            "{zone}"
        );
        let rw = sum(&|x| {
            if regions.get(x, "perms").starts_with("rw") {
                n(x, "size")
            } else {
                0
            }
        });
        assert_eq!(zones.num(r, "committed"), Some(rw), "{zone}");
        if zone == "main_arena" {
            assert!(mine.iter().all(|x| regions.get(x, "kind") == "heap"));
        } else {
            assert!(zone.starts_with("heap_0x"), "{zone}");
            assert_eq!(zones.num(r, "virtual"), Some(HEAP_MAX));
            blocks += 1;
        }
    }
    assert_eq!(blocks, 3, "the three thread arenas' heap blocks");
    assert_eq!(rows.len(), 4);
}
