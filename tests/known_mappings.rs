//! A process that creates known mappings appears with exactly those regions; hostile paths
//! survive the CSV.

mod support;

use support::{DELETED_NAME, RO_NAME, Table, start_map_target, sweep};
use vmpipe::model::escape::unescape;

const PAGE: u64 = 4096;

#[test]
fn known_mappings_appear_exactly() {
    let target = start_map_target(&[]);
    target.stop();
    let (out, _) = sweep(&[target.pid()], &[]);
    let regions = Table::read(&out.path().join("regions.csv"));
    let rows = regions.rows_for(target.pid());

    let find = |name: &str| {
        let (start, end) = target.mappings[name];
        let hits: Vec<_> = rows
            .iter()
            .filter(|r| regions.num(r, "start") == Some(start))
            .collect();
        assert_eq!(hits.len(), 1, "{name} at {start:x}");
        let r = *hits[0];
        assert_eq!(regions.num(r, "end"), Some(end), "{name} end");
        assert_eq!(regions.num(r, "size"), Some(end - start), "{name} size");
        r
    };
    // (name, perms, kind, rss in pages, path bytes or None)
    type Expected<'a> = (&'a str, &'a str, &'a str, u64, Option<Vec<u8>>);
    let dir = target.dir.path().as_os_str().as_encoded_bytes().to_vec();
    let path_of = |name: &[u8]| {
        let mut p = dir.clone();
        p.push(b'/');
        p.extend_from_slice(name);
        p
    };
    let mut deleted = path_of(DELETED_NAME);
    deleted.extend_from_slice(b" (deleted)");
    let expect: Vec<Expected> = vec![
        ("anon_touched", "rw-p", "anon", 5, None),
        ("anon_untouched", "rw-p", "anon", 0, None),
        ("prot_none", "---p", "anon", 0, None),
        ("file_ro", "r--p", "file", 2, Some(path_of(RO_NAME))),
        (
            "shared_anon",
            "rw-s",
            "shm",
            3,
            Some(b"/dev/zero (deleted)".to_vec()),
        ),
        ("deleted_file", "r--p", "file", 1, Some(deleted)),
    ];
    for (name, perms, kind, pages, path) in expect {
        let r = find(name);
        assert_eq!(regions.get(r, "perms"), perms, "{name}");
        assert_eq!(regions.get(r, "kind"), kind, "{name}");
        assert_eq!(regions.num(r, "rss"), Some(pages * PAGE), "{name} rss");
        let cell = regions.get(r, "path");
        let bytes = unescape(cell).unwrap_or_else(|| panic!("{name}: bad escape {cell:?}"));
        assert_eq!(
            bytes,
            path.clone().unwrap_or_default(),
            "{name} path {cell:?}"
        );
        let want_deleted = path.as_ref().is_some_and(|p| p.ends_with(b" (deleted)"));
        assert_eq!(
            regions.get(r, "deleted"),
            want_deleted.to_string(),
            "{name}"
        );
        if name == "anon_touched" {
            assert_eq!(regions.num(r, "private_dirty"), Some(5 * PAGE));
            assert_eq!(regions.num(r, "anonymous"), Some(5 * PAGE));
        }
        if name == "file_ro" {
            assert!(regions.num(r, "inode").unwrap() > 0);
            assert_eq!(regions.get(r, "max_perms"), "rwx");
        }
    }
}

/// Every region row matches a line of the kernel's own `/proc/PID/maps`, in order, and there
/// are as many rows as lines.
#[test]
fn regions_are_the_kernels_maps_line_for_line() {
    let target = start_map_target(&[]);
    target.stop();
    let (out, _) = sweep(&[target.pid()], &[]);
    let maps = std::fs::read(format!("/proc/{}/maps", target.pid())).unwrap();
    let lines: Vec<&[u8]> = maps
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let regions = Table::read(&out.path().join("regions.csv"));
    let rows = regions.rows_for(target.pid());
    assert_eq!(rows.len(), lines.len());
    for (line, row) in lines.iter().zip(rows) {
        let text = String::from_utf8_lossy(line);
        let mut f = text.split_whitespace();
        let (s, e) = f.next().unwrap().split_once('-').unwrap();
        assert_eq!(
            regions.num(row, "start"),
            Some(u64::from_str_radix(s, 16).unwrap())
        );
        assert_eq!(
            regions.num(row, "end"),
            Some(u64::from_str_radix(e, 16).unwrap())
        );
        assert_eq!(regions.get(row, "perms"), f.next().unwrap());
        // The kernel prints a newline in a path as \012; the CSV holds the real byte.
        let want = replace_012(path_of_line(line));
        assert_eq!(unescape(regions.get(row, "path")).unwrap(), want, "{text}");
    }
}

/// The path of a maps line: what follows the fifth field and its padding.
fn path_of_line(line: &[u8]) -> &[u8] {
    let skip = |rest: &[u8], pred: fn(&u8) -> bool| {
        rest.iter().position(|b| !pred(b)).unwrap_or(rest.len())
    };
    let mut rest = line;
    for _ in 0..5 {
        rest = &rest[skip(rest, |&b| b == b' ')..];
        rest = &rest[skip(rest, |&b| b != b' ')..];
    }
    &rest[skip(rest, |&b| b == b' ')..]
}

fn replace_012(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"\\012") {
            out.push(b'\n');
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn maps_detail_has_regions_but_no_residency() {
    let target = start_map_target(&[]);
    target.stop();
    let out = tempfile::tempdir().unwrap();
    let status = support::vmpipe()
        .arg("run")
        .arg(support::repo().join("pipelines/maps-only.toml"))
        .arg("--out")
        .arg(out.path())
        .args(["--quiet", "--pid", &target.pid().to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let regions = Table::read(&out.path().join("regions.csv"));
    let rows = regions.rows_for(target.pid());
    let maps = std::fs::read(format!("/proc/{}/maps", target.pid())).unwrap();
    assert_eq!(rows.len(), maps.iter().filter(|&&b| b == b'\n').count());
    for r in rows {
        for col in [
            "rss",
            "pss",
            "swap",
            "private_dirty",
            "vm_flags",
            "max_perms",
        ] {
            assert_eq!(regions.get(r, col), "", "{col} must be absent, not zero");
        }
    }
    let procs = Table::read(&out.path().join("processes.csv"));
    let p = procs.rows_for(target.pid())[0];
    assert_eq!(procs.get(p, "rss"), "");
    assert!(procs.num(p, "vsize").unwrap() > 0);
}
