//! The vmmap report parser against real reports (`tests/fixtures/vmmap/`, see its README).
//!
//! Every expectation is re-derived from the report itself — its header lines, its region
//! lines, its Summary and MALLOC ZONE tables — with simple, independent reading (splitting a
//! line on runs of two or more spaces, taking a word), never copied from the parser's output.

use vmpipe::source::vmmap::{VmmapRegion, VmmapReport, parse};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/vmmap/");

/// What `tests/fixtures/vmmap/README.md` says of a fixture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Complete, as vmmap printed it: no warning expected.
    Complete,
    /// Snipped, an excerpt, or edited: at least one warning expected.
    Cut,
    /// Damaged (every `- ` lost): parsed best-effort, every damaged row a warning.
    Damaged,
}

const FIXTURES: &[(&str, State)] = &[
    ("vmmap_ocspd_macos10.10.5_fmt2.3_snipped.txt", State::Cut),
    ("vmmap_ping_stop-at-entry_macos10.13.6.txt", State::Complete),
    (
        "vmmap_shared_library_demo_macos14.0_arm64.txt",
        State::Complete,
    ),
    ("vmmap_wide_go_macos10.13.6_blogpost.txt", State::Cut),
    ("vmmap_python-chroma_fmt2.2_snipped.txt", State::Cut),
    (
        "vmmap-resident_python-chroma_fmt2.2_snipped.txt",
        State::Cut,
    ),
    ("vmmap-summary_hyperkit_macos10.14.1.txt", State::Complete),
    ("vmmap-summary_hyperkit_macos10.12.txt", State::Complete),
    (
        "vmmap-summary_python-mlx_macos26.4.1_arm64.txt",
        State::Complete,
    ),
    (
        "vmmap-interleaved_finder_macos26.5.2_arm64_partial.txt",
        State::Cut,
    ),
    (
        "vmmap-pages_memory_allocation_macos10.14.4_EDITED.txt",
        State::Cut,
    ),
    (
        "vmmap_gopls_macos13.3.1_arm64_DAMAGED_excerpt.txt",
        State::Damaged,
    ),
];

struct Fixture {
    name: &'static str,
    state: State,
    text: String,
    report: VmmapReport,
}

impl Fixture {
    fn lines(&self) -> Vec<&str> {
        self.text.lines().collect()
    }

    /// Line `n` (1-based) of the text.
    fn line(&self, n: usize) -> &str {
        self.text.lines().nth(n - 1).unwrap_or("")
    }

    /// The `VM page size:` of the text, by its fourth word.
    fn page_size(&self) -> Option<f64> {
        self.lines()
            .iter()
            .find(|l| l.starts_with("VM page size:"))
            .and_then(|l| l.split_whitespace().nth(3))
            .map(|w| w.parse().unwrap())
    }

    /// The page size bare numbers count in, when the report was made with `-pages` (its
    /// table headers say `PAGES`).
    fn pages(&self) -> Option<f64> {
        self.text
            .contains(" PAGES ")
            .then(|| self.page_size().unwrap_or(4096.0))
    }
}

fn fixtures() -> Vec<Fixture> {
    FIXTURES
        .iter()
        .map(|&(name, state)| {
            let bytes = std::fs::read(format!("{DIR}{name}")).unwrap();
            let report = parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            Fixture {
                name,
                state,
                text: String::from_utf8(bytes).unwrap(),
                report,
            }
        })
        .collect()
}

/// A value as printed, read independently: `(bytes, half a unit of its last digit)`.
/// Suffixes are binary; a bare number is bytes, or pages of `page` bytes.
fn printed(s: &str, page: Option<f64>) -> (f64, f64) {
    let unit = match s.chars().last() {
        Some('K') => 1024f64,
        Some('M') => 1024f64.powi(2),
        Some('G') => 1024f64.powi(3),
        Some('T') => 1024f64.powi(4),
        _ => {
            let n: f64 = s.parse().unwrap_or_else(|_| panic!("{s:?}"));
            return (n * page.unwrap_or(1.0), 0.0);
        }
    };
    let number = &s[..s.len() - 1];
    let decimals = number.split_once('.').map_or(0, |(_, f)| f.len());
    let n: f64 = number.parse().unwrap_or_else(|_| panic!("{s:?}"));
    (n * unit, 0.5 * unit / 10f64.powi(decimals as i32))
}

/// The cells of a table line: split on runs of two or more spaces.
fn cells(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

fn close(parsed: Option<u64>, (value, tolerance): (f64, f64), what: &str) {
    let parsed = parsed.unwrap_or_else(|| panic!("{what}: not parsed")) as f64;
    assert!(
        (parsed - value).abs() <= tolerance + 1.0,
        "{what}: parsed {parsed}, printed {value} ± {tolerance}"
    );
}

/// The printed tokens inside a region line's `[ … ]`.
fn region_cells(line: &str) -> Vec<&str> {
    let inside = line.split_once('[').unwrap().1.split_once(']').unwrap().0;
    inside.split_whitespace().collect()
}

#[test]
fn every_fixture_is_listed() {
    let mut on_disk: Vec<String> = std::fs::read_dir(DIR)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".txt"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = FIXTURES.iter().map(|f| f.0.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

#[test]
fn every_fixture_is_handled() {
    for f in fixtures() {
        let w = &f.report.warnings;
        match f.state {
            State::Complete => assert!(w.is_empty(), "{}: {w:#?}", f.name),
            State::Cut | State::Damaged => assert!(!w.is_empty(), "{}", f.name),
        }
        // Every snip marker is reported on its line.
        for (i, l) in f.lines().iter().enumerate() {
            if l.trim() == "..." || l.trim() == "...(snip)..." {
                assert!(
                    w.iter().any(|w| w.line == i + 1),
                    "{}: line {}",
                    f.name,
                    i + 1
                );
            }
        }
        // Warnings are in line order and inside the text.
        let n = f.lines().len();
        assert!(w.windows(2).all(|p| p[0].line <= p[1].line));
        assert!(w.iter().all(|w| (1..=n).contains(&w.line)), "{}", f.name);
    }
}

#[test]
fn damaged_rows_are_skipped_with_a_warning_naming_their_line() {
    let f = fixtures()
        .into_iter()
        .find(|f| f.state == State::Damaged)
        .unwrap();
    let mut damaged = 0;
    for (i, l) in f.lines().iter().enumerate() {
        let line = i + 1;
        // A region line whose `SM=` lost the space before it.
        let Some(at) = l.find("SM=") else { continue };
        if !l.contains('[') {
            continue;
        }
        let glued = !l[..at].ends_with(' ');
        let parsed = f.report.regions.iter().any(|r| r.line == line);
        if glued {
            damaged += 1;
            assert!(!parsed, "line {line} was damaged but parsed");
            let w = f.report.warnings.iter().find(|w| w.line == line);
            let w = w.unwrap_or_else(|| panic!("no warning for damaged line {line}"));
            assert!(w.message.contains("skipped"), "{w}");
            assert!(w.to_string().starts_with(&format!("line {line}: ")));
        } else {
            assert!(parsed, "intact line {line} was not parsed");
        }
    }
    assert_eq!(damaged, 5);
    // An excerpt without its Summary: said too.
    assert!(
        f.report
            .warnings
            .iter()
            .any(|w| w.message.contains("Summary"))
    );
}

#[test]
fn region_rows_are_read_as_printed() {
    for f in fixtures() {
        let page = f.pages();
        for r in &f.report.regions {
            let line = f.line(r.line);
            let what = format!("{}:{}", f.name, r.line);
            // START-END: the token just before `[`.
            let before = line.split_once('[').unwrap().0;
            let range = before.split_whitespace().last().unwrap();
            let (start, end) = range.split_once('-').unwrap();
            assert_eq!(r.start, u64::from_str_radix(start, 16).unwrap(), "{what}");
            assert_eq!(r.end, u64::from_str_radix(end, 16).unwrap(), "{what}");
            let region_type = before.trim_end().strip_suffix(range).unwrap().trim();
            assert_eq!(r.region_type, region_type, "{what}");
            // The sizes, in [VSIZE RSDNT DIRTY SWAP] order.
            let printed_cells = region_cells(line);
            let fields = [r.vsize, r.resident, r.dirty, r.swap];
            for (k, field) in fields.iter().enumerate() {
                match printed_cells.get(k) {
                    Some(c) => close(*field, printed(c, page), &format!("{what} cell {k}")),
                    None => assert_eq!(*field, None, "{what} cell {k}"),
                }
            }
            // VSIZE is the address range, to the report's rounding.
            let (_, tolerance) = printed(printed_cells[0], page);
            close(r.vsize, ((r.end - r.start) as f64, tolerance), &what);
            // Protections and share mode, as the words after `]`.
            let after: Vec<&str> = line.split_once(']').unwrap().1.split_whitespace().collect();
            let (prt, max) = after[0].split_once('/').unwrap();
            assert_eq!(
                (&r.prot[..], &r.max_prot[..]),
                (prt.as_bytes(), max.as_bytes())
            );
            assert_eq!(
                Some(after[1]),
                r.share_mode.as_ref().map(|s| format!("SM={s}")).as_deref()
            );
            assert_eq!(
                r.purge.as_deref(),
                after.get(2).and_then(|w| w.strip_prefix("PURGE="))
            );
            assert!(line.trim_end().ends_with(&r.detail), "{what}");
        }
    }
}

/// The Summary type a region row is counted under: vmmap lists each unused part of the
/// shared cache's data (`unused __DATA`, `unused __AUTH`, …) but sums them as one type.
fn summary_type(r: &VmmapRegion) -> &str {
    if r.region_type.starts_with("unused ") {
        "unused but dirty shlib __DATA"
    } else {
        &r.region_type
    }
}

/// The REGION TYPE table read from the text: column names (from the header words) and,
/// per row, `(line, cells)`; then the TOTAL rows.
struct TextTable {
    columns: Vec<String>,
    rows: Vec<(usize, Vec<String>)>,
    totals: Vec<(usize, Vec<String>)>,
}

fn text_table(f: &Fixture, title: &str) -> Option<TextTable> {
    let lines = f.lines();
    let h = lines
        .iter()
        .position(|l| l.trim_start().starts_with(title) && !l.contains('['))?;
    let above = lines[h - 1].trim();
    let mut columns: Vec<String> = if above.is_empty() || above.contains(':') {
        lines[h]
            .split_whitespace()
            .skip(2)
            .map(String::from)
            .collect()
    } else {
        above.split_whitespace().map(String::from).collect()
    };
    if lines[h].contains("% FRAG") || lines[h].contains("% FULL") {
        // The percentage has no word above it: it comes before REGION COUNT, or last.
        let at = columns
            .iter()
            .position(|c| c == "REGION")
            .unwrap_or(columns.len());
        columns.insert(at, "%".into());
    }
    let mut rows = Vec::new();
    let mut totals = Vec::new();
    let mut rules = 0;
    for (i, l) in lines.iter().enumerate().skip(h + 1) {
        if l.trim_start().starts_with("===") {
            rules += 1;
            continue;
        }
        if l.trim().is_empty() {
            if rules >= 2 {
                break;
            }
            continue;
        }
        let row = (i + 1, cells(l).into_iter().map(String::from).collect());
        match rules {
            1 => rows.push(row),
            _ => totals.push(row),
        }
    }
    Some(TextTable {
        columns,
        rows,
        totals,
    })
}

impl TextTable {
    fn cell<'a>(&self, row: &'a [String], column: &str) -> Option<&'a str> {
        let k = self.columns.iter().position(|c| c == column)?;
        row.get(k + 1).map(String::as_str)
    }
}

#[test]
fn summary_rows_are_read_as_printed() {
    for f in fixtures() {
        let Some(table) = text_table(&f, "REGION TYPE") else {
            assert!(f.report.summary.is_empty(), "{}", f.name);
            continue;
        };
        let page = f.pages();
        assert_eq!(f.report.summary.len(), table.rows.len(), "{}", f.name);
        assert_eq!(
            f.report.summary_totals.len(),
            table.totals.len(),
            "{}",
            f.name
        );
        let parsed = f.report.summary.iter().chain(&f.report.summary_totals);
        for (row, (line, text)) in parsed.zip(table.rows.iter().chain(&table.totals)) {
            let what = format!("{}:{line}", f.name);
            assert_eq!(row.line, *line, "{what}");
            assert_eq!(row.region_type, text[0], "{what}");
            for (column, field) in [
                ("VIRTUAL", row.virtual_size),
                ("RESIDENT", row.resident),
                ("DIRTY", row.dirty),
                ("SWAPPED", row.swapped),
                ("VOLATILE", row.volatile),
                ("NONVOL", row.nonvolatile),
                ("EMPTY", row.empty),
            ] {
                match table.cell(text, column) {
                    Some(c) => close(field, printed(c, page), &format!("{what} {column}")),
                    None => assert_eq!(field, None, "{what} {column}"),
                }
            }
            let count = table
                .cell(text, "REGION")
                .map(|c| c.parse::<u64>().unwrap());
            assert_eq!(row.region_count, count, "{what}");
        }
        // The rows add up to the report's own TOTAL.
        let total = &table.totals[0];
        assert_eq!(total.1[0], "TOTAL");
        let (mut sum, mut tolerance) = (0.0, 0.0);
        for (_, text) in &table.rows {
            let (v, t) = printed(table.cell(text, "VIRTUAL").unwrap(), page);
            sum += v;
            tolerance += t;
        }
        let (v, t) = printed(table.cell(&total.1, "VIRTUAL").unwrap(), page);
        assert!(
            (sum - v).abs() <= tolerance + t,
            "{}: {sum} vs TOTAL {v}",
            f.name
        );
        let parsed_sum: u64 = f.report.summary.iter().filter_map(|r| r.virtual_size).sum();
        close(
            Some(parsed_sum),
            (v, tolerance + t),
            &format!("{} TOTAL", f.name),
        );
    }
}

#[test]
fn region_rows_reproduce_the_summary() {
    let mut checked = 0;
    for f in fixtures() {
        if f.report.regions.is_empty() {
            continue;
        }
        let Some(table) = text_table(&f, "REGION TYPE") else {
            continue;
        };
        checked += 1;
        let page = f.pages();
        let complete = f.state == State::Complete;
        for (line, text) in &table.rows {
            let name = text[0].as_str();
            let rows: Vec<&VmmapRegion> = f
                .report
                .regions
                .iter()
                .filter(|r| summary_type(r) == name)
                .collect();
            let what = format!("{}:{line} {name}", f.name);
            for (k, column) in ["VIRTUAL", "RESIDENT", "DIRTY", "SWAPPED"]
                .iter()
                .enumerate()
            {
                let Some(cell) = table.cell(text, column) else {
                    continue;
                };
                if rows.iter().any(|r| region_cells(f.line(r.line)).len() <= k) {
                    continue; // the region rows do not show this column (format 2.2, 2.3)
                }
                let (expected, mut tolerance) = printed(cell, page);
                let mut sum = 0u64;
                for r in &rows {
                    let field = [r.vsize, r.resident, r.dirty, r.swap][k].unwrap();
                    sum += field;
                    tolerance += printed(region_cells(f.line(r.line))[k], page).1;
                }
                let sum = sum as f64;
                if complete {
                    assert!(
                        (sum - expected).abs() <= tolerance + 1.0,
                        "{what} {column}: rows sum to {sum}, summary {expected} ± {tolerance}"
                    );
                } else {
                    // Snipped: the rows shown are a part of those summed.
                    assert!(
                        sum <= expected + tolerance + 1.0,
                        "{what} {column}: rows sum to {sum} > summary {expected} ± {tolerance}"
                    );
                }
            }
            if let Some(count) = table.cell(text, "REGION") {
                let count: usize = count.parse().unwrap();
                assert!(rows.len() <= count, "{what}: {} rows > {count}", rows.len());
            }
        }
        if complete {
            // Every row is counted under a Summary type.
            for r in &f.report.regions {
                let name = summary_type(r);
                assert!(
                    table.rows.iter().any(|(_, t)| t[0] == name),
                    "{}:{} type {name:?} not in the Summary",
                    f.name,
                    r.line
                );
            }
            // Region counts. The TOTAL count is the number of rows listed. The per-type
            // counts are "non-coalesced": on macOS 14 they add up to TOTAL and equal the
            // rows of each type; the 10.13 vmmap (ping) prints every per-type count one
            // higher than its rows while its TOTAL still counts the rows, so the per-type
            // counts there add up to TOTAL plus the number of types.
            let total: usize = table
                .cell(&table.totals[0].1, "REGION")
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(total, f.report.regions.len(), "{}", f.name);
            let per_type: Vec<(usize, usize)> = table
                .rows
                .iter()
                .map(|(_, t)| {
                    let count = table.cell(t, "REGION").unwrap().parse().unwrap();
                    let rows = f
                        .report
                        .regions
                        .iter()
                        .filter(|r| summary_type(r) == t[0])
                        .count();
                    (count, rows)
                })
                .collect();
            let sum: usize = per_type.iter().map(|p| p.0).sum();
            let off_by_one = sum == total + per_type.len();
            assert!(sum == total || off_by_one, "{}: {sum} vs {total}", f.name);
            for (count, rows) in per_type {
                assert_eq!(count, rows + usize::from(off_by_one), "{}", f.name);
            }
        }
    }
    // ocspd, ping, shared_library, wide, python 2.2 ×2, pages.
    assert_eq!(checked, 7);
}

#[test]
fn malloc_zone_rows_are_read_as_printed() {
    let mut checked = 0;
    for f in fixtures() {
        let Some(table) = text_table(&f, "MALLOC ZONE") else {
            assert!(f.report.malloc_zones.is_empty(), "{}", f.name);
            continue;
        };
        let page = f.pages();
        let pages_column = |c: &str| {
            // In a -pages report only the "PAGES" size columns count pages.
            let header = f
                .lines()
                .into_iter()
                .find(|l| l.starts_with("MALLOC ZONE"))
                .unwrap();
            let labels = cells(header);
            let k = table.columns.iter().position(|x| x == c).unwrap();
            labels.get(k + 1).is_some_and(|l| l.contains("PAGES"))
        };
        assert_eq!(f.report.malloc_zones.len(), table.rows.len(), "{}", f.name);
        assert_eq!(
            f.report.malloc_zone_total.is_some(),
            !table.totals.is_empty(),
            "{}",
            f.name
        );
        let parsed = f
            .report
            .malloc_zones
            .iter()
            .chain(&f.report.malloc_zone_total);
        for (zone, (line, text)) in parsed.zip(table.rows.iter().chain(&table.totals)) {
            checked += 1;
            let what = format!("{}:{line}", f.name);
            assert_eq!(zone.line, *line, "{what}");
            assert_eq!(zone.name, text[0], "{what}");
            for (column, field) in [
                ("VIRTUAL", zone.virtual_size),
                ("RESIDENT", zone.resident),
                ("DIRTY", zone.dirty),
                ("SWAPPED", zone.swapped),
                ("BYTES", zone.bytes_allocated),
                ("DIRTY+SWAP", zone.dirty_swap_frag_size),
            ] {
                match table.cell(text, column) {
                    Some(c) => {
                        let unit = if pages_column(column) { page } else { None };
                        close(field, printed(c, unit), &format!("{what} {column}"));
                    }
                    None => assert_eq!(field, None, "{what} {column}"),
                }
            }
            let count = |c| table.cell(text, c).map(|v| v.parse::<u64>().unwrap());
            assert_eq!(zone.allocation_count, count("ALLOCATION"), "{what}");
            assert_eq!(zone.region_count, count("REGION"), "{what}");
            let pct = table
                .cell(text, "%")
                .map(|p| p.trim_end_matches('%').parse::<f64>().unwrap());
            let header = f
                .lines()
                .into_iter()
                .find(|l| l.starts_with("MALLOC ZONE"))
                .unwrap();
            if header.contains("% FULL") {
                assert_eq!((zone.pct_full, zone.pct_frag), (pct, None), "{what}");
            } else {
                assert_eq!((zone.pct_frag, zone.pct_full), (pct, None), "{what}");
            }
        }
        // The zones add up to the report's own TOTAL.
        if let Some(total) = &f.report.malloc_zone_total {
            let allocations: u64 = f
                .report
                .malloc_zones
                .iter()
                .filter_map(|z| z.allocation_count)
                .sum();
            assert_eq!(Some(allocations), total.allocation_count, "{}", f.name);
        }
    }
    assert!(checked >= 14, "{checked}");
}

#[test]
fn header_fields_match_the_text() {
    for f in fixtures() {
        let lines = f.lines();
        let value = |key: &str| {
            lines
                .iter()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
                .map(|v| v.trim().to_string())
        };
        let map_line = lines
            .iter()
            .find_map(|l| l.strip_prefix("Virtual Memory Map of process "));
        let h = &f.report.header;
        let what = f.name;
        match value("Process") {
            Some(p) => {
                let (name, pid) = p.rsplit_once(" [").unwrap();
                assert_eq!(h.process.as_deref(), Some(name.trim()), "{what}");
                assert_eq!(
                    h.pid,
                    Some(pid.trim_end_matches(']').parse().unwrap()),
                    "{what}"
                );
            }
            None => {
                // Format 2.2: only "Virtual Memory Map of process 45624 (python)".
                let (pid, name) = map_line.unwrap().split_once(' ').unwrap();
                assert_eq!(h.pid, Some(pid.parse().unwrap()), "{what}");
                assert_eq!(
                    h.process.as_deref(),
                    Some(name.trim_matches(['(', ')'])),
                    "{what}"
                );
            }
        }
        if let Some(p) = value("Parent Process") {
            let (name, pid) = p.rsplit_once(" [").unwrap();
            assert_eq!(h.parent.as_deref(), Some(name), "{what}");
            assert_eq!(
                h.parent_pid,
                Some(pid.trim_end_matches(']').parse().unwrap()),
                "{what}"
            );
        }
        assert_eq!(h.path, value("Path"), "{what}");
        assert_eq!(h.identifier, value("Identifier"), "{what}");
        assert_eq!(h.code_type, value("Code Type"), "{what}");
        assert_eq!(h.os_version, value("OS Version"), "{what}");
        assert_eq!(h.date, value("Date/Time"), "{what}");
        let format =
            value("Output report format").map(|v| v.split_whitespace().next().unwrap().to_string());
        assert_eq!(h.report_format, format, "{what}");
        assert_eq!(h.page_size.map(|p| p as f64), f.page_size(), "{what}");
        for (key, field) in [
            ("Physical footprint", h.physical_footprint),
            ("Physical footprint (peak)", h.physical_footprint_peak),
        ] {
            match value(key) {
                Some(v) => close(field, printed(&v, None), &format!("{what} {key}")),
                None => assert_eq!(field, None, "{what} {key}"),
            }
        }
        for key in ["Load Address", "Version", "Report Version", "Analysis Tool"] {
            let other = h
                .other
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone());
            assert_eq!(other, value(key), "{what} {key}");
        }
        // Lines before `Process:` are the tool's own messages.
        let first = lines
            .iter()
            .position(|l| l.starts_with("Process:") || l.starts_with("Virtual Memory Map"))
            .unwrap();
        let messages: Vec<(usize, String)> =
            (0..first).map(|i| (i + 1, lines[i].to_string())).collect();
        assert_eq!(f.report.tool_messages, messages, "{what}");
        assert_eq!(f.report.page_units, f.text.contains(" PAGES "), "{what}");
    }
}

#[test]
fn crlf_line_ends_do_not_change_the_result() {
    for f in fixtures() {
        let crlf = f.text.replace('\n', "\r\n");
        let again = parse(crlf.as_bytes()).unwrap();
        assert_eq!(again, f.report, "{}", f.name);
    }
}
