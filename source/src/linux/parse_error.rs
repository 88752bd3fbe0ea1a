//! Why a `/proc` text file could not be parsed.

use thiserror::Error;

/// A parse failure in a `/proc` text file, naming the 1-based line. The caller adds the path
/// and pid (see [`crate::CollectError`]).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// A line whose field `what` is not what the kernel prints.
    #[error("line {line}: malformed {what}")]
    Malformed {
        /// 1-based line number (0 while not yet known).
        line: usize,
        /// The field that is wrong.
        what: &'static str,
    },
    /// A `Name: value` line before any region header.
    #[error("line {line}: field `{field}` before any region header")]
    FieldBeforeHeader {
        /// 1-based line number.
        line: usize,
        /// The field's name (lossy UTF-8).
        field: String,
    },
    /// A field whose value is not a number the kernel would print.
    #[error("line {line}: field `{field}` has a bad value `{value}`")]
    BadValue {
        /// 1-based line number.
        line: usize,
        /// The field's name (lossy UTF-8).
        field: String,
        /// The value as found (lossy UTF-8, at most 64 bytes).
        value: String,
    },
    /// The regions parsed so far used up the process's memory budget (see
    /// [`crate::budget`]); the regions before the line are kept.
    #[error(
        "line {line}: over vmpipe's budget of {limit} bytes of parsed regions for one process; the regions before this line are kept"
    )]
    OverBudget {
        /// 1-based line number.
        line: usize,
        /// The budget, in bytes.
        limit: usize,
    },
    /// One record (an smaps record, or a maps line) longer than vmpipe reads in one piece.
    #[error("line {line}: a record longer than {limit} bytes; the regions before it are kept")]
    RecordTooLong {
        /// 1-based line number where the record starts.
        line: usize,
        /// The longest record read, in bytes.
        limit: usize,
    },
    /// The file goes on past what vmpipe reads of one process's map.
    #[error(
        "longer than vmpipe's limit of {limit} bytes for one process's map file; the regions before the limit are kept"
    )]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
}

impl ParseError {
    /// The line the error names (0 when it names none).
    pub fn line(&self) -> usize {
        match self {
            ParseError::Malformed { line, .. }
            | ParseError::FieldBeforeHeader { line, .. }
            | ParseError::BadValue { line, .. }
            | ParseError::OverBudget { line, .. }
            | ParseError::RecordTooLong { line, .. } => *line,
            ParseError::TooLarge { .. } => 0,
        }
    }

    /// The same error, placed at `line`.
    pub fn at_line(self, line: usize) -> ParseError {
        match self {
            ParseError::Malformed { what, .. } => ParseError::Malformed { line, what },
            ParseError::FieldBeforeHeader { field, .. } => {
                ParseError::FieldBeforeHeader { line, field }
            }
            ParseError::BadValue { field, value, .. } => {
                ParseError::BadValue { line, field, value }
            }
            ParseError::OverBudget { limit, .. } => ParseError::OverBudget { line, limit },
            ParseError::RecordTooLong { limit, .. } => ParseError::RecordTooLong { line, limit },
            e @ ParseError::TooLarge { .. } => e,
        }
    }
}

/// Lossy text of at most 64 bytes, for error messages about hostile input.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(64)]).into_owned()
}
