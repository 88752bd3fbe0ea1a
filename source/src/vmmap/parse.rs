//! The whole report: reads the lines in order, section by section.

use std::borrow::Cow;

use super::budget::{Count, Heap};
use super::error::{VmmapError, Warning};
use super::header::{Header, page_size_value};
use super::regions::{RegionHeader, RegionSection, RowOutcome, VmmapRegion, parse_region_row};
use super::summary::{KNOWN_NOTES, SummaryRow};
use super::table::{
    TableKind, TableLayout, header_has_pages, header_kind, is_rule, looks_like_row, parse_row,
};
use super::tokens::{Lines, shown, trim};
use super::zones::ZoneRow;
use crate::limits::{VMMAP_LINE_BYTES, VMMAP_LINES, VMMAP_PARSED_BYTES, VMMAP_WARNINGS};

/// The page size assumed for a `-pages` report that does not print its own.
const DEFAULT_PAGE_SIZE: u64 = 4096;

/// A parsed vmmap report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VmmapReport {
    /// The header block and the lines that open the map.
    pub header: Header,
    /// The region rows, in file order.
    pub regions: Vec<VmmapRegion>,
    /// The Summary's `REGION TYPE` table rows, in file order, without the `TOTAL` rows.
    pub summary: Vec<SummaryRow>,
    /// The `TOTAL` row(s) of the `REGION TYPE` table (`TOTAL`,
    /// `TOTAL, minus reserved VM space`), with their names.
    pub summary_totals: Vec<SummaryRow>,
    /// The `MALLOC ZONE` table rows, without the `TOTAL` row.
    pub malloc_zones: Vec<ZoneRow>,
    /// The `MALLOC ZONE` table's `TOTAL` row (vmmap omits it when there is one zone).
    pub malloc_zone_total: Option<ZoneRow>,
    /// What was skipped, or looks snipped, edited, shifted or damaged; sorted by line.
    pub warnings: Vec<Warning>,
    /// The Summary's overview lines as `(key, value)`:
    /// `("ReadOnly portion of Libraries", "Total=180.0M resident=…")`,
    /// `("Writable regions", "Total=54.5M written=…")`.
    pub overview: Vec<(String, String)>,
    /// Lines before the report proper, as `(line, text)`: messages vmmap printed on stderr
    /// that were pasted along (`… vmmap[1736:137850] *** task_malloc_get_all_zones: …`), or
    /// the command line (`vmmap 53799`).
    pub tool_messages: Vec<(usize, String)>,
    /// True when the report counts pages (`vmmap -pages`); its sizes have been converted to
    /// bytes with [`Header::page_size`] (when the report has none: the page size its address
    /// ranges show, or else 4096, with a warning either way).
    pub page_units: bool,
}

/// Parses a vmmap report within vmpipe's budget for one report
/// ([`VMMAP_PARSED_BYTES`]). See the [module documentation](super) for what is read, what is
/// a warning and what is an error. Never panics, whatever the input.
///
/// # Errors
///
/// [`VmmapError`] when the input is empty, nothing in it is shaped like a vmmap report, or
/// what it parses to would hold more than the budget (see [`parse_within`]).
pub fn parse(text: &[u8]) -> Result<VmmapReport, VmmapError> {
    parse_within(text, VMMAP_PARSED_BYTES)
}

/// Parses a vmmap report, holding at most `budget` bytes of parsed data
/// ([`VmmapReport::kept_bytes`]) past one row's worth. The input is read a line at a time,
/// and nothing is kept per line beyond what the report itself holds; a line longer than
/// [`VMMAP_LINE_BYTES`] is read up to there (with a warning), and at most [`VMMAP_WARNINGS`]
/// warnings are kept (one more says how many were not).
///
/// # Errors
///
/// As [`parse`]; over the budget, the error names the line where it was crossed and the
/// budget, and nothing of the report is returned.
pub fn parse_within(text: &[u8], budget: usize) -> Result<VmmapReport, VmmapError> {
    let scan = Scan::new(text);
    if scan.too_long {
        return Err(VmmapError {
            line: VMMAP_LINES + 1,
            message: format!(
                "the report has more than {VMMAP_LINES} lines (vmpipe's limit): not read"
            ),
        });
    }
    if scan.blank {
        return Err(VmmapError {
            line: 1,
            message: "empty input: not a vmmap report".into(),
        });
    }
    let mut parser = Parser::new(text, budget);
    if let Some(line) = scan.first_invalid {
        parser.warn(line, "invalid UTF-8 (replaced by U+FFFD)");
    }
    parser.prescan(text, &scan);
    let mut lines = Lines::new(text);
    let mut i = 0;
    while parser.mode != Mode::Stopped {
        let Some(line) = lines.next() else { break };
        parser.lookahead = lines.clone();
        if line.cut {
            parser.warn(
                i + 1,
                format!("line longer than {VMMAP_LINE_BYTES} bytes: the rest of it is not read"),
            );
        }
        parser.line(i, line.text);
        parser.account(i)?;
        i += 1;
    }
    parser.line_count = i + lines.count();
    parser.finish()
}

/// What one pass over the input finds before it is parsed.
struct Scan {
    /// Every line is blank.
    blank: bool,
    /// The input has more than [`VMMAP_LINES`] lines (the scan stopped there).
    too_long: bool,
    /// The 1-based line of the first invalid UTF-8.
    first_invalid: Option<usize>,
    /// The first valid `VM page size:` value.
    page_size: Option<u64>,
    /// The 0-based line of the first table header with a `PAGES` column.
    pages_header: Option<usize>,
}

impl Scan {
    fn new(input: &[u8]) -> Scan {
        let mut scan = Scan {
            blank: true,
            too_long: false,
            first_invalid: None,
            page_size: None,
            pages_header: None,
        };
        for (i, l) in Lines::new(input).enumerate() {
            if i == VMMAP_LINES {
                scan.too_long = true;
                break;
            }
            let t = trim(&l.text);
            if t.is_empty() {
                if l.invalid && scan.first_invalid.is_none() {
                    scan.first_invalid = Some(i + 1);
                }
                continue;
            }
            scan.blank = false;
            if l.invalid && scan.first_invalid.is_none() {
                scan.first_invalid = Some(i + 1);
            }
            if scan.page_size.is_none() {
                scan.page_size = t.strip_prefix("VM page size:").and_then(page_size_value);
            }
            if scan.pages_header.is_none() && header_has_pages(&l.text) {
                scan.pages_header = Some(i);
            }
        }
        scan
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Before the report: stray tool messages.
    Pre,
    /// Inside the `Process:` … `----` block.
    Header,
    /// The map and the summary.
    Body,
    /// Another report starts: the rest is not read.
    Stopped,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Section {
    /// No `====` section yet (map preamble, or a `-summary` report), or after a legend.
    None,
    Regions(RegionSection),
    Legend,
    Summary,
    /// A `====` section this parser does not know; its lines are skipped.
    Other,
}

struct OpenTable {
    layout: TableLayout,
    /// Past the second `=====` rule: rows are TOTAL rows.
    totals: bool,
}

struct Parser<'a> {
    /// The lines after the current one (for looking ahead).
    lookahead: Lines<'a>,
    /// How many lines the input has (known at the end).
    line_count: usize,
    report: VmmapReport,
    /// What `report` holds so far, and the most it may.
    count: Count,
    budget: usize,
    /// Warnings not kept (past [`VMMAP_WARNINGS`]), and the line of the first of them.
    dropped: usize,
    first_dropped: usize,
    mode: Mode,
    section: Section,
    /// Still between the header block and the first section, table or region row.
    preamble: bool,
    region_header: Option<RegionHeader>,
    /// Unrecognised lines (0-based, with their text) waiting for a `=====` rule that makes
    /// them a table header; at most three.
    pending: Vec<(usize, Cow<'a, str>)>,
    table: Option<OpenTable>,
    /// Page size for page counts (`-pages`): `Some` for region rows only in a pages report.
    page_size: u64,
    saw_region_section: bool,
    saw_summary_table: bool,
    /// For the blank lines before line `.0` (0-based; `usize::MAX`: the end of the input):
    /// whether the next non-blank line looks like more rows of a table (found once for a
    /// run of blank lines, so that they do not each scan ahead).
    more_rows_before: Option<(usize, bool)>,
}

fn is_section_header(t: &str) -> bool {
    t.starts_with("====") && !is_rule(t)
}

fn is_snip_marker(t: &str) -> bool {
    t.starts_with("...")
        || t.starts_with('…')
        || t.starts_with("[...")
        || t.starts_with("<...")
        || (t.len() <= 40 && {
            let lower = t.to_ascii_lowercase();
            ["snip", "truncated", "omitted", "cut here"]
                .iter()
                .any(|w| lower.contains(w))
        })
}

fn is_total_name(name: &str) -> bool {
    name == "TOTAL" || name.starts_with("TOTAL,") || name.starts_with("TOTAL ")
}

impl<'a> Parser<'a> {
    fn new(input: &'a [u8], budget: usize) -> Parser<'a> {
        Parser {
            lookahead: Lines::new(input),
            line_count: 0,
            report: VmmapReport::default(),
            count: Count::default(),
            budget,
            dropped: 0,
            first_dropped: 0,
            mode: Mode::Pre,
            section: Section::None,
            preamble: true,
            region_header: None,
            pending: Vec::new(),
            table: None,
            page_size: DEFAULT_PAGE_SIZE,
            saw_region_section: false,
            saw_summary_table: false,
            more_rows_before: None,
        }
    }

    fn warn(&mut self, line: usize, message: impl Into<String>) {
        self.report.warnings.push(Warning::new(line, message));
    }

    /// As [`Parser::warn`], but the message is not even made once [`VMMAP_WARNINGS`] are
    /// kept (the warning is only counted).
    fn warn_with(&mut self, line: usize, message: impl FnOnce() -> String) {
        if self.report.warnings.len() >= VMMAP_WARNINGS {
            if self.dropped == 0 {
                self.first_dropped = line;
            }
            self.dropped += 1;
        } else {
            self.warn(line, message());
        }
    }

    /// After line `i`: keeps at most [`VMMAP_WARNINGS`] warnings, and fails once the report
    /// holds more than the budget.
    fn account(&mut self, i: usize) -> Result<(), VmmapError> {
        let warnings = &mut self.report.warnings;
        if warnings.len() > VMMAP_WARNINGS {
            if self.dropped == 0 {
                self.first_dropped = warnings.get(VMMAP_WARNINGS).map_or(i + 1, |w| w.line);
            }
            self.dropped += warnings.len() - VMMAP_WARNINGS;
            warnings.truncate(VMMAP_WARNINGS);
        }
        let held = self.count.total(&self.report);
        if held > self.budget {
            return Err(VmmapError {
                line: i + 1,
                message: format!(
                    "the report holds more than {} bytes parsed by this line (vmpipe's budget \
                     for one report, {} MiB): not read",
                    self.budget,
                    self.budget >> 20
                ),
            });
        }
        Ok(())
    }

    /// Finds out, before reading rows, whether sizes are page counts and the page size.
    fn prescan(&mut self, input: &[u8], scan: &Scan) {
        let header_page_size = scan.page_size;
        if let Some(i) = scan.pages_header {
            self.report.page_units = true;
            match header_page_size {
                Some(ps) => self.page_size = ps,
                None => self.warn(
                    i + 1,
                    format!(
                        "the report counts pages (`-pages`) but has no `VM page size:` line; \
                         assuming {DEFAULT_PAGE_SIZE}-byte pages"
                    ),
                ),
            }
            return;
        }
        // No PAGES header (a region list cut before its Summary): page counts show as bare
        // numbers that are a page size too small for their address range in every row.
        let candidates: Vec<u64> = header_page_size.into_iter().chain([4096, 16384]).collect();
        let mut fits = vec![true; candidates.len()];
        let mut differs = false;
        let mut first = None;
        // The rows alone over the budget: the parse fails there whatever their units.
        let mut rows_cost = 0usize;
        for (i, l) in Lines::new(input).enumerate() {
            let l = &*l.text;
            if let RowOutcome::Row(r, _) =
                parse_region_row(i + 1, l, None, None, RegionSection::Unknown)
            {
                rows_cost += std::mem::size_of::<VmmapRegion>() + r.heap();
                if rows_cost > self.budget {
                    return;
                }
                let bare = l
                    .split_once('[')
                    .and_then(|(_, rest)| rest.split_once(']'))
                    .is_some_and(|(cells, _)| {
                        cells
                            .split_whitespace()
                            .all(|c| c.bytes().all(|b| b.is_ascii_digit()))
                    });
                if !bare {
                    return;
                }
                first.get_or_insert(i);
                let (v, size) = (r.vsize.unwrap_or(0), r.size());
                differs = differs || v != size;
                for (fit, &ps) in fits.iter_mut().zip(&candidates) {
                    *fit = *fit && v.checked_mul(ps) == Some(size);
                }
            }
        }
        let Some(first) = first else {
            return;
        };
        for (&fit, &ps) in fits.iter().zip(&candidates) {
            if fit && differs {
                self.report.page_units = true;
                self.page_size = ps;
                self.warn(
                    first + 1,
                    format!(
                        "no `PAGES` column header, but every VSIZE times {ps} is its address \
                         range: sizes read as counts of {ps}-byte pages"
                    ),
                );
                return;
            }
        }
    }

    /// True when line `i` starts the report proper.
    fn is_anchor(&self, i: usize, text: &str) -> bool {
        let t = trim(text);
        t.starts_with("Process:")
            || t.starts_with("Virtual Memory Map of process")
            || is_section_header(t)
            || header_kind(t).is_some()
            || t.starts_with("ReadOnly portion of Libraries:")
            || (!t.is_empty()
                && self
                    .lookahead
                    .clone()
                    .next()
                    .is_some_and(|next| header_kind(&next.text).is_some()))
            || matches!(
                parse_region_row(i + 1, text, None, None, RegionSection::Unknown),
                RowOutcome::Row(..)
            )
    }

    fn line(&mut self, i: usize, line: Cow<'a, str>) {
        let text: &str = &line;
        let t = trim(text);
        if self.mode == Mode::Pre {
            if !self.is_anchor(i, text) {
                if !t.is_empty() {
                    self.report.tool_messages.push((i + 1, t.to_string()));
                }
                return;
            }
            self.mode = if t.starts_with("Process:") {
                Mode::Header
            } else {
                Mode::Body
            };
        }
        if self.mode == Mode::Header {
            if self.header_line(i, text) {
                return;
            }
            self.mode = Mode::Body;
        }
        self.body_line(i, line);
    }

    /// A line of the header block; `false` when the block has ended without `----` and the
    /// line belongs to the body.
    fn header_line(&mut self, i: usize, text: &str) -> bool {
        let t = trim(text);
        if t.len() >= 2 && t.bytes().all(|b| b == b'-') {
            self.mode = Mode::Body;
            return true;
        }
        if t.is_empty() {
            return true;
        }
        if t.starts_with("Virtual Memory Map of process") || is_section_header(t) || is_rule(t) {
            return false;
        }
        match t.split_once(':') {
            Some((key, value)) if !key.trim().is_empty() => {
                self.report
                    .header
                    .set(i + 1, key.trim(), value, &mut self.report.warnings);
            }
            _ => self.warn(
                i + 1,
                format!("unrecognised line in the header block: {}", shown(t)),
            ),
        }
        true
    }

    fn body_line(&mut self, i: usize, line: Cow<'a, str>) {
        let text: &str = &line;
        let t = trim(text);
        if t.starts_with("Process:") {
            self.warn(
                i + 1,
                "another report starts here; the rest of the input is not read",
            );
            self.mode = Mode::Stopped;
            return;
        }
        if self.table.is_some() && self.table_line(i, text) {
            return;
        }
        if is_section_header(t) {
            self.flush_pending();
            self.section_header(i, text);
            return;
        }
        if self.section == Section::Other {
            return;
        }
        if is_rule(t) {
            self.open_table(i, text);
            return;
        }
        if t.is_empty() {
            self.flush_pending();
            if self.section == Section::Legend {
                self.section = Section::None;
            }
            return;
        }
        if self.section == Section::Legend {
            return;
        }
        if t.starts_with("SM=sharing mode") || t.starts_with("PURGE=purgeable mode") {
            self.flush_pending();
            self.section = Section::Legend;
            self.preamble = false;
            return;
        }
        let warnings = &mut self.report.warnings;
        if self.report.header.set_map_line(i + 1, t, warnings) {
            return;
        }
        if let Some(v) = t.strip_prefix("Output report format:") {
            self.report.header.set_format(i + 1, v, warnings);
            return;
        }
        if let Some(v) = t.strip_prefix("VM page size:") {
            self.report.header.set_page_size(i + 1, v, warnings);
            return;
        }
        for key in ["ReadOnly portion of Libraries", "Writable regions"] {
            if let Some(v) = t.strip_prefix(key).and_then(|v| v.strip_prefix(':')) {
                self.report
                    .overview
                    .push((key.to_string(), v.trim().to_string()));
                return;
            }
        }
        if let Some(h) = RegionHeader::parse(text) {
            self.region_header = Some(h);
            return;
        }
        if self.region_row(i, text) {
            return;
        }
        if is_snip_marker(t) {
            self.flush_pending();
            self.warn(
                i + 1,
                format!(
                    "{}: lines were cut from the report here (snipped)",
                    shown(t)
                ),
            );
            return;
        }
        self.pending.push((i, line));
        if self.pending.len() > 2 {
            let (oldest, text) = self.pending.remove(0);
            self.drop_pending_line(oldest, &text);
        }
    }

    fn section_header(&mut self, i: usize, text: &str) {
        let t = trim(text);
        let name = t.trim_start_matches('=').trim();
        let lower = name.to_ascii_lowercase();
        self.preamble = false;
        self.region_header = None;
        self.section = if lower.contains("regions for process") {
            self.saw_region_section = true;
            Section::Regions(if lower.starts_with("non-writable") {
                RegionSection::NonWritable
            } else if lower.starts_with("writable") {
                RegionSection::Writable
            } else {
                RegionSection::Interleaved
            })
        } else if lower.starts_with("legend") {
            Section::Legend
        } else if lower.starts_with("summary") {
            Section::Summary
        } else {
            self.warn(
                i + 1,
                format!("unknown section {}; its lines are skipped", shown(name)),
            );
            Section::Other
        };
    }

    /// Reads line `i` as a region row; `false` when it is not shaped like one.
    fn region_row(&mut self, i: usize, text: &str) -> bool {
        let section = match self.section {
            Section::Regions(s) => s,
            _ => RegionSection::Unknown,
        };
        let page_size = self.report.page_units.then_some(self.page_size);
        match parse_region_row(i + 1, text, self.region_header.as_ref(), page_size, section) {
            RowOutcome::NotARow => return false,
            RowOutcome::Bad(why) => {
                self.warn_with(i + 1, || format!("region row skipped: {why}"));
            }
            RowOutcome::Row(region, remarks) => {
                for r in remarks {
                    self.warn(i + 1, r);
                }
                if section == RegionSection::Unknown {
                    self.warn(i + 1, "region row outside a `==== … regions` section");
                }
                self.report.regions.push(region);
            }
        }
        self.flush_pending();
        self.preamble = false;
        true
    }

    /// Line `i` is a `=====` rule outside a table: it opens the table whose header lines
    /// are pending.
    fn open_table(&mut self, i: usize, rule: &str) {
        let kind = self.pending.last().and_then(|(_, l)| header_kind(l));
        let (Some(kind), Some((last, last_text))) = (kind, self.pending.pop()) else {
            self.flush_pending();
            self.warn(i + 1, "a `=====` rule without a table header above it");
            return;
        };
        let upper = match self.pending.last() {
            Some(&(u, _)) if u + 1 == last => self.pending.pop().map(|(_, t)| t),
            _ => None,
        };
        self.flush_pending();
        let (layout, remarks) = TableLayout::new(kind, upper.as_deref(), &last_text, rule);
        for r in remarks {
            self.warn(last + 1, r);
        }
        if kind == TableKind::Summary {
            self.saw_summary_table = true;
        }
        self.preamble = false;
        self.table = Some(OpenTable {
            layout,
            totals: false,
        });
    }

    /// A line while a table is open; `false` when the line ends the table and must be read
    /// as something else.
    fn table_line(&mut self, i: usize, text: &str) -> bool {
        let t = trim(text);
        let Some(table) = self.table.as_mut() else {
            return false;
        };
        if is_section_header(t) {
            self.close_table(i);
            return false;
        }
        if is_rule(t) {
            if table.totals {
                self.warn(i + 1, "an extra `=====` rule in the table");
            } else {
                table.totals = true;
            }
            return true;
        }
        if t.is_empty() {
            if table.totals {
                self.close_table(i);
                return true;
            }
            if self.more_rows_after_blank(i) {
                self.warn(i + 1, "a blank line inside the table (edited?)");
            } else {
                self.close_table(i);
            }
            return true;
        }
        let page_size = self.page_size;
        let mut row = match parse_row(text, &table.layout, page_size) {
            Ok(row) => row,
            Err(why) => {
                self.warn_with(i + 1, || {
                    if is_snip_marker(t) {
                        format!(
                            "{}: lines were cut from the report here (snipped)",
                            shown(t)
                        )
                    } else {
                        format!("table row skipped ({why}): {}", shown(t))
                    }
                });
                return true;
            }
        };
        let kind = table.layout.kind;
        let mut total = table.totals;
        if !total && is_total_name(&row.name) {
            total = true;
            self.warn(i + 1, "a TOTAL row before the table's closing `=====` rule");
        }
        for r in std::mem::take(&mut row.remarks) {
            self.warn(i + 1, r);
        }
        match kind {
            TableKind::Summary => {
                if let Some(note) = &row.note
                    && !KNOWN_NOTES.contains(&note.as_str())
                {
                    self.warn(
                        i + 1,
                        format!(
                            "unexpected text after the values (annotation?): {}",
                            shown(note)
                        ),
                    );
                }
                let summary_row = SummaryRow::from_table(i + 1, row);
                if total {
                    self.report.summary_totals.push(summary_row);
                } else {
                    self.report.summary.push(summary_row);
                }
            }
            TableKind::Zones => {
                if let Some(note) = &row.note {
                    self.warn(
                        i + 1,
                        format!(
                            "unexpected text after the values (annotation?): {}",
                            shown(note)
                        ),
                    );
                }
                let zone = ZoneRow::from_table(i + 1, row);
                if !total {
                    self.report.malloc_zones.push(zone);
                } else if self.report.malloc_zone_total.is_none() {
                    self.report.malloc_zone_total = Some(zone);
                } else {
                    self.warn(
                        i + 1,
                        "a second TOTAL row in the MALLOC ZONE table; ignored",
                    );
                }
            }
        }
        true
    }

    fn close_table(&mut self, i: usize) {
        if let Some(table) = self.table.take()
            && table.layout.kind == TableKind::Summary
            && !table.totals
        {
            self.warn(
                i + 1,
                "the REGION TYPE table ends without its TOTAL row (cut short?)",
            );
        }
    }

    /// Line `i` is blank inside a table: whether the next non-blank line looks like more
    /// rows of it.
    fn more_rows_after_blank(&mut self, i: usize) -> bool {
        if let Some((next, more)) = self.more_rows_before
            && next > i
        {
            return more;
        }
        let mut next = usize::MAX;
        let mut more = false;
        for (k, l) in self.lookahead.clone().enumerate() {
            let n: &str = &l.text;
            if !trim(n).is_empty() {
                next = i + 1 + k;
                more = looks_like_row(n)
                    && header_kind(n).is_none()
                    && !is_section_header(trim(n))
                    && !trim(n).starts_with("Process:");
                break;
            }
        }
        self.more_rows_before = Some((next, more));
        more
    }

    fn drop_pending_line(&mut self, i: usize, text: &str) {
        let t = trim(text);
        if self.preamble && self.section == Section::None {
            self.report.header.notes.push(t.to_string());
        } else {
            self.warn_with(i + 1, || format!("unrecognised line skipped: {}", shown(t)));
        }
    }

    fn flush_pending(&mut self) {
        for (i, text) in std::mem::take(&mut self.pending) {
            self.drop_pending_line(i, &text);
        }
    }

    fn finish(mut self) -> Result<VmmapReport, VmmapError> {
        let last = self.line_count.max(1);
        if self.mode == Mode::Pre {
            return Err(VmmapError {
                line: 1,
                message: "not a vmmap report: no `Process:` header, `Virtual Memory Map` line, \
                          `====` section, region row or REGION TYPE / MALLOC ZONE table"
                    .into(),
            });
        }
        if self.table.is_some() {
            self.close_table(last - 1);
        }
        self.flush_pending();
        let has_regions = self.saw_region_section || !self.report.regions.is_empty();
        if has_regions && !self.saw_summary_table {
            self.warn(
                last,
                "the report ends without its Summary tables (an excerpt, or cut short)",
            );
        } else if !has_regions && !self.saw_summary_table {
            self.warn(last, "no region rows and no Summary table in the report");
        }
        if self.dropped > 0 {
            let message = format!(
                "{} more warnings from this line on are not kept (vmpipe keeps {VMMAP_WARNINGS} \
                 of one report)",
                self.dropped
            );
            self.warn(self.first_dropped, message);
        }
        self.report.warnings.sort_by_key(|w| w.line);
        Ok(self.report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/vmmap/");

    fn fixtures() -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let entries = std::fs::read_dir(FIXTURES).expect("fixture directory");
        for e in entries {
            let path = e.expect("dir entry").path();
            if path.extension().is_some_and(|x| x == "txt") {
                let name = path.display().to_string();
                out.push((name, std::fs::read(&path).expect("fixture")));
            }
        }
        out.sort();
        assert!(out.len() >= 12, "fixtures missing in {FIXTURES}");
        out
    }

    /// xorshift64*: a small deterministic generator for the robustness loop.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % (n.max(1) as u64)) as usize
        }
    }

    fn check(input: &[u8]) {
        let lines = super::super::tokens::split_lines(input).0.len().max(1);
        match parse(input) {
            Ok(r) => {
                for w in &r.warnings {
                    assert!(w.line >= 1 && w.line <= lines, "{w} of {lines} lines");
                }
                for reg in &r.regions {
                    assert!(reg.line >= 1 && reg.line <= lines);
                    assert!(reg.start <= reg.end);
                }
            }
            Err(e) => assert!(e.line >= 1 && e.line <= lines, "{e}"),
        }
    }

    #[test]
    fn never_panics_on_truncated_or_mutated_fixtures() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        const NOISE: &[u8] = b" \t\r\n-[]/=%.:0123456789KMGTxSM=PURGE=REGION TYPE\xff\xc3";
        for (name, bytes) in fixtures() {
            for cut in (0..bytes.len()).step_by(97) {
                check(bytes.get(..cut).unwrap_or(&[]));
                check(bytes.get(cut..).unwrap_or(&[]));
            }
            for _ in 0..300 {
                let mut b = bytes.clone();
                for _ in 0..1 + rng.below(8) {
                    let at = rng.below(b.len());
                    match rng.below(5) {
                        0 => {
                            if let Some(x) = b.get_mut(at) {
                                *x = NOISE[rng.below(NOISE.len())];
                            }
                        }
                        1 => {
                            if let Some(x) = b.get_mut(at) {
                                *x = rng.next() as u8;
                            }
                        }
                        2 => {
                            let end = (at + rng.below(200)).min(b.len());
                            b.drain(at..end);
                        }
                        3 => {
                            let n = rng.below(40);
                            let ins: Vec<u8> =
                                (0..n).map(|_| NOISE[rng.below(NOISE.len())]).collect();
                            b.splice(at..at, ins);
                        }
                        _ => {
                            let end = (at + rng.below(300)).min(b.len());
                            let copy = b.get(at..end).unwrap_or(&[]).to_vec();
                            let to = rng.below(b.len());
                            b.splice(to..to, copy);
                        }
                    }
                }
                check(&b);
            }
            assert!(parse(&bytes).is_ok(), "{name}");
        }
        for _ in 0..500 {
            let n = rng.below(400);
            let b: Vec<u8> = (0..n)
                .map(|_| {
                    if rng.below(2) == 0 {
                        NOISE[rng.below(NOISE.len())]
                    } else {
                        rng.next() as u8
                    }
                })
                .collect();
            check(&b);
        }
    }

    #[test]
    fn not_a_report_is_an_error_with_a_line() {
        let e = parse(b"").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.to_string().starts_with("line 1: empty input"));
        let e = parse(b"hello\nworld: 3\n").unwrap_err();
        assert!(
            e.to_string().starts_with("line 1: not a vmmap report"),
            "{e}"
        );
        assert!(parse(b"\xff\xfe\x00\x01").is_err());
    }

    #[test]
    fn small_report_with_tricky_lines() {
        let text = "\
vmmap 1\r
Process:         a b [12]\r
Path:            /x\r
----\r
\r
Virtual Memory Map of process 12 (a b)\r
Output report format:  2.4  -- 64-bit process\r
VM page size:  4096 bytes\r
\r
==== Writable regions for process 12\r
REGION TYPE                      START - END             [ VSIZE  RSDNT  DIRTY   SWAP] PRT/MAX SHRMOD PURGE    REGION DETAIL\r
Memory Tag 22          0000000100000000-0000000100006000 [   24K    24K     0K     0K] rw-/rwx SM=PRV          \r
...(snip)...\r
\r
==== Summary for process 12\r
REGION TYPE                        SIZE     SIZE     SIZE     SIZE     SIZE     SIZE     SIZE    COUNT (non-coalesced)\r
";
        let r = parse(text.as_bytes()).unwrap();
        assert_eq!(r.tool_messages, [(1, "vmmap 1".to_string())]);
        assert_eq!(r.header.process.as_deref(), Some("a b"));
        assert_eq!(r.header.pid, Some(12));
        assert_eq!(r.regions.len(), 1);
        assert_eq!(r.regions[0].region_type, "Memory Tag 22");
        assert_eq!(r.regions[0].line, 12);
        assert_eq!(r.regions[0].detail, "");
        let lines: Vec<usize> = r.warnings.iter().map(|w| w.line).collect();
        // The snip marker, the header line without a rule, and no Summary table.
        assert_eq!(lines, [13, 16, 16], "{:?}", r.warnings);
    }

    #[test]
    fn page_counts_without_a_pages_header_are_inferred() {
        let text = "==== Writable regions for process 1\n\
                    A 0000000000001000-0000000000003000 [     2      1      1      0] rw-/rwx SM=PRV\n\
                    B 0000000000010000-0000000000020000 [    16      0      0      0] rw-/rwx SM=PRV\n";
        let r = parse(text.as_bytes()).unwrap();
        assert!(r.page_units);
        assert_eq!(r.regions[0].vsize, Some(0x2000));
        assert_eq!(r.regions[1].resident, Some(0));
        assert!(
            r.warnings
                .iter()
                .any(|w| w.line == 2 && w.message.contains("4096"))
        );
        // Bare bytes that are the address range are not pages.
        let text = "==== Writable regions for process 1\n\
                    A 0000000000001000-0000000000001010 [    16     16      0      0] rw-/rwx SM=PRV\n";
        let r = parse(text.as_bytes()).unwrap();
        assert!(!r.page_units);
        assert_eq!(r.regions[0].vsize, Some(16));
    }

    #[test]
    fn pages_report_without_page_size_assumes_4096() {
        let text = "\
                                  VIRTUAL   REGION
REGION TYPE                         PAGES    COUNT
===========                       =======  =======
Stack                                   2        1
===========                       =======  =======
TOTAL                                   2        1
";
        let r = parse(text.as_bytes()).unwrap();
        assert!(r.page_units);
        assert_eq!(r.summary[0].virtual_size, Some(8192));
        assert_eq!(r.summary[0].region_count, Some(1));
        assert_eq!(r.summary_totals[0].region_type, "TOTAL");
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        assert!(r.warnings[0].message.contains("4096"));
    }

    #[test]
    fn many_blank_lines_inside_a_table_stay_linear() {
        let mut text = String::from(
            "REGION TYPE                      VIRTUAL\n===========                      =======\n",
        );
        for _ in 0..20_000 {
            text.push_str("Stack                                 4K\n\n\n");
        }
        let r = parse(text.as_bytes()).unwrap();
        assert_eq!(r.summary.len(), 20_000);
    }

    #[test]
    fn a_second_report_stops_the_first() {
        let text = "Process: a [1]\n----\n==== Writable regions for process 1\n\
                    X 0000000000001000-0000000000002000 [ 4K] rw-/rwx SM=PRV\n\
                    Process: b [2]\n";
        let r = parse(text.as_bytes()).unwrap();
        assert_eq!(r.regions.len(), 1);
        assert!(
            r.warnings
                .iter()
                .any(|w| w.line == 5 && w.message.contains("another report"))
        );
    }
}
