//! Reading evidence that an attacker prepared, or is changing while vmpipe reads it (issue 13,
//! findings 6–9): a capture file swapped after the walk, archives with oversized or lying
//! extension headers, inputs that are not regular files, an oversized pipeline file. Each
//! hostile input is run through the real binary and measured: it ends within 10 s, with a
//! peak RSS of at most 256 MiB, a clear message and no crash (`support::Measured`).
//!
//! `VMPIPE_BIN=/path/to/an/old/vmpipe cargo test -p vmpipe --test evidence` runs the same
//! tests against another build (an old one fails them).
#![cfg(target_os = "linux")] // inotify, mknodat, /proc

mod support;

use std::ffi::OsStr;
use std::io::{Seek, SeekFrom, Write};
use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use rustix::fs::inotify;
use support::{Measured, Table, run_measured};

const MAPS_LINE: &[u8] = b"00400000-00401000 r-xp 00000000 00:00 0 \n";
/// Long enough for an old build that hangs or balloons to show it, short enough for a test.
const DEADLINE: Duration = Duration::from_secs(30);

fn pipeline(name: &str) -> PathBuf {
    support::repo().join("pipelines").join(name)
}

/// `vmpipe run PIPELINE --input INPUT --out OUT -q`, measured.
fn run(pipeline_name: &str, input: &Path, out: &Path) -> Measured {
    let p = pipeline(pipeline_name);
    run_measured(
        &[
            OsStr::new("run"),
            p.as_os_str(),
            OsStr::new("--input"),
            input.as_os_str(),
            OsStr::new("--out"),
            out.as_os_str(),
            OsStr::new("-q"),
        ],
        DEADLINE,
    )
}

fn statuses(out: &Path) -> Vec<(u32, String)> {
    let t = Table::read(&out.join("processes.csv"));
    t.rows
        .iter()
        .map(|r| {
            (
                t.get(r, "pid").parse().unwrap(),
                t.get(r, "status").to_string(),
            )
        })
        .collect()
}

fn errors_of(out: &Path, pid: u32) -> Vec<String> {
    let t = Table::read(&out.join("errors.csv"));
    t.rows_for(pid)
        .iter()
        .map(|r| t.get(r, "error").to_string())
        .collect()
}

// ---- archives, built by hand ------------------------------------------------------------

/// A tar header block: `typ` is the entry type byte.
fn header(name: &str, size: u64, typ: u8) -> [u8; 512] {
    let mut h = tar::Header::new_gnu();
    h.set_path(name).unwrap();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::new(typ));
    h.set_cksum();
    *h.as_bytes()
}

/// A regular member: header and data padded to the block.
fn member(name: &str, data: &[u8]) -> Vec<u8> {
    let mut v = header(name, data.len() as u64, b'0').to_vec();
    v.extend_from_slice(data);
    v.resize(v.len().div_ceil(512) * 512, 0);
    v
}

/// A PAX record: `LEN key=value\n`, LEN counting the whole record.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = 1 + key.len() + 1 + value.len() + 1;
    let mut len = body + 1;
    while format!("{len}").len() + body != len {
        len += 1;
    }
    let mut v = format!("{len} {key}=").into_bytes();
    v.extend_from_slice(value);
    v.push(b'\n');
    v
}

/// A member with a PAX header of `records` before it.
fn pax_member(records: &[u8], name: &str, data: &[u8]) -> Vec<u8> {
    let mut v = header("PaxHeaders/x", records.len() as u64, b'x').to_vec();
    v.extend_from_slice(records);
    v.resize(v.len().div_ceil(512) * 512, 0);
    v.extend(member(name, data));
    v
}

/// Writes what `write` produces through `gzip -LEVEL` into `path` (the archive stays small
/// on disk however much it unpacks to).
fn gzip_to(path: &Path, level: u8, write: impl FnOnce(&mut dyn Write)) {
    support::require_tool("gzip", "gzip");
    let mut gz = Command::new("gzip")
        .arg(format!("-{level}"))
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(path).unwrap())
        .spawn()
        .unwrap();
    write(gz.stdin.as_mut().unwrap());
    drop(gz.stdin.take());
    assert!(gz.wait().unwrap().success());
}

fn repeat(w: &mut dyn Write, byte: u8, n: u64) {
    let chunk = vec![byte; 1 << 20];
    let mut left = n;
    while left > 0 {
        let k = left.min(chunk.len() as u64) as usize;
        w.write_all(&chunk[..k]).unwrap();
        left -= k as u64;
    }
}

/// A path longer than a tar header holds, ending in `PID/maps`.
fn long_path(pid: u32) -> String {
    format!(
        "host-{}/live_response/process/proc/{pid}/maps",
        "x".repeat(120)
    )
}

/// A GNU long name (`L` member) of 200 MiB before `proc/1/maps`, in a `.tar.gz` of about a
/// megabyte; an old build read the name whole (632 MB peak RSS for 300 MiB; 12.6 GB in the
/// issue's). Legitimate long names (GNU `L` and PAX `path`) around it are still honoured,
/// and the member the oversized name belongs to is skipped.
#[test]
fn a_gnu_long_name_of_hundreds_of_mb_is_skipped_not_held() {
    let dir = tempfile::tempdir().unwrap();
    let legit = |w: &mut dyn Write| {
        // PID 3 under a GNU long name, PID 4 under a PAX path, PID 2 plain.
        let name = long_path(3);
        let mut l = header("././@LongLink", name.len() as u64 + 1, b'L').to_vec();
        let mut data = name.into_bytes();
        data.push(0);
        data.resize(data.len().div_ceil(512) * 512, 0);
        l.extend(data);
        w.write_all(&l).unwrap();
        w.write_all(&member("proc/3/ma", MAPS_LINE)).unwrap();
        w.write_all(&pax_member(
            &pax_record("path", long_path(4).as_bytes()),
            "proc/4/short",
            MAPS_LINE,
        ))
        .unwrap();
        w.write_all(&member("proc/2/maps", MAPS_LINE)).unwrap();
    };
    let huge: u64 = 200 << 20;
    let gz = dir.path().join("longname.tar.gz");
    gzip_to(&gz, 1, |w| {
        legit(w);
        w.write_all(&header("././@LongLink", huge, b'L')).unwrap();
        repeat(w, b'a', huge);
        w.write_all(&member("proc/1/maps", MAPS_LINE)).unwrap();
        w.write_all(&[0u8; 1024]).unwrap();
    });
    assert!(std::fs::metadata(&gz).unwrap().len() < 4 << 20);

    // The same as a plain .tar, with a 1 GiB name, sparse (no disk used).
    let tar = dir.path().join("longname.tar");
    let mut f = std::fs::File::create(&tar).unwrap();
    let mut head = Vec::new();
    legit(&mut head);
    let big: u64 = 1 << 30;
    head.extend_from_slice(&header("././@LongLink", big, b'L'));
    f.write_all(&head).unwrap();
    f.seek(SeekFrom::Current(big as i64)).unwrap();
    f.write_all(&member("proc/1/maps", MAPS_LINE)).unwrap();
    f.write_all(&[0u8; 1024]).unwrap();
    drop(f);

    for input in [&gz, &tar] {
        let out = dir.path().join(format!(
            "out-{}",
            input.file_name().unwrap().to_string_lossy()
        ));
        let m = run("capture.toml", input, &out);
        m.assert_bounded(&input.display().to_string(), "");
        assert_eq!(m.output.status.code(), Some(0), "{}", m.stderr());
        let mut got = statuses(&out);
        got.sort();
        let ok = |p: u32| (p, "ok".to_string());
        assert_eq!(got, vec![ok(2), ok(3), ok(4)], "{}", input.display());
    }
}

/// A PAX `size` that disagrees with the member's tar header: more than the header (an old
/// build read the PAX size past the per-file limit, which counted the header's 0: four such
/// members held 800 MiB) or less (the rest of the data is read as members by a reader that
/// believes the PAX size: a member hidden from GNU tar appears). Both are refused at once.
#[test]
fn a_pax_size_that_disagrees_with_the_header_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let more = dir.path().join("more.tar.gz");
    let claim: u64 = 200 << 20;
    gzip_to(&more, 1, |w| {
        for pid in 1..=4 {
            let records = pax_record("size", claim.to_string().as_bytes());
            w.write_all(&pax_member(&records, &format!("proc/{pid}/maps"), b""))
                .unwrap();
            repeat(w, 0, claim);
        }
        w.write_all(&member("proc/9/maps", MAPS_LINE)).unwrap();
        w.write_all(&[0u8; 1024]).unwrap();
    });
    let m = run("capture.toml", &more, &dir.path().join("out-more"));
    m.assert_bounded(
        "PAX size above the header",
        "its PAX header gives 209715200 bytes and its tar header 0",
    );
    assert_eq!(m.output.status.code(), Some(1), "{}", m.stderr());
    assert!(m.stderr().contains("proc/1/maps"), "{}", m.stderr());

    // Less: the header's 1536 bytes of data hold a whole member of their own.
    let hidden = member("proc/666/maps", MAPS_LINE);
    let mut data = hidden.clone();
    data.resize(1536, 0);
    let mut raw = member("proc/2/maps", MAPS_LINE);
    raw.extend(pax_member(&pax_record("size", b"0"), "proc/3/maps", &data));
    raw.extend_from_slice(&[0u8; 1024]);
    let less = dir.path().join("less.tar");
    std::fs::write(&less, raw).unwrap();
    let out = dir.path().join("out-less");
    let m = run("capture.toml", &less, &out);
    m.assert_bounded(
        "PAX size below the header",
        "its PAX header gives 0 bytes and its tar header 1536",
    );
    assert_eq!(m.output.status.code(), Some(1), "{}", m.stderr());
    assert!(!out.join("processes.csv").exists());
}

/// `--input /dev/zero` (an old build read it until memory ran out: only the reported size,
/// 0, was checked), a FIFO (an old build blocked in `open` forever), for both offline
/// sources: a clear error at once.
#[test]
fn inputs_that_are_not_regular_files_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("evidence.tar");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    for (pipeline, input, expect) in [
        (
            "vmmap-report.toml",
            Path::new("/dev/zero"),
            "a character device",
        ),
        ("capture.toml", Path::new("/dev/zero"), "a character device"),
        ("vmmap-report.toml", fifo.as_path(), "a FIFO"),
        ("capture.toml", fifo.as_path(), "a FIFO"),
    ] {
        let m = run(pipeline, input, &dir.path().join("out"));
        let what = format!("{pipeline} --input {}", input.display());
        m.assert_bounded(&what, &format!("not a regular file but {expect}"));
        assert_eq!(m.output.status.code(), Some(1), "{what}: {}", m.stderr());
        assert!(m.wall < Duration::from_secs(5), "{what}: {:?}", m.wall);
        assert!(m.stderr().contains(&input.display().to_string()), "{what}");
    }
}

/// A pipeline file of 200 MB (a 200 MB string as its `name`: an old build went past 20 GB
/// parsing it), a pipeline that is /dev/zero, and one that is a directory: refused before
/// any parsing, the limit or the kind of file named.
#[test]
fn an_oversized_or_irregular_pipeline_file_is_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.toml");
    let mut f = std::fs::File::create(&big).unwrap();
    f.write_all(b"[source]\ntype = \"live\"\nname = \"")
        .unwrap();
    repeat(&mut f, b'x', 200_000_000);
    f.write_all(b"\"\n[[sink]]\ntype = \"text\"\n").unwrap();
    drop(f);
    for (file, expect) in [
        (
            big.as_path(),
            "larger than vmpipe's limit of 1048576 bytes for a pipeline file",
        ),
        (
            Path::new("/dev/zero"),
            "not a regular file but a character device",
        ),
        (dir.path(), "not a regular file but a directory"),
    ] {
        let m = run_measured(&[OsStr::new("validate"), file.as_os_str()], DEADLINE);
        let what = format!("validate {}", file.display());
        m.assert_bounded(&what, expect);
        assert_eq!(m.output.status.code(), Some(2), "{what}: {}", m.stderr());
    }
}

/// 256 MiB of newlines as a process's `maps`, in a `.tar.gz` of about 261 KB: an old build
/// aborted ("memory allocation of 83751862584 bytes failed": the regions vector reserved
/// from the newline count). The file is within the per-file limit, so it is read and parsed:
/// this needs the streaming parser with its parsed-data budget as well as the bounded
/// archive reader.
#[test]
fn a_maps_of_256_mib_of_newlines_in_a_small_archive_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("newlines.tar.gz");
    let size: u64 = 256 << 20;
    gzip_to(&gz, 9, |w| {
        w.write_all(&header("proc/1/maps", size, b'0')).unwrap();
        repeat(w, b'\n', size);
        w.write_all(&member("proc/2/maps", MAPS_LINE)).unwrap();
        w.write_all(&[0u8; 1024]).unwrap();
    });
    assert!(std::fs::metadata(&gz).unwrap().len() < 1 << 20);
    let out = dir.path().join("out");
    let m = run("capture.toml", &gz, &out);
    m.assert_bounded("256 MiB of newlines", "");
    let got = statuses(&out);
    assert!(got.contains(&(2, "ok".to_string())), "{got:?}");
}

// ---- a directory capture changed while vmpipe reads it --------------------------------

/// The victim process's pid: its directory sorts first by name (`100000` < `2`) and it is
/// collected last by number, so the time between the walk leaving its directory and the
/// read of its files is the rest of the walk and the collection of every other process.
const VICTIM: u32 = 100_000;
/// Processes besides the victim.
const OTHERS: u32 = 1000;

fn directory_capture(root: &Path) {
    for pid in (2..2 + OTHERS).chain([VICTIM]) {
        let d = root.join("proc").join(pid.to_string());
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("maps"), MAPS_LINE).unwrap();
        std::fs::write(d.join("comm"), format!("proc{pid}\n")).unwrap();
    }
}

/// Runs `swap` as soon as vmpipe has listed the directory `dir` and closed it (its first
/// `IN_CLOSE_NOWRITE`), from a thread blocked on inotify: within microseconds, while the
/// run has the rest of the walk and a thousand processes to collect before it reads `dir`'s
/// files (hundreds of milliseconds). Should the swap ever land after the read, the new
/// build's test fails (no error row), never passes by luck.
fn swap_when_listed(
    dir: &Path,
    swap: impl FnOnce() + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let fd = inotify::init(inotify::CreateFlags::CLOEXEC).unwrap();
    inotify::add_watch(
        &fd,
        dir,
        inotify::WatchFlags::CLOSE_NOWRITE | inotify::WatchFlags::ONLYDIR,
    )
    .unwrap();
    std::thread::spawn(move || {
        let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
        let mut events = inotify::Reader::new(&fd, &mut buf);
        loop {
            let e = events.next().unwrap();
            let own = e.file_name().is_none_or(|n| n.to_bytes().is_empty());
            if own && e.events().contains(inotify::ReadFlags::CLOSE_NOWRITE) {
                break;
            }
        }
        swap();
    })
}

/// Finding 6: the walk saw a regular `comm`; by the time it is read, it is a link to a
/// root-only file (an old build put that file's contents in `processes.csv`, mode 0644) or
/// a FIFO (an old build blocked forever). Now each is that process's error row (`partial`),
/// every other process intact.
#[test]
fn a_capture_file_swapped_after_the_walk_is_an_error_never_another_file_nor_a_hang() {
    let base = tempfile::tempdir().unwrap();
    let secret_dir = base.path().join("root-only");
    std::fs::create_dir(&secret_dir).unwrap();
    support::set_mode(&secret_dir, 0o700);
    let secret = secret_dir.join("secret");
    const SECRET: &str = "ROOT-ONLY-SECRET-7f3a";
    std::fs::write(&secret, SECRET).unwrap();
    support::set_mode(&secret, 0o600);

    for kind in ["link", "fifo"] {
        let cap = base.path().join(format!("cap-{kind}"));
        directory_capture(&cap);
        let victim_dir = cap.join("proc").join(VICTIM.to_string());
        let comm = victim_dir.join("comm");
        let secret = secret.clone();
        let swapper = swap_when_listed(&victim_dir, move || {
            std::fs::remove_file(&comm).unwrap();
            if kind == "link" {
                std::os::unix::fs::symlink(&secret, &comm).unwrap();
            } else {
                rustix::fs::mknodat(
                    rustix::fs::CWD,
                    &comm,
                    rustix::fs::FileType::Fifo,
                    rustix::fs::Mode::from_raw_mode(0o644),
                    0,
                )
                .unwrap();
            }
        });
        let out = base.path().join(format!("out-{kind}"));
        let m = run("capture.toml", &cap, &out);
        assert!(swapper.is_finished(), "{kind}: the swap never happened");
        m.assert_bounded(kind, "");
        assert_eq!(m.output.status.code(), Some(0), "{kind}: {}", m.stderr());
        for f in std::fs::read_dir(&out).unwrap() {
            let text = std::fs::read(f.unwrap().path()).unwrap();
            assert!(
                !text.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
                "{kind}: the root-only file's contents reached the output"
            );
        }
        assert!(
            !String::from_utf8_lossy(&m.output.stdout).contains(SECRET),
            "{kind}: in the report"
        );
        let got = statuses(&out);
        assert_eq!(got.len() as u32, OTHERS + 1);
        for (pid, status) in &got {
            let want = if *pid == VICTIM { "partial" } else { "ok" };
            assert_eq!(status, want, "{kind}: pid {pid}");
        }
        let errors = errors_of(&out, VICTIM);
        let want = if kind == "link" {
            "a symbolic link where the capture had a file"
        } else {
            "not a regular file but a FIFO"
        };
        assert!(
            errors
                .iter()
                .any(|e| e.contains(want) && e.contains("comm")),
            "{kind}: {errors:?}"
        );
    }
}
