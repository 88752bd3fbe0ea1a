//! Region rows: one line per (coalesced) VM region, under a `==== … regions for process N`
//! section and, from format 2.3 on, a `REGION TYPE … [ VSIZE …] PRT/MAX SHRMOD …` column
//! header.
//!
//! ```text
//! __TEXT                 0000000100000000-0000000100006000 [   24K    24K     0K     0K] r-x/rwx SM=COW          /work/tmp/ping
//! Activity Tracing            103298000-1032d8000    [  256K    48K    32K    16K] rw-/rwx SM=ALI PURGE=N
//! ```
//!
//! Rows are read by tokens, not by columns: the type is everything before the `START-END`
//! token, the sizes are inside `[ … ]`, then come `PRT/MAX`, `SM=…`, an optional `PURGE=…`,
//! and the rest is the detail. Positions are only compared with the column header to warn
//! about shifted rows and annotations.

use super::size::parse_size_token;
use super::tokens::{
    Token, column, shown, starts_with_token, tokens, tokens_from, trim, trim_start,
};

/// The most columns a region column header may name inside `[ … ]` (vmmap's name up to
/// four); a line with more is not a column header.
const MAX_REGION_COLUMNS: usize = 16;

/// Which region section of the report a row is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionSection {
    /// `==== Non-writable regions for process N`.
    NonWritable,
    /// `==== Writable regions for process N`.
    Writable,
    /// `==== regions for process N  (non-writable and writable regions are interleaved)`
    /// (`vmmap -interleaved`).
    Interleaved,
    /// A row found outside any region section (reported as a warning).
    Unknown,
}

/// One region row of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmmapRegion {
    /// The 1-based line of the input.
    pub line: usize,
    /// The section the row is in.
    pub section: RegionSection,
    /// The region type (`__TEXT`, `MALLOC_TINY`, `STACK GUARD`, `Memory Tag 22`, …), as
    /// printed (vmmap cuts long ones: `AttributeGraph Data (old`).
    pub region_type: String,
    /// The start address.
    pub start: u64,
    /// The end address (exclusive).
    pub end: u64,
    /// `VSIZE` in bytes; `None` when the report has no such column.
    pub vsize: Option<u64>,
    /// `RSDNT` (resident) in bytes; `None` when the report has no such column.
    pub resident: Option<u64>,
    /// `DIRTY` in bytes; `None` when the report has no such column.
    pub dirty: Option<u64>,
    /// `SWAP` (swapped or compressed) in bytes; `None` when the report has no such column.
    pub swap: Option<u64>,
    /// Current protection, e.g. `*b"r-x"`.
    pub prot: [u8; 3],
    /// Maximum protection, e.g. `*b"rwx"`.
    pub max_prot: [u8; 3],
    /// The share mode without `SM=`: `COW`, `PRV`, `NUL`, `SHM`, `ALI`, `ZER`, `S/A`, …
    pub share_mode: Option<String>,
    /// The purgeable mode without `PURGE=` (`V`, `N`, `E`) when the column has a value.
    pub purge: Option<String>,
    /// The `REGION DETAIL`, trimmed (`""` when none); vmmap cuts long ones from the left
    /// (`...ry/PrivateFrameworks/…`).
    pub detail: String,
}

impl VmmapRegion {
    /// The size of the address range, `end - start`.
    pub fn size(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
}

/// A column inside the `[ … ]` of a region row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RegionColumn {
    VSize,
    Resident,
    Dirty,
    Swap,
    Other(String),
}

impl RegionColumn {
    fn from_label(label: &str) -> RegionColumn {
        match label {
            "VSIZE" => RegionColumn::VSize,
            "RSDNT" => RegionColumn::Resident,
            "DIRTY" => RegionColumn::Dirty,
            "SWAP" => RegionColumn::Swap,
            other => RegionColumn::Other(other.to_string()),
        }
    }
}

/// The `REGION TYPE  START - END  [ VSIZE …] PRT/MAX SHRMOD PURGE  REGION DETAIL` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RegionHeader {
    /// The columns inside `[ … ]`, in order.
    pub columns: Vec<RegionColumn>,
    /// Display column of `[`.
    bracket: usize,
    /// Display column of `SHRMOD` and of `REGION DETAIL`, when both are there.
    shrmod_to_detail: Option<(usize, usize)>,
}

impl RegionHeader {
    /// Reads a column header line; `None` when `text` is not one.
    pub(crate) fn parse(text: &str) -> Option<RegionHeader> {
        if !trim_start(text).starts_with("REGION TYPE") {
            return None;
        }
        let open = text.find('[')?;
        let close = open + text.get(open..)?.find(']')?;
        let labels = text.get(open + 1..close)?.split_whitespace();
        if labels.clone().nth(MAX_REGION_COLUMNS).is_some() {
            return None;
        }
        let columns = labels.map(RegionColumn::from_label).collect();
        let shrmod_to_detail = match (text.find("SHRMOD"), text.find("REGION DETAIL")) {
            (Some(s), Some(d)) => Some((column(text, s), column(text, d))),
            _ => None,
        };
        Some(RegionHeader {
            columns,
            bracket: column(text, open),
            shrmod_to_detail,
        })
    }

    /// The columns a report without a column header (format 2.2) has, from how many values
    /// its rows show.
    fn implied(count: usize) -> Option<&'static [RegionColumn]> {
        use RegionColumn::*;
        match count {
            1 => Some(&[VSize]),
            2 => Some(&[VSize, Resident]),
            4 => Some(&[VSize, Resident, Dirty, Swap]),
            _ => None,
        }
    }
}

/// The result of reading one line as a region row.
#[derive(Debug)]
pub(crate) enum RowOutcome {
    /// The line is not shaped like a region row at all.
    NotARow,
    /// The line is shaped like a region row but cannot be read; says why.
    Bad(String),
    /// A row, with remarks about it (shifted, annotated, inconsistent).
    Row(VmmapRegion, Vec<String>),
}

/// True when `token` is `HEX-HEX`, as `START-END` is.
fn is_range(token: &str) -> bool {
    split_range(token).is_some()
}

/// `HEX-HEX` (split at the first `-`, 1 to 16 hex digits each side) as two numbers.
fn split_range(token: &str) -> Option<(u64, u64)> {
    let b = token.as_bytes();
    let dash = memchr::memchr(b'-', b)?;
    Some((hex(b.get(..dash)?)?, hex(b.get(dash + 1..)?)?))
}

/// 1 to 16 ASCII hex digits as a number.
fn hex(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    let mut v = 0u64;
    for &c in s {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        v = (v << 4) | u64::from(d);
    }
    Some(v)
}

fn protection(s: &str) -> Option<[u8; 3]> {
    match s.as_bytes() {
        &[a, b, c] if [a, b, c].iter().all(|x| b"rwx-".contains(x)) => Some([a, b, c]),
        _ => None,
    }
}

/// True when `text` contains `SM=`.
fn has_share_mode(text: &[u8]) -> bool {
    memchr::memchr_iter(b'=', text).any(|i| i >= 2 && text.get(i - 2..i) == Some(b"SM"))
}

/// The last token that ends at or before byte `open` (`None` if there is none) and, when
/// `want_range`, whether any of those tokens is a `START-END` range.
fn before_open(text: &str, open: usize, want_range: bool) -> (Option<Token<'_>>, bool) {
    if !want_range && let Some(last) = last_before_ascii(text, open) {
        return (last, false);
    }
    let mut last = None;
    let mut range = false;
    for t in tokens(text) {
        if t.end > open {
            break;
        }
        range = range || (want_range && is_range(t.text));
        last = Some(t);
    }
    (last, range)
}

/// The last token that ends at or before byte `open`, found scanning back from `open`:
/// `Some(None)` when there is none, `None` (do not know) when the scan meets a non-ASCII
/// byte (which may be part of Unicode whitespace).
fn last_before_ascii(text: &str, open: usize) -> Option<Option<Token<'_>>> {
    let b = text.as_bytes().get(..open)?;
    let space = |i: usize| -> Option<bool> {
        let c = *b.get(i)?;
        c.is_ascii().then_some(matches!(c, b'\t'..=b'\r' | b' '))
    };
    let mut i = open;
    // A token glued to `[` runs past it: skip it, then the blanks before it.
    while i > 0 && !space(i - 1)? {
        i -= 1;
    }
    while i > 0 && space(i - 1)? {
        i -= 1;
    }
    if i == 0 {
        return Some(None);
    }
    let end = i;
    while i > 0 && !space(i - 1)? {
        i -= 1;
    }
    Some(Some(Token {
        text: text.get(i..end)?,
        start: i,
        end,
    }))
}

/// Reads `text` as a region row. `header` is the section's column header, if any;
/// `page_size` is `Some` for a `-pages` report (bare numbers are pages).
pub(crate) fn parse_region_row(
    line: usize,
    text: &str,
    header: Option<&RegionHeader>,
    page_size: Option<u64>,
    section: RegionSection,
) -> RowOutcome {
    let bytes = text.as_bytes();
    let open = memchr::memchr(b'[', bytes);
    let close = open.and_then(|o| memchr::memchr(b']', bytes.get(o..)?).map(|c| o + c));
    let has_sm = has_share_mode(bytes);
    // Shaped like a row: `[ … ]` and (a START-END before `[` or `SM=`), or else both a
    // START-END (before `[` if there is one) and `SM=`.
    let (open, close, last_before) = match (open, close) {
        (Some(open), Some(close)) => {
            let (last, range) = before_open(text, open, !has_sm);
            if !(has_sm || range) {
                return RowOutcome::NotARow;
            }
            (open, close, last)
        }
        _ => {
            let range = has_sm
                && match open {
                    Some(open) => before_open(text, open, true).1,
                    None => tokens(text).any(|t| is_range(t.text)),
                };
            if !range || trim_start(text).starts_with("REGION TYPE") {
                return RowOutcome::NotARow;
            }
            return RowOutcome::Bad("no `[ … ]` size column".into());
        }
    };
    if trim_start(text).starts_with("REGION TYPE") {
        return RowOutcome::NotARow;
    }

    // Before `[`: TYPE START-END.
    let Some(range_token) = last_before else {
        return RowOutcome::Bad("nothing before `[`".into());
    };
    let Some((start, end)) = split_range(range_token.text) else {
        let t = range_token.text;
        let why = if t.len() > 16 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            format!(
                "address range {} has no `-` between START and END",
                shown(t)
            )
        } else {
            format!("{} before `[` is not a START-END address range", shown(t))
        };
        return RowOutcome::Bad(why);
    };
    let region_type = trim(text.get(..range_token.start).unwrap_or(""));
    if region_type.is_empty() {
        return RowOutcome::Bad("no region type before the address range".into());
    }
    if end < start {
        return RowOutcome::Bad(format!("END {end:#x} is below START {start:#x}"));
    }

    // Inside `[ … ]`: the sizes.
    let inside = text.get(open + 1..close).unwrap_or("");
    // The cells, read once: the first few kept here, the rest (rare) read again below.
    let mut first_cells = [""; 8];
    let mut count = 0;
    for (k, t) in tokens(inside).enumerate() {
        if let Some(slot) = first_cells.get_mut(k) {
            *slot = t.text;
        }
        count += 1;
    }
    let columns: &[RegionColumn] = match header {
        Some(h) if h.columns.len() == count => &h.columns,
        Some(h) => {
            return RowOutcome::Bad(format!(
                "{} values in `[ … ]` but the column header names {}",
                count,
                h.columns.len()
            ));
        }
        None => match RegionHeader::implied(count) {
            Some(c) => c,
            None => {
                return RowOutcome::Bad(format!(
                    "{count} values in `[ … ]` and no column header to name them"
                ));
            }
        },
    };
    let mut region = VmmapRegion {
        line,
        section,
        region_type: String::new(),
        start,
        end,
        vsize: None,
        resident: None,
        dirty: None,
        swap: None,
        prot: [0; 3],
        max_prot: [0; 3],
        share_mode: None,
        purge: None,
        detail: String::new(),
    };
    let mut vsize_tolerance = 0;
    // `take` before `skip`ping: with 8 cells or fewer, `inside` is not read again.
    let more_cells = tokens(inside)
        .skip(first_cells.len())
        .take(count.saturating_sub(first_cells.len()))
        .map(|t| t.text);
    let cells = first_cells.iter().copied().take(count).chain(more_cells);
    for (cell, col) in cells.zip(columns) {
        let Some(size) = parse_size_token(cell, page_size) else {
            return RowOutcome::Bad(format!("{} in `[ … ]` is not a size", shown(cell)));
        };
        match col {
            RegionColumn::VSize => {
                region.vsize = Some(size.bytes);
                vsize_tolerance = size.tolerance;
            }
            RegionColumn::Resident => region.resident = Some(size.bytes),
            RegionColumn::Dirty => region.dirty = Some(size.bytes),
            RegionColumn::Swap => region.swap = Some(size.bytes),
            RegionColumn::Other(_) => {}
        }
    }

    // After `]`: PRT/MAX SM=… [PURGE=…] DETAIL. A token that `]` is part of is not after it.
    let mut after = tokens_from(text, close + 1);
    if text.get(close + 1..).is_some_and(starts_with_token) {
        after.next();
    }
    let Some(prt) = after.next() else {
        return RowOutcome::Bad("nothing after `]` (no PRT/MAX, no SM=)".into());
    };
    let prot = prt
        .text
        .split_once('/')
        .and_then(|(a, b)| Some((protection(a)?, protection(b)?)));
    let Some((prot, max_prot)) = prot else {
        return RowOutcome::Bad(format!(
            "protection {} is not PRT/MAX like r-x/rwx",
            shown(prt.text)
        ));
    };
    region.prot = prot;
    region.max_prot = max_prot;
    let Some(sm) = after
        .next()
        .filter(|t| t.text.len() > 3 && t.text.starts_with("SM="))
    else {
        return RowOutcome::Bad("no `SM=` share mode after the protection".into());
    };
    region.share_mode = sm.text.get(3..).map(str::to_string);
    let mut last = sm;
    // The token after `SM=…` is `PURGE=…` only if the text there starts so (no need to read
    // a long detail to the end to know).
    let purge_next = text
        .get(sm.end..)
        .is_some_and(|rest| trim_start(rest).starts_with("PURGE="));
    let purge = if purge_next { after.next() } else { None };
    if let Some(purge) = purge.filter(|t| t.text.starts_with("PURGE=")) {
        region.purge = purge
            .text
            .get(6..)
            .filter(|p| !p.is_empty())
            .map(str::to_string);
        last = purge;
    }
    region.region_type = region_type.to_string();
    let detail_text = text.get(last.end..).unwrap_or("");
    let detail = trim(detail_text);
    region.detail = detail.to_string();

    // Cross-checks, kept as remarks.
    let mut remarks = Vec::new();
    if let Some(h) = header {
        let shift = column(text, open) as i64 - h.bracket as i64;
        if shift != 0 {
            remarks.push(format!(
                "row is shifted {shift:+} column(s) from the column header; read by tokens"
            ));
        }
        if let (Some((hs, hd)), false) = (h.shrmod_to_detail, detail.is_empty()) {
            let detail_start = last.end + (detail_text.len() - trim_start(detail_text).len());
            // Display columns from `SM=` to the detail.
            let gap = text
                .get(sm.start..detail_start)
                .map_or(0, |s| s.chars().count()) as i64;
            let expected = hd as i64 - hs as i64;
            if gap != expected {
                remarks.push(format!(
                    "REGION DETAIL {} starts {:+} column(s) off its column (annotation or edit?)",
                    shown(&region.detail),
                    gap - expected
                ));
            }
        }
    }
    if let Some(vsize) = region.vsize {
        let size = region.size();
        if vsize.abs_diff(size) > vsize_tolerance.saturating_add(1) {
            remarks.push(format!(
                "VSIZE is {vsize} bytes but the address range is {size} bytes"
            ));
        }
    }
    RowOutcome::Row(region, remarks)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parser as it was before it was made faster (one `Vec` of tokens per row, which
    /// it searched several times): the new one must give the same outcome on every line.
    mod reference {
        use super::super::*;
        use crate::vmmap::tokens::tokenize;

        /// True when `token` is `HEX-HEX`, as `START-END` is.
        fn is_range(token: &str) -> bool {
            split_range(token).is_some()
        }

        fn split_range(token: &str) -> Option<(u64, u64)> {
            let (a, b) = token.split_once('-')?;
            Some((hex(a)?, hex(b)?))
        }

        fn hex(s: &str) -> Option<u64> {
            if s.is_empty() || s.len() > 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            u64::from_str_radix(s, 16).ok()
        }

        fn protection(s: &str) -> Option<[u8; 3]> {
            match s.as_bytes() {
                &[a, b, c] if [a, b, c].iter().all(|x| b"rwx-".contains(x)) => Some([a, b, c]),
                _ => None,
            }
        }

        /// Reads `text` as a region row. `header` is the section's column header, if any;
        /// `page_size` is `Some` for a `-pages` report (bare numbers are pages).
        pub(crate) fn parse_region_row_reference(
            line: usize,
            text: &str,
            header: Option<&RegionHeader>,
            page_size: Option<u64>,
            section: RegionSection,
        ) -> RowOutcome {
            let tokens = tokenize(text);
            let open = text.find('[');
            let close = open.and_then(|o| text.get(o..)?.find(']').map(|c| o + c));
            let has_sm = text.contains("SM=");
            let range_index = tokens
                .iter()
                .position(|t| is_range(t.text) && open.is_none_or(|o| t.end <= o));
            let shaped = match (open, close) {
                (Some(_), Some(_)) => range_index.is_some() || has_sm,
                _ => range_index.is_some() && has_sm,
            };
            if !shaped || text.trim_start().starts_with("REGION TYPE") {
                return RowOutcome::NotARow;
            }
            let (Some(open), Some(close)) = (open, close) else {
                return RowOutcome::Bad("no `[ … ]` size column".into());
            };

            // Before `[`: TYPE START-END.
            let before: Vec<&Token> = tokens.iter().filter(|t| t.end <= open).collect();
            let Some(range_token) = before.last() else {
                return RowOutcome::Bad("nothing before `[`".into());
            };
            let Some((start, end)) = split_range(range_token.text) else {
                let t = range_token.text;
                let why = if t.len() > 16 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
                    format!(
                        "address range {} has no `-` between START and END",
                        shown(t)
                    )
                } else {
                    format!("{} before `[` is not a START-END address range", shown(t))
                };
                return RowOutcome::Bad(why);
            };
            let region_type = text.get(..range_token.start).unwrap_or("").trim();
            if region_type.is_empty() {
                return RowOutcome::Bad("no region type before the address range".into());
            }
            if end < start {
                return RowOutcome::Bad(format!("END {end:#x} is below START {start:#x}"));
            }

            // Inside `[ … ]`: the sizes.
            let cells: Vec<&str> = text
                .get(open + 1..close)
                .unwrap_or("")
                .split_whitespace()
                .collect();
            let columns = match header {
                Some(h) if h.columns.len() == cells.len() => h.columns.clone(),
                Some(h) => {
                    return RowOutcome::Bad(format!(
                        "{} values in `[ … ]` but the column header names {}",
                        cells.len(),
                        h.columns.len()
                    ));
                }
                None => match RegionHeader::implied(cells.len()) {
                    Some(c) => c.to_vec(),
                    None => {
                        return RowOutcome::Bad(format!(
                            "{} values in `[ … ]` and no column header to name them",
                            cells.len()
                        ));
                    }
                },
            };
            let mut region = VmmapRegion {
                line,
                section,
                region_type: region_type.to_string(),
                start,
                end,
                vsize: None,
                resident: None,
                dirty: None,
                swap: None,
                prot: [0; 3],
                max_prot: [0; 3],
                share_mode: None,
                purge: None,
                detail: String::new(),
            };
            let mut vsize_tolerance = 0;
            for (cell, col) in cells.iter().zip(&columns) {
                let Some(size) = parse_size_token(cell, page_size) else {
                    return RowOutcome::Bad(format!("{} in `[ … ]` is not a size", shown(cell)));
                };
                match col {
                    RegionColumn::VSize => {
                        region.vsize = Some(size.bytes);
                        vsize_tolerance = size.tolerance;
                    }
                    RegionColumn::Resident => region.resident = Some(size.bytes),
                    RegionColumn::Dirty => region.dirty = Some(size.bytes),
                    RegionColumn::Swap => region.swap = Some(size.bytes),
                    RegionColumn::Other(_) => {}
                }
            }

            // After `]`: PRT/MAX SM=… [PURGE=…] DETAIL.
            let after: Vec<&Token> = tokens.iter().filter(|t| t.start > close).collect();
            let Some(prt) = after.first() else {
                return RowOutcome::Bad("nothing after `]` (no PRT/MAX, no SM=)".into());
            };
            let prot = prt
                .text
                .split_once('/')
                .and_then(|(a, b)| Some((protection(a)?, protection(b)?)));
            let Some((prot, max_prot)) = prot else {
                return RowOutcome::Bad(format!(
                    "protection {} is not PRT/MAX like r-x/rwx",
                    shown(prt.text)
                ));
            };
            region.prot = prot;
            region.max_prot = max_prot;
            let Some(sm) = after
                .get(1)
                .filter(|t| t.text.len() > 3 && t.text.starts_with("SM="))
            else {
                return RowOutcome::Bad("no `SM=` share mode after the protection".into());
            };
            region.share_mode = sm.text.get(3..).map(str::to_string);
            let mut last = sm;
            if let Some(purge) = after.get(2).filter(|t| t.text.starts_with("PURGE=")) {
                region.purge = purge
                    .text
                    .get(6..)
                    .filter(|p| !p.is_empty())
                    .map(str::to_string);
                last = purge;
            }
            let detail_text = text.get(last.end..).unwrap_or("");
            region.detail = detail_text.trim().to_string();

            // Cross-checks, kept as remarks.
            let mut remarks = Vec::new();
            if let Some(h) = header {
                let shift = column(text, open) as i64 - h.bracket as i64;
                if shift != 0 {
                    remarks.push(format!(
                        "row is shifted {shift:+} column(s) from the column header; read by tokens"
                    ));
                }
                if let (Some((hs, hd)), false) = (h.shrmod_to_detail, region.detail.is_empty()) {
                    let detail_start =
                        last.end + (detail_text.len() - detail_text.trim_start().len());
                    let gap = column(text, detail_start) as i64 - column(text, sm.start) as i64;
                    let expected = hd as i64 - hs as i64;
                    if gap != expected {
                        remarks.push(format!(
                        "REGION DETAIL {} starts {:+} column(s) off its column (annotation or edit?)",
                        shown(&region.detail),
                        gap - expected
                    ));
                    }
                }
            }
            if let Some(vsize) = region.vsize {
                let size = region.size();
                if vsize.abs_diff(size) > vsize_tolerance.saturating_add(1) {
                    remarks.push(format!(
                        "VSIZE is {vsize} bytes but the address range is {size} bytes"
                    ));
                }
            }
            RowOutcome::Row(region, remarks)
        }
    }

    const HEADER_24: &str = "REGION TYPE                      START - END             [ VSIZE  RSDNT  DIRTY   SWAP] PRT/MAX SHRMOD PURGE    REGION DETAIL";

    fn row(text: &str, header: Option<&RegionHeader>) -> (VmmapRegion, Vec<String>) {
        match parse_region_row(7, text, header, None, RegionSection::Writable) {
            RowOutcome::Row(r, remarks) => (r, remarks),
            other => panic!("{text:?}: {other:?}"),
        }
    }

    fn bad(text: &str) -> String {
        let h = RegionHeader::parse(HEADER_24);
        match parse_region_row(7, text, h.as_ref(), None, RegionSection::Writable) {
            RowOutcome::Bad(why) => why,
            other => panic!("{text:?}: {other:?}"),
        }
    }

    #[test]
    fn format_24_row() {
        let h = RegionHeader::parse(HEADER_24).unwrap();
        let (r, remarks) = row(
            "STACK GUARD            00007ffeebc00000-00007ffeef400000 [ 56.0M     0K     0K     0K] ---/rwx SM=NUL          stack guard for thread 0",
            Some(&h),
        );
        assert!(remarks.is_empty(), "{remarks:?}");
        assert_eq!(r.region_type, "STACK GUARD");
        assert_eq!((r.start, r.end), (0x7ffeebc00000, 0x7ffeef400000));
        assert_eq!(r.vsize, Some(56 << 20));
        assert_eq!((r.resident, r.dirty, r.swap), (Some(0), Some(0), Some(0)));
        assert_eq!((&r.prot, &r.max_prot), (b"---", b"rwx"));
        assert_eq!(r.share_mode.as_deref(), Some("NUL"));
        assert_eq!(r.purge, None);
        assert_eq!(r.detail, "stack guard for thread 0");
        assert_eq!(r.line, 7);
    }

    #[test]
    fn purge_column_and_no_detail() {
        let h = RegionHeader::parse("REGION TYPE                    START - END         [ VSIZE  RSDNT  DIRTY   SWAP] PRT/MAX SHRMOD PURGE    REGION DETAIL").unwrap();
        let (r, remarks) = row(
            "Activity Tracing            103298000-1032d8000    [  256K    48K    32K    16K] rw-/rwx SM=ALI PURGE=N",
            Some(&h),
        );
        assert!(remarks.is_empty(), "{remarks:?}");
        assert_eq!(r.purge.as_deref(), Some("N"));
        assert_eq!(r.detail, "");
        // One column to the right of the others: read, with a remark.
        let (r, remarks) = row(
            "IOAccelerator                107c58000-107c5c000    [   16K    16K    16K     0K] r--/r-- SM=SHM",
            Some(&h),
        );
        assert_eq!(r.region_type, "IOAccelerator");
        assert_eq!(remarks.len(), 1, "{remarks:?}");
    }

    #[test]
    fn format_22_rows_without_header() {
        let (r, remarks) = row(
            "VM_ALLOCATE            0000000200000000-0000000900000000 [ 28.0G     0K] ---/rwx SM=NUL  ",
            None,
        );
        assert!(remarks.is_empty());
        assert_eq!(
            (r.vsize, r.resident, r.dirty),
            (Some(28 << 30), Some(0), None)
        );
        assert_eq!(r.detail, "");
        let (r, _) = row(
            "__TEXT                 0000000105b60000-0000000105b62000 [    8K] r-x/rwx SM=COW  /usr/local/env/chroma_env/bin/python",
            None,
        );
        assert_eq!((r.vsize, r.resident), (Some(8192), None));
        assert_eq!(r.detail, "/usr/local/env/chroma_env/bin/python");
    }

    #[test]
    fn bare_bytes_wide_addresses_and_pages() {
        let (r, remarks) = row(
            "__DATA_CONST                1de418000-1de418f10    [  3856   3856     0K     0K] r--/rw- SM=COW          /usr/lib/system/libcorecrypto.dylib",
            None,
        );
        assert!(remarks.is_empty(), "{remarks:?}");
        assert_eq!(r.vsize, Some(3856));
        let (r, _) = row(
            "MALLOC_NANO              600000000000-600020000000 [512.0M    96K    96K   176K] rw-/rwx SM=SHM          DefaultMallocZone_0x105348000",
            None,
        );
        assert_eq!(r.vsize, Some(512 << 20));
        let pages = parse_region_row(
            1,
            "MALLOC_SMALL           00007fecea800000-00007feceb000000 [  2048      3      3      0] rw-/rwx SM=PRV          DefaultMallocZone_0x1036a7000",
            None,
            Some(4096),
            RegionSection::Writable,
        );
        let RowOutcome::Row(r, remarks) = pages else {
            panic!("{pages:?}")
        };
        assert!(remarks.is_empty(), "{remarks:?}");
        assert_eq!((r.vsize, r.resident), (Some(2048 * 4096), Some(3 * 4096)));
    }

    #[test]
    fn annotations_and_inconsistencies_are_remarks() {
        let h = RegionHeader::parse(HEADER_24).unwrap();
        let (r, remarks) = row(
            "VM_ALLOCATE            00000002007d0000-00000002007d1000 [    4K      4K     4K     0K] rwx/rwx SM=PRV           <<<--- here is our allocation",
            Some(&h),
        );
        assert_eq!(r.detail, "<<<--- here is our allocation");
        assert_eq!(remarks.len(), 1, "{remarks:?}");
        let (_, remarks) = row(
            "__TEXT                 0000000100000000-0000000100006000 [   28K    24K     0K     0K] r-x/rwx SM=COW          /work/tmp/ping",
            Some(&h),
        );
        assert!(remarks[0].contains("VSIZE"), "{remarks:?}");
    }

    #[test]
    fn damaged_rows_say_why() {
        assert!(bad("__DATA_CONST                1033bc000-1035bc000    [ 2048K  2000K     0K     0K] r--/rwSM=COW          /Users/USER/*/gopls").contains("protection"));
        assert!(bad("__TEXT                 00000001000000000000000100006000 [   24K    24K     0K     0K] r-x/rwx SM=COW  x").contains("no `-`"));
        assert!(bad("__TEXT                 0000000100000000-0000000100006000 [   24K    24K     0K] r-x/rwx SM=COW  x").contains("3 values"));
        assert!(bad("__TEXT                 0000000100000000-0000000100006000 [   24K    24K    0K   xK] r-x/rwx SM=COW  x").contains("not a size"));
        assert!(bad("__TEXT                 0000000100006000-0000000100000000 [   24K    24K    0K   0K] r-x/rwx SM=COW  x").contains("below"));
        assert!(
            bad("0000000100000000-0000000100006000 [   24K    24K    0K   0K] r-x/rwx SM=COW  x")
                .contains("type")
        );
        assert!(
            bad(
                "__TEXT   0000000100000000-0000000100006000 [   24K    24K    0K   0K] r-x/rwx COW"
            )
            .contains("SM=")
        );
        assert!(
            bad("__TEXT   0000000100000000-0000000100006000 [   24K    24K    0K   0K]")
                .contains("nothing after")
        );
        assert!(bad("__TEXT   0000000100000000-0000000100006000 r-x/rwx SM=COW").contains("[ … ]"));
    }

    #[test]
    fn other_lines_are_not_rows() {
        for text in [
            "",
            "...(snip)...",
            " combined __LINKEDIT",
            "==== Legend",
            "SM=sharing mode:  ",
            "REGION TYPE                      START - END             [ VSIZE] PRT/MAX SHRMOD  REGION DETAIL",
            "MALLOC                             36.3M        see MALLOC ZONE table below",
        ] {
            assert!(
                matches!(
                    parse_region_row(1, text, None, None, RegionSection::Unknown),
                    RowOutcome::NotARow
                ),
                "{text:?}"
            );
        }
    }

    /// The fast row reader gives exactly what the reference one gives: on every line of the
    /// fixtures, with and without each column header found there, and on mutated lines.
    #[test]
    fn same_outcome_as_the_reference_reader() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/vmmap/");
        let mut lines: Vec<String> = Vec::new();
        for e in std::fs::read_dir(dir).expect("fixture directory") {
            let path = e.expect("dir entry").path();
            if path.extension().is_some_and(|x| x == "txt") {
                let bytes = std::fs::read(&path).expect("fixture");
                lines.extend(String::from_utf8_lossy(&bytes).lines().map(str::to_string));
            }
        }
        assert!(lines.len() > 1000);
        let mut headers: Vec<Option<RegionHeader>> = vec![None];
        headers.extend(
            lines
                .iter()
                .filter_map(|l| RegionHeader::parse(l))
                .map(Some),
        );
        headers.dedup();
        // Mutations: every line with a byte of noise at a few places, cut, and joined.
        let noise = [
            " ",
            "\t",
            "-",
            "[",
            "]",
            "/",
            "=",
            "SM=",
            "PURGE=",
            "\u{a0}",
            "\u{e9}",
            "\u{2003}",
            "x",
            "0",
            "K",
            "REGION TYPE ",
        ];
        let mut inputs = lines.clone();
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % (n.max(1) as u64)) as usize
        };
        for l in &lines {
            for _ in 0..6 {
                let mut m = l.clone();
                let mut at = next(m.len() + 1);
                while !m.is_char_boundary(at) {
                    at -= 1;
                }
                match next(3) {
                    0 => m.insert_str(at, noise[next(noise.len())]),
                    1 => m.truncate(at),
                    _ => {
                        let mut end = (at + 1 + next(12)).min(m.len());
                        while !m.is_char_boundary(end) {
                            end += 1;
                        }
                        m.replace_range(at..end, "");
                    }
                }
                inputs.push(m);
            }
        }
        for text in &inputs {
            for h in &headers {
                for page_size in [None, Some(4096)] {
                    let new =
                        parse_region_row(3, text, h.as_ref(), page_size, RegionSection::Writable);
                    let old = reference::parse_region_row_reference(
                        3,
                        text,
                        h.as_ref(),
                        page_size,
                        RegionSection::Writable,
                    );
                    assert_eq!(format!("{new:?}"), format!("{old:?}"), "{text:?} {h:?}");
                }
            }
        }
    }
}
