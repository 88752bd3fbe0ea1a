//! One CSV row being built, and its RFC 4180 line.
//!
//! The cells are written one after the other into one buffer, each followed by a comma, and
//! the row remembers which cells need quotes (a `,`, `"`, CR or LF inside). Only text cells can:
//! numbers, addresses and vmpipe's fixed words never do, so they are never scanned. A row
//! without such a cell *is* its CSV line (without the last comma), copied out with one
//! `memcpy`; this is the hot path of a sweep (`regions.csv`: one line per region), where the
//! `csv` crate's writer, which copies and scans every field again, cost about half of a
//! maps-only sweep's instructions (see BENCHMARKS.md).
//!
//! The line is byte for byte what `csv::Writer` writes with its default settings (quotes only
//! where necessary, `"` doubled, `\n` after each record, a record of one empty field written
//! `""`); the tests hold it to exactly that.

use std::ops::Range;

use crate::model::Cell;
use crate::model::escape as cell;

/// One row being built: all cells in one buffer, each followed by `,`.
#[derive(Default)]
pub(super) struct Row {
    buf: Vec<u8>,
    /// Where each cell ends (the position of its comma), kept only for rows whose cells are
    /// read back one by one ([`Row::cells`]: the tables `csv` writes).
    ends: Vec<usize>,
    track_ends: bool,
    /// Cells so far.
    count: usize,
    /// Where the current cell starts.
    cell_start: usize,
    /// The cells that must be quoted, as ranges of `buf`, in order (rare: text with `,` `"`
    /// CR LF).
    quoted: Vec<(usize, usize)>,
    /// Put `'` in front of text cells a spreadsheet would run as formulas.
    pub(super) formula_guard: bool,
}

/// A text cell escaped and guarded once, to be put in many rows (a process's name in each of
/// its regions' rows, a library's path in each of its mappings').
#[derive(Default)]
pub(super) struct Prepared {
    bytes: Vec<u8>,
    quote: bool,
}

/// True for the bytes that make a cell need quotes (those `csv::Writer` quotes by default).
fn needs_quotes(cell: &[u8]) -> bool {
    cell.iter()
        .any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
}

impl Row {
    /// A row whose text cells get the formula guard (see [`cell`]) when `formula_guard`, and
    /// whose cells can be read back with [`Row::cells`] when `track_ends`.
    pub(super) fn new(formula_guard: bool, track_ends: bool) -> Row {
        Row {
            formula_guard,
            track_ends,
            ..Row::default()
        }
    }

    pub(super) fn clear(&mut self) {
        self.buf.clear();
        self.ends.clear();
        self.quoted.clear();
        self.count = 0;
        self.cell_start = 0;
    }

    /// Ends the cell written into `buf` since the last one.
    #[inline]
    fn end(&mut self) {
        if self.track_ends {
            self.ends.push(self.buf.len());
        }
        self.buf.push(b',');
        self.count += 1;
        self.cell_start = self.buf.len();
    }

    /// Ends the current cell, quoted in the line if it needs it.
    #[inline]
    fn end_checked(&mut self) {
        if needs_quotes(&self.buf[self.cell_start..]) {
            self.quoted.push((self.cell_start, self.buf.len()));
        }
        self.end();
    }

    /// `n` absent (empty) cells.
    pub(super) fn absent(&mut self, n: usize) {
        for _ in 0..n {
            self.end();
        }
    }

    /// The buffer to write the current cell into, as valid UTF-8 (call [`Row::end_cell`]
    /// after).
    pub(super) fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Ends a cell written through [`Row::buf`], quoted in the line if it needs it.
    pub(super) fn end_cell(&mut self) {
        self.end_checked();
    }

    /// A cell that never needs quotes or the guard (numbers, fixed words).
    pub(super) fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
        self.end();
    }

    /// A text cell from bytes anyone may have chosen: escaped (see [`cell`]), guarded, and
    /// quoted in the line when it needs it.
    pub(super) fn escaped(&mut self, b: &[u8]) {
        if b.is_empty() {
            self.end();
            return;
        }
        cell::escape_into(b, &mut self.buf);
        if self.formula_guard {
            cell::guard_from(&mut self.buf, self.cell_start);
        }
        self.end_checked();
    }

    /// `b` as [`Row::escaped`] would write it, into `out` (replacing what it held).
    pub(super) fn prepare(&self, b: &[u8], out: &mut Prepared) {
        out.bytes.clear();
        cell::escape_into(b, &mut out.bytes);
        if self.formula_guard {
            cell::guard_from(&mut out.bytes, 0);
        }
        out.quote = needs_quotes(&out.bytes);
    }

    /// A cell made by [`Row::prepare`].
    pub(super) fn prepared(&mut self, p: &Prepared) {
        self.buf.extend_from_slice(&p.bytes);
        if p.quote {
            self.quoted.push((self.cell_start, self.buf.len()));
        }
        self.end();
    }

    #[inline]
    pub(super) fn int(&mut self, v: u64) {
        // Most residency figures of most regions are 0.
        if v == 0 {
            self.buf.push(b'0');
        } else {
            cell::int_into(v, &mut self.buf);
        }
        self.end();
    }

    #[inline]
    pub(super) fn opt(&mut self, v: Option<u64>) {
        match v {
            Some(v) => self.int(v),
            None => self.end(),
        }
    }

    pub(super) fn hex(&mut self, v: u64) {
        cell::hex_into(v, &mut self.buf);
        self.end();
    }

    pub(super) fn bool(&mut self, v: bool) {
        self.raw(if v { b"true" } else { b"false" });
    }

    pub(super) fn cell(&mut self, c: &Cell) {
        match c {
            Cell::Absent => self.raw(b""),
            Cell::U64(v) => self.int(*v),
            Cell::Address(v) => self.hex(*v),
            Cell::Bool(v) => self.bool(*v),
            Cell::Text(s) => self.escaped(s.as_bytes()),
            Cell::Bytes(b) => self.escaped(b),
            Cell::I64(_) | Cell::F64(_) => self.raw(c.to_string().as_bytes()),
        }
    }

    fn range(&self, i: usize) -> Range<usize> {
        let start = match i {
            0 => 0,
            _ => self.ends[i - 1] + 1,
        };
        start..self.ends[i]
    }

    /// The cells as stored (escaped, guarded, not quoted); only for a row made with
    /// `track_ends`.
    pub(super) fn cells(&self) -> impl Iterator<Item = &[u8]> {
        debug_assert!(self.track_ends || self.count == 0);
        (0..self.ends.len()).map(|i| &self.buf[self.range(i)])
    }

    /// Appends the row as one CSV line, `\n` included.
    pub(super) fn line_into(&self, out: &mut Vec<u8>) {
        // csv::Writer quotes the one field of a record that has only an empty one (and writes
        // an empty record that way too).
        if self.count == 0 || (self.count == 1 && self.buf.len() == 1) {
            out.extend_from_slice(b"\"\"\n");
            return;
        }
        let body = &self.buf[..self.buf.len() - 1];
        let mut from = 0;
        for &(start, end) in &self.quoted {
            out.extend_from_slice(&body[from..start]);
            out.push(b'"');
            for part in body[start..end].split_inclusive(|&b| b == b'"') {
                out.extend_from_slice(part);
                if part.ends_with(b"\"") {
                    out.push(b'"');
                }
            }
            out.push(b'"');
            from = end;
        }
        out.extend_from_slice(&body[from..]);
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// What `csv::Writer` (default settings) writes for these cells.
    fn csv_crate_line(cells: &[Vec<u8>]) -> Vec<u8> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(cells).expect("write to a Vec");
        w.into_inner().expect("flush to a Vec")
    }

    /// The cells as `Row` stores them: escaped, guarded.
    /// The row (made without `track_ends`, as regions.csv's is) and the stored cells (read
    /// back from a twin that tracks them).
    fn row_of(cells: &[Vec<u8>], guard: bool) -> (Row, Vec<Vec<u8>>) {
        let (mut row, mut twin) = (Row::new(guard, false), Row::new(guard, true));
        for c in cells {
            row.escaped(c);
            twin.escaped(c);
        }
        let stored = twin.cells().map(<[u8]>::to_vec).collect();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        row.line_into(&mut a);
        twin.line_into(&mut b);
        assert_eq!(a, b, "tracking the ends changes nothing in the line");
        (row, stored)
    }

    #[test]
    fn lines_equal_the_csv_crate() {
        let cases: &[&[&[u8]]] = &[
            &[b"1", b"a,b", b"say \"hi\"", b"two\nlines", b"cr\r", b""],
            &[b""],
            &[b"", b""],
            &[b"\"", b"\"\"", b",", b"plain"],
            &[b"=cmd|' /C calc'!A0", b"/tmp/\xff\\"],
            &[],
        ];
        for &cells in cases {
            let cells: Vec<Vec<u8>> = cells.iter().map(|c| c.to_vec()).collect();
            for guard in [false, true] {
                let (row, stored) = row_of(&cells, guard);
                let mut line = Vec::new();
                row.line_into(&mut line);
                assert_eq!(
                    String::from_utf8_lossy(&line),
                    String::from_utf8_lossy(&csv_crate_line(&stored)),
                    "{cells:?}"
                );
            }
        }
    }

    #[test]
    fn prepared_cells_are_escaped_cells() {
        for guard in [false, true] {
            for b in [&b"=x,\"y\""[..], b"/usr/lib/libc.so.6", b"\xff\\", b""] {
                let (mut direct, mut via) = (Row::new(guard, true), Row::new(guard, false));
                let mut p = Prepared::default();
                via.prepare(b, &mut p);
                for _ in 0..2 {
                    direct.escaped(b);
                    via.prepared(&p);
                }
                let (mut a, mut b2) = (Vec::new(), Vec::new());
                direct.line_into(&mut a);
                via.line_into(&mut b2);
                assert_eq!(a, b2);
            }
        }
    }

    #[test]
    fn numbers_and_raw_cells_are_never_quoted() {
        let mut row = Row::new(true, false);
        row.int(12);
        row.int(0);
        row.absent(2);
        row.opt(Some(0));
        row.hex(0x7f00);
        row.opt(None);
        row.bool(true);
        row.raw(b"r-xp");
        let mut line = Vec::new();
        row.line_into(&mut line);
        assert_eq!(line, b"12,0,,,0,0x7f00,,true,r-xp\n");
        assert_eq!(
            line,
            csv_crate_line(&[
                b"12".to_vec(),
                b"0".to_vec(),
                vec![],
                vec![],
                b"0".to_vec(),
                b"0x7f00".to_vec(),
                vec![],
                b"true".to_vec(),
                b"r-xp".to_vec()
            ])
        );
    }

    proptest! {
        /// Any cells: the line equals `csv::Writer`'s, and `csv::Reader` reads the escaped
        /// cells back, which unescape to the bytes put in.
        #[test]
        fn any_cells_equal_the_csv_crate_and_read_back(
            cells in proptest::collection::vec(
                proptest::collection::vec(
                    prop_oneof![Just(b','), Just(b'"'), Just(b'\n'), Just(b'\r'), Just(b'\\'),
                                Just(b'='), any::<u8>()],
                    0..12),
                1..8),
            guard in any::<bool>(),
        ) {
            let (row, stored) = row_of(&cells, guard);
            let mut line = Vec::new();
            row.line_into(&mut line);
            prop_assert_eq!(&line, &csv_crate_line(&stored));
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(&line[..]);
            let record = reader.byte_records().next();
            let record = record.expect("one record").expect("valid CSV");
            prop_assert_eq!(record.len(), cells.len());
            for (got, want) in record.iter().zip(&cells) {
                let text = std::str::from_utf8(got).expect("cells are UTF-8");
                let text = if guard { cell::unguard(text) } else { text };
                let back = cell::unescape(text);
                prop_assert_eq!(back.as_ref(), Some(want));
            }
        }
    }
}
