//! Lines of the input and the whitespace-separated tokens of a line, with where they are.
//!
//! vmmap aligns its columns with spaces, but reports pasted by people are often shifted,
//! indented or cut, so the parser reads tokens and uses positions only as a cross-check.

use std::borrow::Cow;
use std::fmt;

use crate::limits::VMMAP_LINE_BYTES;

/// One whitespace-separated token of a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    /// The token's text.
    pub text: &'a str,
    /// Byte offset of its first byte in the line.
    pub start: usize,
    /// Byte offset just past its last byte.
    pub end: usize,
}

/// Splits `line` into whitespace-separated tokens (`char::is_whitespace`, as
/// `str::split_whitespace`), with their offsets.
#[cfg(test)]
pub(crate) fn tokenize(line: &str) -> Vec<Token<'_>> {
    tokens(line).collect()
}

/// The whitespace-separated tokens of `line`, lazily, without allocating.
pub(crate) fn tokens(line: &str) -> Tokens<'_> {
    Tokens { line, at: 0 }
}

/// The tokens of `line` that start at or after byte `at` (which must be a char boundary,
/// else there are none), with offsets in `line`. A token that began before `at` and runs
/// past it is seen from `at` on, as if the line started there.
pub(crate) fn tokens_from(line: &str, at: usize) -> Tokens<'_> {
    Tokens { line, at }
}

/// Iterator over the whitespace-separated tokens of a line; see [`tokens`].
///
/// Whitespace is `char::is_whitespace`: on ASCII bytes `\t \n VT FF \r` and space, tested
/// byte by byte; a non-ASCII char is decoded and tested as a whole.
#[derive(Clone, Debug)]
pub(crate) struct Tokens<'a> {
    line: &'a str,
    /// Byte offset where the next search starts.
    at: usize,
}

/// The char at byte `i` of `line` (a char boundary) and whether it is whitespace;
/// `None` at the end (or off a boundary).
#[inline]
fn class_at(line: &str, i: usize) -> Option<(bool, usize)> {
    let &b = line.as_bytes().get(i)?;
    if b < 0x80 {
        return Some((is_ascii_space(b), 1));
    }
    let c = line.get(i..)?.chars().next()?;
    Some((c.is_whitespace(), c.len_utf8()))
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    #[inline]
    fn next(&mut self) -> Option<Token<'a>> {
        let mut i = self.at;
        let start = loop {
            // vmmap pads its columns with runs of spaces: 8 at a time.
            while self.line.as_bytes().get(i..i + 8) == Some(b"        ") {
                i += 8;
            }
            match class_at(self.line, i) {
                Some((true, n)) => i += n,
                Some((false, _)) => break i,
                None => {
                    self.at = self.line.len();
                    return None;
                }
            }
        };
        while let Some((false, n)) = class_at(self.line, i) {
            i += n;
        }
        self.at = i;
        Some(Token {
            text: self.line.get(start..i).unwrap_or(""),
            start,
            end: i,
        })
    }
}

/// True when `s` starts with a char that is not whitespace (so a token starts there).
pub(crate) fn starts_with_token(s: &str) -> bool {
    matches!(class_at(s, 0), Some((false, _)))
}

/// `s.trim()` (Unicode whitespace), faster on the ASCII ends nearly every line has.
pub(crate) fn trim(s: &str) -> &str {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if !c.is_ascii() {
            return s.trim();
        }
        if !is_ascii_space(c) {
            break;
        }
        i += 1;
    }
    let mut j = b.len();
    while j > i {
        match b.get(j - 1) {
            Some(&c) if !c.is_ascii() => return s.trim(),
            Some(&c) if is_ascii_space(c) => j -= 1,
            _ => break,
        }
    }
    s.get(i..j).unwrap_or("")
}

/// `s.trim_start()` (Unicode whitespace), faster on an ASCII start.
pub(crate) fn trim_start(s: &str) -> &str {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if !c.is_ascii() {
            return s.trim_start();
        }
        if !is_ascii_space(c) {
            break;
        }
        i += 1;
    }
    s.get(i..).unwrap_or("")
}

/// `char::is_whitespace` for an ASCII byte: `\t \n VT FF \r` and space.
#[inline]
fn is_ascii_space(c: u8) -> bool {
    matches!(c, b'\t'..=b'\r' | b' ')
}

/// The display column (0-based, in characters) of byte offset `byte` of `line`.
pub(crate) fn column(line: &str, byte: usize) -> usize {
    line.get(..byte).map_or(0, |s| s.chars().count())
}

/// How many characters of input text a message quotes (see [`shown`]).
const SHOWN_CHARS: usize = 80;

/// Input text for a message: quoted and escaped as `{:?}` does, cut after
/// [`SHOWN_CHARS`] characters (then `…` and the whole length), so that a long line never
/// makes a long warning.
pub(crate) fn shown(s: &str) -> Shown<'_> {
    Shown(s)
}

/// See [`shown`].
pub(crate) struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(SHOWN_CHARS) {
            None => write!(f, "{:?}", self.0),
            Some((cut, _)) => write!(
                f,
                "{:?}… ({} bytes)",
                self.0.get(..cut).unwrap_or(""),
                self.0.len()
            ),
        }
    }
}

/// One line of the input, as text.
#[derive(Clone, Debug)]
pub(crate) struct Line<'a> {
    /// The text (invalid UTF-8 replaced by U+FFFD), at most [`VMMAP_LINE_BYTES`] of it.
    pub text: Cow<'a, str>,
    /// The line has invalid UTF-8.
    pub invalid: bool,
    /// The line was longer than [`VMMAP_LINE_BYTES`]: its end is not in `text`.
    pub cut: bool,
}

/// The lines of the input, one at a time (nothing is kept per line), accepting `\n`,
/// `\r\n` and lone `\r` line ends. Cloning it gives a cursor for looking ahead.
#[derive(Clone, Debug)]
pub(crate) struct Lines<'a> {
    input: &'a [u8],
    /// The whole input, when it is valid UTF-8 (nearly every report): lines are then
    /// borrowed slices of it.
    whole: Option<&'a str>,
    at: usize,
}

impl<'a> Lines<'a> {
    /// The lines of `input`.
    pub(crate) fn new(input: &'a [u8]) -> Lines<'a> {
        Lines {
            input,
            whole: std::str::from_utf8(input).ok(),
            at: 0,
        }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = Line<'a>;

    fn next(&mut self) -> Option<Line<'a>> {
        let at = self.at;
        let rest = self.input.get(at..).filter(|r| !r.is_empty())?;
        let end = memchr::memchr2(b'\n', b'\r', rest).map_or(self.input.len(), |i| at + i);
        let mut keep = end.min(at.saturating_add(VMMAP_LINE_BYTES));
        // `at` and `end` are at ASCII bytes or the ends, so they are char boundaries; a cut
        // moves back to one.
        if let Some(w) = self.whole {
            while keep > at && !w.is_char_boundary(keep) {
                keep -= 1;
            }
        }
        let text = match self.whole.and_then(|w| w.get(at..keep)) {
            Some(t) => Cow::Borrowed(t),
            None => String::from_utf8_lossy(self.input.get(at..keep).unwrap_or(&[])),
        };
        self.at = match self.input.get(end..end + 2) {
            Some(b"\r\n") => end + 2,
            _ => end + 1,
        };
        Some(Line {
            invalid: matches!(text, Cow::Owned(_)),
            text,
            cut: keep < end,
        })
    }
}

/// The input as text split into lines (see [`Lines`]), with the 1-based line of the first
/// invalid UTF-8, if any.
#[cfg(test)]
pub(crate) fn split_lines(input: &[u8]) -> (Vec<Cow<'_, str>>, Option<usize>) {
    let mut first_invalid = None;
    let mut lines = Vec::new();
    for (i, l) in Lines::new(input).enumerate() {
        if l.invalid && first_invalid.is_none() {
            first_invalid = Some(i + 1);
        }
        lines.push(l.text);
    }
    (lines, first_invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_keep_their_offsets() {
        let toks = tokenize("  ab  c\td ");
        let texts: Vec<_> = toks.iter().map(|t| (t.text, t.start, t.end)).collect();
        assert_eq!(texts, [("ab", 2, 4), ("c", 6, 7), ("d", 8, 9)]);
        assert!(tokenize("   ").is_empty());
        assert_eq!(column("é[", 2), 1);
    }

    #[test]
    fn line_ends() {
        let (lines, bad) = split_lines(b"a\r\nb\nc\rd\n\ne");
        assert_eq!(lines, ["a", "b", "c", "d", "", "e"]);
        assert_eq!(bad, None);
        let (lines, bad) = split_lines(b"ok\n\xff\xfe\n");
        assert_eq!(lines.len(), 2);
        assert_eq!(bad, Some(2));
        assert_eq!(lines[1], "\u{fffd}\u{fffd}");
        // Valid lines around an invalid one stay exact; a lone \r ends the input.
        let (lines, bad) = split_lines(b"\xc3\xa9t\xc3\xa9\r\nx\x80y\rz\r");
        assert_eq!(lines, ["\u{e9}t\u{e9}", "x\u{fffd}y", "z"]);
        assert_eq!(bad, Some(2));
    }

    #[test]
    fn unicode_whitespace_splits_non_ascii_lines_like_ascii_ones() {
        // VT and FF are whitespace for char::is_whitespace, on both paths.
        let ascii: Vec<_> = tokenize("a\x0bb\x0cc").iter().map(|t| t.text).collect();
        assert_eq!(ascii, ["a", "b", "c"]);
        let wide: Vec<_> = tokenize("\u{e9}\u{a0}b\x0bc")
            .iter()
            .map(|t| t.text)
            .collect();
        assert_eq!(wide, ["\u{e9}", "b", "c"]);
    }

    #[test]
    fn trims_like_str_trim() {
        for s in [
            "",
            " ",
            "a",
            " a ",
            "\t\x0b a b \x0c\r",
            "\u{a0}a\u{a0}",
            " \u{e9} ",
            "\u{2003}",
            "x\u{2003}",
            "\u{85}  y",
            "  \u{3000}",
            "é",
            "a\u{a0}b",
        ] {
            assert_eq!(trim(s), s.trim(), "{s:?}");
            assert_eq!(trim_start(s), s.trim_start(), "{s:?}");
        }
    }
}
