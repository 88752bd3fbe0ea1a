//! `vmpipe report`: a vmmap report re-rendered gives back the report's own Summary table,
//! row for row and figure for figure; a live process is shown in the same layout.

mod support;

use std::path::PathBuf;

fn fixtures() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/vmmap");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    files
}

fn is_value(t: &str) -> bool {
    let digits = t.trim_end_matches(['K', 'M', 'G', 'T']);
    !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// The rows of the Summary table of a report, as `(type, figures as printed)`: read with a
/// plain split, independently of vmpipe's parser.
fn summary_rows(text: &str) -> Vec<(String, Vec<String>)> {
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let Some(head) = lines.iter().position(|l| {
        l.starts_with("REGION TYPE")
            && (l.contains("SIZE") || l.contains("COUNT"))
            && !l.contains('[')
    }) else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for l in &lines[head + 1..] {
        if l.starts_with("===") || l.trim().is_empty() {
            if l.trim().is_empty() && !rows.is_empty() {
                break;
            }
            continue;
        }
        // The type is everything before the first figure preceded by two spaces.
        let Some(at) = l.find("  ") else { continue };
        let name = l[..at].trim().to_string();
        let figures: Vec<String> = l[at..]
            .split_whitespace()
            .take_while(|t| is_value(t))
            .map(str::to_string)
            .collect();
        if !figures.is_empty() {
            rows.push((name, figures));
        }
    }
    rows
}

#[test]
fn every_summary_table_is_rendered_back_as_the_report_printed_it() {
    let mut compared = 0;
    for file in fixtures() {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let original = std::fs::read_to_string(&file).unwrap();
        let out = support::vmpipe().arg("report").arg(&file).output().unwrap();
        let rendered = String::from_utf8_lossy(&out.stdout).into_owned();
        if name.contains("DAMAGED") {
            // A clear error or a best-effort report, never a crash.
            assert!(out.status.code().is_some(), "{name}: killed by a signal");
            continue;
        }
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let want = summary_rows(&original);
        if want.is_empty() {
            continue;
        }
        let got = summary_rows(&rendered[rendered.find("==== Summary").unwrap_or(0)..]);
        for (ty, figures) in &want {
            let ours = got
                .iter()
                .find(|(t, _)| t == ty)
                .unwrap_or_else(|| panic!("{name}: no `{ty}` row in\n{rendered}"));
            assert_eq!(&ours.1, figures, "{name}: row `{ty}`");
        }
        compared += 1;
    }
    assert!(
        compared >= 6,
        "only {compared} reports had a Summary to compare"
    );
}

#[test]
fn a_live_process_is_shown_in_vmmaps_layout() {
    let target = support::start_target("threadtarget", |_| Vec::new(), &[]);
    target.stop();
    let out = support::vmpipe()
        .arg("report")
        .arg(target.pid().to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for part in [
        format!("Process:         threadtarget [{}]", target.pid()),
        format!("==== Non-writable regions for process {}", target.pid()),
        format!("==== Writable regions for process {}", target.pid()),
        "==== Legend".into(),
        format!("==== Summary for process {}", target.pid()),
    ] {
        assert!(text.contains(&part), "missing {part:?} in\n{text}");
    }
    // One row per region, typed from the analyzers: four guarded threads, their stacks, the
    // static binary's text.
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", target.pid())).unwrap();
    let is_row = |l: &str| {
        l.split_whitespace().any(|t| {
            t.split_once('-').is_some_and(|(a, b)| {
                a.len() == 16
                    && b.len() == 16
                    && (a.to_string() + b).chars().all(|c| c.is_ascii_hexdigit())
            })
        })
    };
    let rows = text.lines().filter(|l| is_row(l)).count();
    assert_eq!(rows, maps.lines().count(), "{text}");
    let count = |ty: &str| {
        text.lines()
            .filter(|l| l.starts_with(ty) && is_row(l))
            .count()
    };
    assert_eq!(count("STACK GUARD "), 4);
    assert_eq!(count("Stack "), 5, "four thread stacks and the main one");
    assert!(count("text ") >= 1);
    // The summary's TOTAL counts every region.
    let total = text.lines().find(|l| l.starts_with("TOTAL")).unwrap();
    assert!(
        total
            .trim_end()
            .ends_with(&format!(" {}", maps.lines().count())),
        "{total}"
    );
}

/// The MALLOC ZONE rows of every report are in `malloc_zones.csv`, name for name and figure for
/// figure (read from the report's lines with a plain split).
#[test]
fn malloc_zone_tables_become_malloc_zones_rows() {
    let mut compared = 0;
    for file in fixtures() {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
        let Some(head) = lines.iter().position(|l| l.starts_with("MALLOC ZONE")) else {
            continue;
        };
        // Zone rows: between the first rule line after the header and the next rule line.
        let rows: Vec<Vec<&str>> = lines[head + 1..]
            .iter()
            .skip_while(|l| !l.starts_with("==="))
            .skip(1)
            .take_while(|l| !l.starts_with("===") && !l.trim().is_empty())
            .map(|l| l.split_whitespace().collect())
            .collect();
        if rows.is_empty() || file.to_string_lossy().contains("DAMAGED") {
            continue;
        }
        let out = support::run_offline("vmmap-report.toml", &file);
        let zones = support::Table::read(&out.path().join("malloc_zones.csv"));
        assert_eq!(zones.rows.len(), rows.len(), "{}", file.display());
        for (printed, row) in rows.iter().zip(&zones.rows) {
            assert_eq!(zones.get(row, "zone"), printed[0]);
            assert_eq!(zones.get(row, "status"), "reported");
            // The allocation count is printed as a plain integer: it must be among the row's
            // figures, exactly.
            let count = zones.get(row, "allocation_count");
            assert!(
                printed[1..].contains(&count),
                "{}: {count} not in {printed:?}",
                file.display()
            );
        }
        compared += 1;
    }
    assert!(compared >= 3, "only {compared} reports had zones");
}

/// Round trip: a report rendered by `vmpipe report` parses back to the same regions and the
/// same Summary as the original.
#[test]
fn rendered_reports_parse_back_to_the_same_facts() {
    use vmpipe::source::vmmap::parse;
    let mut checked = 0;
    for file in fixtures() {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if name.contains("DAMAGED") {
            continue;
        }
        let original = parse(&std::fs::read(&file).unwrap()).unwrap();
        let out = support::vmpipe().arg("report").arg(&file).output().unwrap();
        assert!(out.status.success());
        let again = parse(&out.stdout).unwrap_or_else(|e| panic!("{name}: {e}"));
        let key = |r: &vmpipe::source::vmmap::VmmapRegion| {
            (
                r.start,
                r.end,
                r.region_type.clone(),
                r.prot,
                r.max_prot,
                r.share_mode.clone(),
                r.vsize,
                r.resident,
                r.dirty,
                r.swap,
            )
        };
        let mut a: Vec<_> = original.regions.iter().map(key).collect();
        let mut b: Vec<_> = again.regions.iter().map(key).collect();
        a.sort();
        b.sort();
        let only_a: Vec<_> = a.iter().filter(|x| !b.contains(x)).take(3).collect();
        let only_b: Vec<_> = b.iter().filter(|x| !a.contains(x)).take(3).collect();
        assert!(
            a == b,
            "{name}: regions: {} vs {}; only in the original {only_a:?}; only in the rendering {only_b:?}",
            a.len(),
            b.len()
        );
        let sum = |rows: &[vmpipe::source::vmmap::SummaryRow]| {
            rows.iter()
                .map(|r| {
                    (
                        r.region_type.clone(),
                        r.virtual_size,
                        r.resident,
                        r.region_count,
                    )
                })
                .collect::<Vec<_>>()
        };
        // A report without a Summary (an excerpt) gets one computed from its regions.
        if !original.summary.is_empty() {
            assert_eq!(
                sum(&original.summary),
                sum(&again.summary),
                "{name}: summary"
            );
        }
        assert_eq!(again.header.pid, original.header.pid);
        checked += 1;
    }
    assert!(checked >= 10);
}
