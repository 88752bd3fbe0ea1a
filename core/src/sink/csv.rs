//! The CSV sink: one RFC 4180 file per table in a directory.
//!
//! * `regions.csv` — one row per region: see [`REGIONS`].
//! * `processes.csv` — one row per selected process: see [`PROCESSES`].
//! * `errors.csv` — one row per problem: see [`ERRORS`].
//! * `NAME.csv` for every table an analyzer declares (`pid, process` first for per-process
//!   tables); analyzer region columns follow vmpipe's own in `regions.csv`.
//!
//! Every file has a header row. Byte counts are plain integers (bytes, not kB), addresses are
//! `0x` + lowercase hex, booleans `true`/`false`, absent values empty. Paths, names and command
//! lines use the reversible escape of [`crate::model::escape`]. Rows are in pid order, then address
//! order; the same input gives the same bytes.
//!
//! Each row is written by walking its table's columns and matching on the column: a column
//! added to [`crate::model::schema`] and not written here does not compile.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use super::csv_row::{Prepared, Row};
use super::{RunOutput, Sink};
use crate::model::schema::{ERRORS, ErrorsColumn, PROCESSES, ProcessesColumn, REGIONS};
use crate::model::{Cell, Region, TableRow, UsageField};
use crate::output::out_dir::OutDir;
use crate::output::writeback::Writeback;
use crate::output::{AtomicFile, OutputError};
use crate::plugin::{RunSchema, table_header};
use crate::sink::RunSummary;
use crate::source::{Collected, ErrorRow};

/// The usage fields in `regions.csv` order (the columns from `rss` to `protection_key`): the
/// region row is written straight-line, the sweep's hot path (a loop over the schema's columns
/// cost 20% more instructions on a maps-only sweep, callgrind); the test
/// `region_row_follows_the_schema` holds the writer to [`REGIONS`].
const REGION_USAGE: [UsageField; 23] = [
    UsageField::Rss,
    UsageField::Pss,
    UsageField::PssDirty,
    UsageField::SharedClean,
    UsageField::SharedDirty,
    UsageField::PrivateClean,
    UsageField::PrivateDirty,
    UsageField::Referenced,
    UsageField::Anonymous,
    UsageField::Swap,
    UsageField::SwapPss,
    UsageField::Locked,
    UsageField::Ksm,
    UsageField::LazyFree,
    UsageField::AnonHugePages,
    UsageField::ShmemPmdMapped,
    UsageField::FilePmdMapped,
    UsageField::SharedHugetlb,
    UsageField::PrivateHugetlb,
    UsageField::KernelPageSize,
    UsageField::MmuPageSize,
    UsageField::ThpEligible,
    UsageField::ProtectionKey,
];

/// One output table: a CSV writer on a temporary file.
struct Table {
    file: AtomicFile,
    writer: csv::Writer<File>,
    /// The row handed to the writer, reused: `write_byte_record` copies a whole record into
    /// the writer's buffer at once, where `write_record` goes field by field through
    /// `csv_core`'s state machine at some 140 instructions a field (callgrind, a third of a
    /// maps-only sweep).
    record: csv::ByteRecord,
}

impl Table {
    fn create<S: AsRef<[u8]>>(
        dir: &OutDir,
        name: &str,
        columns: &[S],
    ) -> Result<Table, OutputError> {
        let file = AtomicFile::create(dir, OsStr::new(name))?;
        let path = file.target();
        let mut writer = csv::WriterBuilder::new()
            .buffer_capacity(1 << 16)
            .from_writer(file.file()?);
        writer
            .write_record(columns)
            .map_err(|e| OutputError::csv(&path, e))?;
        Ok(Table {
            file,
            writer,
            record: csv::ByteRecord::new(),
        })
    }

    fn write(&mut self, row: &Row) -> Result<(), OutputError> {
        self.record.clear();
        for c in row.cells() {
            self.record.push_field(c);
        }
        self.writer
            .write_byte_record(&self.record)
            .map_err(|e| OutputError::csv(self.file.target(), e))
    }

    /// Writes what is buffered; the file, still under its temporary name.
    fn close(mut self) -> Result<AtomicFile, OutputError> {
        self.writer
            .flush()
            .map_err(|e| OutputError::io(self.file.target(), e))?;
        drop(self.writer);
        Ok(self.file)
    }
}

/// `regions.csv`: one line per region, the sweep's hot path. The header is written by `csv`,
/// the rows by [`Row::line_into`] (the same bytes `csv` would write, see [`super::csv_row`])
/// into a buffer written out in 256 KiB pieces.
struct LineTable {
    file: AtomicFile,
    out: File,
    buf: Vec<u8>,
    writeback: Writeback,
}

impl LineTable {
    const FLUSH_AT: usize = 1 << 18;

    fn create<S: AsRef<[u8]>>(
        dir: &OutDir,
        name: &str,
        columns: &[S],
    ) -> Result<LineTable, OutputError> {
        let file = AtomicFile::create(dir, OsStr::new(name))?;
        let path = file.target();
        let mut header = csv::Writer::from_writer(Vec::with_capacity(Self::FLUSH_AT + 4096));
        header
            .write_record(columns)
            .map_err(|e| OutputError::csv(&path, e))?;
        let buf = header
            .into_inner()
            .map_err(|e| OutputError::csv(&path, e.into_error().into()))?;
        Ok(LineTable {
            out: file.file()?,
            file,
            buf,
            writeback: Writeback::default(),
        })
    }

    fn write(&mut self, row: &Row) -> Result<(), OutputError> {
        row.line_into(&mut self.buf);
        if self.buf.len() >= Self::FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), OutputError> {
        self.out
            .write_all(&self.buf)
            .and_then(|()| self.writeback.wrote(&self.out, self.buf.len()))
            .map_err(|e| OutputError::io(self.file.target(), e))?;
        self.buf.clear();
        Ok(())
    }

    /// Writes what is buffered; the file, still under its temporary name.
    fn close(mut self) -> Result<AtomicFile, OutputError> {
        self.flush()?;
        self.writeback
            .finish()
            .map_err(|e| OutputError::io(self.file.target(), e))?;
        drop(self.out);
        Ok(self.file)
    }
}

/// Writes `regions.csv`, `processes.csv`, `errors.csv` and the analyzers' tables into one
/// directory.
pub struct CsvSink {
    regions: LineTable,
    processes: Table,
    errors: Table,
    tables: Vec<Table>,
    /// The row of the tables `csv` writes.
    row: Row,
    /// The row of `regions.csv`, encoded by [`Row::line_into`].
    region_row: Row,
    cached: Cached,
}

/// Cells the rows of one process repeat, escaped once.
#[derive(Default)]
struct Cached {
    /// The process's name.
    name: Prepared,
    /// The path of the last region written (regions of one file share one allocation).
    path: Option<Arc<[u8]>>,
    path_cell: Prepared,
    /// The last `VmFlags` value and the maximum permissions it gives.
    flags: Option<(Arc<str>, Option<[u8; 3]>)>,
    /// Per analyzer column, its last text value (analyzers' repeated values are shared).
    analyzer: Vec<(Option<Arc<str>>, Prepared)>,
}

impl CsvSink {
    /// Opens `dir` (created if needed, see [`OutDir::open`]) and starts every file of a run
    /// with `schema`; `formula_guard` neutralises text cells a spreadsheet would run (see
    /// [`crate::model::escape`]).
    pub fn create(
        dir: &Path,
        schema: &RunSchema,
        formula_guard: bool,
    ) -> Result<CsvSink, OutputError> {
        let dir = &OutDir::open(dir)?;
        let mut region_columns: Vec<&str> = REGIONS.names().collect();
        region_columns.extend(schema.region_columns.iter().map(|(_, c)| c.name.as_str()));
        Ok(CsvSink {
            regions: LineTable::create(dir, &csv_name(REGIONS.name), &region_columns)?,
            processes: Table::create(
                dir,
                &csv_name(PROCESSES.name),
                &PROCESSES.names().collect::<Vec<_>>(),
            )?,
            errors: Table::create(
                dir,
                &csv_name(ERRORS.name),
                &ERRORS.names().collect::<Vec<_>>(),
            )?,
            tables: schema
                .tables
                .iter()
                .map(|(_, t)| Table::create(dir, &csv_name(&t.name), &table_header(t)))
                .collect::<Result<_, _>>()?,
            row: Row::new(formula_guard, true),
            region_row: Row::new(formula_guard, false),
            cached: Cached::default(),
        })
    }

    fn error_row(row: &mut Row, name: &[u8], e: &ErrorRow) {
        row.clear();
        for c in ERRORS.columns {
            match c.id {
                ErrorsColumn::Pid => row.opt(e.pid.map(u64::from)),
                ErrorsColumn::Process => row.escaped(name),
                ErrorsColumn::Stage => row.raw(e.stage.as_bytes()),
                ErrorsColumn::Plugin => row.escaped(e.plugin.as_bytes()),
                ErrorsColumn::Error => row.escaped(e.error.as_bytes()),
            }
        }
    }

    fn table_row(
        &mut self,
        process: Option<(u32, &[u8])>,
        r: &TableRow,
    ) -> Result<(), OutputError> {
        self.row.clear();
        if let Some((pid, name)) = process {
            self.row.int(u64::from(pid));
            self.row.escaped(name);
        }
        for c in &r.cells {
            self.row.cell(c);
        }
        match self.tables.get_mut(r.table) {
            Some(t) => t.write(&self.row),
            None => Ok(()),
        }
    }

    fn region_row(row: &mut Row, cells: &mut Cached, c: &Collected, index: usize, r: &Region) {
        row.clear();
        row.int(u64::from(c.process.pid));
        row.prepared(&cells.name);
        row.hex(r.start);
        row.hex(r.end);
        row.int(r.size());
        row.raw(&r.perms.as_bytes());
        // Regions share their `VmFlags` value (see the smaps parser): read it once.
        let max = match (&r.vm_flags, r.reported.as_ref().and_then(|x| x.max_prot)) {
            (Some(f), None) => {
                if !cells.flags.as_ref().is_some_and(|(g, _)| Arc::ptr_eq(f, g)) {
                    cells.flags = Some((f.clone(), r.max_perms()));
                }
                cells.flags.as_ref().and_then(|(_, m)| *m)
            }
            _ => r.max_perms(),
        };
        match max {
            Some(m) => row.raw(&m),
            None => row.raw(b""),
        }
        row.int(r.offset);
        // The kernel prints the device as %02x:%02x.
        device_into(r.dev_major, r.dev_minor, row.buf());
        row.end_cell();
        row.int(r.inode);
        match &r.path {
            Some(p) => {
                if !cells.path.as_ref().is_some_and(|q| Arc::ptr_eq(p, q)) {
                    row.prepare(p, &mut cells.path_cell);
                    cells.path = Some(p.clone());
                }
                row.prepared(&cells.path_cell);
            }
            None => row.raw(b""),
        }
        match r.unlinked() {
            Some(u) => row.bool(u),
            None => row.raw(b""),
        }
        row.raw(r.kind.as_str().as_bytes());
        if r.usage.is_empty() {
            row.absent(REGION_USAGE.len());
        } else {
            for f in REGION_USAGE {
                row.opt(r.usage.get(f));
            }
        }
        // Not a fixed vocabulary: a capture's smaps can say anything after `VmFlags:`.
        row.escaped(r.vm_flags.as_deref().unwrap_or("").as_bytes());
        row.opt(r.usage.get(UsageField::Dirty));
        let rep = r.reported.as_deref();
        row.escaped(rep.map_or(&b""[..], |x| x.region_type.as_bytes()));
        row.escaped(
            rep.and_then(|x| x.share_mode.as_deref())
                .unwrap_or("")
                .as_bytes(),
        );
        row.escaped(
            rep.and_then(|x| x.purge.as_deref())
                .unwrap_or("")
                .as_bytes(),
        );
        row.escaped(rep.map_or(&b""[..], |x| x.detail.as_bytes()));
        for (i, (k, v)) in r.usage.other.iter().enumerate() {
            let sep = if i == 0 { "" } else { ";" };
            let _ = write!(row.buf(), "{sep}{k}={v}");
        }
        row.end_cell();
        for (k, v) in c.analysis.region(index).iter().enumerate() {
            match v {
                Cell::Text(t) => {
                    if cells.analyzer.len() <= k {
                        cells.analyzer.resize_with(k + 1, Default::default);
                    }
                    let (last, cell) = &mut cells.analyzer[k];
                    if !last.as_ref().is_some_and(|l| Arc::ptr_eq(l, t)) {
                        row.prepare(t.as_bytes(), cell);
                        *last = Some(t.clone());
                    }
                    row.prepared(cell);
                }
                _ => row.cell(v),
            }
        }
    }

    fn process_row(row: &mut Row, c: &Collected) {
        let p = &c.process;
        row.clear();
        for col in PROCESSES.columns {
            match col.id {
                ProcessesColumn::Pid => row.int(u64::from(p.pid)),
                ProcessesColumn::Ppid => row.opt(p.ppid.map(u64::from)),
                ProcessesColumn::Name => row.escaped(&p.name),
                ProcessesColumn::Exe => row.escaped(p.exe.as_deref().unwrap_or(b"")),
                ProcessesColumn::Cmdline => {
                    let args: Vec<&[u8]> = p.args().collect();
                    row.escaped(&args.join(&b' '));
                }
                ProcessesColumn::Uid => row.opt(p.uid.map(u64::from)),
                ProcessesColumn::Threads => row.opt(p.threads.map(u64::from)),
                ProcessesColumn::State => match p.state {
                    Some(s) => row.escaped(&[s]),
                    None => row.raw(b""),
                },
                ProcessesColumn::Status => row.raw(p.status.as_str().as_bytes()),
                ProcessesColumn::Regions => row.int(c.regions.len() as u64),
                ProcessesColumn::Vsize => row.opt(c.vsize()),
                ProcessesColumn::Total(f) => row.opt(c.total(f)),
                ProcessesColumn::Uss => row.opt(c.uss()),
                ProcessesColumn::Error => row.escaped(p.error.as_deref().unwrap_or("").as_bytes()),
            }
        }
    }
}

/// The file a table is written to.
fn csv_name(table: &str) -> String {
    format!("{table}.csv")
}

/// The device as the kernel prints it in maps (`%02x:%02x`).
fn device_into(major: u32, minor: u32, out: &mut Vec<u8>) {
    fn hex2(v: u32, out: &mut Vec<u8>) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let digits = (32 - v.leading_zeros()).div_ceil(4).max(2);
        for i in (0..digits).rev() {
            out.push(DIGITS[((v >> (i * 4)) & 15) as usize]);
        }
    }
    hex2(major, out);
    out.push(b':');
    hex2(minor, out);
}

impl Sink for CsvSink {
    fn process(&mut self, c: &Collected) -> Result<(), OutputError> {
        self.row.prepare(&c.process.name, &mut self.cached.name);
        self.cached.path = None;
        for (i, r) in c.regions.iter().enumerate() {
            Self::region_row(&mut self.region_row, &mut self.cached, c, i, r);
            self.regions.write(&self.region_row)?;
        }
        Self::process_row(&mut self.row, c);
        self.processes.write(&self.row)?;
        for e in &c.errors {
            Self::error_row(&mut self.row, &c.process.name, e);
            self.errors.write(&self.row)?;
        }
        for r in &c.analysis.rows {
            self.table_row(Some((c.process.pid, &c.process.name)), r)?;
        }
        Ok(())
    }

    fn finish(
        mut self: Box<Self>,
        _summary: &RunSummary,
        run: &RunOutput,
    ) -> Result<Vec<AtomicFile>, OutputError> {
        for r in &run.rows {
            self.table_row(None, r)?;
        }
        for e in &run.errors {
            Self::error_row(&mut self.row, b"", e);
            self.errors.write(&self.row)?;
        }
        let this = *self;
        let mut files = vec![
            this.regions.close()?,
            this.processes.close()?,
            this.errors.close()?,
        ];
        for t in this.tables {
            files.push(t.close()?);
        }
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::{REGION_USAGE, REGIONS, device_into};
    use crate::model::schema::RegionsColumn;

    /// The straight-line region writer's usage run is the schema's: the columns after `kind`
    /// up to `vm_flags`, then `dirty` after `vm_flags`.
    #[test]
    fn region_row_follows_the_schema() {
        let names: Vec<&str> = REGIONS.names().collect();
        let kind = names.iter().position(|n| *n == "kind").unwrap();
        let flags = names.iter().position(|n| *n == "vm_flags").unwrap();
        let run: Vec<_> = REGIONS.columns[kind + 1..flags]
            .iter()
            .map(|c| match c.id {
                RegionsColumn::Usage(f) => f,
                other => panic!("{other:?} inside the usage run"),
            })
            .collect();
        assert_eq!(run, REGION_USAGE);
        assert_eq!(names[flags + 1], "dirty");
        assert_eq!(
            names[flags + 1..],
            [
                "dirty",
                "region_type",
                "reported_share_mode",
                "purge",
                "detail",
                "other_fields"
            ]
        );
    }

    #[test]
    fn device_is_printed_like_the_kernel() {
        for (major, minor) in [
            (0, 0),
            (8, 1),
            (0xfd, 0x1f),
            (0x103, 0x4_0000),
            (u32::MAX, 7),
        ] {
            let mut out = Vec::new();
            device_into(major, minor, &mut out);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("{major:02x}:{minor:02x}")
            );
        }
    }
}
