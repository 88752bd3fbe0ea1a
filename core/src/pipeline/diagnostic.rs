//! One problem in a pipeline file, placed at its line and column, and how such a problem is
//! shown: `FILE:LINE:COL: message`, the source line, and a caret under the place.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A place in a pipeline file: what a message points at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Place {
    /// 1-based line; 0 when the pipeline has no file (`vmpipe report` builds its own).
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// The source line, for display.
    pub source_line: String,
}

impl Place {
    /// The place where the byte range `span` of `text` starts.
    pub fn at(text: &str, span: Range<usize>) -> Place {
        let start = span.start.min(text.len());
        let start = (0..=start)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        Place {
            line: text[..start].matches('\n').count() + 1,
            column: text[line_start..start].chars().count() + 1,
            source_line: text[line_start..line_end]
                .trim_end_matches('\r')
                .to_string(),
        }
    }
}

/// Writes `message` about `place` of `file` as every pipeline problem is shown:
///
/// ```text
/// p.toml:6:7: no analyzer "wx-audti" …
///     |
///   6 | use = "wx-audti"
///     |       ^
/// ```
///
/// The source line is shown as written, except that control, format and separator
/// characters are escaped ([`crate::model::escape::display_source`]) so that no byte of the
/// file can move the terminal's cursor or reorder what it shows. A place without a line
/// (a pipeline vmpipe built itself) gives only `FILE: message`.
pub fn render(
    f: &mut fmt::Formatter<'_>,
    file: &Path,
    place: &Place,
    message: &str,
) -> fmt::Result {
    if place.line == 0 {
        return write!(f, "{}: {message}", file.display());
    }
    writeln!(
        f,
        "{}:{}:{}: {message}",
        file.display(),
        place.line,
        place.column
    )?;
    let shown = crate::model::escape::display_source(&place.source_line);
    // The caret goes under the character at the column: count what the escaped prefix takes.
    let prefix: String = place
        .source_line
        .chars()
        .take(place.column.saturating_sub(1))
        .collect();
    let indent = crate::model::escape::display_source(&prefix)
        .chars()
        .count();
    writeln!(f, "    |")?;
    writeln!(f, "{:>3} | {shown}", place.line)?;
    write!(f, "    | {}^", " ".repeat(indent))
}

/// One problem in a pipeline file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where it is.
    pub place: Place,
    /// What is wrong, and what would be right.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic for the byte range `span` of `text`.
    pub fn at(text: &str, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            place: Place::at(text, span),
            message: message.into(),
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
            render(f, &self.file, &d.place, &d.message)?;
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
        let d = Place::at(text, 6..7);
        assert_eq!((d.line, d.column), (2, 1));
        let c = text.find('c').unwrap();
        let d = Place::at(text, c..c + 1);
        assert_eq!(
            (d.line, d.column, d.source_line.as_str()),
            (3, 3, "  c = 3")
        );
        let two = text.find('2').unwrap();
        let d = Place::at(text, two..two + 1);
        assert_eq!(
            (d.line, d.column),
            (2, 6),
            "columns count characters, not bytes"
        );
        let d = Place::at(text, 999..1000);
        assert_eq!(d.line, 3);
    }

    fn shown(text: &str, needle: &str) -> String {
        let at = text.find(needle).unwrap();
        Diagnostics {
            file: "p.toml".into(),
            items: vec![Diagnostic::at(text, at..at + 1, "m")],
        }
        .to_string()
    }

    #[test]
    fn the_snippet_is_shown_as_written_with_a_caret_under_the_place() {
        let text = "[[analyzer]]\nuse = \"wx-audti\"  # a \\ note\n";
        assert_eq!(
            shown(text, "\"wx"),
            "p.toml:2:7: m\n    |\n  2 | use = \"wx-audti\"  # a \\ note\n    |       ^"
        );
    }

    #[test]
    fn control_and_bidi_characters_in_the_snippet_are_escaped_and_the_caret_follows() {
        // An escape sequence and a right-to-left override before the place.
        let text = "x = \"\u{1b}[2J\u{202e}\" # y\n";
        let out = shown(text, "# y");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[2], "  1 | x = \"\\x1b[2J\\u{202e}\" # y");
        let caret = lines[3].find('^').unwrap();
        assert_eq!(&lines[2][caret..caret + 3], "# y", "{out}");
    }
}
