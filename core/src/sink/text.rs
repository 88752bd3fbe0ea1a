//! The text sink: a report a person reads — what was swept, the totals, the processes that
//! use the most memory, the processes that could not be read fully, and the first rows of
//! every analyzer table.
//!
//! Names and messages come from the processes themselves, so every control character in them
//! is escaped ([`cell::display`]): a hostile name cannot clear the screen or forge a line.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use super::{RunOutput, Sink};
use crate::model::escape as cell;
use crate::model::{Cell, ProcessStatus, TableRow, UsageField};
use crate::output::out_dir::OutDir;
use crate::output::{AtomicFile, OutputError};
use crate::pipeline::TextStyle;
use crate::plugin::{RunSchema, table_header};
use crate::sink::RunSummary;
use crate::source::Collected;

/// What the report keeps of each process.
struct Line {
    pid: u32,
    name: String,
    status: ProcessStatus,
    regions: usize,
    vsize: Option<u64>,
    rss: Option<u64>,
    pss: Option<u64>,
    uss: Option<u64>,
    swap: Option<u64>,
    error: Option<String>,
}

/// An analyzer table as the report shows it: its header, its first rows, its row count.
struct TableShown {
    name: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    count: u64,
}

/// Writes the report to standard output or to a file.
pub struct TextSink {
    file: Option<AtomicFile>,
    top: usize,
    lines: Vec<Line>,
    tables: Vec<TableShown>,
    /// vmmap style: the reports of the processes so far.
    vmmap: Option<(String, RunSchema, String)>,
}

impl TextSink {
    /// A report to `path` (`None`: standard output) ranking `top` processes.
    pub fn create(
        path: Option<&Path>,
        top: usize,
        style: TextStyle,
        schema: &RunSchema,
        source: &str,
    ) -> Result<TextSink, OutputError> {
        let file = match path {
            Some(p) => {
                let (dir, name) = crate::fsat::split_file(p).ok_or_else(|| {
                    OutputError::io(
                        p,
                        std::io::Error::new(
                            std::io::ErrorKind::InvalidInput,
                            "a report path names a file, not a directory",
                        ),
                    )
                })?;
                Some(AtomicFile::create(&OutDir::open(dir)?, name)?)
            }
            None => None,
        };
        Ok(TextSink {
            file,
            top,
            vmmap: (style == TextStyle::Vmmap)
                .then(|| (String::new(), schema.clone(), source.to_string())),
            lines: Vec::new(),
            tables: schema
                .tables
                .iter()
                .map(|(_, t)| TableShown {
                    name: t.name.clone(),
                    header: table_header(t).into_iter().map(str::to_string).collect(),
                    rows: Vec::new(),
                    count: 0,
                })
                .collect(),
        })
    }

    fn keep_row(&mut self, process: Option<(u32, &[u8])>, r: &TableRow) {
        let top = self.top;
        let Some(t) = self.tables.get_mut(r.table) else {
            return;
        };
        t.count += 1;
        if t.rows.len() >= top {
            return;
        }
        let mut cells = Vec::with_capacity(r.cells.len() + 2);
        if let Some((pid, name)) = process {
            cells.push(pid.to_string());
            cells.push(cell::display(name));
        }
        for c in &r.cells {
            cells.push(match c {
                Cell::Text(s) => cell::display(s.as_bytes()),
                Cell::Bytes(b) => cell::display(b),
                other => other.to_string(),
            });
        }
        t.rows.push(cells);
    }

    fn tables(&self, out: &mut String) {
        for t in &self.tables {
            let _ = writeln!(out, "\n{} ({} rows)", t.name, t.count);
            for row in &t.rows {
                let fields: Vec<String> = t
                    .header
                    .iter()
                    .zip(row)
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(h, v)| format!("{h}={v}"))
                    .collect();
                let _ = writeln!(out, "  {}", fields.join("  "));
            }
            if t.count > t.rows.len() as u64 {
                let _ = writeln!(
                    out,
                    "  … {} more in {}.csv",
                    t.count - t.rows.len() as u64,
                    t.name
                );
            }
        }
    }

    fn size(v: Option<u64>) -> String {
        v.map_or_else(|| "-".to_string(), cell::human)
    }

    fn ranking(&self, out: &mut String, title: &str, key: fn(&Line) -> Option<u64>) {
        // Processes with nothing to rank (kernel threads, unread ones) are left out.
        let mut ranked: Vec<&Line> = self
            .lines
            .iter()
            .filter(|l| key(l).is_some_and(|v| v > 0))
            .collect();
        if ranked.is_empty() {
            return;
        }
        ranked.sort_by(|a, b| key(b).cmp(&key(a)).then(a.pid.cmp(&b.pid)));
        let _ = writeln!(out, "\nTop {} by {title}", self.top.min(ranked.len()));
        let _ = writeln!(
            out,
            "{:>8}  {:<20} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8}",
            "PID", "NAME", "VIRTUAL", "RSS", "PSS", "USS", "SWAP", "REGIONS"
        );
        for l in ranked.iter().take(self.top) {
            let _ = writeln!(
                out,
                "{:>8}  {:<20} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8}",
                l.pid,
                l.name,
                Self::size(l.vsize),
                Self::size(l.rss),
                Self::size(l.pss),
                Self::size(l.uss),
                Self::size(l.swap),
                l.regions
            );
        }
    }

    fn render(&self, s: &RunSummary) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "vmpipe: {}", s.source);
        let _ = writeln!(
            out,
            "processes: {} listed, {} selected: {} ok, {} partial, {} denied, {} vanished  ({:.2}s)",
            s.listed,
            s.selected,
            s.ok,
            s.partial,
            s.denied,
            s.vanished,
            s.elapsed.as_secs_f64()
        );
        if s.residency {
            let _ = writeln!(
                out,
                "regions: {}   virtual: {}   rss: {}   pss: {}   uss: {}   swap: {}",
                s.regions,
                cell::human(s.vsize),
                cell::human(s.rss),
                cell::human(s.pss),
                cell::human(s.uss),
                cell::human(s.swap)
            );
        } else {
            let _ = writeln!(
                out,
                "regions: {}   virtual: {}   (maps only: no residency figures)",
                s.regions,
                cell::human(s.vsize)
            );
        }
        self.ranking(&mut out, "PSS", |l| l.pss);
        self.ranking(&mut out, "RSS", |l| l.rss);
        if !s.residency {
            self.ranking(&mut out, "virtual size", |l| l.vsize);
        }
        let troubled: Vec<&Line> = self
            .lines
            .iter()
            .filter(|l| l.status != ProcessStatus::Ok)
            .collect();
        if !troubled.is_empty() {
            let _ = writeln!(out, "\nNot fully read ({})", troubled.len());
            for l in troubled {
                let _ = writeln!(
                    out,
                    "{:>8}  {:<20} {:<9} {}",
                    l.pid,
                    l.name,
                    l.status.as_str(),
                    l.error.as_deref().unwrap_or("")
                );
            }
        }
        self.tables(&mut out);
        out
    }
}

impl Sink for TextSink {
    fn process(&mut self, c: &Collected) -> Result<(), OutputError> {
        if let Some((text, schema, source)) = &mut self.vmmap {
            super::vmmap_text::render(c, schema, source, text);
            return Ok(());
        }
        let p = &c.process;
        let mut name = cell::display(&p.name);
        if name.chars().count() > 20 {
            name = name.chars().take(19).chain(['…']).collect();
        }
        self.lines.push(Line {
            pid: p.pid,
            name,
            status: p.status,
            regions: c.regions.len(),
            vsize: c.vsize(),
            rss: c.total(UsageField::Rss),
            pss: c.total(UsageField::Pss),
            uss: c.uss(),
            swap: c.total(UsageField::Swap),
            error: p.error.as_deref().map(|e| cell::display(e.as_bytes())),
        });
        for r in &c.analysis.rows {
            self.keep_row(Some((p.pid, &p.name)), r);
        }
        Ok(())
    }

    fn finish(
        mut self: Box<Self>,
        summary: &RunSummary,
        run: &RunOutput,
    ) -> Result<Vec<AtomicFile>, OutputError> {
        for r in &run.rows {
            self.keep_row(None, r);
        }
        let report = match self.vmmap.take() {
            Some((text, _, _)) => text,
            None => self.render(summary),
        };
        match self.file {
            Some(file) => {
                let mut f = file.file()?;
                f.write_all(report.as_bytes())
                    .map_err(|e| OutputError::io(file.target(), e))?;
                drop(f);
                Ok(vec![file])
            }
            None => {
                let mut stdout = std::io::stdout().lock();
                stdout
                    .write_all(report.as_bytes())
                    .and_then(|()| stdout.flush())
                    .map_err(|e| OutputError::io("<stdout>", e))?;
                Ok(Vec::new())
            }
        }
    }
}
