//! Parser for `/proc/PID/maps` lines — also the header line of every `smaps` record.
//!
//! A line is `START-END PERMS OFFSET MAJOR:MINOR INODE [PATH]`, numbers in hex except the
//! inode, the path padded to a column with spaces (and, on older kernels, a trailing space when
//! there is no path). The kernel escapes a newline inside a path as `\012`; this parser gives
//! the real byte back (see [`crate::model::Region::path`]). Nothing here allocates except the
//! decoded path of a region whose path differs from the previous region's.

use std::sync::Arc;

use memchr::memchr;

use super::ParseError;
use crate::budget::{Budget, OverBudget};
use crate::model::{Perms, Region, RegionKind, Usage};

/// The fields of one maps line, borrowed from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapsLine<'a> {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// Permissions.
    pub perms: Perms,
    /// File offset.
    pub offset: u64,
    /// Device major.
    pub dev_major: u32,
    /// Device minor.
    pub dev_minor: u32,
    /// Inode.
    pub inode: u64,
    /// The path exactly as printed (kernel escapes not yet decoded); empty when anonymous.
    pub path: &'a [u8],
}

/// Parses a hex number that must fill the whole field.
fn hex(field: &[u8]) -> Option<u64> {
    if field.is_empty() || field.len() > 16 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in field {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return None,
        };
        v = (v << 4) | u64::from(d);
    }
    Some(v)
}

/// Parses a decimal number that must fill the whole field, refusing overflow.
pub(crate) fn decimal(field: &[u8]) -> Option<u64> {
    if field.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &b in field {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

/// Splits off the next space-delimited token, skipping leading spaces.
fn token<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let s = *rest;
    let begin = s.iter().position(|&b| b != b' ')?;
    let s = &s[begin..];
    let len = memchr(b' ', s).unwrap_or(s.len());
    *rest = &s[len..];
    Some(&s[..len])
}

/// Why a maps line was refused; `what` names the field.
fn bad(what: &'static str) -> ParseError {
    ParseError::Malformed { line: 0, what }
}

/// Parses one maps line (without its newline).
///
/// A line in the kernel's own form (single spaces between the fields, the path after the
/// padding) is read in one pass over its bytes; anything else takes the general tokenizer,
/// which accepts and refuses exactly what it did before the shortcut (the tests hold one to
/// the other).
pub fn parse_line(line: &[u8]) -> Result<MapsLine<'_>, ParseError> {
    match kernel_form(line) {
        Some(l) => Ok(l),
        None => parse_general(line),
    }
}

/// The value of each byte as a hex digit, or 0xff.
const HEX: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// 1 to 16 hex digits from `*i` up to `stop` (consumed too).
#[inline]
fn hex_to(line: &[u8], i: &mut usize, stop: u8) -> Option<u64> {
    let rest = line.get(*i..)?;
    let mut v: u64 = 0;
    for (k, &b) in rest.iter().take(17).enumerate() {
        if b == stop {
            *i += k + 1;
            return (k > 0).then_some(v);
        }
        let d = HEX[usize::from(b)];
        if d == 0xff {
            return None;
        }
        v = (v << 4) | u64::from(d);
    }
    None
}

/// [`parse_line`]'s one pass over a line in the kernel's form; `None` for anything else.
fn kernel_form(line: &[u8]) -> Option<MapsLine<'_>> {
    let mut i = 0;
    let start = hex_to(line, &mut i, b'-')?;
    let end = hex_to(line, &mut i, b' ')?;
    if end < start {
        return None;
    }
    let perms = Perms::parse(line.get(i..i + 4)?)?;
    i += 4;
    if line.get(i) != Some(&b' ') {
        return None;
    }
    i += 1;
    let offset = hex_to(line, &mut i, b' ')?;
    let dev_major = u32::try_from(hex_to(line, &mut i, b':')?).ok()?;
    let dev_minor = u32::try_from(hex_to(line, &mut i, b' ')?).ok()?;
    let first = i;
    let mut inode: u64 = 0;
    while let Some(&b) = line.get(i) {
        if b == b' ' {
            break;
        }
        // 19 digits always fit; longer numbers take the general path (overflow check).
        if !b.is_ascii_digit() || i - first == 19 {
            return None;
        }
        inode = inode * 10 + u64::from(b - b'0');
        i += 1;
    }
    if i == first {
        return None;
    }
    let mut rest = &line[i..];
    while let Some(tail) = rest.strip_prefix(b"        ") {
        rest = tail;
    }
    while let [b' ', tail @ ..] = rest {
        rest = tail;
    }
    Some(MapsLine {
        start,
        end,
        perms,
        offset,
        dev_major,
        dev_minor,
        inode,
        path: rest,
    })
}

/// The general tokenizer behind [`parse_line`]: space-separated fields, any number of spaces.
/// [`parse_line`] must agree with it on any line (the tests and the fuzz target hold it to
/// that).
#[doc(hidden)]
pub fn parse_general(line: &[u8]) -> Result<MapsLine<'_>, ParseError> {
    let mut rest = line;
    let range = token(&mut rest).ok_or_else(|| bad("address range"))?;
    let dash = memchr(b'-', range).ok_or_else(|| bad("address range"))?;
    let start = hex(&range[..dash]).ok_or_else(|| bad("start address"))?;
    let end = hex(&range[dash + 1..]).ok_or_else(|| bad("end address"))?;
    if end < start {
        return Err(bad("address range (end below start)"));
    }
    let perms = token(&mut rest)
        .and_then(Perms::parse)
        .ok_or_else(|| bad("permissions"))?;
    let offset = token(&mut rest)
        .and_then(hex)
        .ok_or_else(|| bad("offset"))?;
    let dev = token(&mut rest).ok_or_else(|| bad("device"))?;
    let colon = memchr(b':', dev).ok_or_else(|| bad("device"))?;
    let dev_major = hex(&dev[..colon])
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| bad("device major"))?;
    let dev_minor = hex(&dev[colon + 1..])
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| bad("device minor"))?;
    let inode = token(&mut rest)
        .and_then(decimal)
        .ok_or_else(|| bad("inode"))?;
    // The path starts at the first non-space after the inode and runs to the end of the line:
    // trailing spaces may belong to the file name, so they are kept.
    let path = match rest.iter().position(|&b| b != b' ') {
        Some(i) => &rest[i..],
        None => &[][..],
    };
    Ok(MapsLine {
        start,
        end,
        perms,
        offset,
        dev_major,
        dev_minor,
        inode,
        path,
    })
}

/// Decodes the kernel's `\012` escape (a newline in a path) back to the byte.
pub fn decode_path(printed: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if memchr(b'\\', printed).is_none() {
        return std::borrow::Cow::Borrowed(printed);
    }
    let mut out = Vec::with_capacity(printed.len());
    let mut i = 0;
    while i < printed.len() {
        if printed[i..].starts_with(b"\\012") {
            out.push(b'\n');
            i += 4;
        } else {
            out.push(printed[i]);
            i += 1;
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Builds regions from maps lines, sharing one allocation between consecutive regions with the
/// same path (a library's four or five mappings).
pub struct RegionBuilder<'b> {
    last_path: Option<Arc<[u8]>>,
    budget: &'b mut Budget,
}

/// What one region costs the budget before its path and fields: the record itself.
const REGION_COST: usize = std::mem::size_of::<Region>();

/// What a newly allocated shared value costs beyond its bytes (the `Arc`'s counts).
pub(crate) const SHARED_COST: usize = 2 * std::mem::size_of::<usize>();

impl<'b> RegionBuilder<'b> {
    /// A builder that charges what it builds to `budget`.
    pub fn new(budget: &'b mut Budget) -> RegionBuilder<'b> {
        RegionBuilder {
            last_path: None,
            budget,
        }
    }

    /// The budget regions are charged to (fields added to them are charged there too).
    pub fn budget(&mut self) -> &mut Budget {
        self.budget
    }

    /// A region for `line`, with no residency figures yet; its cost is charged to the budget
    /// first: the record, and its path's bytes — for every region, even when the allocation
    /// is shared with the previous region's, because every table and report that carries the
    /// region carries its path (one file mapped 65,000 times under a 40 KB path is 2.6 GB of
    /// `regions.csv`, whatever the parser shares).
    pub fn region(&mut self, line: &MapsLine<'_>) -> Result<Region, OverBudget> {
        self.budget.charge(REGION_COST + line.path.len())?;
        let path = if line.path.is_empty() {
            None
        } else {
            let decoded = decode_path(line.path);
            match &self.last_path {
                Some(p) if **p == *decoded => Some(p.clone()),
                _ => {
                    self.budget.charge(SHARED_COST)?;
                    let p: Arc<[u8]> = Arc::from(&*decoded);
                    self.last_path = Some(p.clone());
                    Some(p)
                }
            }
        };
        Ok(Region {
            start: line.start,
            end: line.end,
            perms: line.perms,
            offset: line.offset,
            dev_major: line.dev_major,
            dev_minor: line.dev_minor,
            inode: line.inode,
            kind: RegionKind::classify(line.path, line.perms.shared),
            path,
            usage: Usage::default(),
            vm_flags: None,
            reported: None,
            confirmed_unlinked: None,
        })
    }
}

/// Room for `wanted` more regions in `out`, but never more than `budget` could pay for (an
/// estimate from a count of lines must not become a reservation of gigabytes).
pub(crate) fn reserve_within(out: &mut Vec<Region>, wanted: usize, budget: &Budget) {
    let affordable = budget.limit().saturating_sub(budget.used()) / REGION_COST;
    out.reserve(wanted.min(affordable + 1));
}

/// Parses a whole maps file, appending one region per line to `out`, within one process's
/// default budget. On a malformed line the regions before it stay in `out` and the error names
/// the line (1-based).
pub fn parse(text: &[u8], out: &mut Vec<Region>) -> Result<(), ParseError> {
    parse_budgeted(text, out, &mut Budget::per_process())
}

/// [`parse`], charging the regions to `budget`: past it, the regions before the line stay in
/// `out` and the error is [`ParseError::OverBudget`].
pub fn parse_budgeted(
    text: &[u8],
    out: &mut Vec<Region>,
    budget: &mut Budget,
) -> Result<(), ParseError> {
    reserve_within(out, memchr::memchr_iter(b'\n', text).count() + 1, budget);
    let mut builder = RegionBuilder::new(budget);
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
        let parsed = parse_line(line).map_err(|e| e.at_line(n))?;
        let region = builder
            .region(&parsed)
            .map_err(|e| ParseError::OverBudget {
                line: n,
                limit: e.limit,
            })?;
        out.push(region);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_file_line() {
        let l = parse_line(
            b"561ea7d0a000-561ea7d10000 r-xp 00002000 fe:00 247282                     /usr/bin/head",
        )
        .unwrap();
        assert_eq!(l.start, 0x561ea7d0a000);
        assert_eq!(l.end, 0x561ea7d10000);
        assert_eq!(l.perms.to_string(), "r-xp");
        assert_eq!(l.offset, 0x2000);
        assert_eq!((l.dev_major, l.dev_minor), (0xfe, 0));
        assert_eq!(l.inode, 247282);
        assert_eq!(l.path, b"/usr/bin/head");
    }

    #[test]
    fn anonymous_line_with_trailing_space_has_no_path() {
        let l = parse_line(b"7f0000000000-7f0000001000 rw-p 00000000 00:00 0 ").unwrap();
        assert_eq!(l.path, b"");
    }

    #[test]
    fn keeps_spaces_inside_and_after_a_path_and_decodes_newlines() {
        let l = parse_line(b"1000-2000 r--p 00000000 08:01 12 /tmp/a b,c\\012d  ").unwrap();
        assert_eq!(l.path, b"/tmp/a b,c\\012d  ");
        assert_eq!(&*decode_path(l.path), b"/tmp/a b,c\nd  ");
    }

    #[test]
    fn refuses_damaged_lines_with_the_field_named() {
        for (line, what) in [
            (&b"zz-2000 r--p 0 08:01 1"[..], "start address"),
            (
                b"3000-2000 r--p 0 08:01 1",
                "address range (end below start)",
            ),
            (b"1000-2000 r--q 0 08:01 1", "permissions"),
            (b"1000-2000 r--p 0 0801 1", "device"),
            (b"1000-2000 r--p 0 08:01", "inode"),
            (b"1000-2000 r--p 0 08:01 99999999999999999999999", "inode"),
            (b"10000000000000000-2 r--p 0 08:01 1", "start address"),
        ] {
            match parse_line(line) {
                Err(ParseError::Malformed { what: w, .. }) => assert_eq!(w, what),
                other => panic!("{}: {other:?}", String::from_utf8_lossy(line)),
            }
        }
    }

    /// Every maps line of the repository's captures (maps files and smaps headers).
    fn real_lines() -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for (_, text) in crate::linux::captures::files_named("maps") {
            out.extend(
                text.split(|&b| b == b'\n')
                    .filter(|l| {
                        let first = l.split(|&b| b == b' ').next().unwrap_or(&[]);
                        first.contains(&b'-')
                            && first.iter().all(|&b| b == b'-' || b.is_ascii_hexdigit())
                    })
                    .map(<[u8]>::to_vec),
            );
        }
        assert!(out.len() > 300, "maps lines found: {}", out.len());
        out
    }

    fn same(line: &[u8]) {
        let fast = kernel_form(line);
        let general = parse_general(line);
        if let Some(f) = fast {
            assert_eq!(Ok(f), general, "{}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn the_shortcut_agrees_with_the_tokenizer() {
        let lines = real_lines();
        let mut taken = 0;
        for line in &lines {
            same(line);
            taken += usize::from(kernel_form(line).is_some());
            // Every byte changed in turn to what could confuse a field boundary.
            for k in (0..line.len()).step_by(3) {
                for b in [b' ', b'-', b':', b'0', b'f', b'G', b'\t'] {
                    let mut l = line.clone();
                    l[k] = b;
                    same(&l);
                    same(&l[..k]);
                }
            }
        }
        let missed: Vec<String> = lines
            .iter()
            .filter(|l| kernel_form(l).is_none())
            .take(5)
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        assert_eq!(
            taken,
            lines.len(),
            "every real line takes the shortcut: {missed:#?}"
        );
    }

    #[test]
    fn consecutive_regions_share_their_path() {
        let mut out = Vec::new();
        parse(
            b"1000-2000 r--p 00000000 08:01 12 /lib/x.so\n2000-3000 r-xp 00001000 08:01 12 /lib/x.so\n",
            &mut out,
        )
        .unwrap();
        assert_eq!(out.len(), 2);
        let (a, b) = (out[0].path.as_ref().unwrap(), out[1].path.as_ref().unwrap());
        assert!(Arc::ptr_eq(a, b));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// A maps line as the kernel prints it (`show_map_vma`): `%08lx-%08lx %c%c%c%c %08llx
    /// %02x:%02x %lu `, padded to the path column, a newline in the path as `\012`.
    fn render(l: &MapsLine<'_>) -> Vec<u8> {
        let p = l.perms.as_bytes();
        let mut line = format!(
            "{:08x}-{:08x} {}{}{}{} {:08x} {:02x}:{:02x} {} ",
            l.start,
            l.end,
            p[0] as char,
            p[1] as char,
            p[2] as char,
            p[3] as char,
            l.offset,
            l.dev_major,
            l.dev_minor,
            l.inode
        )
        .into_bytes();
        if !l.path.is_empty() {
            while line.len() < 73 {
                line.push(b' ');
            }
            for &b in l.path {
                if b == b'\n' {
                    line.extend_from_slice(b"\\012");
                } else {
                    line.push(b);
                }
            }
        }
        line
    }

    fn path() -> impl Strategy<Value = Vec<u8>> {
        // Absolute paths of any bytes but NUL; a name may not start with a space only because
        // the kernel's own padding would swallow it (every real path starts with '/').
        proptest::collection::vec(1u8..=255, 0..64).prop_map(|mut v| {
            v.retain(|&b| b != b'\\');
            v.insert(0, b'/');
            v
        })
    }

    proptest! {
        /// Render as the kernel does, parse: the same region.
        #[test]
        fn kernel_lines_parse_back(
            start in any::<u64>(), len in any::<u64>(), bits in 0u8..16, offset in any::<u64>(),
            major in 0u32..4096, minor in 0u32..(1 << 20), inode in any::<u64>(),
            anonymous in any::<bool>(), path in path()
        ) {
            let end = start.saturating_add(len);
            let perms = Perms { read: bits & 1 != 0, write: bits & 2 != 0, exec: bits & 4 != 0, shared: bits & 8 != 0 };
            let path = if anonymous { Vec::new() } else { path };
            let want = MapsLine { start, end, perms, offset, dev_major: major, dev_minor: minor, inode, path: &path };
            let line = render(&want);
            let parsed = parse_line(&line).expect("a kernel line parses");
            if inode < 10_000_000_000_000_000_000 {
                prop_assert_eq!(Some(parsed), kernel_form(&line), "the shortcut takes kernel lines");
            }
            prop_assert_eq!((parsed.start, parsed.end, parsed.perms, parsed.offset), (start, end, perms, offset));
            prop_assert_eq!((parsed.dev_major, parsed.dev_minor, parsed.inode), (major, minor, inode));
            prop_assert_eq!(&*decode_path(parsed.path), path.as_slice());
        }
    }
}
