//! One problem in a pipeline file, placed at its line and column.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

/// One problem in a pipeline file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// What is wrong, and what would be right.
    pub message: String,
    /// The offending source line, for display.
    pub source_line: String,
}

impl Diagnostic {
    /// A diagnostic for the byte range `span` of `text`.
    pub fn at(text: &str, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        let start = span.start.min(text.len());
        let start = (0..=start)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        Diagnostic {
            line: text[..start].matches('\n').count() + 1,
            column: text[line_start..start].chars().count() + 1,
            message: message.into(),
            source_line: text[line_start..line_end]
                .trim_end_matches('\r')
                .to_string(),
        }
    }
}

/// Every problem found in one pipeline file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostics {
    /// The file.
    pub file: PathBuf,
    /// The problems, in file order.
    pub items: Vec<Diagnostic>,
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.items.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            writeln!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                d.line,
                d.column,
                d.message
            )?;
            writeln!(f, "    |")?;
            writeln!(f, "{:>3} | {}", d.line, d.source_line.escape_debug())?;
            write!(f, "    | {}^", " ".repeat(d.column.saturating_sub(1)))?;
        }
        if self.items.len() > 1 {
            write!(
                f,
                "\n\n{} problems in {}",
                self.items.len(),
                self.file.display()
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_spans_at_line_and_column() {
        let text = "a = 1\nbé = 2\n  c = 3";
        let d = Diagnostic::at(text, 6..7, "x");
        assert_eq!((d.line, d.column), (2, 1));
        let c = text.find('c').unwrap();
        let d = Diagnostic::at(text, c..c + 1, "x");
        assert_eq!(
            (d.line, d.column, d.source_line.as_str()),
            (3, 3, "  c = 3")
        );
        let two = text.find('2').unwrap();
        let d = Diagnostic::at(text, two..two + 1, "x");
        assert_eq!(
            (d.line, d.column),
            (2, 6),
            "columns count characters, not bytes"
        );
        let d = Diagnostic::at(text, 999..1000, "x");
        assert_eq!(d.line, 3);
    }
}
