//! What an analyzer declares about itself: its name, the region columns it adds, the tables
//! it fills. vmpipe checks the declaration before a run starts and refuses any value that does
//! not fit it.

use crate::abi;

/// The type of a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    /// Unsigned integer (counts, sizes in bytes).
    U64,
    /// Signed integer.
    I64,
    /// Float.
    F64,
    /// Boolean (`true`/`false`).
    Bool,
    /// UTF-8 text.
    Text,
    /// Raw bytes (paths, names), written with vmpipe's reversible escape.
    Bytes,
    /// An address, written `0x…`.
    Address,
}

impl ColumnType {
    /// The ABI code ([`abi::kind`]).
    pub const fn code(self) -> u32 {
        match self {
            ColumnType::U64 => abi::kind::U64,
            ColumnType::I64 => abi::kind::I64,
            ColumnType::F64 => abi::kind::F64,
            ColumnType::Bool => abi::kind::BOOL,
            ColumnType::Text => abi::kind::TEXT,
            ColumnType::Bytes => abi::kind::BYTES,
            ColumnType::Address => abi::kind::ADDRESS,
        }
    }

    /// The type for an ABI code.
    pub const fn from_code(code: u32) -> Option<ColumnType> {
        Some(match code {
            abi::kind::U64 => ColumnType::U64,
            abi::kind::I64 => ColumnType::I64,
            abi::kind::F64 => ColumnType::F64,
            abi::kind::BOOL => ColumnType::Bool,
            abi::kind::TEXT => ColumnType::Text,
            abi::kind::BYTES => ColumnType::Bytes,
            abi::kind::ADDRESS => ColumnType::Address,
            _ => return None,
        })
    }

    /// A lowercase name for listings.
    pub const fn as_str(self) -> &'static str {
        match self {
            ColumnType::U64 => "u64",
            ColumnType::I64 => "i64",
            ColumnType::F64 => "f64",
            ColumnType::Bool => "bool",
            ColumnType::Text => "text",
            ColumnType::Bytes => "bytes",
            ColumnType::Address => "address",
        }
    }
}

/// One declared column.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    /// Lowercase ASCII letters, digits and `_`, starting with a letter.
    pub name: &'static str,
    /// Its type.
    pub ty: ColumnType,
    /// What it holds.
    pub description: &'static str,
}

impl Column {
    /// A column.
    pub const fn new(name: &'static str, ty: ColumnType, description: &'static str) -> Column {
        Column {
            name,
            ty,
            description,
        }
    }
}

/// Which rows a table holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Rows about one process, emitted from [`crate::Analyzer::analyze`]; vmpipe puts `pid` and
    /// `process` in front of the declared columns.
    Process,
    /// Rows about the whole run, emitted from [`crate::Analyzer::finish`].
    Run,
}

/// One declared table.
#[derive(Clone, Copy, Debug)]
pub struct Table {
    /// The table's name: the CSV file is `NAME.csv`. Same rules as column names.
    pub name: &'static str,
    /// What one row is.
    pub description: &'static str,
    /// Which rows it holds.
    pub scope: Scope,
    /// Its columns, in order.
    pub columns: &'static [Column],
}

/// Everything an analyzer declares.
#[derive(Clone, Copy, Debug)]
pub struct Schema {
    /// The name a pipeline's `use = "…"` names it by (lowercase, `-` and `_` allowed).
    pub name: &'static str,
    /// Its version.
    pub version: &'static str,
    /// One line on what it finds.
    pub description: &'static str,
    /// Columns it adds to every region row.
    pub region_columns: &'static [Column],
    /// Tables it fills.
    pub tables: &'static [Table],
}
