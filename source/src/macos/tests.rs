//! The collector's vocabularies against real vmmap reports (`tests/fixtures/vmmap/`): for the
//! same facts, the collector must produce the same region-type and share-mode strings as the
//! reports print, and the same records as the vmmap-report source makes of them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::dyld::LoadedImage;
use super::macho::Segment;
use super::regions::{self, Leaf, PageDispositions};
use super::segments::SegmentMap;
use super::share_mode::{SHARE_MODES, SM_TRUESHARED, share_mode_code, share_mode_name};
use super::submap_walk::RegionInfo;
use super::tags::{self, Evidence, TAGS, TagFacts};
use crate::model::{Region, UsageField};
use crate::vmmap::VmmapReports;
use crate::vmmap::{self, VmmapReport};
use crate::{Selection, Source};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/vmmap")
}

/// Every report file with its text (the README is not one).
fn fixture_files() -> Vec<(PathBuf, Vec<u8>)> {
    let mut out: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(fixture_dir())
        .expect("tests/fixtures/vmmap")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .map(|p| {
            let bytes = std::fs::read(&p).expect("fixture");
            (p, bytes)
        })
        .collect();
    out.sort();
    assert!(out.len() >= 10, "only {} fixtures", out.len());
    out
}

/// Every report that parses (the damaged excerpt may not).
fn reports() -> Vec<(PathBuf, VmmapReport)> {
    fixture_files()
        .into_iter()
        .filter_map(|(p, b)| vmmap::parse(&b).ok().map(|r| (p, r)))
        .collect()
}

fn name(p: &Path) -> String {
    p.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

#[test]
fn every_share_mode_the_reports_print_is_the_tables_spelling() {
    let mut seen = BTreeSet::new();
    let mut rows = 0;
    for (path, report) in reports() {
        for row in &report.regions {
            let Some(sm) = row.share_mode.as_deref() else {
                continue;
            };
            let code = share_mode_code(sm).unwrap_or_else(|| {
                panic!("{}:{}: SM={sm} not in the table", name(&path), row.line)
            });
            assert_eq!(share_mode_name(code), Some(sm));
            seen.insert(sm.to_string());
            rows += 1;
        }
    }
    assert!(rows > 400, "{rows} rows with a share mode");
    let want: BTreeSet<String> = ["COW", "PRV", "NUL", "ALI", "SHM", "ZER"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(seen, want, "the share modes the fixtures print");
}

#[test]
fn vmmaps_legend_lists_the_share_modes_in_the_kernels_numeric_order() {
    let mut legends = 0;
    for (path, bytes) in fixture_files() {
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.lines().collect();
        let Some(at) = lines
            .iter()
            .position(|l| l.trim_start().starts_with("SM=sharing mode:"))
        else {
            continue;
        };
        let names: Vec<&str> = lines[at + 1..]
            .iter()
            .take(2)
            .flat_map(|l| l.split_whitespace())
            .filter_map(|tok| tok.split_once('=').map(|(n, _)| n))
            .collect();
        let by_code: Vec<&str> = SHARE_MODES.iter().take(7).map(|(_, n)| *n).collect();
        assert_eq!(names, by_code, "{}", name(&path));
        legends += 1;
    }
    assert!(legends >= 5, "{legends} legends");
}

/// Region types vmmap prints that no tag (nor a tag rule) gives, and where they come from.
/// The test below fails on any type in the reports not accounted for here or by the tables.
const NOT_FROM_TAGS: &[(&str, &str)] = &[
    (
        "MALLOC",
        "the macOS 10.10 / format 2.2 spelling of VM_MEMORY_MALLOC regions (MALLOC metadata since 10.12)",
    ),
    (
        "MALLOC (admin)",
        "old libmalloc zone administration, from reading the zones",
    ),
    ("MALLOC freed, no zone", "from reading the zones"),
    ("MALLOC_LARGE metadata", "from reading the zones"),
    ("MALLOC_NANO metadata", "from reading the zones"),
    (
        "owned unmapped",
        "ledger accounting of memory owned but not mapped: no region",
    ),
    ("page table in kernel", "ledger accounting: no region"),
    (
        "AttributeGraph Data (old",
        "a name registered by its allocator (macOS 26), cut by vmmap",
    ),
];

/// Qualifiers vmmap appends to a type from its own accounting.
const QUALIFIERS: [&str; 3] = [" (empty)", " (reserved)", " (graphics)"];

fn base_type(t: &str) -> &str {
    QUALIFIERS
        .iter()
        .find_map(|q| t.strip_suffix(q))
        .unwrap_or(t)
}

/// A Mach-O segment type (`__TEXT`), possibly as an unused shared-cache piece
/// (`unused __DATA`, `unused but dirty shlib __DATA`).
fn segment_name(t: &str) -> Option<&str> {
    let seg = t
        .strip_prefix("unused but dirty shlib ")
        .or_else(|| t.strip_prefix("unused shlib "))
        .or_else(|| t.strip_prefix("unused "))
        .unwrap_or(t);
    (seg.starts_with("__") && seg.len() <= 16 && !seg.contains(' ')).then_some(seg)
}

/// The facts under which the tables give `t`, if they can.
fn facts_for(t: &str) -> Option<TagFacts> {
    let mut f = TagFacts {
        share_mode: 2,
        ..TagFacts::default()
    };
    match t {
        "mapped file" => f.external_pager = true,
        "shared memory" => f.share_mode = SM_TRUESHARED,
        "VM_ALLOCATE" => {}
        _ => {
            f.user_tag = tags::tag_for_type(t)?;
            f.no_access = matches!(t, "STACK GUARD" | "MALLOC guard page");
        }
    }
    Some(f)
}

/// Every region type of every report (rows and Summary), with the files it is in.
fn report_types() -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, report) in reports() {
        let types = report
            .regions
            .iter()
            .map(|r| r.region_type.clone())
            .chain(report.summary.iter().map(|s| s.region_type.clone()));
        for t in types {
            out.entry(t).or_default().insert(name(&path));
        }
    }
    out
}

#[test]
fn every_region_type_the_reports_print_is_accounted_for_and_spelled_alike() {
    let mut produced = BTreeSet::new();
    let mut unexplained = Vec::new();
    let mut not_from_tags_seen = BTreeSet::new();
    for (t, files) in report_types() {
        let base = base_type(&t);
        if segment_name(base).is_some() {
            continue;
        }
        if let Some(f) = facts_for(base) {
            // The table's spelling is the report's, character for character.
            assert_eq!(tags::region_type(&f), base, "{t} in {files:?}");
            produced.insert(base.to_string());
            continue;
        }
        if NOT_FROM_TAGS.iter().any(|(n, _)| *n == base) {
            not_from_tags_seen.insert(base.to_string());
            continue;
        }
        unexplained.push(format!("{t:?} in {files:?}"));
    }
    assert!(
        unexplained.is_empty(),
        "region types the tables neither produce nor explain:\n{}",
        unexplained.join("\n")
    );
    // The exception list holds only what the reports really print.
    let listed: BTreeSet<String> = NOT_FROM_TAGS.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(not_from_tags_seen, listed);
    // The reverse: every name the table attributes to the fixtures is printed there.
    for t in TAGS.iter().filter(|t| t.evidence == Evidence::Fixture) {
        assert!(produced.contains(t.name), "{t:?} is not in the fixtures");
    }
    for rule in tags::RULE_NAMES {
        assert!(produced.contains(rule), "{rule} is not in the fixtures");
    }
    // Unknown tags print as vmmap prints them.
    assert!(produced.contains("Memory Tag 22"));
    assert!(
        produced.len() >= 20,
        "{} types produced: {produced:?}",
        produced.len()
    );
}

#[test]
fn table_names_never_collide_with_segment_or_accounting_names() {
    for n in tags::all_names() {
        assert!(segment_name(n).is_none(), "{n}");
        assert!(!NOT_FROM_TAGS.iter().any(|(x, _)| *x == n), "{n}");
        assert_eq!(base_type(n), n, "{n} carries a qualifier");
    }
}

/// No page is ever asked (the regions built here are never split).
struct NoPages;

impl PageDispositions for NoPages {
    fn page_size(&self) -> u64 {
        4096
    }
    fn dispositions(&mut self, _: u64, _: u64) -> Option<Vec<i32>> {
        panic!("no region here is split")
    }
}

fn prot_bits(chars: [u8; 3]) -> u32 {
    u32::from(chars[0] == b'r')
        | u32::from(chars[1] == b'w') << 1
        | u32::from(chars[2] == b'x') << 2
}

/// The report's region as the kernel would describe it to the collector, or `None` when the
/// tables cannot give its type. Page counts are the report's sizes at 4 KiB when they divide.
fn as_kernel_facts(r: &Region) -> Option<(Leaf, SegmentMap)> {
    let rep = r.reported.as_deref()?;
    let sm = share_mode_code(rep.share_mode.as_deref()?)?;
    let page = |f| {
        r.usage
            .get(f)
            .filter(|v| v % 4096 == 0)
            .map(|v| (v / 4096) as u32)
    };
    let p = r.perms.as_bytes();
    let mut info = RegionInfo {
        start: r.start,
        size: r.size(),
        protection: prot_bits([p[0], p[1], p[2]]),
        max_protection: prot_bits(rep.max_prot?),
        share_mode: sm,
        pages_resident: page(UsageField::Rss).unwrap_or(0),
        pages_dirtied: page(UsageField::Dirty).unwrap_or(0),
        pages_swapped_out: page(UsageField::Swap).unwrap_or(0),
        ..RegionInfo::default()
    };
    let mut segments = SegmentMap::default();
    if let Some(seg) = segment_name(&rep.region_type) {
        if seg != &*rep.region_type || r.path.is_none() {
            // An unused shared-cache piece (not produced, see the module docs), or a row whose
            // detail is not a path (cut by vmmap): the collector always knows the image path.
            return None;
        }
        info.external_pager = true;
        segments = SegmentMap::new(&[LoadedImage {
            path: r.path.clone()?,
            load_address: r.start,
            segments: vec![Segment {
                name: rep.region_type.clone(),
                start: r.start,
                end: r.end,
                fileoff: 0,
            }],
        }]);
    } else {
        let f = facts_for(&rep.region_type)?;
        info.user_tag = f.user_tag;
        info.external_pager = f.external_pager || r.path.is_some();
    }
    Some((
        Leaf {
            info,
            path: if segments.is_empty() {
                r.path.clone()
            } else {
                None
            },
            purge_state: rep.purge.as_deref().map(|p| match p {
                "N" => 0,
                "V" => 1,
                _ => 2,
            }),
        },
        segments,
    ))
}

/// Rows whose type the tables cannot reproduce from the row's own facts, with why. The test
/// fails if this list is not exactly what the fixtures hold.
const KNOWN_DIFFERENCES: &[(&str, u64, &str)] = &[(
    "vmmap_ocspd_macos10.10.5_fmt2.3_snipped.txt",
    0x7fff_ffe0_0000,
    "the commpage: macOS 10.10's vmmap printed it as VM_ALLOCATE (SM=SHM); from 10.13 on vmmap \
     prints the same facts as shared memory (vmmap_ping_stop-at-entry_macos10.13.6.txt, \
     vmmap_wide_go_macos10.13.6_blogpost.txt), which is what the collector produces",
)];

#[test]
fn the_same_facts_give_the_same_records_as_the_vmmap_report_source() {
    let mut compared = 0;
    let mut differences = Vec::new();
    for (path, _) in fixture_files() {
        let source = VmmapReports::open(&path, Selection::default()).expect("open");
        for pid in source.list().expect("list") {
            let Some(c) = source.collect(pid) else {
                continue;
            };
            for want in &c.regions {
                let Some((leaf, segments)) = as_kernel_facts(want) else {
                    continue;
                };
                let built = regions::build(&[leaf], &segments, 4096, &mut NoPages);
                assert_eq!(built.regions.len(), 1);
                let got = &built.regions[0];
                let (w, g) = (
                    want.reported.as_deref().expect("reported"),
                    got.reported.as_deref().expect("reported"),
                );
                if w.region_type != g.region_type {
                    differences.push((
                        name(&path),
                        want.start,
                        format!("{} printed, {} produced", w.region_type, g.region_type),
                    ));
                    continue;
                }
                let at = format!("{} {:#x} {}", name(&path), want.start, w.region_type);
                assert_eq!(g.share_mode, w.share_mode, "{at}");
                assert_eq!(g.max_prot, w.max_prot, "{at}");
                assert_eq!(g.purge, w.purge, "{at}");
                assert_eq!(got.perms, want.perms, "{at}");
                assert_eq!(got.kind, want.kind, "{at}");
                assert_eq!(got.path, want.path, "{at}");
                assert_eq!((got.start, got.end), (want.start, want.end), "{at}");
                for f in [UsageField::Rss, UsageField::Dirty, UsageField::Swap] {
                    if want.usage.get(f).is_some_and(|v| v % 4096 == 0) {
                        assert_eq!(got.usage.get(f), want.usage.get(f), "{at} {f:?}");
                    }
                }
                compared += 1;
            }
        }
    }
    let known: Vec<(String, u64)> = KNOWN_DIFFERENCES
        .iter()
        .map(|(f, a, _)| (f.to_string(), *a))
        .collect();
    let found: Vec<(String, u64)> = differences
        .iter()
        .map(|(f, a, _)| (f.clone(), *a))
        .collect();
    assert_eq!(found, known, "differences: {differences:#?}");
    assert!(compared > 400, "{compared} rows compared");
}

#[test]
fn process_facts_map_as_ps_and_the_linux_source_do() {
    use super::{errno_status, state_letter, wants_purge_state};
    use crate::model::ProcessStatus;

    assert_eq!(state_letter(2), Some(b'R'));
    assert_eq!(state_letter(3), Some(b'S'));
    assert_eq!(state_letter(4), Some(b'T'));
    assert_eq!(state_letter(5), Some(b'Z'));
    assert_eq!(state_letter(1), None);
    assert_eq!(state_letter(99), None);
    let esrch = std::io::Error::from_raw_os_error(3);
    let eperm = std::io::Error::from_raw_os_error(1);
    assert_eq!(
        errno_status(&esrch, ProcessStatus::Denied),
        ProcessStatus::Vanished
    );
    assert_eq!(
        errno_status(&eperm, ProcessStatus::Denied),
        ProcessStatus::Denied
    );
    let anon = RegionInfo {
        share_mode: 2,
        ..RegionInfo::default()
    };
    assert!(wants_purge_state(&anon));
    assert!(!wants_purge_state(&RegionInfo {
        external_pager: true,
        ..anon
    }));
    assert!(!wants_purge_state(&RegionInfo {
        share_mode: 3,
        ..anon
    }));
}
