//! Reading a `maps` or `smaps` file as a stream: it is read in pieces of at most
//! [`PIECE`] bytes, and whatever ends on a record boundary is parsed at once, so memory holds one
//! piece and the parsed regions, never the whole file. A hostile process can make its smaps
//! gigabytes long (one file mapped 65,000 times under a 40 KB path gives 2.7 GB); read this
//! way, it costs a bounded buffer, the process's parse [`Budget`], and at most
//! [`limits::MAP_FILE_BYTES`] of reading before it is cut short and marked partial.
//!
//! A record boundary is a line start: for `maps` every line is a record; for `smaps` a record
//! starts at its header line, told from a field line as the parser tells them (a field's first
//! `:` comes before its first space).

use std::io::{self, Read};

use memchr::{memchr_iter, memrchr};

use super::{ParseError, maps, smaps};
use crate::budget::Budget;
use crate::limits;
use crate::model::Region;

/// Bytes asked of the reader at a time.
pub const PIECE: usize = 1 << 20;

/// The longest record read: a maps line or an smaps record (a header with a path of up to
/// tens of KB, and two dozen fields), with room to spare.
pub const MAX_RECORD: usize = 1 << 20;

/// Which file is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapFormat {
    /// `/proc/PID/maps`: one region per line.
    Maps,
    /// `/proc/PID/smaps`: one region per record.
    Smaps,
}

impl MapFormat {
    /// The file's name in a process directory.
    pub fn file_name(self) -> &'static str {
        match self {
            MapFormat::Maps => "maps",
            MapFormat::Smaps => "smaps",
        }
    }

    fn parse(
        self,
        text: &[u8],
        out: &mut Vec<Region>,
        budget: &mut Budget,
    ) -> Result<(), ParseError> {
        match self {
            MapFormat::Maps => maps::parse_budgeted(text, out, budget),
            MapFormat::Smaps => smaps::parse_budgeted(text, out, budget),
        }
    }

    /// True when a record starts with `line` (the bytes after a newline, up to the end of
    /// what was read): decided as the parser decides, so that a cut never parts a record
    /// from its fields. `None` while the line is not far enough read to tell.
    fn starts_record(self, line: &[u8]) -> Option<bool> {
        match self {
            MapFormat::Maps => Some(true),
            // The smaps parser reads a line as a field when its first `:` comes before its
            // first space, and as a header otherwise; an empty line is skipped.
            MapFormat::Smaps => match line.iter().position(|&b| matches!(b, b':' | b' ' | b'\n')) {
                Some(0) => Some(false),
                Some(i) => Some(line[i] != b':'),
                None => None,
            },
        }
    }
}

/// Why a stream could not be read whole.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The reader failed (the process exited, access was refused, a disk error).
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The text was refused, or passed a limit; the regions before stay.
    #[error(transparent)]
    Parse(#[from] ParseError),
}

/// The end of the last complete record in `buf` at or after `from` (a position just after a
/// newline where a record starts), or `None`.
fn last_boundary(buf: &[u8], from: usize, format: MapFormat) -> Option<usize> {
    let mut end = buf.len();
    loop {
        let nl = memrchr(b'\n', &buf[..end])?;
        let at = nl + 1;
        if at < from {
            return None;
        }
        // At the very end the next line is not known yet: a maps line is whole, an smaps
        // record may go on.
        if at > 0 && format.starts_record(&buf[at..]) == Some(true) {
            return Some(at);
        }
        end = nl;
    }
}

/// Reads `reader` to its end as a `format` file and appends its regions to `out`, charging
/// them to `budget`; `buf` is the piece buffer (kept between calls, so a sweep allocates it
/// once per thread). On an error the regions parsed before it stay in `out`; an error's line
/// counts from the start of the file.
pub fn parse_stream(
    reader: impl Read,
    format: MapFormat,
    buf: &mut Vec<u8>,
    out: &mut Vec<Region>,
    budget: &mut Budget,
) -> Result<(), StreamError> {
    let sizes = Sizes {
        piece: PIECE,
        max_record: MAX_RECORD,
        max_file: limits::MAP_FILE_BYTES,
    };
    parse_stream_sized(reader, format, buf, out, budget, sizes)
}

/// The sizes a stream is read with (see [`parse_stream_sized`]).
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// Bytes asked of the reader at a time ([`PIECE`]).
    pub piece: usize,
    /// The longest record ([`MAX_RECORD`]).
    pub max_record: usize,
    /// The most bytes read ([`limits::MAP_FILE_BYTES`]).
    pub max_file: u64,
}

/// [`parse_stream`] with other sizes: for the fuzz target and the tests, which cut the same
/// text in many places.
#[doc(hidden)]
pub fn parse_stream_sized(
    reader: impl Read,
    format: MapFormat,
    buf: &mut Vec<u8>,
    out: &mut Vec<Region>,
    budget: &mut Budget,
    sizes: Sizes,
) -> Result<(), StreamError> {
    let Sizes {
        piece,
        max_record,
        max_file,
    } = sizes;
    let piece = piece.max(1);
    buf.clear();
    // One byte past the limit tells a file of exactly the limit from a longer one.
    let mut reader = reader.take(max_file.saturating_add(1));
    let mut consumed: u64 = 0;
    let mut lines_before = 0usize;
    // Bytes at the front of `buf` already searched for a boundary in vain.
    let mut searched = 0usize;
    loop {
        let n = (&mut reader).take(piece as u64).read_to_end(buf)?;
        let eof = n < piece;
        let over = consumed + buf.len() as u64 > max_file;
        if over {
            // Keep exactly the limit: what follows is never parsed.
            let keep = (max_file - consumed) as usize;
            buf.truncate(keep);
        }
        let cut = if eof && !over {
            Some(buf.len()).filter(|&c| c > 0)
        } else {
            last_boundary(buf, searched.max(1), format)
        };
        match cut {
            Some(cut) => {
                let text = &buf[..cut];
                format
                    .parse(text, out, budget)
                    .map_err(|e| e.at_line_offset(lines_before))?;
                lines_before += memchr_iter(b'\n', text).count();
                consumed += cut as u64;
                buf.drain(..cut);
            }
            None => {
                if buf.len() > max_record {
                    return Err(ParseError::RecordTooLong {
                        line: lines_before + 1,
                        limit: max_record,
                    }
                    .into());
                }
            }
        }
        // Every position of `buf` but its end has been looked at.
        searched = buf.len();
        if over {
            return Err(ParseError::TooLarge { limit: max_file }.into());
        }
        if eof {
            return Ok(());
        }
    }
}

impl ParseError {
    /// The same error with its line moved on by `lines` (errors without a line stay).
    fn at_line_offset(self, lines: usize) -> ParseError {
        match self.line() {
            0 => self,
            l => self.at_line(l + lines),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `step` bytes a call, like a seq_file.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(out.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn smaps_record(start: u64, path: &str) -> String {
        format!(
            "{:x}-{:x} r-xp 00000000 fe:00 1234    {path}\nSize:                  4 kB\nRss:                   4 kB\nAnonymous:             0 kB\nVmFlags: rd ex mr mw me\n",
            start,
            start + 4096
        )
    }

    fn whole(text: &[u8], format: MapFormat) -> (Vec<Region>, Result<(), ParseError>) {
        let mut out = Vec::new();
        let r = match format {
            MapFormat::Maps => maps::parse(text, &mut out),
            MapFormat::Smaps => smaps::parse(text, &mut out),
        };
        (out, r)
    }

    #[test]
    fn pieces_give_what_the_whole_file_gives() {
        let mut text = String::new();
        for i in 0..5000u64 {
            text.push_str(&smaps_record(
                0x10000 + i * 0x1000,
                &format!("/lib/{}", i % 7),
            ));
        }
        let (expect, r) = whole(text.as_bytes(), MapFormat::Smaps);
        r.unwrap();
        for step in [1 << 20, 4096, 777] {
            let mut out = Vec::new();
            let mut buf = Vec::new();
            parse_stream(
                Trickle(text.as_bytes(), step),
                MapFormat::Smaps,
                &mut buf,
                &mut out,
                &mut Budget::per_process(),
            )
            .unwrap();
            assert_eq!(out, expect, "step {step}");
            assert!(buf.capacity() <= 3 * PIECE, "buffer {}", buf.capacity());
        }
    }

    #[test]
    fn an_error_names_the_line_of_the_whole_file() {
        let mut text = String::new();
        for i in 0..30000u64 {
            text.push_str(&format!(
                "{:x}-{:x} r--p 0 00:00 0\n",
                i * 4096,
                i * 4096 + 4096
            ));
        }
        text.push_str("garbage\n");
        let (_, whole_err) = whole(text.as_bytes(), MapFormat::Maps);
        let mut out = Vec::new();
        let e = parse_stream(
            text.as_bytes(),
            MapFormat::Maps,
            &mut Vec::new(),
            &mut out,
            &mut Budget::per_process(),
        )
        .unwrap_err();
        let StreamError::Parse(e) = e else {
            panic!("{e}")
        };
        assert_eq!(Err(e), whole_err);
        assert_eq!(out.len(), 30000);
    }

    #[test]
    fn a_file_past_the_limit_keeps_the_records_before_it() {
        let line = "1000-2000 r--p 0 00:00 0\n";
        let text = line.repeat(1000);
        let mut out = Vec::new();
        let limit = (line.len() * 400 + 5) as u64;
        let sizes = Sizes {
            piece: 1000,
            max_record: MAX_RECORD,
            max_file: limit,
        };
        let e = parse_stream_sized(
            text.as_bytes(),
            MapFormat::Maps,
            &mut Vec::new(),
            &mut out,
            &mut Budget::per_process(),
            sizes,
        )
        .unwrap_err();
        assert!(
            matches!(e, StreamError::Parse(ParseError::TooLarge { .. })),
            "{e}"
        );
        assert_eq!(out.len(), 400);
    }

    #[test]
    fn blank_lines_and_endless_records_stay_bounded() {
        // 8 MiB of newlines: nothing to parse, and never more reserved than the budget allows
        // (reserving from the newline count aborted on 256 MiB of them).
        let nl = vec![b'\n'; 8 << 20];
        let mut out = Vec::new();
        parse_stream(
            &nl[..],
            MapFormat::Maps,
            &mut Vec::new(),
            &mut out,
            &mut Budget::per_process(),
        )
        .unwrap();
        assert!(out.is_empty());
        assert!(
            out.capacity() * std::mem::size_of::<Region>()
                <= limits::PARSED_BYTES_PER_PROCESS + 4096
        );
        // A header and then unknown fields for ever: one record longer than MAX_RECORD.
        let mut text = smaps_record(0x1000, "/x").into_bytes();
        while text.len() < 4 * MAX_RECORD {
            text.extend_from_slice(b"Zz: 1\n");
        }
        let e = parse_stream(
            &text[..],
            MapFormat::Smaps,
            &mut Vec::new(),
            &mut Vec::new(),
            &mut Budget::per_process(),
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                StreamError::Parse(ParseError::RecordTooLong { line: 1, .. })
            ),
            "{e}"
        );
    }

    #[test]
    fn the_budget_stops_parsing_and_keeps_what_came_before() {
        let mut text = String::new();
        for i in 0..2000u64 {
            text.push_str(&smaps_record(0x10000 + i * 0x1000, &format!("/lib/{i}")));
        }
        let mut out = Vec::new();
        let mut budget = Budget::new(100 * (std::mem::size_of::<Region>() + 64));
        let e = parse_stream(
            text.as_bytes(),
            MapFormat::Smaps,
            &mut Vec::new(),
            &mut out,
            &mut budget,
        )
        .unwrap_err();
        let StreamError::Parse(ParseError::OverBudget { line, .. }) = e else {
            panic!("{e}")
        };
        // Each region costs its record, its path and the path's counts.
        let each = std::mem::size_of::<Region>() + "/lib/1000".len() + 16;
        let most = budget.limit() / (each - 4);
        assert!(
            (most - 15..=most).contains(&out.len()),
            "{} of {most}",
            out.len()
        );
        // The line is the header of the first region not kept (5 lines per record).
        assert_eq!(line, out.len() * 5 + 1);
    }
}
