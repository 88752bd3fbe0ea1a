//! What analyzers add to a process: values for their region columns and rows of their tables.

use std::sync::Arc;

use std::fmt;

/// One value emitted by an analyzer, owned by the host.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Cell {
    /// No value: an empty CSV cell.
    #[default]
    Absent,
    /// Unsigned integer.
    U64(u64),
    /// Signed integer.
    I64(i64),
    /// Float.
    F64(f64),
    /// Boolean.
    Bool(bool),
    /// UTF-8 text (shared: a value repeated region after region, such as an image's path, is
    /// one allocation).
    Text(Arc<str>),
    /// Raw bytes (written with the reversible escape; shared like [`Cell::Text`]).
    Bytes(Arc<[u8]>),
    /// An address (written `0x…`).
    Address(u64),
}

/// One row of an analyzer's table.
#[derive(Clone, Debug, PartialEq)]
pub struct TableRow {
    /// Index of the table in the run's schema.
    pub table: usize,
    /// The declared cells (for per-process tables, without `pid` and `process`).
    pub cells: Vec<Cell>,
}

/// Everything the analyzers emitted for one process.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Analysis {
    /// Number of analyzer region columns in the run.
    pub columns: usize,
    /// Number of regions of the process.
    pub regions: usize,
    /// Region values, `columns` per region, region-major: the value of column `c` for region
    /// `r` is at `r * columns + c`.
    values: Vec<Cell>,
    /// Rows of per-process tables.
    pub rows: Vec<TableRow>,
}

impl Analysis {
    /// Room for `columns` values on each of `regions` regions, all absent.
    pub fn new(columns: usize, regions: usize) -> Analysis {
        Analysis {
            columns,
            regions,
            values: if columns == 0 {
                Vec::new()
            } else {
                vec![Cell::Absent; columns * regions]
            },
            rows: Vec::new(),
        }
    }

    /// The values of one region's analyzer columns (empty when there are none).
    pub fn region(&self, region: usize) -> &[Cell] {
        if self.columns == 0 || region >= self.regions {
            return &[];
        }
        &self.values[region * self.columns..(region + 1) * self.columns]
    }

    /// Sets one value; `false` when the indices are out of range.
    pub fn set(&mut self, region: usize, column: usize, cell: Cell) -> bool {
        if region >= self.regions || column >= self.columns {
            return false;
        }
        self.values[region * self.columns + column] = cell;
        true
    }
}

impl fmt::Display for Cell {
    /// The cell as CSV text (before CSV quoting): integers in decimal, addresses `0x…`,
    /// booleans `true`/`false`, bytes escaped reversibly, absent empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Absent => Ok(()),
            Cell::U64(v) => write!(f, "{v}"),
            Cell::I64(v) => write!(f, "{v}"),
            Cell::F64(v) => write!(f, "{v}"),
            Cell::Bool(v) => write!(f, "{v}"),
            Cell::Text(s) => f.write_str(&crate::model::escape::escape(s.as_bytes())),
            Cell::Bytes(b) => f.write_str(&crate::model::escape::escape(b)),
            Cell::Address(v) => write!(f, "{v:#x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_addressed_by_region_and_column() {
        let mut a = Analysis::new(2, 3);
        assert!(a.set(2, 1, Cell::U64(7)));
        assert!(!a.set(3, 0, Cell::U64(1)));
        assert!(!a.set(0, 2, Cell::U64(1)));
        assert_eq!(a.region(2), &[Cell::Absent, Cell::U64(7)]);
        assert_eq!(a.region(9), &[] as &[Cell]);
        assert_eq!(Analysis::new(0, 5).region(1), &[] as &[Cell]);
    }

    #[test]
    fn cells_render_as_the_csv_contract_says() {
        assert_eq!(Cell::Address(0x7f00).to_string(), "0x7f00");
        assert_eq!(Cell::Address(0).to_string(), "0x0");
        assert_eq!(
            Cell::Bytes(Arc::from(&b"a\xffb"[..])).to_string(),
            "a\\xffb"
        );
        assert_eq!(Cell::Absent.to_string(), "");
        assert_eq!(Cell::I64(-3).to_string(), "-3");
        assert_eq!(Cell::F64(0.5).to_string(), "0.5");
    }
}
