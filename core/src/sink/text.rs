//! The text sink: a report a person reads — what was swept, the totals, the processes that
//! use the most memory, the processes that could not be read fully, and the first rows of
//! every analyzer table.
//!
//! Names and messages come from the processes themselves, so every control character in them
//! is escaped ([`cell::display`]): a hostile name cannot clear the screen or forge a line.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::path::Path;

use super::{RunOutput, Sink};
use crate::model::escape as cell;
use crate::model::{Cell, ProcessStatus, TableRow, UsageField};
use crate::output::out_dir::OutDir;
use crate::output::spool;
use crate::output::{AtomicFile, OutputError};
use crate::pipeline::TextStyle;
use crate::plugin::{RunSchema, table_header};
use crate::sink::RunSummary;
use crate::source::Collected;

/// What the report keeps of each process.
#[derive(Clone)]
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

/// Where the report goes.
enum Destination {
    /// A file, put in place with the run's other outputs.
    File(AtomicFile),
    /// Standard output, written at the end (so an interrupted run prints nothing).
    Stdout,
}

/// The processes ranked by one key: at most `2 × top` are kept while the run goes on, so the
/// report costs the same for ten processes or a hundred thousand.
struct Ranking {
    key: fn(&Line) -> Option<u64>,
    kept: Vec<Line>,
    /// Processes that had something to rank.
    ranked: usize,
}

impl Ranking {
    fn order(key: fn(&Line) -> Option<u64>) -> impl Fn(&Line, &Line) -> std::cmp::Ordering {
        move |a, b| key(b).cmp(&key(a)).then(a.pid.cmp(&b.pid))
    }

    /// Keeps `l` if it has something to rank (kernel threads, unread processes have not).
    fn offer(&mut self, l: &Line, top: usize) {
        if (self.key)(l).is_none_or(|v| v == 0) {
            return;
        }
        self.ranked += 1;
        self.kept.push(l.clone());
        if self.kept.len() >= 2 * top.max(1) {
            self.kept.sort_by(Self::order(self.key));
            self.kept.truncate(top);
        }
    }

    /// The first `top`, best first.
    fn best(&self, top: usize) -> Vec<&Line> {
        let mut v: Vec<&Line> = self.kept.iter().collect();
        v.sort_by(|a, b| Self::order(self.key)(a, b));
        v.truncate(top);
        v
    }
}

/// Writes the report to standard output or to a file. What grows with the number of
/// processes (a vmmap-style report, the processes not fully read) is streamed to the output
/// file or to an unnamed spool file, never held in memory.
pub struct TextSink {
    destination: Destination,
    top: usize,
    by_pss: Ranking,
    by_rss: Ranking,
    by_vsize: Ranking,
    /// The processes not fully read so far, as report lines, and how many.
    troubled: (BufWriter<File>, usize),
    tables: Vec<TableShown>,
    /// vmmap style: the reports of the processes so far (the output file itself, or a spool
    /// for standard output), the schema and the source's description.
    vmmap: Option<(BufWriter<File>, RunSchema, String)>,
    /// One process's vmmap report while it is rendered.
    scratch: String,
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
        let destination = match path {
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
                Destination::File(AtomicFile::create(&OutDir::open(dir)?, name)?)
            }
            None => Destination::Stdout,
        };
        let spool = |destination: &Destination| -> Result<File, OutputError> {
            match destination {
                Destination::File(f) => spool::in_dir(f.dir().fd()),
                Destination::Stdout => spool::in_temp_dir(),
            }
            .map_err(|e| OutputError::io(Self::shown(destination), e))
        };
        let vmmap = match style {
            TextStyle::Vmmap => {
                let body = match &destination {
                    Destination::File(f) => f.file()?,
                    Destination::Stdout => spool(&destination)?,
                };
                Some((BufWriter::new(body), schema.clone(), source.to_string()))
            }
            TextStyle::Summary => None,
        };
        Ok(TextSink {
            troubled: (BufWriter::new(spool(&destination)?), 0),
            destination,
            top,
            by_pss: Ranking {
                key: |l| l.pss,
                kept: Vec::new(),
                ranked: 0,
            },
            by_rss: Ranking {
                key: |l| l.rss,
                kept: Vec::new(),
                ranked: 0,
            },
            by_vsize: Ranking {
                key: |l| l.vsize,
                kept: Vec::new(),
                ranked: 0,
            },
            vmmap,
            scratch: String::new(),
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

    /// The report's destination, for messages.
    fn shown(destination: &Destination) -> std::path::PathBuf {
        match destination {
            Destination::File(f) => f.target(),
            Destination::Stdout => "<stdout>".into(),
        }
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

    fn ranking(&self, out: &mut String, title: &str, ranking: &Ranking) {
        if ranking.ranked == 0 {
            return;
        }
        let ranked = ranking.best(self.top);
        let _ = writeln!(out, "\nTop {} by {title}", ranked.len());
        let _ = writeln!(
            out,
            "{:>8}  {:<20} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8}",
            "PID", "NAME", "VIRTUAL", "RSS", "PSS", "USS", "SWAP", "REGIONS"
        );
        for l in ranked {
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

    /// The report's head: what was swept, the totals and the rankings.
    fn head(&self, s: &RunSummary) -> String {
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
        self.ranking(&mut out, "PSS", &self.by_pss);
        self.ranking(&mut out, "RSS", &self.by_rss);
        if !s.residency {
            self.ranking(&mut out, "virtual size", &self.by_vsize);
        }
        out
    }

    /// Writes the summary report to `to`: the head, the processes not fully read (copied
    /// from their spool) and the analyzer tables.
    fn write_summary(&mut self, s: &RunSummary, to: &mut dyn Write) -> std::io::Result<()> {
        to.write_all(self.head(s).as_bytes())?;
        let (spooled, count) = &mut self.troubled;
        if *count > 0 {
            writeln!(to, "\nNot fully read ({count})")?;
            spooled.flush()?;
            let f = spooled.get_mut();
            f.rewind()?;
            std::io::copy(f, to)?;
        }
        let mut tables = String::new();
        self.tables(&mut tables);
        to.write_all(tables.as_bytes())
    }
}

impl Sink for TextSink {
    fn process(&mut self, c: &Collected) -> Result<(), OutputError> {
        if let Some((body, schema, source)) = &mut self.vmmap {
            self.scratch.clear();
            super::vmmap_text::render(c, schema, source, &mut self.scratch);
            return body
                .write_all(self.scratch.as_bytes())
                .map_err(|e| OutputError::io(Self::shown(&self.destination), e));
        }
        let p = &c.process;
        let mut name = cell::display(&p.name);
        if name.chars().count() > 20 {
            name = name.chars().take(19).chain(['…']).collect();
        }
        let line = Line {
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
        };
        if line.status != ProcessStatus::Ok {
            let (spooled, count) = &mut self.troubled;
            writeln!(
                spooled,
                "{:>8}  {:<20} {:<9} {}",
                line.pid,
                line.name,
                line.status.as_str(),
                line.error.as_deref().unwrap_or("")
            )
            .map_err(|e| OutputError::io(Self::shown(&self.destination), e))?;
            *count += 1;
        }
        let top = self.top;
        self.by_pss.offer(&line, top);
        self.by_rss.offer(&line, top);
        self.by_vsize.offer(&line, top);
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
        let shown = Self::shown(&self.destination);
        let io = |e| OutputError::io(&shown, e);
        let vmmap = self.vmmap.take();
        match (
            vmmap,
            std::mem::replace(&mut self.destination, Destination::Stdout),
        ) {
            // The report is the file itself.
            (Some((body, _, _)), Destination::File(file)) => {
                body.into_inner().map_err(|e| io(e.into_error()))?;
                Ok(vec![file])
            }
            (Some((body, _, _)), Destination::Stdout) => {
                let mut spooled = body.into_inner().map_err(|e| io(e.into_error()))?;
                spooled.rewind().map_err(io)?;
                let mut stdout = std::io::stdout().lock();
                std::io::copy(&mut spooled, &mut stdout)
                    .and_then(|_| stdout.flush())
                    .map_err(io)?;
                Ok(Vec::new())
            }
            (None, Destination::File(file)) => {
                let mut f = BufWriter::new(file.file()?);
                self.write_summary(summary, &mut f)
                    .and_then(|()| f.flush())
                    .map_err(io)?;
                drop(f);
                Ok(vec![file])
            }
            (None, Destination::Stdout) => {
                let mut stdout = std::io::stdout().lock();
                self.write_summary(summary, &mut stdout)
                    .and_then(|()| stdout.flush())
                    .map_err(io)?;
                Ok(Vec::new())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(pid: u32, pss: Option<u64>) -> Line {
        Line {
            pid,
            name: format!("p{pid}"),
            status: ProcessStatus::Ok,
            regions: 0,
            vsize: None,
            rss: None,
            pss,
            uss: None,
            swap: None,
            error: None,
        }
    }

    /// The bounded ranking names the same processes, in the same order, as sorting every
    /// process would, and never holds more than twice what it shows.
    #[test]
    fn a_ranking_keeps_little_and_shows_what_a_full_sort_would() {
        for top in [0, 1, 3, 10] {
            let mut r = Ranking {
                key: |l| l.pss,
                kept: Vec::new(),
                ranked: 0,
            };
            let mut all = Vec::new();
            for pid in 1..=5000u32 {
                // Many ties, some processes with nothing to rank.
                let pss = (pid % 11 != 0).then(|| u64::from(pid * 7919 % 97));
                let l = line(pid, pss);
                r.offer(&l, top);
                assert!(r.kept.len() < 2 * top.max(1), "{} kept", r.kept.len());
                if pss.is_some_and(|v| v > 0) {
                    all.push(l);
                }
            }
            all.sort_by(|a, b| b.pss.cmp(&a.pss).then(a.pid.cmp(&b.pid)));
            let want: Vec<u32> = all.iter().take(top).map(|l| l.pid).collect();
            let got: Vec<u32> = r.best(top).iter().map(|l| l.pid).collect();
            assert_eq!(got, want, "top {top}");
            assert_eq!(r.ranked, all.len());
        }
    }
}
