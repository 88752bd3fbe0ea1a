//! Checking what a plugin declares — its ABI version, name, region columns and tables — and
//! the combined schema of a run.

use vmpipe_plugin::abi::{self, ColumnV1, PluginV1, StrV1, TableV1};
use vmpipe_plugin::{ColumnType, Scope};

use crate::sink::csv::REGION_COLUMNS;

/// Longest name accepted for an analyzer, column or table.
const MAX_NAME: usize = 64;
/// Most columns or tables one plugin may declare.
const MAX_ITEMS: usize = 1024;

/// One column, as declared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnSchema {
    /// Name.
    pub name: String,
    /// Type.
    pub ty: ColumnType,
    /// Description.
    pub description: String,
}

/// One table, as declared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSchema {
    /// Name (the CSV file is `NAME.csv`).
    pub name: String,
    /// What a row is.
    pub description: String,
    /// Which rows it holds.
    pub scope: Scope,
    /// Declared columns (per-process tables get `pid` and `process` in front when written).
    pub columns: Vec<ColumnSchema>,
}

/// Everything one analyzer declares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnalyzerSchema {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// One line on what it finds.
    pub description: String,
    /// ABI minor version it was built with.
    pub abi_minor: u32,
    /// Region columns it adds.
    pub region_columns: Vec<ColumnSchema>,
    /// Its tables.
    pub tables: Vec<TableSchema>,
}

/// The combined schema of a run: every analyzer's region columns (in pipeline order) and
/// tables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunSchema {
    /// The analyzers, in pipeline order.
    pub analyzers: Vec<AnalyzerSchema>,
    /// Every analyzer region column, in order: `(analyzer index, column)`.
    pub region_columns: Vec<(usize, ColumnSchema)>,
    /// Every table, in order: `(analyzer index, table)`.
    pub tables: Vec<(usize, TableSchema)>,
}

impl RunSchema {
    /// Adds an analyzer; refuses a column or table name that another analyzer or vmpipe itself
    /// already uses.
    pub fn add(&mut self, a: AnalyzerSchema) -> Result<(), String> {
        let index = self.analyzers.len();
        for c in &a.region_columns {
            if REGION_COLUMNS.contains(&c.name.as_str()) {
                return Err(format!(
                    "region column `{}` is one of vmpipe's own region columns",
                    c.name
                ));
            }
            if let Some((other, _)) = self.region_columns.iter().find(|(_, o)| o.name == c.name) {
                return Err(format!(
                    "region column `{}` is also declared by analyzer \"{}\"",
                    c.name, self.analyzers[*other].name
                ));
            }
        }
        for t in &a.tables {
            if ["regions", "processes", "errors"].contains(&t.name.as_str()) {
                return Err(format!("table `{}` is one of vmpipe's own tables", t.name));
            }
            if let Some((other, _)) = self.tables.iter().find(|(_, o)| o.name == t.name) {
                return Err(format!(
                    "table `{}` is also declared by analyzer \"{}\"",
                    t.name, self.analyzers[*other].name
                ));
            }
        }
        self.region_columns
            .extend(a.region_columns.iter().cloned().map(|c| (index, c)));
        self.tables
            .extend(a.tables.iter().cloned().map(|t| (index, t)));
        self.analyzers.push(a);
        Ok(())
    }

    /// Index of the first region column and of the first table of analyzer `index`.
    pub fn offsets(&self, index: usize) -> (usize, usize) {
        let cols = self
            .region_columns
            .iter()
            .take_while(|(a, _)| *a < index)
            .count();
        let tables = self.tables.iter().take_while(|(a, _)| *a < index).count();
        (cols, tables)
    }
}

fn valid_name(name: &str, dash: bool) -> bool {
    let mut chars = name.chars();
    !name.is_empty()
        && name.len() <= MAX_NAME
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || (dash && c == '-'))
}

/// Reads a string the plugin declared.
///
/// # Safety
/// `s` must be null or point to `len` bytes valid for as long as the library is loaded
/// (the ABI's rule for everything in a `PluginV1`).
unsafe fn text(s: StrV1, what: &str) -> Result<String, String> {
    if s.len > 1 << 20 {
        return Err(format!("{what} is {} bytes long", s.len));
    }
    // SAFETY: the caller's guarantee.
    let bytes = unsafe { s.as_bytes() }.ok_or_else(|| format!("{what} is missing"))?;
    String::from_utf8(bytes.to_vec()).map_err(|_| format!("{what} is not UTF-8"))
}

/// # Safety
/// `ptr` must point to `len` values valid while the library is loaded.
unsafe fn items<'a, T>(ptr: *const T, len: usize, what: &str) -> Result<&'a [T], String> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() || len > MAX_ITEMS {
        return Err(format!("{what}: {len} items at a null pointer or too many"));
    }
    // SAFETY: the caller's guarantee.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// # Safety
/// As for [`text`].
unsafe fn columns(cols: &[ColumnV1], what: &str) -> Result<Vec<ColumnSchema>, String> {
    let mut out: Vec<ColumnSchema> = Vec::new();
    for c in cols {
        // SAFETY: the caller's guarantee, for each string.
        let name = unsafe { text(c.name, &format!("a column name of {what}")) }?;
        if !valid_name(&name, false) {
            return Err(format!(
                "column name {name:?} of {what} is not lowercase letters, digits and `_` starting with a letter (at most {MAX_NAME})"
            ));
        }
        if out.iter().any(|o| o.name == name) {
            return Err(format!("column `{name}` is declared twice in {what}"));
        }
        let ty = ColumnType::from_code(c.kind).ok_or_else(|| {
            format!(
                "column `{name}` of {what} has an unknown type code {}",
                c.kind
            )
        })?;
        // SAFETY: as above.
        let description = unsafe {
            text(
                c.description,
                &format!("the description of column `{name}`"),
            )
        }?;
        out.push(ColumnSchema {
            name,
            ty,
            description,
        });
    }
    Ok(out)
}

/// # Safety
/// As for [`text`].
unsafe fn table(t: &TableV1) -> Result<TableSchema, String> {
    // SAFETY: the caller's guarantee.
    let name = unsafe { text(t.name, "a table name") }?;
    if !valid_name(&name, false) {
        return Err(format!(
            "table name {name:?} is not lowercase letters, digits and `_` starting with a letter"
        ));
    }
    let scope = match t.scope {
        abi::scope::PROCESS => Scope::Process,
        abi::scope::RUN => Scope::Run,
        other => return Err(format!("table `{name}` has an unknown scope code {other}")),
    };
    let what = format!("table `{name}`");
    // SAFETY: the caller's guarantee.
    let cols = unsafe { items(t.columns, t.columns_len, &what) }?;
    // SAFETY: as above.
    let columns = unsafe { columns(cols, &what) }?;
    if columns.is_empty() {
        return Err(format!("table `{name}` declares no column"));
    }
    if scope == Scope::Process {
        if let Some(c) = columns
            .iter()
            .find(|c| c.name == "pid" || c.name == "process")
        {
            return Err(format!(
                "table `{name}` declares `{}`, which vmpipe adds to per-process tables itself",
                c.name
            ));
        }
    }
    // SAFETY: as above.
    let description =
        unsafe { text(t.description, &format!("the description of table `{name}`")) }?;
    Ok(TableSchema {
        name,
        description,
        scope,
        columns,
    })
}

/// Checks a plugin's description.
///
/// # Safety
/// `p` must be the `PluginV1` a loaded library returned (its pointers valid while loaded).
pub unsafe fn check(p: &PluginV1) -> Result<AnalyzerSchema, String> {
    if p.abi_major != abi::ABI_MAJOR {
        return Err(format!(
            "it speaks plugin ABI v{}; this vmpipe speaks v{}",
            p.abi_major,
            abi::ABI_MAJOR
        ));
    }
    if p.abi_minor > abi::ABI_MINOR {
        return Err(format!(
            "it was built for plugin ABI 1.{}, newer than this vmpipe's 1.{}: upgrade vmpipe",
            p.abi_minor,
            abi::ABI_MINOR
        ));
    }
    if p.struct_size < std::mem::size_of::<PluginV1>() {
        return Err(format!(
            "its plugin table is {} bytes, smaller than ABI 1.0's {}",
            p.struct_size,
            std::mem::size_of::<PluginV1>()
        ));
    }
    // SAFETY: the caller's guarantee covers every pointer below.
    let name = unsafe { text(p.name, "the analyzer name") }?;
    if !valid_name(&name, true) {
        return Err(format!(
            "analyzer name {name:?} is not lowercase letters, digits, `_` and `-` starting with a letter"
        ));
    }
    // SAFETY: as above.
    let version = unsafe { text(p.version, "the version") }?;
    // SAFETY: as above.
    let description = unsafe { text(p.description, "the description") }?;
    // SAFETY: as above.
    let cols = unsafe { items(p.region_columns, p.region_columns_len, "region columns") }?;
    // SAFETY: as above.
    let region_columns = unsafe { columns(cols, "the region columns") }?;
    // SAFETY: as above.
    let raw_tables = unsafe { items(p.tables, p.tables_len, "tables") }?;
    let mut tables: Vec<TableSchema> = Vec::new();
    for t in raw_tables {
        // SAFETY: as above.
        let t = unsafe { table(t) }?;
        if tables.iter().any(|o| o.name == t.name) {
            return Err(format!("table `{}` is declared twice", t.name));
        }
        tables.push(t);
    }
    Ok(AnalyzerSchema {
        name,
        version,
        description,
        abi_minor: p.abi_minor,
        region_columns,
        tables,
    })
}

/// The header of a per-process table's CSV file: `pid`, `process`, then the declared columns.
pub fn table_header(t: &TableSchema) -> Vec<&str> {
    let mut h = Vec::with_capacity(t.columns.len() + 2);
    if t.scope == Scope::Process {
        h.push("pid");
        h.push("process");
    }
    h.extend(t.columns.iter().map(|c| c.name.as_str()));
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rules() {
        assert!(valid_name("rwx_regions", false));
        assert!(valid_name("image-attribution", true));
        assert!(!valid_name("image-attribution", false));
        assert!(!valid_name("Rss", false));
        assert!(!valid_name("1x", false));
        assert!(!valid_name("", false));
        assert!(!valid_name(&"a".repeat(65), false));
    }

    fn col(name: &str) -> ColumnSchema {
        ColumnSchema {
            name: name.into(),
            ty: ColumnType::U64,
            description: String::new(),
        }
    }

    fn analyzer(name: &str, cols: &[&str], tables: &[&str]) -> AnalyzerSchema {
        AnalyzerSchema {
            name: name.into(),
            version: "1".into(),
            description: String::new(),
            abi_minor: 0,
            region_columns: cols.iter().map(|c| col(c)).collect(),
            tables: tables
                .iter()
                .map(|t| TableSchema {
                    name: (*t).into(),
                    description: String::new(),
                    scope: Scope::Process,
                    columns: vec![col("x")],
                })
                .collect(),
        }
    }

    #[test]
    fn a_run_refuses_clashing_names() {
        let mut run = RunSchema::default();
        run.add(analyzer("a", &["c1", "c2"], &["t1"])).unwrap();
        run.add(analyzer("b", &["c3"], &["t2"])).unwrap();
        assert_eq!(run.offsets(1), (2, 1));
        assert!(
            run.add(analyzer("c", &["c1"], &[]))
                .unwrap_err()
                .contains("\"a\"")
        );
        assert!(
            run.add(analyzer("c", &["rss"], &[]))
                .unwrap_err()
                .contains("vmpipe's own")
        );
        assert!(
            run.add(analyzer("c", &[], &["errors"]))
                .unwrap_err()
                .contains("vmpipe's own")
        );
        assert!(
            run.add(analyzer("c", &[], &["t2"]))
                .unwrap_err()
                .contains("\"b\"")
        );
        assert_eq!(run.analyzers.len(), 2);
    }
}
