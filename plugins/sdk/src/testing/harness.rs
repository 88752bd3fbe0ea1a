//! Running an analyzer through the real ABI: its plugin table as the export macro builds it,
//! its `create`, `analyze`, `finish` and `destroy` called with `CreateV2`/`AnalyzeV2` and
//! the harness's [`HostV2`], every array and struct read by the size the other side gives.

// An FFI module: the workspace denies unsafe code everywhere else.
#![allow(unsafe_code)]

use std::any::TypeId;
use std::collections::{BTreeMap, HashMap};
use std::ffi::c_void;
use std::sync::{Mutex, OnceLock};

use super::fixture::Fixture;
use super::host::CallCtx;
use super::value::{ABSENT_CELL, OwnedValue};
use super::{Outcome, Problem, Stage};
use crate::abi::{
    self, AbiStruct, AnalyzeV2, CellV2, ColumnV2, CreateV2, EntryV2, InputV2, PluginV2, ProcessV2,
    ReadV2, RegionV2, StrV2, TableV2, ValueV2, ZoneV2, process_status, status,
};
use crate::{Analyzer, ColumnType, OptionValue, Options, ProcessStatus, Scope};

/// One declared table, as read from the plugin table.
#[derive(Debug)]
pub(crate) struct DeclaredTable {
    pub name: String,
    pub scope: Scope,
    pub columns: Vec<(String, ColumnType)>,
}

/// What the plugin table declares, read through the ABI.
#[derive(Debug)]
pub(crate) struct Declared {
    pub name: String,
    pub columns: Vec<(String, ColumnType)>,
    pub tables: Vec<DeclaredTable>,
    /// `(analyzer, column, type)` of each column it reads.
    pub reads: Vec<(String, String, ColumnType)>,
}

/// The plugin table of `A`, built once per type as the export macro builds it (and, like
/// the macro's, never freed).
fn table_of<A: Analyzer>() -> &'static PluginV2 {
    static TABLES: OnceLock<Mutex<HashMap<TypeId, &'static abi::StaticPlugin>>> = OnceLock::new();
    let mut tables = TABLES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let t = tables.entry(TypeId::of::<A>()).or_insert_with(|| {
        Box::leak(Box::new(crate::export::describe::<A>(
            crate::export::Build {
                unwind: cfg!(panic = "unwind"),
            },
        )))
    });
    &t.0
}

/// # Safety
/// `base` must point to `len` elements `size` bytes apart, valid for the call.
unsafe fn items<T: AbiStruct>(base: *const T, len: usize, size: usize) -> Result<Vec<T>, String> {
    if len == 0 || base.is_null() {
        return Ok(Vec::new());
    }
    (0..len)
        // SAFETY: the caller's guarantee.
        .map(|i| unsafe { abi::read_element(base, i, size) })
        .collect::<Option<Vec<T>>>()
        .ok_or_else(|| {
            format!(
                "elements of {size} bytes, smaller than ABI 2.0's {}",
                T::MIN_SIZE
            )
        })
}

/// # Safety
/// `s` must be null or valid for the call.
unsafe fn text(s: StrV2) -> String {
    // SAFETY: the caller's guarantee.
    String::from_utf8_lossy(unsafe { s.as_bytes() }.unwrap_or(&[])).into_owned()
}

/// # Safety
/// Every pointer of `cols` valid for the call.
unsafe fn columns(cols: &[ColumnV2]) -> Result<Vec<(String, ColumnType)>, String> {
    cols.iter()
        .map(|c| {
            // SAFETY: the caller's guarantee.
            let name = unsafe { text(c.name) };
            let ty = ColumnType::from_code(c.kind)
                .ok_or_else(|| format!("column `{name}` has unknown type code {}", c.kind))?;
            Ok((name, ty))
        })
        .collect()
}

/// Checks the table as vmpipe does before loading a plugin (version, size, panic strategy,
/// entry points) and reads its declaration.
///
/// # Safety
/// `p` must be a plugin table whose pointers are valid while the program runs.
unsafe fn declared(p: &PluginV2) -> Result<Declared, String> {
    if p.abi_major != abi::ABI_MAJOR || p.struct_size < PluginV2::MIN_SIZE {
        return Err(format!("not an ABI {} plugin table", abi::ABI_MAJOR));
    }
    if p.requires_minor > abi::ABI_MINOR {
        return Err(format!(
            "it needs plugin ABI {}.{}; this SDK speaks {}.{}",
            abi::ABI_MAJOR,
            p.requires_minor,
            abi::ABI_MAJOR,
            abi::ABI_MINOR
        ));
    }
    if p.panic_strategy == abi::panic_strategy::ABORT {
        return Err("it was built with panic = \"abort\", which vmpipe refuses".into());
    }
    if p.create.is_none() || p.analyze.is_none() || p.finish.is_none() || p.destroy.is_none() {
        return Err("its plugin table lacks an entry point".into());
    }
    // SAFETY: the caller's guarantee covers every pointer below.
    unsafe {
        let cols = items(p.region_columns, p.region_columns_len, p.column_size)?;
        let mut tables = Vec::new();
        for t in items::<TableV2>(p.tables, p.tables_len, p.table_size)? {
            let cols = items(t.columns, t.columns_len, t.column_size)?;
            tables.push(DeclaredTable {
                name: text(t.name),
                scope: match t.scope {
                    abi::scope::PROCESS => Scope::Process,
                    abi::scope::RUN => Scope::Run,
                    other => return Err(format!("table scope {other} is unknown")),
                },
                columns: columns(&cols)?,
            });
        }
        let reads = items::<ReadV2>(p.reads, p.reads_len, p.read_size)?
            .iter()
            .map(|r| {
                let ty = ColumnType::from_code(r.kind)
                    .ok_or_else(|| format!("a read of unknown type code {}", r.kind))?;
                Ok((text(r.analyzer), text(r.column), ty))
            })
            .collect::<Result<_, String>>()?;
        Ok(Declared {
            name: text(p.name),
            columns: columns(&cols)?,
            tables,
            reads,
        })
    }
}

/// An options table in ABI form; the views point into `options` and this value's boxes.
struct OptionsAbi {
    root: Vec<EntryV2>,
    _values: Vec<Box<[ValueV2]>>,
    _entries: Vec<Box<[EntryV2]>>,
}

const EMPTY_VALUE: ValueV2 = ValueV2 {
    kind: 0,
    int: 0,
    float: 0.0,
    text: StrV2::ABSENT,
    items: std::ptr::null(),
    items_len: 0,
    item_size: size_of::<ValueV2>(),
    entries: std::ptr::null(),
    entries_len: 0,
    entry_size: size_of::<EntryV2>(),
};

impl OptionsAbi {
    fn new(options: &Options) -> OptionsAbi {
        let mut o = OptionsAbi {
            root: Vec::new(),
            _values: Vec::new(),
            _entries: Vec::new(),
        };
        o.root = o.table(options);
        o
    }

    fn table(&mut self, t: &Options) -> Vec<EntryV2> {
        t.iter()
            .map(|(k, v)| EntryV2 {
                key: StrV2::new(k.as_bytes()),
                value: self.value(v),
            })
            .collect()
    }

    fn value(&mut self, v: &OptionValue) -> ValueV2 {
        use abi::value_kind as k;
        match v {
            OptionValue::String(s) => ValueV2 {
                kind: k::STRING,
                text: StrV2::new(s.as_bytes()),
                ..EMPTY_VALUE
            },
            OptionValue::Datetime(s) => ValueV2 {
                kind: k::DATETIME,
                text: StrV2::new(s.as_bytes()),
                ..EMPTY_VALUE
            },
            OptionValue::Integer(i) => ValueV2 {
                kind: k::INTEGER,
                int: *i,
                ..EMPTY_VALUE
            },
            OptionValue::Float(f) => ValueV2 {
                kind: k::FLOAT,
                float: *f,
                ..EMPTY_VALUE
            },
            OptionValue::Boolean(b) => ValueV2 {
                kind: k::BOOLEAN,
                int: i64::from(*b),
                ..EMPTY_VALUE
            },
            OptionValue::Array(items) => {
                let items: Box<[ValueV2]> = items.iter().map(|i| self.value(i)).collect();
                let (ptr, len) = (items.as_ptr(), items.len());
                self._values.push(items);
                ValueV2 {
                    kind: k::ARRAY,
                    items: ptr,
                    items_len: len,
                    ..EMPTY_VALUE
                }
            }
            OptionValue::Table(t) => {
                let entries: Box<[EntryV2]> = self.table(t).into_boxed_slice();
                let (ptr, len) = (entries.as_ptr(), entries.len());
                self._entries.push(entries);
                ValueV2 {
                    kind: k::TABLE,
                    entries: ptr,
                    entries_len: len,
                    ..EMPTY_VALUE
                }
            }
        }
    }
}

/// A created analyzer, driven through its plugin table. `destroy` is called when it is
/// dropped.
pub struct Harness {
    plugin: PluginV2,
    declared: Declared,
    state: *mut c_void,
}

fn problem(stage: Stage, st: u32, ctx: &mut CallCtx<'_>) -> Option<Problem> {
    if st == status::OK || (st == status::REFUSED && !ctx.refusals.is_empty()) {
        return None;
    }
    let message = ctx.error.take().unwrap_or_else(|| match st {
        status::PANIC => "panicked".to_string(),
        status::REFUSED => "stopped after a refused value".to_string(),
        other => format!("failed with status {other} and no message"),
    });
    Some(Problem {
        stage,
        message,
        option: ctx.error_option.take(),
        panicked: st == status::PANIC,
        status: st,
    })
}

impl Harness {
    /// Calls `A`'s `create` with `options`, as vmpipe does for a pipeline entry. On failure
    /// the outcome holds the error (with the option it names, if any) and the state the
    /// plugin stored, if any, is destroyed.
    pub fn create<A: Analyzer>(options: &Options) -> Result<Harness, Box<Outcome>> {
        let plugin = *table_of::<A>();
        // SAFETY: the table and what it points to are 'static (built by the export glue).
        let declared = match unsafe { declared(&plugin) } {
            Ok(d) => d,
            Err(e) => {
                let mut out = Outcome::empty(A::SCHEMA.name);
                out.errors.push(Problem {
                    stage: Stage::Create,
                    message: format!("vmpipe would refuse the plugin: {e}"),
                    option: None,
                    panicked: false,
                    status: status::ERROR,
                });
                return Err(Box::new(out));
            }
        };
        let view = OptionsAbi::new(options);
        let call = CreateV2 {
            struct_size: size_of::<CreateV2>(),
            options: view.root.as_ptr(),
            options_len: view.root.len(),
            entry_size: size_of::<EntryV2>(),
        };
        let mut ctx = CallCtx::new(Stage::Create, &declared, None);
        let host = ctx.host();
        let mut state: *mut c_void = std::ptr::null_mut();
        let mut failure = None;
        if let Some(create) = plugin.create {
            // SAFETY: the options view, the call, the host table and its context live across
            // the call; `state` is a valid out-pointer.
            let st = unsafe { create(&call, &host, &mut state) };
            failure = problem(Stage::Create, st, &mut ctx);
            if failure.is_none() && state.is_null() {
                failure = Some(Problem {
                    stage: Stage::Create,
                    message: "reported success but created no state".into(),
                    option: None,
                    panicked: false,
                    status: st,
                });
            }
        }
        let mut out = Outcome::empty(&declared.name);
        out.absorb(ctx, None);
        drop(view);
        let harness = Harness {
            plugin,
            declared,
            state,
        };
        match failure {
            None => Ok(harness),
            Some(p) => {
                out.errors.push(p);
                // Dropping `harness` destroys a state stored before the failure.
                drop(harness);
                Err(Box::new(out))
            }
        }
    }

    /// Calls `analyze` for the fixture's process: its facts in a `ProcessV2`, its regions in
    /// `RegionV2`s, the values of the columns the analyzer reads in `InputV2`s. A column it
    /// reads that the fixture lacks is an error (vmpipe refuses such a pipeline), as is a
    /// value of another type than the read declares.
    pub fn analyze(&self, fixture: &Fixture) -> Outcome {
        let mut out = Outcome::empty(&self.declared.name);
        let d = &self.declared;
        // The inputs, in the order of the reads.
        let mut input_cells: Vec<Vec<CellV2>> = Vec::new();
        for (analyzer, column, ty) in &d.reads {
            let Some((_, values)) = fixture
                .inputs
                .iter()
                .find(|((a, c), _)| a == analyzer && c == column)
            else {
                out.errors.push(Problem::setup(format!(
                    "the analyzer reads {analyzer}.{column}: give it with Fixture::input or Fixture::inputs_from (vmpipe refuses a pipeline without the provider)"
                )));
                return out;
            };
            if let Some(v) = values
                .iter()
                .find(|v| !v.is_absent() && v.kind() != ty.code())
            {
                out.errors.push(Problem::setup(format!(
                    "input {analyzer}.{column} is read as {}, the fixture gives {v:?}",
                    ty.as_str()
                )));
                return out;
            }
            let mut cells: Vec<CellV2> = values
                .iter()
                .take(fixture.regions.len())
                .map(OwnedValue::cell)
                .collect();
            cells.resize(fixture.regions.len(), ABSENT_CELL);
            input_cells.push(cells);
        }
        let inputs: Vec<InputV2> = input_cells
            .iter()
            .map(|c| InputV2 {
                cells: c.as_ptr(),
                cells_len: c.len(),
                cell_size: size_of::<CellV2>(),
            })
            .collect();
        let zones = zones(fixture);
        let process = process(fixture, &zones);
        let regions = regions(fixture);
        let call = AnalyzeV2 {
            struct_size: size_of::<AnalyzeV2>(),
            process: &process,
            process_size: size_of::<ProcessV2>(),
            regions: regions.as_ptr(),
            regions_len: regions.len(),
            region_size: size_of::<RegionV2>(),
            inputs: inputs.as_ptr(),
            inputs_len: inputs.len(),
            input_size: size_of::<InputV2>(),
        };
        let mut ctx = CallCtx::new(Stage::Analyze, d, Some(fixture));
        let host = ctx.host();
        let mut failure = None;
        if let Some(analyze) = self.plugin.analyze {
            // SAFETY: the state came from `create`; the call borrows data that outlives it;
            // the host table and its context live across it.
            let st = unsafe { analyze(self.state, &call, &host) };
            failure = problem(Stage::Analyze, st, &mut ctx);
        }
        out.absorb(ctx, Some(fixture.regions.len()));
        out.errors.extend(failure);
        out
    }

    /// Calls `finish`, where run-wide tables are emitted.
    pub fn finish(&self) -> Outcome {
        let mut out = Outcome::empty(&self.declared.name);
        let mut ctx = CallCtx::new(Stage::Finish, &self.declared, None);
        let host = ctx.host();
        let mut failure = None;
        if let Some(finish) = self.plugin.finish {
            // SAFETY: as for `analyze`.
            let st = unsafe { finish(self.state, &host) };
            failure = problem(Stage::Finish, st, &mut ctx);
        }
        out.absorb(ctx, None);
        out.errors.extend(failure);
        out
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let (Some(destroy), false) = (self.plugin.destroy, self.state.is_null()) {
            // SAFETY: the state came from `create` and is destroyed once, after every call.
            unsafe { destroy(self.state) }
        }
    }
}

fn opt(v: Option<u32>) -> i64 {
    v.map_or(-1, i64::from)
}

fn bytes(b: &[u8]) -> StrV2 {
    StrV2::new(b)
}

fn zones(f: &Fixture) -> Vec<ZoneV2> {
    use abi::zone_field as z;
    f.zones
        .iter()
        .map(|r| {
            let mut present = 0;
            let mut take = |v: Option<u64>, bit: u32| {
                present |= if v.is_some() { bit } else { 0 };
                v.unwrap_or(0)
            };
            let virtual_size = take(r.virtual_size, z::VIRTUAL);
            let resident = take(r.resident, z::RESIDENT);
            let dirty = take(r.dirty, z::DIRTY);
            let swapped = take(r.swapped, z::SWAPPED);
            let allocation_count = take(r.allocation_count, z::ALLOCATION_COUNT);
            let bytes_allocated = take(r.bytes_allocated, z::BYTES_ALLOCATED);
            let frag_size = take(r.frag_size, z::FRAG_SIZE);
            let region_count = take(r.region_count, z::REGION_COUNT);
            present |= if r.pct_frag.is_some() { z::PCT_FRAG } else { 0 };
            present |= if r.pct_full.is_some() { z::PCT_FULL } else { 0 };
            ZoneV2 {
                name: bytes(r.name.as_bytes()),
                present,
                virtual_size,
                resident,
                dirty,
                swapped,
                allocation_count,
                bytes_allocated,
                frag_size,
                pct_frag: r.pct_frag.unwrap_or(0.0),
                pct_full: r.pct_full.unwrap_or(0.0),
                region_count,
            }
        })
        .collect()
}

fn process(f: &Fixture, zones: &[ZoneV2]) -> ProcessV2 {
    ProcessV2 {
        pid: f.pid,
        status: match f.status {
            ProcessStatus::Ok => process_status::OK,
            ProcessStatus::Partial => process_status::PARTIAL,
            ProcessStatus::Denied => process_status::DENIED,
            ProcessStatus::Vanished => process_status::VANISHED,
        },
        ppid: opt(f.ppid),
        uid: opt(f.uid),
        threads: opt(f.threads),
        name: bytes(&f.name),
        exe: f.exe.as_deref().map_or(StrV2::ABSENT, bytes),
        cmdline: bytes(&f.cmdline),
        has_memory: u32::from(f.has_memory),
        zones: if zones.is_empty() {
            std::ptr::null()
        } else {
            zones.as_ptr()
        },
        zones_len: zones.len(),
        zone_size: size_of::<ZoneV2>(),
    }
}

fn regions(f: &Fixture) -> Vec<RegionV2> {
    let text = |s: &Option<String>| s.as_deref().map_or(StrV2::ABSENT, |s| bytes(s.as_bytes()));
    f.regions
        .iter()
        .map(|r| {
            let mut usage = [0u64; abi::usage::SLOTS];
            let mut present = 0u64;
            for (i, v) in r.usage.iter().enumerate() {
                if let Some(v) = v {
                    usage[i] = *v;
                    present |= 1 << i;
                }
            }
            RegionV2 {
                start: r.start,
                end: r.end,
                offset: r.offset,
                inode: r.inode,
                dev_major: r.dev.0,
                dev_minor: r.dev.1,
                perms: r.perms,
                kind: r.region_kind().code(),
                path: r.path.as_deref().map_or(StrV2::ABSENT, bytes),
                vm_flags: text(&r.vm_flags),
                usage_present: present,
                usage,
                region_type: text(&r.region_type),
                share_mode: text(&r.share_mode),
                max_perms: r.max_perm_bits(),
                detail: text(&r.detail),
            }
        })
        .collect()
}

/// Columns by name, from the column-major values of a call.
pub(crate) fn by_name(
    d: &Declared,
    columns: Vec<Vec<OwnedValue>>,
) -> BTreeMap<String, Vec<OwnedValue>> {
    d.columns
        .iter()
        .map(|(n, _)| n.clone())
        .zip(columns)
        .collect()
}
