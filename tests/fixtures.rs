//! The parsers against real captures from real machines (tests/fixtures, see its README).
//! Expected values come from the files themselves, read line by line here.

use std::path::PathBuf;

use vmpipe::model::{RegionKind, UsageField};
use vmpipe::source::linux::{ParseError, maps, smaps};

fn fixture(rel: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn is_header(line: &str) -> bool {
    let first = line.split(' ').next().unwrap_or("");
    first.contains('-')
        && first
            .split('-')
            .all(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Sum of a kB field over the lines of `text` before line `until` (1-based, exclusive).
fn sum_kb(text: &str, field: &str, until: usize) -> u64 {
    text.lines()
        .take(until - 1)
        .filter_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim().trim_end_matches(" kB").parse::<u64>().unwrap() * 1024)
        .sum()
}

#[test]
fn complete_smaps_captures_parse_whole() {
    for name in [
        "smaps/smaps_a.out-memfd_ubuntu20.04_kernel5.x.txt",
        "smaps/smaps_go-benchmark-tail_kernel3.x_EXCERPT.txt",
    ] {
        let bytes = fixture(name);
        let text = String::from_utf8(bytes.clone()).unwrap();
        let mut regions = Vec::new();
        smaps::parse(&bytes, &mut regions).unwrap_or_else(|e| panic!("{name}: {e}"));
        let headers = text.lines().filter(|l| is_header(l)).count();
        assert_eq!(regions.len(), headers, "{name}");
        let end = text.lines().count() + 1;
        for (field, f) in [
            ("Rss", UsageField::Rss),
            ("Pss", UsageField::Pss),
            ("Swap", UsageField::Swap),
        ] {
            let ours: u64 = regions.iter().filter_map(|r| r.usage.get(f)).sum();
            assert_eq!(ours, sum_kb(&text, field, end), "{name} {field}");
        }
        for r in &regions {
            assert!(r.vm_flags.is_some(), "{name}: every record has VmFlags");
        }
    }
}

#[test]
fn memfd_capture_names_the_memfd_region() {
    let mut regions = Vec::new();
    smaps::parse(
        &fixture("smaps/smaps_a.out-memfd_ubuntu20.04_kernel5.x.txt"),
        &mut regions,
    )
    .unwrap();
    let memfd: Vec<_> = regions
        .iter()
        .filter(|r| r.kind == RegionKind::Memfd)
        .collect();
    assert_eq!(memfd.len(), 1);
    let m = memfd[0];
    assert_eq!(m.start, 0x7fa09292d000);
    assert_eq!(m.end, 0x7fa09296d000);
    assert_eq!(m.perms.to_string(), "rw-s");
    assert_eq!(m.path.as_deref(), Some(&b"/memfd:foo (deleted)"[..]));
    assert!(m.deleted());
    // The 4-space THPeligible layout of that kernel.
    assert!(
        regions
            .iter()
            .all(|r| r.usage.get(UsageField::ThpEligible).is_some())
    );
}

#[test]
fn old_field_order_and_trailing_space_in_vmflags() {
    let mut regions = Vec::new();
    smaps::parse(
        &fixture("smaps/smaps_go-benchmark-tail_kernel3.x_EXCERPT.txt"),
        &mut regions,
    )
    .unwrap();
    let stack = regions
        .iter()
        .find(|r| r.kind == RegionKind::Stack)
        .unwrap();
    assert_eq!(stack.vm_flags.as_deref(), Some("rd wr mr mw me gd ac"));
    assert_eq!(stack.usage.get(UsageField::KernelPageSize), Some(4096));
    assert_eq!(
        stack.usage.get(UsageField::PssDirty),
        None,
        "kernel 3.x has no Pss_Dirty"
    );
    assert_eq!(stack.max_perms(), Some(*b"rwx"));
}

/// Files cut by whoever published them: a clear error that names the first line that is not
/// smaps, with every record before it kept.
#[test]
fn cut_captures_give_a_clear_error_naming_the_line() {
    for name in [
        "smaps/smaps_busybox-pid13_kernel5.x_head60_TRUNCATED.txt",
        "smaps/smaps_init-upstart_ubuntu14.04_kernel3.13_EXCERPT.txt",
    ] {
        let bytes = fixture(name);
        let text = String::from_utf8(bytes.clone()).unwrap();
        let bad_line = text
            .lines()
            .position(|l| !is_header(l) && !l.contains(':'))
            .map(|i| i + 1)
            .expect("the fixture has a non-smaps line");
        let mut regions = Vec::new();
        let err = smaps::parse(&bytes, &mut regions).unwrap_err();
        assert_eq!(
            err,
            ParseError::Malformed {
                line: bad_line,
                what: "address range"
            },
            "{name}"
        );
        let before = text
            .lines()
            .take(bad_line - 1)
            .filter(|l| is_header(l))
            .count();
        assert_eq!(regions.len(), before, "{name}");
        let rss: u64 = regions
            .iter()
            .filter_map(|r| r.usage.get(UsageField::Rss))
            .sum();
        assert_eq!(rss, sum_kb(&text, "Rss", bad_line), "{name}");
    }
}

#[test]
fn maps_captures_parse_with_padding_and_trailing_spaces() {
    let bytes = fixture("maps/maps_lkpmem_ubuntu18.04_glibc2.27.txt");
    let text = String::from_utf8(bytes.clone()).unwrap();
    let mut regions = Vec::new();
    maps::parse(&bytes, &mut regions).unwrap();
    assert_eq!(
        regions.len(),
        text.lines().filter(|l| !l.is_empty()).count()
    );
    for (r, line) in regions.iter().zip(text.lines()) {
        let printed = line.split_whitespace().nth(5);
        match printed {
            Some(p) => assert_eq!(r.path.as_deref(), Some(p.as_bytes()), "{line}"),
            None => {
                assert_eq!(r.path, None, "{line:?}");
                assert_eq!(r.kind, RegionKind::Anon);
            }
        }
    }
    assert!(
        text.lines().any(|l| l.ends_with(' ')),
        "the fixture has anonymous lines ending in a space"
    );

    let mut regions = Vec::new();
    maps::parse(
        &fixture("maps/maps_nasm-raw-elf-loop_artix_kernel6.x.txt"),
        &mut regions,
    )
    .unwrap();
    assert_eq!(regions.len(), 5);
    let vsyscall = regions.last().unwrap();
    assert_eq!(vsyscall.kind, RegionKind::Vsyscall);
    assert_eq!(vsyscall.perms.to_string(), "--xp");
    assert_eq!(vsyscall.start, 0xffffffffff600000);
}
