//! Why a `/proc` text file could not be parsed.

use thiserror::Error;

/// A parse failure in a `/proc` text file, naming the 1-based line. The caller adds the path
/// and pid (see [`crate::source::CollectError`]).
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
}

impl ParseError {
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
        }
    }
}

/// Lossy text of at most 64 bytes, for error messages about hostile input.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(64)]).into_owned()
}
