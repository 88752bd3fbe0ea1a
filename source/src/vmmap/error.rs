//! What can go wrong while reading a report: [`Warning`]s (the report was read, with a
//! caveat) and the one [`VmmapError`] (it was not a vmmap report at all).

use std::fmt;

use thiserror::Error;

/// Something in the report that was skipped or looks edited, cut or damaged. The rest of the
/// report was still read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The 1-based line of the input it is about.
    pub line: usize,
    /// What was found and what the parser did about it.
    pub message: String,
}

impl Warning {
    /// A warning about `line`.
    pub fn new(line: usize, message: impl Into<String>) -> Warning {
        Warning {
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// The input could not be read as a vmmap report. Displays as `line N: message`.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("line {line}: {message}")]
pub struct VmmapError {
    /// The 1-based line of the input it is about.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}
