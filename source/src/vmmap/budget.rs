//! What a parsed report holds in memory, and the budget on it
//! ([`VMMAP_PARSED_BYTES`](crate::limits::VMMAP_PARSED_BYTES)).
//!
//! A report's text can be small for what it makes: `A 1` under a `REGION TYPE` header is a
//! 184-byte row, a line `x` a 60-byte warning. So the parser counts what it builds, not what
//! it reads: each vector's capacity times its element size, plus every string's capacity.

use std::mem::size_of;

use super::error::Warning;
use super::header::Header;
use super::parse::VmmapReport;
use super::regions::VmmapRegion;
use super::summary::SummaryRow;
use super::zones::ZoneRow;

/// The heap bytes a value owns (its strings), beyond its own size.
pub(crate) trait Heap {
    /// Bytes on the heap owned by `self`.
    fn heap(&self) -> usize;
}

impl Heap for String {
    fn heap(&self) -> usize {
        self.capacity()
    }
}

impl<T: Heap> Heap for Option<T> {
    fn heap(&self) -> usize {
        self.as_ref().map_or(0, Heap::heap)
    }
}

impl<A: Heap, B: Heap> Heap for (A, B) {
    fn heap(&self) -> usize {
        self.0.heap() + self.1.heap()
    }
}

impl Heap for usize {
    fn heap(&self) -> usize {
        0
    }
}

impl Heap for VmmapRegion {
    fn heap(&self) -> usize {
        self.region_type.heap() + self.share_mode.heap() + self.purge.heap() + self.detail.heap()
    }
}

impl Heap for SummaryRow {
    fn heap(&self) -> usize {
        self.region_type.heap() + self.note.heap()
    }
}

impl Heap for ZoneRow {
    fn heap(&self) -> usize {
        self.name.heap()
    }
}

impl Heap for Warning {
    fn heap(&self) -> usize {
        self.message.heap()
    }
}

/// A vector's own allocation: its capacity times its element size.
pub(crate) fn inline<T>(v: &Vec<T>) -> usize {
    v.capacity().saturating_mul(size_of::<T>())
}

/// Everything a vector holds: its allocation and its elements' strings.
fn whole<T: Heap>(v: &Vec<T>) -> usize {
    inline(v) + v.iter().map(Heap::heap).sum::<usize>()
}

impl Header {
    /// The header's strings, without its vectors.
    pub(crate) fn scalar_heap(&self) -> usize {
        self.process.heap()
            + self.path.heap()
            + self.identifier.heap()
            + self.code_type.heap()
            + self.parent.heap()
            + self.os_version.heap()
            + self.date.heap()
            + self.report_format.heap()
    }
}

impl VmmapReport {
    /// The bytes this report holds in memory: its own size, each vector's allocation and
    /// every string. The parser keeps this under
    /// [`VMMAP_PARSED_BYTES`](crate::limits::VMMAP_PARSED_BYTES) (one row's worth
    /// over at most, the row that crossed it), counting as it goes.
    pub fn kept_bytes(&self) -> usize {
        size_of::<VmmapReport>()
            + self.header.scalar_heap()
            + whole(&self.header.other)
            + whole(&self.header.notes)
            + whole(&self.regions)
            + whole(&self.summary)
            + whole(&self.summary_totals)
            + whole(&self.malloc_zones)
            + self.malloc_zone_total.as_ref().map_or(0, Heap::heap)
            + whole(&self.warnings)
            + whole(&self.overview)
            + whole(&self.tool_messages)
    }
}

/// The strings of the elements of one vector counted so far: each element is counted once,
/// when first seen.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    seen: usize,
    heap: usize,
}

impl Tally {
    /// Counts the elements of `v` not seen yet; returns what `v` holds in all.
    pub(crate) fn update<T: Heap>(&mut self, v: &Vec<T>) -> usize {
        let new = v.get(self.seen..).unwrap_or(&[]);
        self.heap += new.iter().map(Heap::heap).sum::<usize>();
        self.seen = v.len();
        inline(v) + self.heap
    }
}

/// The running count of a report's bytes as it is parsed (see [`VmmapReport::kept_bytes`]).
#[derive(Debug, Default)]
pub(crate) struct Count {
    other: Tally,
    notes: Tally,
    regions: Tally,
    summary: Tally,
    summary_totals: Tally,
    zones: Tally,
    warnings: Tally,
    overview: Tally,
    tool_messages: Tally,
}

impl Count {
    /// What `report` holds now, counting only what was added since the last call (the
    /// vectors only grow, except `warnings`, which may be cut to a length at least the one
    /// last seen — see the parser).
    pub(crate) fn total(&mut self, report: &VmmapReport) -> usize {
        size_of::<VmmapReport>()
            + report.header.scalar_heap()
            + self.other.update(&report.header.other)
            + self.notes.update(&report.header.notes)
            + self.regions.update(&report.regions)
            + self.summary.update(&report.summary)
            + self.summary_totals.update(&report.summary_totals)
            + self.zones.update(&report.malloc_zones)
            + report.malloc_zone_total.as_ref().map_or(0, Heap::heap)
            + self.warnings.update(&report.warnings)
            + self.overview.update(&report.overview)
            + self.tool_messages.update(&report.tool_messages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every vmmap fixture that parses: (path, its text, the report).
    fn fixtures() -> Vec<(std::path::PathBuf, Vec<u8>, VmmapReport)> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/vmmap/");
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).expect("fixture directory") {
            let path = e.expect("entry").path();
            if path.extension().is_none_or(|x| x != "txt") {
                continue;
            }
            let bytes = std::fs::read(&path).expect("fixture");
            if let Ok(r) = super::super::parse(&bytes) {
                out.push((path, bytes, r));
            }
        }
        out
    }

    #[test]
    fn the_running_count_is_the_whole_count() {
        for (path, _, r) in fixtures() {
            let mut c = Count::default();
            assert_eq!(c.total(&r), r.kept_bytes(), "{}", path.display());
            // Counted again without additions: the same.
            assert_eq!(c.total(&r), r.kept_bytes(), "{}", path.display());
        }
    }

    /// Every fixture keeps more bytes parsed than it has text (1.68 times at least, 1.75 for
    /// the largest, 284 bytes per region row), so a report larger than the parsed-data
    /// budget could not be parsed within it: the raw limit is not below what the budget
    /// admits.
    #[test]
    fn real_reports_keep_more_than_their_text() {
        use crate::limits::{VMMAP_PARSED_BYTES, VMMAP_REPORT_BYTES};
        let mut n = 0;
        for (path, bytes, r) in fixtures() {
            assert!(
                r.kept_bytes() > bytes.len() * 3 / 2,
                "{}: {} bytes kept of {}",
                path.display(),
                r.kept_bytes(),
                bytes.len()
            );
            n += 1;
        }
        assert!(n >= 11, "{n} fixtures parsed");
        assert!(usize::try_from(VMMAP_REPORT_BYTES).is_ok_and(|raw| raw <= VMMAP_PARSED_BYTES));
    }
}
