//! The `REGION TYPE` table of the Summary: per region type, the sizes and the region count.

use super::table::{ColumnKind, TableRow};

/// One row of the Summary's `REGION TYPE` table (also used for its `TOTAL` rows). Sizes are
/// in bytes; a field is `None` when the report has no such column (format 2.2 and 2.3 show
/// only `VIRTUAL`, `-resident` adds `RESIDENT`, `-summary` of macOS 10.12 shows `VIRTUAL SIZE`
/// and `REGION COUNT` only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SummaryRow {
    /// The 1-based line of the input.
    pub line: usize,
    /// The region type (`MALLOC_SMALL (empty)`, `Memory Tag 22`, `TOTAL`,
    /// `TOTAL, minus reserved VM space`, …).
    pub region_type: String,
    /// `VIRTUAL SIZE`.
    pub virtual_size: Option<u64>,
    /// `RESIDENT SIZE`.
    pub resident: Option<u64>,
    /// `DIRTY SIZE`.
    pub dirty: Option<u64>,
    /// `SWAPPED SIZE`.
    pub swapped: Option<u64>,
    /// `VOLATILE SIZE`.
    pub volatile: Option<u64>,
    /// `NONVOL SIZE`.
    pub nonvolatile: Option<u64>,
    /// `EMPTY SIZE`.
    pub empty: Option<u64>,
    /// `REGION COUNT (non-coalesced)`, as printed; it need not equal the number of rows of
    /// the type listed (macOS 10.13's vmmap prints one more).
    pub region_count: Option<u64>,
    /// Text after the values (`see MALLOC ZONE table below`,
    /// `reserved VM address space (unallocated)`).
    pub note: Option<String>,
}

/// Notes vmmap itself prints after Summary rows; any other text there is reported.
pub(crate) const KNOWN_NOTES: &[&str] = &[
    "see MALLOC ZONE table below",
    "reserved VM address space (unallocated)",
];

impl SummaryRow {
    pub(crate) fn from_table(line: usize, row: TableRow) -> SummaryRow {
        SummaryRow {
            line,
            virtual_size: row.size(ColumnKind::Virtual),
            resident: row.size(ColumnKind::Resident),
            dirty: row.size(ColumnKind::Dirty),
            swapped: row.size(ColumnKind::Swapped),
            volatile: row.size(ColumnKind::Volatile),
            nonvolatile: row.size(ColumnKind::NonVolatile),
            empty: row.size(ColumnKind::Empty),
            region_count: row.count(ColumnKind::RegionCount),
            // Moved last, once the row's values are read.
            region_type: row.name,
            note: row.note,
        }
    }
}
