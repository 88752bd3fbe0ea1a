//! Zero-copy parser for `/proc/PID/smaps`.
//!
//! Each record is a maps header line (see [`super::maps`]) followed by `Name: value [kB]`
//! lines and a `VmFlags:` line. Lines are found with `memchr` in the caller's buffer; nothing
//! is allocated per line. Field names the model knows ([`UsageField`]) are stored in bytes;
//! names it does not know (a newer kernel's) are kept as text in [`Usage::other`], so a new
//! kernel never breaks a sweep. `Size` is checked for form only (see below).

use memchr::memchr;

use super::ParseError;
use super::maps::{self, RegionBuilder};
use super::parse_error::excerpt;
use crate::model::{Region, UsageField};

/// Parses a whole smaps file, appending one region per record to `out`. On a malformed line
/// the regions before it stay in `out` (the last one possibly incomplete) and the error names
/// the line (1-based).
pub fn parse(text: &[u8], out: &mut Vec<Region>) -> Result<(), ParseError> {
    let mut builder = RegionBuilder::default();
    let first = out.len();
    let mut pos = 0;
    let mut n = 0;
    while pos < text.len() {
        let end = memchr(b'\n', &text[pos..]).map_or(text.len(), |i| pos + i);
        let line = &text[pos..end];
        pos = end + 1;
        n += 1;
        if line.is_empty() {
            continue;
        }
        // A field line's first token ends with ':'; a header's first token is `start-end`.
        let sep = line.iter().position(|&b| b == b':' || b == b' ');
        match sep {
            Some(i) if line[i] == b':' => {
                let region = if out.len() > first {
                    out.last_mut()
                } else {
                    None
                };
                let Some(region) = region else {
                    return Err(ParseError::FieldBeforeHeader {
                        line: n,
                        field: excerpt(&line[..i]),
                    });
                };
                field(region, &line[..i], &line[i + 1..]).map_err(|e| e.at_line(n))?;
            }
            _ => {
                let header = maps::parse_line(line).map_err(|e| e.at_line(n))?;
                out.push(builder.region(&header));
            }
        }
    }
    Ok(())
}

fn trim_spaces(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Applies one `Name: value` line to `region`.
fn field(region: &mut Region, name: &[u8], value: &[u8]) -> Result<(), ParseError> {
    let value = trim_spaces(value);
    let bad = || ParseError::BadValue {
        line: 0,
        field: excerpt(name),
        value: excerpt(value),
    };
    if name == b"VmFlags" {
        let flags = std::str::from_utf8(value).map_err(|_| bad())?;
        region.vm_flags = Some(flags.into());
        return Ok(());
    }
    let known = UsageField::from_smaps_name(name);
    let (digits, kb) = match value.strip_suffix(b" kB") {
        Some(d) => (trim_spaces(d), true),
        None => (value, false),
    };
    let Some(number) = maps::decimal(digits) else {
        if known.is_some() || name == b"Size" {
            return Err(bad());
        }
        // An unknown field with a non-numeric value: keep it as text.
        return keep_other(region, name, value);
    };
    let bytes = if kb {
        number.checked_mul(1024).ok_or_else(bad)?
    } else {
        number
    };
    match known {
        Some(f) if f.in_kb() != kb => Err(bad()),
        Some(f) => {
            region.usage.set(f, bytes);
            Ok(())
        }
        // `Size` repeats the header's range on current kernels; kernels before 4.12 counted the
        // stack guard page in it but not in the header (a real 3.x capture has a 136 kB [stack]
        // with `Size: 140 kB`), so it is checked for form only.
        None if name == b"Size" => {
            if kb {
                Ok(())
            } else {
                Err(bad())
            }
        }
        None => keep_other(region, name, value),
    }
}

fn keep_other(region: &mut Region, name: &[u8], value: &[u8]) -> Result<(), ParseError> {
    let utf8 = |b: &[u8]| std::str::from_utf8(b).map(Box::<str>::from);
    match (utf8(name), utf8(value)) {
        (Ok(n), Ok(v)) => {
            region.usage.other.push((n, v));
            Ok(())
        }
        _ => Err(ParseError::BadValue {
            line: 0,
            field: excerpt(name),
            value: excerpt(value),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &[u8] = b"\
00400000-00401000 r-xp 00000000 08:01 1234                       /bin/x
Size:                  4 kB
KernelPageSize:        4 kB
Rss:                   4 kB
Pss:                   2 kB
Private_Dirty:         0 kB
THPeligible:           1
FutureField:          12 kB
VmFlags: rd ex mr mw me dw 
7ffd0000-7ffd2000 rw-p 00000000 00:00 0                          [stack]
Size:                  8 kB
Swap:                  4 kB
VmFlags: rd wr mr mw me gd ac
";

    #[test]
    fn parses_records_known_and_unknown_fields() {
        let mut out = Vec::new();
        parse(TWO, &mut out).unwrap();
        assert_eq!(out.len(), 2);
        let a = &out[0];
        assert_eq!(a.path.as_deref(), Some(&b"/bin/x"[..]));
        assert_eq!(a.usage.get(UsageField::Rss), Some(4096));
        assert_eq!(a.usage.get(UsageField::Pss), Some(2048));
        assert_eq!(a.usage.get(UsageField::PrivateDirty), Some(0));
        assert_eq!(a.usage.get(UsageField::Swap), None, "absent, not zero");
        assert_eq!(a.usage.get(UsageField::ThpEligible), Some(1));
        assert_eq!(a.usage.other, vec![("FutureField".into(), "12 kB".into())]);
        assert_eq!(a.vm_flags.as_deref(), Some("rd ex mr mw me dw"));
        let b = &out[1];
        assert_eq!(b.usage.get(UsageField::Swap), Some(4096));
        assert_eq!(b.kind, crate::model::RegionKind::Stack);
    }

    #[test]
    fn damaged_input_names_the_line_and_keeps_what_came_before() {
        let mut text = TWO.to_vec();
        text.extend_from_slice(b"Rss:   12x kB\n");
        let mut out = Vec::new();
        let err = parse(&text, &mut out).unwrap_err();
        assert!(
            matches!(err, ParseError::BadValue { line: 14, .. }),
            "{err:?}"
        );
        assert_eq!(out.len(), 2);

        let mut out = Vec::new();
        let err = parse(b"Rss: 4 kB\n", &mut out).unwrap_err();
        assert!(matches!(err, ParseError::FieldBeforeHeader { line: 1, .. }));

        let mut out = Vec::new();
        let err = parse(b"1000-2000 rw-p 0 00:00 0\nSize: 8\n", &mut out).unwrap_err();
        assert!(
            matches!(err, ParseError::BadValue { line: 2, .. }),
            "{err:?}"
        );

        let mut out = Vec::new();
        let err = parse(b"1000-2000 rw-p 0 00:00 0\nRss: 4\n", &mut out).unwrap_err();
        assert!(
            matches!(err, ParseError::BadValue { line: 2, .. }),
            "kB field without kB"
        );

        let mut out = Vec::new();
        let err = parse(
            b"1000-2000 rw-p 0 00:00 0\nRss: 99999999999999999999 kB\n",
            &mut out,
        )
        .unwrap_err();
        assert!(matches!(err, ParseError::BadValue { .. }));
    }
}
