//! How values become CSV cells and report text.
//!
//! # Byte strings (paths, names, command lines)
//!
//! Linux paths and process names are bytes, not text, and whoever runs a process chooses them.
//! A cell holds them as UTF-8 text with a reversible escape:
//!
//! * valid UTF-8 is written as is (commas, quotes and newlines are handled by CSV quoting),
//!   except NUL;
//! * a backslash is written `\\`;
//! * NUL, and each byte that is not part of valid UTF-8, is written `\xHH` (two lowercase hex
//!   digits): a NUL in a cell truncates it for C tools and many spreadsheet importers, and a
//!   vmmap report (text from another machine) can carry one.
//!
//! [`unescape`] turns a cell back into the exact bytes.
//!
//! # Formulas
//!
//! Spreadsheets run a cell that begins with `=`, `+`, `-` or `@` (and some with a tab or CR)
//! as a formula, and these CSV files are opened in spreadsheets. So, by default, every text
//! cell that begins with one of `= + - @ \t \r '` gets a `'` in front (the spreadsheet
//! convention for "this is text"); [`unguard`] removes it again. A CSV sink with
//! `formula_guard = false` writes cells without it. Numbers, addresses and vmpipe's own fixed
//! vocabularies (permissions such as `---p`) are never guarded: no process chooses them.
//!
//! # Numbers
//!
//! Byte counts are plain decimal integers, addresses `0x` + lowercase hex, absent values an
//! empty cell.

/// Appends `bytes` to `out` with the reversible escape described above.
pub fn escape_into(bytes: &[u8], out: &mut Vec<u8>) {
    if memchr::memchr2(b'\\', 0, bytes).is_none()
        && let Ok(s) = std::str::from_utf8(bytes)
    {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    for chunk in bytes.utf8_chunks() {
        for ch in chunk.valid().chars() {
            if ch == '\\' {
                out.extend_from_slice(b"\\\\");
            } else if ch == '\0' {
                out.extend_from_slice(b"\\x00");
            } else {
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
        }
        for &b in chunk.invalid() {
            out.extend_from_slice(&[b'\\', b'x', hex_digit(b >> 4), hex_digit(b & 15)]);
        }
    }
}

/// The first bytes that make a spreadsheet read a cell as a formula (plus `'` itself, so that
/// guarding stays reversible).
pub const FORMULA_STARTS: &[u8] = b"=+-@\t\r'";

/// Guards the cell that starts at `start` in `out` (see the module docs).
pub fn guard_from(out: &mut Vec<u8>, start: usize) {
    if out.get(start).is_some_and(|b| FORMULA_STARTS.contains(b)) {
        out.insert(start, b'\'');
    }
}

/// The cell as written before the formula guard: without the `'` the guard put in front.
pub fn unguard(cell: &str) -> &str {
    cell.strip_prefix('\'').unwrap_or(cell)
}

/// `escape_into` to a new string.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    escape_into(bytes, &mut out);
    // escape_into writes only valid UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// The exact bytes behind a cell written by [`escape_into`]; `None` if the cell is not a valid
/// escape (a lone backslash, a bad `\x`).
pub fn unescape(cell: &str) -> Option<Vec<u8>> {
    let b = cell.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(b'\\') => {
                out.push(b'\\');
                i += 2;
            }
            Some(b'x') => {
                let hi = hex_value(*b.get(i + 2)?)?;
                let lo = hex_value(*b.get(i + 3)?)?;
                out.push(hi << 4 | lo);
                i += 4;
            }
            _ => return None,
        }
    }
    Some(out)
}

/// What [`display`] escapes besides invalid bytes: the backslash, every control character
/// (`Cc`: C0, DEL, C1, which carry terminal escape sequences), every format character (`Cf`:
/// the bidirectional overrides and isolates U+202A–U+202E and U+2066–U+2069, U+061C, U+200E/F,
/// zero-width U+200B–U+200D, U+2060–U+2064, U+FEFF, soft hyphen, tag characters …, which
/// reorder or hide text: `U+202E` makes `exe.txt` read `txt.exe`), and the line and
/// paragraph separators (`Zl`, `Zp`). The categories are the regex crate's Unicode tables.
fn display_escaped() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(r"[\\\p{Cc}\p{Cf}\p{Zl}\p{Zp}]").unwrap_or_else(|e| {
            // A fixed pattern: it compiles, or vmpipe was built without the regex crate's
            // Unicode tables, which its manifest asks for.
            unreachable!("the display pattern is valid: {e}")
        })
    })
}

/// A byte string for a terminal: like [`escape`], and also every control, format and
/// separator character (see [`display_escaped`]) written `\xHH` (below U+0080) or `\u{…}`, so
/// that no name can move the cursor, change colours, forge lines or reorder what a report
/// shows.
pub fn display(bytes: &[u8]) -> String {
    for_terminal(bytes, true)
}

/// A line of a file the user wrote (a pipeline), for a terminal: every control, format and
/// separator character escaped as [`display`] escapes it, but backslashes left as written —
/// the line is shown to be read, never read back, and a TOML string `"a\tb"` must look as it
/// does in the file.
pub fn display_source(line: &str) -> String {
    for_terminal(line.as_bytes(), false)
}

/// [`display`], with the backslash escaped (reversible) or left alone.
fn for_terminal(bytes: &[u8], escape_backslash: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        let valid = chunk.valid();
        let mut last = 0;
        for m in display_escaped().find_iter(valid) {
            out.push_str(&valid[last..m.start()]);
            last = m.end();
            for c in m.as_str().chars() {
                match c {
                    '\\' if !escape_backslash => out.push('\\'),
                    '\\' => out.push_str("\\\\"),
                    c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
                    c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
                }
            }
        }
        out.push_str(&valid[last..]);
        for &b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

fn hex_digit(n: u8) -> u8 {
    b"0123456789abcdef"[usize::from(n & 15)]
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Appends `0x` and `v` in lowercase hex.
pub fn hex_into(v: u64, out: &mut Vec<u8>) {
    let digits = ((64 - v.leading_zeros()).div_ceil(4)).max(1) as usize;
    let mut buf = [0u8; 18];
    buf[0] = b'0';
    buf[1] = b'x';
    for (k, slot) in buf[2..2 + digits].iter_mut().rev().enumerate() {
        *slot = hex_digit((v >> (4 * k)) as u8);
    }
    out.extend_from_slice(&buf[..2 + digits]);
}

/// Appends `v` in decimal.
pub fn int_into(v: u64, out: &mut Vec<u8>) {
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(v).as_bytes());
}

/// Appends `v` in decimal, or nothing when absent.
pub fn opt_into(v: Option<u64>, out: &mut Vec<u8>) {
    if let Some(v) = v {
        int_into(v, out);
    }
}

/// A byte count for people: `0`, `812K`, `12.4M`, `3.05G` (binary units).
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["K", "M", "G", "T", "P", "E"];
    if bytes < 1024 {
        return bytes.to_string();
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if v >= 100.0 || unit == 0 {
        format!("{v:.0}{}", UNITS[unit])
    } else if v >= 10.0 {
        format!("{v:.1}{}", UNITS[unit])
    } else {
        format!("{v:.2}{}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_round_trips_hostile_bytes() {
        let cases: &[&[u8]] = &[
            b"/usr/lib/libc.so.6",
            b"/tmp/a b,c\"d\ne\tf",
            b"/tmp/\xff\xfe\\x41\\",
            "/tmp/caf\u{e9}/\u{1F600}".as_bytes(),
            b"\x00\x01=cmd|' /C calc'!A0",
            b"\xe2\x82",
            b"",
        ];
        for &c in cases {
            let cell = escape(c);
            assert_eq!(unescape(&cell).as_deref(), Some(c), "{cell}");
        }
        assert_eq!(escape(b"a\\b\xff"), "a\\\\b\\xff");
        assert_eq!(unescape("\\q"), None);
        assert_eq!(unescape("\\x4"), None);
    }

    #[test]
    fn display_neutralises_terminal_control() {
        let shown = display(b"evil\x1b[2J\r\nroot\x9b\xc2\x9bok");
        assert!(!shown.chars().any(|c| c.is_control()), "{shown}");
        assert_eq!(shown, "evil\\x1b[2J\\x0d\\x0aroot\\x9b\\u{9b}ok");
    }

    #[test]
    fn display_source_keeps_backslashes_and_escapes_the_rest_as_display_does() {
        let line = "path = \"a\\tb\" # \u{1b}[2J \u{202e}x \u{7f}";
        assert_eq!(
            display_source(line),
            "path = \"a\\tb\" # \\x1b[2J \\u{202e}x \\x7f"
        );
        assert_eq!(
            display(line.as_bytes()),
            "path = \"a\\\\tb\" # \\x1b[2J \\u{202e}x \\x7f"
        );
    }

    #[test]
    fn display_neutralises_bidirectional_overrides() {
        // "gpj.exe" shown right to left would read "exe.jpg".
        let shown = display("photo\u{202e}gpj.exe\u{2066}x\u{feff}\u{200b}".as_bytes());
        assert_eq!(shown, "photo\\u{202e}gpj.exe\\u{2066}x\\u{feff}\\u{200b}");
        assert_eq!(
            display("caf\u{e9} \u{1F600}".as_bytes()),
            "caf\u{e9} \u{1F600}"
        );
    }

    #[test]
    fn nul_is_escaped_in_cells() {
        assert_eq!(escape(b"/lib\x00x.so"), "/lib\\x00x.so");
        assert_eq!(
            unescape("/lib\\x00x.so").as_deref(),
            Some(&b"/lib\x00x.so"[..])
        );
    }

    #[test]
    fn guarded_cells_read_back() {
        for raw in [
            &b"=1+2"[..],
            b"+x",
            b"-rf",
            b"@SUM(A1)",
            b"\tx",
            b"\rx",
            b"'quoted",
            b"plain",
            b"",
        ] {
            let mut out = Vec::new();
            escape_into(raw, &mut out);
            guard_from(&mut out, 0);
            let cell = String::from_utf8(out).unwrap();
            if raw.first().is_some_and(|b| FORMULA_STARTS.contains(b)) {
                assert!(cell.starts_with('\''), "{cell}");
            }
            assert_eq!(unescape(unguard(&cell)).as_deref(), Some(raw));
        }
    }

    #[test]
    fn numbers() {
        let mut v = Vec::new();
        hex_into(0, &mut v);
        v.push(b' ');
        hex_into(0x7ffd_0000_1000, &mut v);
        v.push(b' ');
        hex_into(u64::MAX, &mut v);
        v.push(b' ');
        hex_into(0xf, &mut v);
        v.push(b' ');
        hex_into(0x10, &mut v);
        v.push(b' ');
        int_into(1234, &mut v);
        opt_into(None, &mut v);
        assert_eq!(v, b"0x0 0x7ffd00001000 0xffffffffffffffff 0xf 0x10 1234");
        assert_eq!(human(0), "0");
        assert_eq!(human(2048), "2K");
        assert_eq!(human(5 * 1024 * 1024 + 512 * 1024), "5.50M");
        assert_eq!(human(150 * 1024 * 1024), "150M");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Addresses are written as `format!("{v:#x}")` writes them.
        #[test]
        fn hex_is_std_hex(v in any::<u64>(), shift in 0u32..64) {
            for v in [v, v >> shift] {
                let mut out = Vec::new();
                hex_into(v, &mut out);
                prop_assert_eq!(String::from_utf8(out).unwrap(), format!("{v:#x}"));
            }
        }

        /// Any bytes survive a cell: escape, guard, then unguard and unescape give them back.
        #[test]
        fn any_bytes_survive_a_cell(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut out = Vec::new();
            escape_into(&bytes, &mut out);
            guard_from(&mut out, 0);
            let cell = String::from_utf8(out).expect("cells are UTF-8");
            prop_assert_eq!(unescape(unguard(&cell)), Some(bytes.clone()));
            prop_assert!(!cell.contains('\0'), "a NUL reached the cell: {:?}", cell);
            // And the report's form has no control character.
            prop_assert!(!display(&bytes).chars().any(char::is_control));
        }

        /// Text mixed with NULs and format characters: the cell gives it back exactly and holds
        /// no NUL; the report's form holds none of the format characters (the list is Unicode's
        /// own, written out here, not taken from the regex tables `display` uses).
        #[test]
        fn format_characters_never_reach_a_report(
            parts in proptest::collection::vec((any::<String>(), 0usize..FORMAT.len()), 0..16)
        ) {
            let mut text = String::new();
            for (s, k) in &parts {
                text.push_str(s);
                text.push(FORMAT[*k]);
            }
            let cell = escape(text.as_bytes());
            prop_assert!(!cell.contains('\0'));
            prop_assert_eq!(unescape(&cell), Some(text.clone().into_bytes()));
            let shown = display(text.as_bytes());
            prop_assert!(!shown.chars().any(|c| FORMAT.contains(&c) || c.is_control()), "{:?}", shown);
        }
    }

    /// NUL, and the format characters (Unicode category Cf) that reorder or hide text, with the
    /// line and paragraph separators.
    const FORMAT: &[char] = &[
        '\0',
        '\u{ad}',
        '\u{61c}',
        '\u{180e}',
        '\u{200b}',
        '\u{200c}',
        '\u{200d}',
        '\u{200e}',
        '\u{200f}',
        '\u{2028}',
        '\u{2029}',
        '\u{202a}',
        '\u{202b}',
        '\u{202c}',
        '\u{202d}',
        '\u{202e}',
        '\u{2060}',
        '\u{2061}',
        '\u{2062}',
        '\u{2063}',
        '\u{2064}',
        '\u{2066}',
        '\u{2067}',
        '\u{2068}',
        '\u{2069}',
        '\u{206a}',
        '\u{206f}',
        '\u{feff}',
        '\u{fff9}',
        '\u{fffb}',
        '\u{e0001}',
        '\u{e0041}',
        '\u{e007f}',
    ];
}
