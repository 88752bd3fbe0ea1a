//! A snapshot of a machine with one hostile process (issue 13, finding 9, the snapshot's
//! side): an unprivileged process mapping one file 65,000 times under a path of some 40 KB
//! has gigabytes of smaps. The snapshot streams it, cuts it at vmpipe's limit at a record
//! boundary and marks the process partial; vmpipe then reads the snapshot, every other process
//! whole. Alone in its test binary: nothing else runs beside the measurement.

mod support;

use std::process::Stdio;

use support::Table;

/// True where `smaps[at..]` begins a record: a line `start-end perms …` in lowercase hex as
/// the kernel prints it (field names such as `AnonHugePages:` start with hex letters too).
fn record_at(smaps: &[u8], at: usize) -> bool {
    (at == 0 || smaps[at - 1] == b'\n')
        && smaps[at..]
            .iter()
            .position(|&b| b == b' ')
            .and_then(|sp| std::str::from_utf8(&smaps[at..at + sp]).ok())
            .and_then(|range| range.split_once('-'))
            .is_some_and(|(a, b)| {
                [a, b].iter().all(|h| {
                    !h.is_empty() && h.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
                })
            })
}

/// `vmpipe`'s limit on one process's maps/smaps (`source::limits::MAP_FILE_BYTES`).
const LIMIT: u64 = 256 << 20;

#[test]
fn a_process_with_gigabytes_of_smaps_is_saved_cut_and_marked_and_the_rest_whole() {
    support::require_root("the snapshot reads every process, the hostile one another user's");
    support::require_tool("time", "time");
    support::require_tool("setpriv", "util-linux");
    // 160 nested directories of 250-byte names: a path of 40 KB, ten times PATH_MAX.
    let target = support::start_target(
        "longpath",
        |d| vec![d.as_os_str().to_owned(), "160".into(), "65000".into()],
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ],
    );
    let pid = target.pid();
    assert!(
        target.lines.iter().any(|l| l == "maps 65000"),
        "{:?}",
        target.lines
    );
    // The kernel's own smaps for the process, as far as past the limit (independent truth).
    let kernel = read_prefix(&format!("/proc/{pid}/smaps"), LIMIT + (1 << 20));
    assert!(
        kernel.len() as u64 > LIMIT,
        "the process's smaps exceeds the limit"
    );

    // The hostile process among ordinary ones (not the whole machine: other hostile processes
    // may be running on a shared test machine, and would be measured too).
    let mut sleepers: Vec<std::process::Child> = (0..5)
        .map(|_| {
            std::process::Command::new("sleep")
                .arg("600")
                .spawn()
                .unwrap()
        })
        .collect();
    let mut pids = vec![pid, std::process::id(), std::os::unix::process::parent_id()];
    pids.extend(sleepers.iter().map(|c| c.id()));

    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("snap");
    let measured = dir.path().join("time");
    let o = std::process::Command::new("time")
        .arg("-o")
        .arg(&measured)
        .args(["-f", "%M %e %U %S"])
        .arg(env!("CARGO_BIN_EXE_vmpipe"))
        .arg("snapshot")
        .arg("--out")
        .arg(&snap)
        .args(
            pids.iter()
                .flat_map(|p| ["--pid".to_string(), p.to_string()]),
        )
        .stdout(Stdio::null())
        .output()
        .unwrap();
    for s in &mut sleepers {
        let _ = s.kill();
        let _ = s.wait();
    }
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m: Vec<f64> = std::fs::read_to_string(&measured)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .split(' ')
        .map(|v| v.parse().unwrap())
        .collect();
    let (rss_kib, wall, cpu) = (m[0], m[1], m[2] + m[3]);
    eprintln!("snapshot: peak RSS {rss_kib} KiB, {wall} s wall, {cpu} s CPU");
    assert!(rss_kib <= 256.0 * 1024.0, "peak RSS {rss_kib} KiB");
    // CPU time, not wall time: the machine may be shared with other builds (wall is printed).
    assert!(cpu <= 10.0, "{cpu} s of CPU");

    // Saved: the kernel's first records, cut at the last whole one before the limit.
    let saved = std::fs::read(snap.join(format!("proc/{pid}/smaps"))).unwrap();
    let len = saved.len();
    assert!(len as u64 <= LIMIT);
    assert_eq!(
        saved[..],
        kernel[..len],
        "the saved smaps is the kernel's, byte for byte"
    );
    assert!(record_at(&kernel, len), "cut where a record begins");
    let next_end = (len + 1..kernel.len())
        .find(|&i| record_at(&kernel, i))
        .unwrap();
    assert!(
        next_end as u64 > LIMIT,
        "the next record would not have fitted"
    );
    let error = std::fs::read_to_string(snap.join(format!("proc/{pid}/error"))).unwrap();
    assert!(
        error.starts_with("partial: ")
            && error.contains(&format!("/proc/{pid}/smaps truncated at {len} bytes")),
        "{error}"
    );
    // The checksums hold for what was saved.
    let sums = std::process::Command::new("sha256sum")
        .args(["-c", "--quiet", "SHA256SUMS"])
        .current_dir(&snap)
        .output()
        .unwrap();
    assert!(
        sums.status.success(),
        "{}",
        String::from_utf8_lossy(&sums.stdout)
    );

    // vmpipe reads it: the hostile process partial with its error row, every process the
    // snapshot saved whole is ok.
    let out = support::run_offline("capture.toml", &snap);
    let procs = Table::read(&out.path().join("processes.csv"));
    let mut others = Vec::new();
    for row in &procs.rows {
        let p: u32 = procs.get(row, "pid").parse().unwrap();
        let status = procs.get(row, "status");
        if p == pid {
            assert_eq!(status, "partial");
            let records = (0..saved.len()).filter(|&i| record_at(&saved, i)).count() as u64;
            // Every saved record is read, unless the reader's own parse budget (64 MiB a
            // process, each region charged its 40 KB path) stops it first: then the regions
            // before it are kept and the error says so.
            let regions = procs.num(row, "regions").unwrap_or(0);
            let errors = std::fs::read_to_string(out.path().join("errors.csv")).unwrap();
            let budget = errors
                .lines()
                .any(|l| l.starts_with(&format!("{pid},")) && l.contains("budget"));
            assert!(
                regions == records || (regions > 1000 && regions < records && budget),
                "{regions} of {records} saved records read: {errors}"
            );
        } else {
            let error = std::fs::read_to_string(snap.join(format!("proc/{p}/error")));
            assert_eq!(status, "ok", "process {p}: {error:?}");
            others.push(p);
        }
    }
    others.sort_unstable();
    let mut want: Vec<u32> = pids.iter().copied().filter(|&p| p != pid).collect();
    want.sort_unstable();
    assert_eq!(others, want, "every other process read whole");
    let errors = Table::read(&out.path().join("errors.csv"));
    assert!(
        errors
            .rows_for(pid)
            .iter()
            .any(|r| errors.get(r, "error").contains("truncated at")),
        "an error row for the cut process"
    );
}

fn read_prefix(path: &str, n: u64) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    std::fs::File::open(path)
        .unwrap()
        .take(n)
        .read_to_end(&mut out)
        .unwrap();
    out
}
