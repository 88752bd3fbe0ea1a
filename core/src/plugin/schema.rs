//! Checking what a plugin declares — its ABI version, name, region columns and tables — and
//! the combined schema of a run.

// An FFI module: the workspace denies unsafe code everywhere else.
#![allow(unsafe_code)]

use vmpipe_plugin::abi::{self, AbiStruct, ColumnV2, PluginV2, ReadV2, StrV2, TableV2};
use vmpipe_plugin::{ColumnType, Scope};

use crate::model::schema::{BUILTIN_TABLES, REGIONS};

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

/// A region column of another analyzer that an analyzer reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadSchema {
    /// The providing analyzer.
    pub analyzer: String,
    /// Its column.
    pub column: String,
    /// The type the reader expects.
    pub ty: ColumnType,
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
    /// Other analyzers' region columns it reads, in its order.
    pub reads: Vec<ReadSchema>,
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
    /// For each analyzer, the run's region column index of each column it reads (filled by
    /// [`RunSchema::connect`]).
    pub inputs: Vec<Vec<usize>>,
    /// The order to run the analyzers in on each process: every provider before its readers
    /// (filled by [`RunSchema::connect`]; pipeline order otherwise).
    pub order: Vec<usize>,
}

impl RunSchema {
    /// Adds an analyzer; refuses a column or table name that another analyzer or vmpipe itself
    /// already uses.
    pub fn add(&mut self, a: AnalyzerSchema) -> Result<(), String> {
        let index = self.analyzers.len();
        for c in &a.region_columns {
            if REGIONS.has(&c.name) {
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
            if BUILTIN_TABLES.contains(&t.name.as_str()) {
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

    /// Finds the provider of every column an analyzer reads and orders the analyzers so each
    /// provider runs before its readers (pipeline order otherwise). Returns the problems as
    /// `(reader index, message)`: a missing provider or column, a type that differs, a cycle.
    pub fn connect(&mut self) -> Result<(), Vec<(usize, String)>> {
        let mut problems = Vec::new();
        let mut inputs = Vec::new();
        let mut after: Vec<Vec<usize>> = vec![Vec::new(); self.analyzers.len()];
        for (i, a) in self.analyzers.iter().enumerate() {
            let mut mine = Vec::new();
            for r in &a.reads {
                let Some(p) = self.analyzers.iter().position(|o| o.name == r.analyzer) else {
                    let said = a.reads.iter().take_while(|o| !std::ptr::eq(*o, r));
                    if said.into_iter().any(|o| o.analyzer == r.analyzer) {
                        continue;
                    }
                    problems.push((
                        i,
                        format!(
                            "analyzer \"{}\" reads the region columns of analyzer \"{}\" ({}), which is not in the pipeline: add an [[analyzer]] with use = \"{}\" (vmpipe runs it first)",
                            a.name,
                            r.analyzer,
                            a.reads
                                .iter()
                                .filter(|o| o.analyzer == r.analyzer)
                                .map(|o| o.column.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                            r.analyzer
                        ),
                    ));
                    continue;
                };
                let Some(g) = self
                    .region_columns
                    .iter()
                    .position(|(owner, c)| *owner == p && c.name == r.column)
                else {
                    let has: Vec<&str> = self.analyzers[p]
                        .region_columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect();
                    problems.push((
                        i,
                        format!(
                            "analyzer \"{}\" reads {}.{}, but \"{}\" has no region column `{}` (it has: {})",
                            a.name,
                            r.analyzer,
                            r.column,
                            r.analyzer,
                            r.column,
                            if has.is_empty() { "none".to_string() } else { has.join(", ") }
                        ),
                    ));
                    continue;
                };
                let ty = self.region_columns[g].1.ty;
                if ty != r.ty {
                    problems.push((
                        i,
                        format!(
                            "analyzer \"{}\" reads {}.{} as {}, but it is declared {}",
                            a.name,
                            r.analyzer,
                            r.column,
                            r.ty.as_str(),
                            ty.as_str()
                        ),
                    ));
                    continue;
                }
                mine.push(g);
                if !after[i].contains(&p) {
                    after[i].push(p);
                }
            }
            inputs.push(mine);
        }
        // Kahn's algorithm, taking the earliest ready analyzer in pipeline order each time.
        let n = self.analyzers.len();
        let mut done = vec![false; n];
        let mut order = Vec::with_capacity(n);
        while order.len() < n {
            let Some(next) = (0..n).find(|&i| !done[i] && after[i].iter().all(|&p| done[p])) else {
                let stuck: Vec<&str> = (0..n)
                    .filter(|&i| !done[i])
                    .map(|i| self.analyzers[i].name.as_str())
                    .collect();
                let first = (0..n).find(|&i| !done[i]).unwrap_or(0);
                problems.push((
                    first,
                    format!(
                        "analyzers {} read each other's columns in a cycle: none of them can run first",
                        stuck.join(", ")
                    ),
                ));
                break;
            };
            done[next] = true;
            order.push(next);
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        self.inputs = inputs;
        self.order = order;
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
/// (the ABI's rule for everything in a `PluginV2`).
unsafe fn text(s: StrV2, what: &str) -> Result<String, String> {
    if s.len > 1 << 20 {
        return Err(format!("{what} is {} bytes long", s.len));
    }
    // SAFETY: the caller's guarantee.
    let bytes = unsafe { s.as_bytes() }.ok_or_else(|| format!("{what} is missing"))?;
    String::from_utf8(bytes.to_vec()).map_err(|_| format!("{what} is not UTF-8"))
}

/// Reads an array the plugin declared, element by element at its element size (fields the
/// plugin's older layout lacks read as zero).
///
/// # Safety
/// `ptr` must point to `len` values `size` bytes apart, valid while the library is loaded.
unsafe fn items<T: AbiStruct>(
    ptr: *const T,
    len: usize,
    size: usize,
    what: &str,
) -> Result<Vec<T>, String> {
    if len == 0 {
        return Ok(Vec::new());
    }
    if ptr.is_null() || len > MAX_ITEMS {
        return Err(format!("{what}: {len} items at a null pointer or too many"));
    }
    (0..len)
        // SAFETY: the caller's guarantee.
        .map(|i| unsafe { abi::read_element(ptr, i, size) })
        .collect::<Option<Vec<T>>>()
        .ok_or_else(|| {
            format!(
                "{what}: elements of {size} bytes, smaller than ABI 2.0's {}",
                T::MIN_SIZE
            )
        })
}

/// # Safety
/// As for [`text`].
unsafe fn columns(cols: &[ColumnV2], what: &str) -> Result<Vec<ColumnSchema>, String> {
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
unsafe fn table(t: &TableV2) -> Result<TableSchema, String> {
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
    let cols = unsafe { items(t.columns, t.columns_len, t.column_size, &what) }?;
    // SAFETY: as above.
    let columns = unsafe { columns(&cols, &what) }?;
    if columns.is_empty() {
        return Err(format!("table `{name}` declares no column"));
    }
    if scope == Scope::Process
        && let Some(c) = columns
            .iter()
            .find(|c| c.name == "pid" || c.name == "process")
    {
        return Err(format!(
            "table `{name}` declares `{}`, which vmpipe adds to per-process tables itself",
            c.name
        ));
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

/// The table of a built-in analyzer, read in this host's layout.
pub fn builtin_table(b: &super::builtin::Builtin) -> Result<PluginV2, String> {
    // SAFETY: built-ins are statically linked; their entry returns a static table.
    unsafe { table_of((b.entry)()) }
}

/// Checks a plugin's declaration.
pub fn describe(plugin: &super::Plugin) -> Result<AnalyzerSchema, String> {
    // SAFETY: the table comes from `load`, valid for as long as the library is loaded (always).
    unsafe { check(&plugin.table) }
}

/// Checks a plugin's ABI version, size and panic strategy, and reads its table in this
/// host's layout (fields of an older plugin's smaller table read as absent).
///
/// # Safety
/// `p` must be the table a loaded library's entry returned (its pointers valid while loaded,
/// `struct_size` readable bytes).
pub unsafe fn table_of(p: *const PluginV2) -> Result<PluginV2, String> {
    // SAFETY: the first three fields are the same in every major version (the ABI's rule).
    let (major, minor, size) = unsafe {
        (
            p.cast::<u32>().read_unaligned(),
            p.cast::<u32>().add(1).read_unaligned(),
            p.cast::<u8>().add(8).cast::<usize>().read_unaligned(),
        )
    };
    if major != abi::ABI_MAJOR {
        return Err(format!(
            "it speaks plugin ABI v{major}; this vmpipe speaks v{} (rebuild it against vmpipe-plugin {}.x)",
            abi::ABI_MAJOR,
            abi::ABI_MAJOR
        ));
    }
    // SAFETY: the caller's guarantee: `size` readable bytes.
    let t = unsafe { abi::read_element(p, 0, size) }.ok_or_else(|| {
        format!(
            "its plugin table is {size} bytes, smaller than ABI 2.0's {}",
            PluginV2::MIN_SIZE
        )
    })?;
    if t.requires_minor > abi::ABI_MINOR {
        return Err(format!(
            "it needs plugin ABI {}.{} (it was built with {}.{minor}); this vmpipe speaks {}.{}: upgrade vmpipe",
            abi::ABI_MAJOR,
            t.requires_minor,
            abi::ABI_MAJOR,
            abi::ABI_MAJOR,
            abi::ABI_MINOR
        ));
    }
    if t.panic_strategy == abi::panic_strategy::ABORT {
        return Err(
            "it was built with panic = \"abort\": its first panic would end the whole sweep with nothing written; build it with panic = \"unwind\" (the default) so vmpipe can turn a panic into an error row"
                .into(),
        );
    }
    if t.create.is_none() || t.analyze.is_none() || t.finish.is_none() || t.destroy.is_none() {
        return Err(
            "its plugin table lacks an entry point (create, analyze, finish or destroy is null)"
                .into(),
        );
    }
    Ok(t)
}

/// Checks a plugin's description.
///
/// # Safety
/// `p` must be the `PluginV2` a loaded library returned, read by [`table_of`] (its pointers
/// valid while loaded).
pub unsafe fn check(p: &PluginV2) -> Result<AnalyzerSchema, String> {
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
    let cols = unsafe {
        items(
            p.region_columns,
            p.region_columns_len,
            p.column_size,
            "region columns",
        )
    }?;
    // SAFETY: as above.
    let region_columns = unsafe { columns(&cols, "the region columns") }?;
    // SAFETY: as above.
    let raw_tables = unsafe { items(p.tables, p.tables_len, p.table_size, "tables") }?;
    let mut tables: Vec<TableSchema> = Vec::new();
    for t in &raw_tables {
        // SAFETY: as above.
        let t = unsafe { table(t) }?;
        if tables.iter().any(|o| o.name == t.name) {
            return Err(format!("table `{}` is declared twice", t.name));
        }
        tables.push(t);
    }
    // SAFETY: as above.
    let raw_reads: Vec<ReadV2> = unsafe { items(p.reads, p.reads_len, p.read_size, "reads") }?;
    let mut reads = Vec::new();
    for r in &raw_reads {
        // SAFETY: as above.
        let analyzer = unsafe { text(r.analyzer, "a read's analyzer") }?;
        // SAFETY: as above.
        let column = unsafe { text(r.column, "a read's column") }?;
        let ty = ColumnType::from_code(r.kind).ok_or_else(|| {
            format!(
                "its read of {analyzer}.{column} has an unknown type code {}",
                r.kind
            )
        })?;
        if analyzer == name {
            return Err(format!("it reads its own column {analyzer}.{column}"));
        }
        reads.push(ReadSchema {
            analyzer,
            column,
            ty,
        });
    }
    Ok(AnalyzerSchema {
        name,
        version,
        description,
        abi_minor: p.abi_minor,
        reads,
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
            reads: Vec::new(),
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

    fn reading(mut a: AnalyzerSchema, from: &str, column: &str, ty: ColumnType) -> AnalyzerSchema {
        a.reads.push(ReadSchema {
            analyzer: from.into(),
            column: column.into(),
            ty,
        });
        a
    }

    fn connected(analyzers: Vec<AnalyzerSchema>) -> Result<RunSchema, Vec<(usize, String)>> {
        let mut run = RunSchema::default();
        for a in analyzers {
            run.add(a).unwrap();
        }
        run.connect().map(|()| run)
    }

    #[test]
    fn providers_are_ordered_before_their_readers_and_keep_pipeline_order_otherwise() {
        // c reads a; a reads b: b, a, c — and d, independent, stays after c's place.
        let run = connected(vec![
            reading(analyzer("c", &["c1"], &[]), "a", "a1", ColumnType::U64),
            reading(analyzer("a", &["a1"], &[]), "b", "b1", ColumnType::U64),
            analyzer("b", &["b1"], &[]),
            analyzer("d", &["d1"], &[]),
        ])
        .unwrap();
        assert_eq!(run.order, vec![2, 1, 0, 3]);
        // The reader's inputs are the run's column indices of what it reads.
        assert_eq!(run.inputs[0], vec![1]);
        assert_eq!(run.inputs[1], vec![2]);
        assert!(run.inputs[2].is_empty());
    }

    #[test]
    fn missing_providers_columns_types_and_cycles_are_refused() {
        let e = connected(vec![reading(
            analyzer("r", &["r1"], &[]),
            "nope",
            "x",
            ColumnType::U64,
        )])
        .unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(e[0].1.contains("analyzer \"nope\"") && e[0].1.contains("not in the pipeline"));
        let e = connected(vec![
            analyzer("p", &["p1"], &[]),
            reading(analyzer("r", &["r1"], &[]), "p", "p2", ColumnType::U64),
        ])
        .unwrap_err();
        assert_eq!(e[0].0, 1);
        assert!(
            e[0].1.contains("no region column `p2` (it has: p1)"),
            "{e:?}"
        );
        let e = connected(vec![
            analyzer("p", &["p1"], &[]),
            reading(analyzer("r", &["r1"], &[]), "p", "p1", ColumnType::Text),
        ])
        .unwrap_err();
        assert!(e[0].1.contains("as text, but it is declared u64"), "{e:?}");
        let e = connected(vec![
            reading(analyzer("x", &["x1"], &[]), "y", "y1", ColumnType::U64),
            reading(analyzer("y", &["y1"], &[]), "x", "x1", ColumnType::U64),
        ])
        .unwrap_err();
        assert!(
            e[0].1.contains("x, y read each other's columns in a cycle"),
            "{e:?}"
        );
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
