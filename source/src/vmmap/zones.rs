//! The `MALLOC ZONE` table of the Summary: per malloc zone, its memory and allocations.

use super::table::{ColumnKind, TableRow};

/// One row of the Summary's `MALLOC ZONE` table (also used for its `TOTAL` row). Sizes are in
/// bytes; a field is `None` when the report has no such column or the cell is blank (an
/// empty zone has no `% FULL`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZoneRow {
    /// The 1-based line of the input.
    pub line: usize,
    /// The zone (`DefaultMallocZone_0x10c523000`, `TOTAL`).
    pub name: String,
    /// `VIRTUAL SIZE`.
    pub virtual_size: Option<u64>,
    /// `RESIDENT SIZE`.
    pub resident: Option<u64>,
    /// `DIRTY SIZE`.
    pub dirty: Option<u64>,
    /// `SWAPPED SIZE`.
    pub swapped: Option<u64>,
    /// `ALLOCATION COUNT`.
    pub allocation_count: Option<u64>,
    /// `BYTES ALLOCATED`.
    pub bytes_allocated: Option<u64>,
    /// `DIRTY+SWAP FRAG SIZE` (newer reports).
    pub dirty_swap_frag_size: Option<u64>,
    /// `% FRAG` (newer reports), as a number: 98.0 for `98%`.
    pub pct_frag: Option<f64>,
    /// `% FULL` (older reports), as a number: 81.0 for `81%`.
    pub pct_full: Option<f64>,
    /// `REGION COUNT`.
    pub region_count: Option<u64>,
}

impl ZoneRow {
    pub(crate) fn from_table(line: usize, row: TableRow) -> ZoneRow {
        ZoneRow {
            line,
            virtual_size: row.size(ColumnKind::Virtual),
            resident: row.size(ColumnKind::Resident),
            dirty: row.size(ColumnKind::Dirty),
            swapped: row.size(ColumnKind::Swapped),
            allocation_count: row.count(ColumnKind::AllocationCount),
            bytes_allocated: row.size(ColumnKind::BytesAllocated),
            dirty_swap_frag_size: row.size(ColumnKind::FragSize),
            pct_frag: row.percent(ColumnKind::PctFrag),
            pct_full: row.percent(ColumnKind::PctFull),
            region_count: row.count(ColumnKind::RegionCount),
            // Moved last, once the row's values are read.
            name: row.name,
        }
    }
}
