//! The image-attribution built-in against binutils: every region's `segment` must be what the
//! rule in the crate docs gives when applied to `readelf`'s own reading of the mapped file
//! (read through `/proc/PID/map_files`, so deleted and replaced files are read as mapped), and
//! a process's own symbols must land in the parts of its image they were compiled into.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::{Table, start_dynamic_target, start_target, sweep};

const PAGE: u64 = 4096;

fn page_down(v: u64) -> u64 {
    v & !(PAGE - 1)
}

fn page_up(v: u64) -> u64 {
    (v + PAGE - 1) & !(PAGE - 1)
}

fn num(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

struct Load {
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
}

struct Sec {
    name: String,
    nobits: bool,
    addr: u64,
    size: u64,
    flags: String,
}

/// What readelf says about one file.
struct Elf {
    loads: Vec<Load>,
    relro: Option<(u64, u64)>,
    sections: Vec<Sec>,
}

fn readelf(path: &Path) -> Option<Elf> {
    let run = |flag: &str| {
        let out = Command::new("readelf")
            .arg(flag)
            .arg(path)
            .output()
            .expect("run readelf");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let programs = run("-lW")?;
    let mut elf = Elf {
        loads: Vec::new(),
        relro: None,
        sections: Vec::new(),
    };
    for line in programs.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.first() {
            Some(&"LOAD") => elf.loads.push(Load {
                offset: num(f[1]),
                vaddr: num(f[2]),
                filesz: num(f[4]),
                memsz: num(f[5]),
            }),
            Some(&"GNU_RELRO") => elf.relro = Some((num(f[2]), num(f[2]) + num(f[5]))),
            _ => {}
        }
    }
    let sections = run("-SW")?;
    for line in sections.lines() {
        let Some((_, rest)) = line.split_once(']') else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() < 9 || !f[2].chars().all(|c| c.is_ascii_hexdigit()) {
            continue;
        }
        elf.sections.push(Sec {
            name: f[0].to_string(),
            nobits: f[1] == "NOBITS",
            addr: num(f[2]),
            size: num(f[4]),
            flags: if f.len() >= 10 {
                f[6].to_string()
            } else {
                String::new()
            },
        });
    }
    Some(elf)
}

/// The crate docs' rule, applied to readelf's data: the parts a mapping of `size` bytes at
/// `address` holds, given the address the image's file offset 0 is mapped at.
fn expected_parts(elf: &Elf, base: u64, address: u64, size: u64) -> String {
    let first = elf
        .loads
        .iter()
        .find(|l| l.offset == 0)
        .expect("a PT_LOAD at offset 0");
    let bias = base - page_down(first.vaddr);
    let lo = address - bias;
    let hi = lo + size;
    if !elf
        .loads
        .iter()
        .any(|l| lo >= page_down(l.vaddr) && lo < page_up(l.vaddr + l.memsz.max(1)))
    {
        return String::new();
    }
    let order = ["text", "rodata", "eh_frame", "relro", "data", "bss"];
    let mut parts: Vec<&str> = Vec::new();
    for s in &elf.sections {
        let tls_bss = s.nobits && s.flags.contains('T');
        if !s.flags.contains('A') || s.size == 0 || tls_bss || s.addr >= hi || s.addr + s.size <= lo
        {
            continue;
        }
        let in_relro = elf.relro.is_some_and(|(a, b)| s.addr >= a && s.addr < b);
        let part = if s.flags.contains('X') {
            "text"
        } else if s.name.starts_with(".eh_frame") || s.name.starts_with(".gcc_except_table") {
            "eh_frame"
        } else if s.nobits && s.flags.contains('W') {
            "bss"
        } else if s.flags.contains('W') && in_relro {
            "relro"
        } else if s.flags.contains('W') {
            "data"
        } else {
            "rodata"
        };
        parts.push(part);
    }
    parts.sort_by_key(|p| order.iter().position(|o| o == p));
    parts.dedup();
    parts.join("+")
}

/// Undoes a bind mount when dropped.
struct BindMount(PathBuf);

impl Drop for BindMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn cc_shared(src: &str, out: &Path) {
    let c = out.with_extension("c");
    std::fs::write(&c, src).unwrap();
    let st = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(out)
        .arg(&c)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn segments_match_readelf_and_symbols_land_in_their_parts() {
    support::require_root("reading /proc/PID/map_files and bind-mounting need root");
    support::require_tool("readelf", "binutils");
    support::require_tool("cc", "gcc");
    let libs = tempfile::tempdir().unwrap();
    let del = libs.path().join("libdeleted.so");
    let over = libs.path().join("libreplaced.so");
    let other = libs.path().join("libother.so");
    let f = "int vmpipe_test_function(void) { return 7; }\n";
    cc_shared(f, &del);
    cc_shared(f, &over);
    cc_shared(&format!("{f}int another(void) {{ return 8; }}\n"), &other);
    let (d, o) = (del.clone(), over.clone());
    let target = start_dynamic_target(
        "imgtarget",
        move |_| vec![d.clone().into(), o.clone().into()],
        &[],
    );
    // Now tamper with the evidence: delete one library, bind-mount another file over the other.
    std::fs::remove_file(&del).unwrap();
    let mounted = Command::new("mount")
        .arg("--bind")
        .arg(&other)
        .arg(&over)
        .status()
        .unwrap();
    assert!(mounted.success(), "mount --bind failed");
    let _unmount = BindMount(over.clone());
    target.stop();

    let (out, _) = sweep(&[target.pid()], &[]);
    let regions = Table::read(&out.path().join("regions.csv"));
    let rows = regions.rows_for(target.pid());

    // 1. Every file-backed region: segment = the rule applied to readelf's reading.
    let mut elves: HashMap<String, Option<Elf>> = HashMap::new();
    let mut checked = 0;
    for r in &rows {
        let (start, end) = (
            regions.num(r, "start").unwrap(),
            regions.num(r, "end").unwrap(),
        );
        if regions.get(r, "kind") == "anon" && !regions.get(r, "image").is_empty() {
            // Attributed anonymous memory must be inside the zero-filled tail of a PT_LOAD.
            let image = regions.get(r, "image");
            assert_eq!(regions.get(r, "segment"), "bss");
            let first = rows
                .iter()
                .find(|x| regions.get(x, "image") == image && regions.get(x, "offset") == "0")
                .unwrap();
            let (fs, fe) = (
                regions.num(first, "start").unwrap(),
                regions.num(first, "end").unwrap(),
            );
            let elf = readelf(Path::new(&format!(
                "/proc/{}/map_files/{fs:x}-{fe:x}",
                target.pid()
            )))
            .unwrap();
            let bias = fs - page_down(elf.loads.iter().find(|l| l.offset == 0).unwrap().vaddr);
            assert!(
                elf.loads.iter().any(|l| l.memsz > l.filesz
                    && start >= bias + page_up(l.vaddr + l.filesz)
                    && end <= bias + page_up(l.vaddr + l.memsz)),
                "anonymous region at {start:x} attributed to {image} is outside its .bss"
            );
            continue;
        }
        if regions.get(r, "kind") != "file" {
            continue;
        }
        assert_eq!(
            regions.get(r, "image"),
            regions.get(r, "path"),
            "a file region's image is its path"
        );
        let image = regions.get(r, "image").to_string();
        let elf = elves.entry(image.clone()).or_insert_with(|| {
            readelf(Path::new(&format!(
                "/proc/{}/map_files/{start:x}-{end:x}",
                target.pid()
            )))
        });
        // The address the image's offset 0 is mapped at: its first region.
        let base = rows
            .iter()
            .find(|x| regions.get(x, "image") == image && regions.get(x, "offset") == "0")
            .map(|x| regions.num(x, "start").unwrap());
        let want = match (elf, base) {
            (Some(e), Some(base)) => expected_parts(e, base, start, end - start),
            _ => String::new(),
        };
        assert_eq!(regions.get(r, "segment"), want, "{image} at {start:x}");
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} file regions");

    // 2. The process's own symbols, in the parts they were compiled into.
    let exe_path = rows
        .iter()
        .find(|r| regions.get(r, "offset") == "0" && regions.get(r, "path").ends_with("imgtarget"))
        .map(|r| regions.get(r, "path").to_string())
        .unwrap();
    let holding = |addr: u64| {
        *rows
            .iter()
            .find(|r| {
                regions.num(r, "start").unwrap() <= addr && addr < regions.num(r, "end").unwrap()
            })
            .unwrap_or_else(|| panic!("no region holds {addr:x}"))
    };
    let mut libc = String::new();
    for line in &target.lines {
        let f: Vec<&str> = line.split(' ').collect();
        if f[0] != "sym" {
            continue;
        }
        let r = holding(num(f[2]));
        let (image, segment) = (regions.get(r, "image"), regions.get(r, "segment"));
        let parts: Vec<&str> = segment.split('+').collect();
        let want = match f[1] {
            "main" => "text",
            "rodata" => "rodata",
            "relro" => "relro",
            "data" => "data",
            "bss" => "bss",
            "bss_end" => {
                assert_eq!(
                    regions.get(r, "kind"),
                    "anon",
                    "the tail of .bss is anonymous memory"
                );
                assert_eq!(segment, "bss");
                "bss"
            }
            "printf" => {
                libc = image.to_string();
                assert!(image.contains("libc.so"), "printf is in {image}");
                assert!(parts.contains(&"text"), "printf in {segment}");
                continue;
            }
            other => panic!("unexpected symbol {other}"),
        };
        assert_eq!(image, exe_path, "{line}");
        assert!(parts.contains(&want), "{line}: segment {segment}");
    }
    assert!(!libc.is_empty());

    // 3. The forensic flags.
    let images = Table::read(&out.path().join("images.csv"));
    let row = |name: &str| {
        *images
            .rows_for(target.pid())
            .iter()
            .find(|r| images.get(r, "image") == name)
            .unwrap_or_else(|| panic!("no images row for {name}"))
    };
    let flags = |name: &str| {
        let r = row(name);
        (
            images.get(r, "deleted").to_string(),
            images.get(r, "replaced").to_string(),
            images.get(r, "attribution").to_string(),
        )
    };
    let deleted_name = format!("{} (deleted)", del.display());
    assert_eq!(
        flags(&deleted_name),
        ("true".into(), "false".into(), "elf".into())
    );
    assert_eq!(
        flags(over.to_str().unwrap()),
        ("false".into(), "true".into(), "elf".into())
    );
    assert_eq!(
        flags(&exe_path),
        ("false".into(), "false".into(), "elf".into())
    );
    assert_eq!(flags(&libc), ("false".into(), "false".into(), "elf".into()));
    assert!(images.get(row(&exe_path), "segments").contains("bss"));
    assert_eq!(images.get(row("[vdso]"), "attribution"), "elf");

    // 4. Image totals are the sums of their regions; the run-wide table agrees.
    let libraries = Table::read(&out.path().join("libraries.csv"));
    for img in images.rows_for(target.pid()) {
        let name = images.get(img, "image");
        let mine: Vec<_> = rows
            .iter()
            .filter(|r| regions.get(r, "image") == name)
            .collect();
        for col in ["rss", "pss", "private_dirty", "swap"] {
            let sum: u64 = mine.iter().map(|r| regions.num(r, col).unwrap()).sum();
            assert_eq!(images.num(img, col), Some(sum), "{name} {col}");
        }
        assert_eq!(images.num(img, "regions"), Some(mine.len() as u64));
        let lib = libraries
            .rows
            .iter()
            .find(|l| libraries.get(l, "image") == name)
            .unwrap();
        assert_eq!(libraries.num(lib, "processes"), Some(1));
        assert_eq!(libraries.num(lib, "rss"), images.num(img, "rss"));
        assert_eq!(
            libraries.num(lib, "shared_saving"),
            Some(images.num(img, "rss").unwrap() - images.num(img, "pss").unwrap())
        );
    }
}

#[test]
fn executable_memory_no_image_explains_is_flagged() {
    let target = start_target("injtarget", |_| Vec::new(), &[]);
    target.stop();
    let (out, _) = sweep(&[target.pid()], &[]);
    let images = Table::read(&out.path().join("images.csv"));
    let rows = images.rows_for(target.pid());
    let get = |name: &str| {
        *rows
            .iter()
            .find(|r| images.get(r, "image") == name)
            .unwrap()
    };
    let memfd = get("/memfd:payload (deleted)");
    assert_eq!(images.get(memfd, "memfd"), "true");
    assert_eq!(images.get(memfd, "unexplained_exec"), "true");
    assert!(
        images
            .get(memfd, "attribution")
            .starts_with("path: damaged ELF headers"),
        "{:?}",
        images.get(memfd, "attribution")
    );
    let anon = get("[anon-exec]");
    assert_eq!(images.get(anon, "unexplained_exec"), "true");
    assert_eq!(images.num(anon, "regions"), Some(1));
    let (s, e) = target.mappings["rwx_anon"];
    assert_eq!(images.num(anon, "virtual"), Some(e - s));
    // The static binary itself is explained.
    assert!(
        rows.iter()
            .any(|r| images.get(r, "image").ends_with("/injtarget")
                && images.get(r, "unexplained_exec") == "false"
                && images.get(r, "attribution") == "elf")
    );
}

#[test]
fn without_map_files_a_deleted_library_falls_back_to_its_path() {
    support::require_root("it runs a target and vmpipe as nobody");
    support::require_tool("setpriv", "util-linux");
    let libs = tempfile::tempdir().unwrap();
    support::set_mode(libs.path(), 0o755);
    let del = libs.path().join("libdeleted.so");
    let keep = libs.path().join("libkept.so");
    let f = "int vmpipe_test_function(void) { return 7; }\n";
    cc_shared(f, &del);
    cc_shared(f, &keep);
    for p in [&del, &keep] {
        support::set_mode(p, 0o755);
    }
    let nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    let (d, k) = (del.clone(), keep.clone());
    let target = start_dynamic_target(
        "imgtarget",
        move |_| vec![d.clone().into(), k.clone().into()],
        &nobody,
    );
    std::fs::remove_file(&del).unwrap();
    target.stop();

    let out = tempfile::tempdir().unwrap();
    support::set_mode(out.path(), 0o777);
    let run = Command::new(nobody[0])
        .args(&nobody[1..])
        .arg(env!("CARGO_BIN_EXE_vmpipe"))
        .arg("run")
        .arg(support::repo().join("pipelines/all-procs.toml"))
        .arg("--out")
        .arg(out.path())
        .args(["-q", "--pid", &target.pid().to_string()])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let images = Table::read(&out.path().join("images.csv"));
    let row = |name: &str| {
        images
            .rows
            .iter()
            .find(|r| images.get(r, "image") == name)
            .unwrap_or_else(|| panic!("no row {name}"))
    };
    let gone = row(&format!("{} (deleted)", del.display()));
    let why = images.get(gone, "attribution");
    assert!(why.starts_with("path: deleted on disk; /proc/"), "{why}");
    assert!(why.contains("/map_files/"), "{why}");
    assert_eq!(images.get(gone, "segments"), "");
    // The library still on disk is read from its path instead.
    assert_eq!(
        images.get(row(keep.to_str().unwrap()), "attribution"),
        "elf"
    );
    assert!(
        images
            .get(row(keep.to_str().unwrap()), "segments")
            .contains("text")
    );
}

/// A vmmap report: every image region's `image` is its path and its `segment` is named from
/// the report's own region type.
#[test]
fn vmmap_report_images_come_from_the_report() {
    let file =
        support::repo().join("tests/fixtures/vmmap/vmmap_shared_library_demo_macos14.0_arm64.txt");
    let out = support::run_offline("vmmap-report.toml", &file);
    let regions = Table::read(&out.path().join("regions.csv"));
    let mut checked = 0;
    for r in &regions.rows {
        let want = match regions.get(r, "region_type") {
            "__TEXT" => "text",
            "__DATA_CONST" | "__AUTH_CONST" => "relro",
            "__DATA" | "__AUTH" | "__DATA_DIRTY" => "data",
            "__LINKEDIT" => "linkedit",
            _ => continue,
        };
        if regions.get(r, "path").is_empty() {
            // e.g. "dyld shared cache combined __LINKEDIT": no one image to name.
            assert_eq!(regions.get(r, "image"), "");
            continue;
        }
        assert_eq!(regions.get(r, "segment"), want, "{r:?}");
        assert_eq!(regions.get(r, "image"), regions.get(r, "path"));
        assert!(regions.get(r, "path").starts_with('/'));
        checked += 1;
    }
    assert!(checked > 50, "{checked}");
    let images = Table::read(&out.path().join("images.csv"));
    assert!(
        images
            .rows
            .iter()
            .all(|r| images.get(r, "attribution") == "vmmap")
    );
}

/// "Replaced" compares the mapped inode with what is at the path *in the process's own view*
/// (its root and mount namespace). Two processes map the same library path; in the second
/// one's private mount namespace another file is then bind-mounted over that path. Swept
/// together (the first one first), only the second is `replaced`: what the first one's view
/// showed is not taken for the second's.
#[test]
fn what_is_at_a_path_is_looked_up_in_each_process_view() {
    support::require_root("mount namespaces and bind mounts need root");
    support::require_tool("cc", "gcc");
    support::require_tool("unshare", "util-linux");
    support::require_tool("nsenter", "util-linux");
    let libs = tempfile::tempdir().unwrap();
    let lib = libs.path().join("libviews.so");
    let second = libs.path().join("libviews-second.so");
    let other = libs.path().join("libviews-other.so");
    let f = "int vmpipe_test_function(void) { return 7; }\n";
    cc_shared(f, &lib);
    cc_shared(f, &second);
    cc_shared(&format!("{f}int another(void) {{ return 8; }}\n"), &other);
    // imgtarget dlopens the two libraries it is given.
    let (a, b) = (lib.clone(), second.clone());
    let both = move |_: &Path| vec![a.clone().into_os_string(), b.clone().into_os_string()];
    let host_view = start_dynamic_target("imgtarget", both.clone(), &[]);
    let own_view = start_dynamic_target(
        "imgtarget",
        both,
        &["unshare", "--mount", "--propagation", "private"],
    );
    let mounted = Command::new("nsenter")
        .arg("-t")
        .arg(own_view.pid().to_string())
        .arg("--mount")
        .arg("mount")
        .arg("--bind")
        .arg(&other)
        .arg(&lib)
        .output()
        .unwrap();
    assert!(
        mounted.status.success(),
        "mount --bind in the target's namespace failed: {}",
        String::from_utf8_lossy(&mounted.stderr)
    );
    assert!(
        std::fs::read(&lib).unwrap() != std::fs::read(&other).unwrap(),
        "the bind mount must not be visible outside the target's namespace"
    );
    host_view.stop();
    own_view.stop();
    let mut pids = [host_view.pid(), own_view.pid()];
    pids.sort_unstable();
    for threads in ["1", "2"] {
        let (out, _) = sweep(&pids, &["--threads", threads]);
        let images = Table::read(&out.path().join("images.csv"));
        let replaced = |pid: u32| {
            let rows = images.rows_for(pid);
            let row = rows
                .iter()
                .find(|r| images.get(r, "image") == lib.to_str().unwrap())
                .unwrap_or_else(|| panic!("no images row for {} in {pid}", lib.display()));
            images.get(row, "replaced").to_string()
        };
        assert_eq!(replaced(host_view.pid()), "false", "{threads} threads");
        assert_eq!(replaced(own_view.pid()), "true", "{threads} threads");
    }
}

/// A capture is analysed against this machine's files at its paths: a map naming a FIFO here
/// (or any file that is not regular) must not be opened — opening a FIFO for reading waits for
/// a writer, forever (at 036e0a7 the run hung in `File::open`). The FIFO's image is attributed
/// by path, promptly; a real ELF file named by the same capture is still read.
#[test]
fn a_capture_naming_a_fifo_here_is_attributed_by_path_without_waiting() {
    use std::os::unix::fs::MetadataExt;
    use std::time::{Duration, Instant};
    let here = tempfile::tempdir().unwrap();
    let fifo = here.path().join("libfifo.so");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo {}", fifo.display());
    let elf = here.path().join("true");
    std::fs::copy("/bin/true", &elf).unwrap();
    let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
    // The maps name each file with its inode here, as a capture of this machine would.
    let maps = format!(
        "1000-2000 r-xp 00000000 08:01 {} {}\n3000-4000 r--p 00000000 08:01 {} {}\n",
        ino(&fifo),
        fifo.display(),
        ino(&elf),
        elf.display()
    );
    let cap = tempfile::tempdir().unwrap();
    let proc1 = cap.path().join("proc/1");
    std::fs::create_dir_all(&proc1).unwrap();
    std::fs::write(proc1.join("comm"), b"fifo\n").unwrap();
    std::fs::write(proc1.join("maps"), maps).unwrap();

    let out = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = support::vmpipe()
        .arg("run")
        .arg(support::repo().join("pipelines/capture.toml"))
        .arg("--input")
        .arg(cap.path())
        .arg("--out")
        .arg(out.path())
        .arg("-q")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("vmpipe still running after 10 s on a capture naming a FIFO");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{status}: {stderr}");

    let images = Table::read(&out.path().join("images.csv"));
    let row = |p: &Path| {
        images
            .rows
            .iter()
            .find(|r| images.get(r, "image") == p.to_str().unwrap())
            .unwrap_or_else(|| panic!("no images row for {}", p.display()))
    };
    let why = images.get(row(&fifo), "attribution");
    assert!(
        why.starts_with("path: ") && why.contains("not a regular file"),
        "{why}"
    );
    assert_eq!(images.get(row(&fifo), "segments"), "");
    assert_eq!(images.get(row(&elf), "attribution"), "elf");
}
