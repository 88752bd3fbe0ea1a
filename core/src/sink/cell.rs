//! How values become CSV cells and report text.
//!
//! # Byte strings (paths, names, command lines)
//!
//! Linux paths and process names are bytes, not text, and whoever runs a process chooses them.
//! A cell holds them as UTF-8 text with a reversible escape:
//!
//! * valid UTF-8 is written as is (commas, quotes and newlines are handled by CSV quoting);
//! * a backslash is written `\\`;
//! * each byte that is not part of valid UTF-8 is written `\xHH` (two lowercase hex digits).
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
    if !bytes.contains(&b'\\') {
        if let Ok(s) = std::str::from_utf8(bytes) {
            out.extend_from_slice(s.as_bytes());
            return;
        }
    }
    for chunk in bytes.utf8_chunks() {
        for ch in chunk.valid().chars() {
            if ch == '\\' {
                out.extend_from_slice(b"\\\\");
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

/// A byte string for a terminal: like [`escape`], and also every control character (C0, DEL,
/// C1, which carry terminal escape sequences) written `\xHH` or `\u{…}`, so that no name can
/// move the cursor, change colours or forge lines in a report.
pub fn display(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for ch in chunk.valid().chars() {
            match ch {
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    out.push_str(&format!("\\x{:02x}", c as u32));
                }
                c if (0x80..0xa0).contains(&(c as u32)) || c == '\u{2028}' || c == '\u{2029}' => {
                    out.push_str(&format!("\\u{{{:x}}}", c as u32));
                }
                c => out.push(c),
            }
        }
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
            // And the report's form has no control character.
            prop_assert!(!display(&bytes).chars().any(char::is_control));
        }
    }
}
