//! What an analyzer declares about itself: its name, the region columns it adds, the tables
//! it fills, the other analyzers' columns it reads. vmpipe checks the declaration before a
//! run starts and refuses any value that does not fit it.
//!
//! Columns, tables and inputs are declared once, with the [`crate::region_columns!`],
//! [`crate::tables!`] and [`crate::inputs!`] macros: each gives typed handles
//! ([`RegionColumn`], [`Table`], [`Input`]) that know their index, and the list the
//! [`Schema`] takes, in the same order.

use std::marker::PhantomData;

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

/// One declared table (what a [`Table`] handle declares).
#[derive(Clone, Copy, Debug)]
pub struct TableDecl {
    /// The table's name: the CSV file is `NAME.csv`. Same rules as column names.
    pub name: &'static str,
    /// What one row is.
    pub description: &'static str,
    /// Which rows it holds.
    pub scope: Scope,
    /// Its columns, in order.
    pub columns: &'static [Column],
}

/// One region column of another analyzer read by this one (what an [`Input`] declares).
#[derive(Clone, Copy, Debug)]
pub struct Read {
    /// The providing analyzer's name.
    pub analyzer: &'static str,
    /// Its region column.
    pub column: &'static str,
    /// The type this analyzer expects (the host refuses a provider declaring another).
    pub ty: ColumnType,
}

/// Everything an analyzer declares. Build it with [`Schema::new`] and the methods below (a
/// `const` expression), so that fields added later do not break your code.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
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
    pub tables: &'static [TableDecl],
    /// Other analyzers' region columns it reads.
    pub reads: &'static [Read],
    /// The oldest ABI minor it can run on (see [`crate::abi`]); 0 unless it needs a
    /// callback or field added later.
    pub requires_minor: u32,
}

impl Schema {
    /// A schema with no columns, tables or inputs.
    pub const fn new(
        name: &'static str,
        version: &'static str,
        description: &'static str,
    ) -> Schema {
        Schema {
            name,
            version,
            description,
            region_columns: &[],
            tables: &[],
            reads: &[],
            requires_minor: 0,
        }
    }

    /// With these region columns (the list [`crate::region_columns!`] defines).
    pub const fn region_columns(mut self, columns: &'static [Column]) -> Schema {
        self.region_columns = columns;
        self
    }

    /// With these tables (the list [`crate::tables!`] defines).
    pub const fn tables(mut self, tables: &'static [TableDecl]) -> Schema {
        self.tables = tables;
        self
    }

    /// Reading these columns of other analyzers (the list [`crate::inputs!`] defines).
    pub const fn reads(mut self, reads: &'static [Read]) -> Schema {
        self.reads = reads;
        self
    }

    /// Needing at least this ABI minor of the host.
    pub const fn requires_minor(mut self, minor: u32) -> Schema {
        self.requires_minor = minor;
        self
    }
}

/// The Rust side of a column type: what values a [`RegionColumn`] or [`Input`] of this type
/// takes and gives. The types are in [`column`].
pub trait ColumnKind: 'static {
    /// The declared type.
    const TYPE: ColumnType;
    /// The value written and read.
    type Value<'a>: Copy;
    /// As an untyped value.
    fn value<'a>(v: Self::Value<'a>) -> crate::Value<'a>;
    /// From an untyped value of the right type.
    fn from_value<'a>(v: crate::Value<'a>) -> Option<Self::Value<'a>>;
}

/// The column types, for [`RegionColumn`] and [`Input`].
pub mod column {
    use super::{ColumnKind, ColumnType};
    use crate::Value;

    macro_rules! kinds {
        ($($(#[$m:meta])* $name:ident($ty:ty) => $variant:ident;)*) => {$(
            $(#[$m])*
            #[derive(Clone, Copy, Debug)]
            pub struct $name;
            impl ColumnKind for $name {
                const TYPE: ColumnType = ColumnType::$name;
                type Value<'a> = $ty;
                fn value<'a>(v: Self::Value<'a>) -> Value<'a> {
                    Value::$variant(v)
                }
                fn from_value<'a>(v: Value<'a>) -> Option<Self::Value<'a>> {
                    match v {
                        Value::$variant(x) => Some(x),
                        _ => None,
                    }
                }
            }
        )*};
    }

    kinds! {
        /// Unsigned integer (`u64`).
        U64(u64) => U64;
        /// Signed integer (`i64`).
        I64(i64) => I64;
        /// Float (`f64`).
        F64(f64) => F64;
        /// Boolean.
        Bool(bool) => Bool;
        /// UTF-8 text (`&str`).
        Text(&'a str) => Text;
        /// Raw bytes (`&[u8]`).
        Bytes(&'a [u8]) => Bytes;
        /// An address (`u64`, written `0x…`).
        Address(u64) => Address;
    }
}

/// A typed handle on one of the analyzer's region columns, made by
/// [`crate::region_columns!`]: [`crate::Host::set`] takes only values of its type.
///
/// ```
/// # vmpipe_plugin::region_columns! { REGION_COLUMNS = [ SIZE: U64 = ("size", "bytes"), ]; }
/// fn emit(host: &mut vmpipe_plugin::Host<'_>) -> vmpipe_plugin::Result {
///     host.set(0, SIZE, 4096u64)?;
///     host.set(0, SIZE, None)?; // an empty cell
///     Ok(())
/// }
/// ```
///
/// A value of another type does not compile:
///
/// ```compile_fail
/// # vmpipe_plugin::region_columns! { REGION_COLUMNS = [ SIZE: U64 = ("size", "bytes"), ]; }
/// fn emit(host: &mut vmpipe_plugin::Host<'_>) -> vmpipe_plugin::Result {
///     host.set(0, SIZE, "4096")?;
///     Ok(())
/// }
/// ```
#[derive(Debug)]
pub struct RegionColumn<K> {
    index: u32,
    column: Column,
    kind: PhantomData<fn() -> K>,
}

impl<K> Clone for RegionColumn<K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K> Copy for RegionColumn<K> {}

impl<K: ColumnKind> RegionColumn<K> {
    /// The handle of column `index` (use [`crate::region_columns!`] instead, which counts).
    #[doc(hidden)]
    pub const fn new(index: u32, name: &'static str, description: &'static str) -> Self {
        RegionColumn {
            index,
            column: Column::new(name, K::TYPE, description),
            kind: PhantomData,
        }
    }

    /// Its declaration.
    pub const fn column(&self) -> Column {
        self.column
    }

    /// Its index among the analyzer's region columns.
    pub const fn index(&self) -> u32 {
        self.index
    }
}

/// A handle on one of the analyzer's tables, with `N` columns, made by [`crate::tables!`]:
/// [`crate::Host::row`] takes exactly `N` cells, in an array on the stack.
///
/// ```
/// # use vmpipe_plugin::Value;
/// # vmpipe_plugin::tables! { TABLES = [ T: Process ("t", "t") { "a": U64 = "a", "b": Text = "b", }, ]; }
/// fn emit(host: &mut vmpipe_plugin::Host<'_>) -> vmpipe_plugin::Result {
///     host.row(T, [Value::U64(1), Value::Text("x")])?;
///     Ok(())
/// }
/// ```
///
/// A row with another number of cells does not compile:
///
/// ```compile_fail
/// # use vmpipe_plugin::Value;
/// # vmpipe_plugin::tables! { TABLES = [ T: Process ("t", "t") { "a": U64 = "a", "b": Text = "b", }, ]; }
/// fn emit(host: &mut vmpipe_plugin::Host<'_>) -> vmpipe_plugin::Result {
///     host.row(T, [Value::U64(1)])?;
///     Ok(())
/// }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Table<const N: usize> {
    index: u32,
    decl: TableDecl,
}

impl<const N: usize> Table<N> {
    /// The handle of table `index` (use [`crate::tables!`] instead, which counts).
    #[doc(hidden)]
    pub const fn new(index: u32, decl: TableDecl) -> Self {
        assert!(
            decl.columns.len() == N,
            "a table's cell count is its column count"
        );
        Table { index, decl }
    }

    /// Its declaration.
    pub const fn decl(&self) -> TableDecl {
        self.decl
    }

    /// Its index among the analyzer's tables.
    pub const fn index(&self) -> u32 {
        self.index
    }
}

/// A typed handle on a region column of another analyzer that this one reads, made by
/// [`crate::inputs!`]: [`crate::Region::input`] gives its value for a region.
#[derive(Debug)]
pub struct Input<K> {
    index: u32,
    read: Read,
    kind: PhantomData<fn() -> K>,
}

impl<K> Clone for Input<K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K> Copy for Input<K> {}

impl<K: ColumnKind> Input<K> {
    /// The handle of input `index` (use [`crate::inputs!`] instead, which counts).
    #[doc(hidden)]
    pub const fn new(index: u32, analyzer: &'static str, column: &'static str) -> Self {
        Input {
            index,
            read: Read {
                analyzer,
                column,
                ty: K::TYPE,
            },
            kind: PhantomData,
        }
    }

    /// Its declaration.
    pub const fn read(&self) -> Read {
        self.read
    }

    /// Its index among the analyzer's inputs.
    pub const fn index(&self) -> u32 {
        self.index
    }
}

/// Declares the analyzer's region columns: a typed [`RegionColumn`] constant for each, and
/// the list for [`Schema::region_columns`], in the same order. Once per module.
///
/// ```
/// vmpipe_plugin::region_columns! {
///     pub REGION_COLUMNS = [
///         /// Writable and executable.
///         pub WX: Bool = ("wx", "writable and executable"),
///         pub REASON: Text = ("wx_reason", "why"),
///     ];
/// }
/// assert_eq!(REGION_COLUMNS.len(), 2);
/// assert_eq!(REASON.index(), 1);
/// ```
#[macro_export]
macro_rules! region_columns {
    ($list_vis:vis $list:ident = [
        $($(#[$m:meta])* $vis:vis $name:ident : $kind:ident = ($cname:expr, $desc:expr)),* $(,)?
    ];) => {
        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code, clippy::upper_case_acronyms)]
        mod __vmpipe_region_column_index {
            pub enum I { $($name),* }
        }
        $(
            $(#[$m])*
            $vis const $name: $crate::RegionColumn<$crate::column::$kind> =
                $crate::RegionColumn::new(__vmpipe_region_column_index::I::$name as u32, $cname, $desc);
        )*
        /// The region columns, in index order.
        $list_vis const $list: &[$crate::Column] = &[$($name.column()),*];
    };
}

/// Declares the analyzer's tables: a [`Table`] constant for each (its cell count checked at
/// compile time), and the list for [`Schema::tables`], in the same order. Once per module.
///
/// ```
/// vmpipe_plugin::tables! {
///     pub TABLES = [
///         /// One row per finding.
///         pub FINDINGS: Process ("findings", "one row per finding") {
///             "start": Address = "first address",
///             "size": U64 = "bytes",
///         },
///         pub TOTALS: Run ("totals", "one row per run") {
///             "findings": U64 = "findings in the run",
///         },
///     ];
/// }
/// assert_eq!(TABLES.len(), 2);
/// let _: vmpipe_plugin::Table<2> = FINDINGS;
/// assert_eq!(TOTALS.index(), 1);
/// ```
#[macro_export]
macro_rules! tables {
    ($list_vis:vis $list:ident = [
        $($(#[$m:meta])* $vis:vis $name:ident : $scope:ident ($tname:expr, $tdesc:expr) {
            $($col:literal : $kind:ident = $cdesc:expr),* $(,)?
        }),* $(,)?
    ];) => {
        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code, clippy::upper_case_acronyms)]
        mod __vmpipe_table_index {
            pub enum I { $($name),* }
        }
        $(
            $(#[$m])*
            $vis const $name: $crate::Table<{ [$($col),*].len() }> = $crate::Table::new(
                __vmpipe_table_index::I::$name as u32,
                $crate::TableDecl {
                    name: $tname,
                    description: $tdesc,
                    scope: $crate::Scope::$scope,
                    columns: &[$($crate::Column::new($col, $crate::ColumnType::$kind, $cdesc)),*],
                },
            );
        )*
        /// The tables, in index order.
        $list_vis const $list: &[$crate::TableDecl] = &[$($name.decl()),*];
    };
}

/// Declares the other analyzers' region columns this one reads: a typed [`Input`] constant
/// for each, and the list for [`Schema::reads`]. vmpipe runs the providers first on each
/// process and refuses a pipeline that lacks one. Once per module.
///
/// ```
/// vmpipe_plugin::inputs! {
///     pub READS = [
///         /// The image a region belongs to.
///         pub IMAGE: Bytes = ("image-attribution", "image"),
///     ];
/// }
/// assert_eq!(READS[0].column, "image");
/// ```
#[macro_export]
macro_rules! inputs {
    ($list_vis:vis $list:ident = [
        $($(#[$m:meta])* $vis:vis $name:ident : $kind:ident = ($analyzer:expr, $column:expr)),* $(,)?
    ];) => {
        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code, clippy::upper_case_acronyms)]
        mod __vmpipe_input_index {
            pub enum I { $($name),* }
        }
        $(
            $(#[$m])*
            $vis const $name: $crate::Input<$crate::column::$kind> =
                $crate::Input::new(__vmpipe_input_index::I::$name as u32, $analyzer, $column);
        )*
        /// The inputs, in index order.
        $list_vis const $list: &[$crate::Read] = &[$($name.read()),*];
    };
}
