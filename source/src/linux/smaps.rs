//! Zero-copy parser for `/proc/PID/smaps`.
//!
//! Each record is a maps header line (see [`super::maps`]) followed by `Name: value [kB]`
//! lines and a `VmFlags:` line. Lines are found with `memchr` in the caller's buffer; nothing
//! is allocated per line. Field names the model knows ([`UsageField`]) are stored in bytes;
//! names it does not know (a newer kernel's) are kept as text in
//! [`Usage::other`](crate::model::Usage::other), so a new kernel never breaks a sweep. `Size`
//! is checked for form only (see below). Records in the kernel's usual form take a learned
//! shortcut (see [`parse`]); anything else takes the general path, with the same outcome.

use std::sync::Arc;

use memchr::memchr;

use super::ParseError;
use super::maps::{self, RegionBuilder};
use super::parse_error::excerpt;
use crate::budget::{Budget, OverBudget};
use crate::model::{Region, UsageField};

/// Parses a whole smaps file, appending one region per record to `out`. On a malformed line
/// the regions before it stay in `out` (the last one possibly incomplete) and the error names
/// the line (1-based).
///
/// The kernel prints the same fields in the same order for every record, so the parser learns
/// which field follows which and first tries the one it expects: one comparison of the name,
/// then the padded number read in place, the line's end found on the way. A line that does not
/// fit that mould exactly (another field, tabs, CR, a damaged value) takes the general path,
/// which accepts and refuses exactly what it would have without the shortcut.
pub fn parse(text: &[u8], out: &mut Vec<Region>) -> Result<(), ParseError> {
    parse_with(text, out, true, &mut Budget::per_process())
}

/// [`parse`], charging the regions, their paths, `VmFlags` values and unknown fields to
/// `budget`: past it, the regions before the line stay in `out` and the error is
/// [`ParseError::OverBudget`].
pub fn parse_budgeted(
    text: &[u8],
    out: &mut Vec<Region>,
    budget: &mut Budget,
) -> Result<(), ParseError> {
    parse_with(text, out, true, budget)
}

/// [`parse`] without the learned shortcut: the general path alone, which [`parse`] must agree
/// with on any input (the tests and the fuzz target hold them to it).
#[doc(hidden)]
pub fn parse_general(text: &[u8], out: &mut Vec<Region>) -> Result<(), ParseError> {
    parse_with(text, out, false, &mut Budget::per_process())
}

/// [`parse`], with the learned shortcut on or off (the tests hold one to the other).
fn parse_with(
    text: &[u8],
    out: &mut Vec<Region>,
    shortcut: bool,
    budget: &mut Budget,
) -> Result<(), ParseError> {
    let first = out.len();
    // A record is 700-900 bytes on current kernels: room for every region at once (pages of
    // the vector never written are never touched, so an overestimate costs no memory), within
    // what the budget could pay for.
    maps::reserve_within(out, text.len() / 512 + 1, budget);
    let mut builder = RegionBuilder::new(budget);
    // next[slot]: the slot of the line that followed `slot` last time.
    let mut next = [NO_SLOT; SLOTS + 1];
    let mut flags = FlagsCache::default();
    let mut prev = HEADER;
    let mut pos = 0;
    let mut n = 0;
    while pos < text.len() {
        n += 1;
        let guess = next[usize::from(prev)];
        if shortcut
            && usize::from(guess) < SLOTS
            && out.len() > first
            && let Some(after) = fast_line(text, pos, guess, out, &mut flags, builder.budget())
        {
            pos = after;
            prev = guess;
            continue;
        }
        let end = memchr(b'\n', &text[pos..]).map_or(text.len(), |i| pos + i);
        let line = &text[pos..end];
        pos = end + 1;
        if line.is_empty() {
            continue;
        }
        // A field line's first token ends with ':'; a header's first token is `start-end`.
        let sep = line.iter().position(|&b| b == b':' || b == b' ');
        let slot = match sep {
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
                field(
                    region,
                    &line[..i],
                    &line[i + 1..],
                    &mut flags,
                    builder.budget(),
                )
                .map_err(|e| e.at_line(n))?;
                slot_of(&line[..i])
            }
            _ => {
                let header = maps::parse_line(line).map_err(|e| e.at_line(n))?;
                let region = builder
                    .region(&header)
                    .map_err(|e| ParseError::OverBudget {
                        line: n,
                        limit: e.limit,
                    })?;
                out.push(region);
                HEADER
            }
        };
        if slot != NO_SLOT {
            next[usize::from(prev)] = slot;
            prev = slot;
        }
    }
    Ok(())
}

/// Slots of the fields the fast path knows: `UsageField as u8` for the model's fields, then
/// `Size` and `VmFlags`; [`HEADER`] stands for a record's header line.
const SLOTS: usize = UsageField::ALL.len() + 2;
const SIZE: u8 = UsageField::ALL.len() as u8;
const VM_FLAGS: u8 = SIZE + 1;
const HEADER: u8 = SLOTS as u8;
const NO_SLOT: u8 = u8::MAX;

/// A field name as printed, colon included, in a fixed buffer (so that the table is built
/// at compile time from the model's).
#[derive(Clone, Copy)]
struct SlotName {
    bytes: [u8; SlotName::MAX],
    len: usize,
}

impl SlotName {
    /// The longest name with its colon.
    const MAX: usize = 24;

    /// `name` + `:`; empty for an empty name (a figure the kernel does not print).
    const fn of(name: &str) -> SlotName {
        let name = name.as_bytes();
        let mut bytes = [0; SlotName::MAX];
        if name.is_empty() {
            return SlotName { bytes, len: 0 };
        }
        assert!(name.len() < SlotName::MAX);
        let mut i = 0;
        while i < name.len() {
            bytes[i] = name[i];
            i += 1;
        }
        bytes[i] = b':';
        SlotName { bytes, len: i + 1 }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Each slot's name as printed, colon included: the model's smaps names (`Dirty` is no smaps
/// field: empty, never guessed), then `Size:` and `VmFlags:`.
const NAMES: [SlotName; SLOTS] = {
    let mut names = [SlotName::of(""); SLOTS];
    let mut i = 0;
    while i < UsageField::ALL.len() {
        names[i] = SlotName::of(UsageField::ALL[i].smaps_name());
        i += 1;
    }
    names[SIZE as usize] = SlotName::of("Size");
    names[VM_FLAGS as usize] = SlotName::of("VmFlags");
    names
};

/// The slot of a field name (without its colon), or [`NO_SLOT`].
fn slot_of(name: &[u8]) -> u8 {
    match UsageField::from_smaps_name(name) {
        Some(f) => f as u8,
        None if name == b"Size" => SIZE,
        None if name == b"VmFlags" => VM_FLAGS,
        None => NO_SLOT,
    }
}

/// Eight spaces, as one little-endian word.
const SPACES8: u64 = u64::from_le_bytes(*b"        ");

/// The 8 bytes of `b` at `at` as one little-endian word, if there are 8.
#[inline]
fn load8(b: &[u8], at: usize) -> Option<u64> {
    let w: [u8; 8] = b.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(w))
}

/// `rest.starts_with(name)` for a name of 1 to 16 bytes, by two overlapping word compares
/// rather than a `memcmp` call (this runs once per smaps line). False for an empty name.
#[inline]
fn starts_with_name(rest: &[u8], name: &[u8]) -> bool {
    let n = name.len();
    if n == 0 || n > 16 || rest.len() < n {
        return name.len() > 16 && rest.starts_with(name);
    }
    if n < 8 {
        return rest[..n] == *name;
    }
    load8(rest, 0) == load8(name, 0) && load8(rest, n - 8) == load8(name, n - 8)
}

/// Parses the line at `pos` if it is field `slot` in the kernel's exact form (`Name:`, spaces,
/// digits, ` kB` for kB fields, `\n` or the end of the text) and applies it to the last region;
/// returns where the next line starts. `None` leaves everything as it was.
fn fast_line(
    text: &[u8],
    pos: usize,
    slot: u8,
    out: &mut [Region],
    flags: &mut FlagsCache,
    budget: &mut Budget,
) -> Option<usize> {
    let name = NAMES[usize::from(slot)].as_bytes();
    let rest = text.get(pos..)?;
    if !starts_with_name(rest, name) {
        return None;
    }
    let region = out.last_mut()?;
    let mut i = name.len();
    if slot == VM_FLAGS {
        let end = memchr(b'\n', &rest[i..]).map_or(rest.len(), |e| i + e);
        field(region, b"VmFlags", &rest[i..end], flags, budget).ok()?;
        return Some(pos + end + 1);
    }
    while load8(rest, i) == Some(SPACES8) {
        i += 8;
    }
    while rest.get(i) == Some(&b' ') {
        i += 1;
    }
    let digits = i;
    let mut v: u64 = 0;
    // 19 digits always fit in a u64; a longer number takes the general path (overflow check).
    while let Some(d) = rest.get(i).filter(|b| b.is_ascii_digit()) {
        if i - digits == 19 {
            return None;
        }
        v = v * 10 + u64::from(d - b'0');
        i += 1;
    }
    if i == digits {
        return None;
    }
    let tail = &rest[i..];
    let (kb, len) = if tail.starts_with(b" kB\n") {
        (true, 4)
    } else if tail == b" kB" {
        (true, 3)
    } else if tail.starts_with(b"\n") {
        (false, 1)
    } else if tail.is_empty() {
        (false, 0)
    } else {
        return None;
    };
    if slot == SIZE {
        // Checked for form only, as in `field`.
        return kb.then_some(pos + i + len);
    }
    let f = UsageField::ALL[usize::from(slot)];
    if f.in_kb() != kb {
        return None;
    }
    let bytes = if kb { v.checked_mul(1024)? } else { v };
    region.usage.set(f, bytes);
    Some(pos + i + len)
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

/// The `VmFlags` values of one file seen last: most regions of a process share a handful, so
/// each distinct one is checked as UTF-8 and allocated once and the regions share it.
#[derive(Default)]
struct FlagsCache {
    recent: Vec<Arc<str>>,
}

impl FlagsCache {
    const KEEP: usize = 8;

    /// The shared value for `value`; `None` if it is not UTF-8. A new value is charged to
    /// `budget`.
    fn get(&mut self, value: &[u8], budget: &mut Budget) -> Result<Option<Arc<str>>, OverBudget> {
        if let Some(f) = self.recent.iter().find(|f| f.as_bytes() == value) {
            return Ok(Some(f.clone()));
        }
        let Ok(text) = std::str::from_utf8(value) else {
            return Ok(None);
        };
        budget.charge(text.len() + maps::SHARED_COST)?;
        let f: Arc<str> = Arc::from(text);
        if self.recent.len() == Self::KEEP {
            self.recent.pop();
        }
        self.recent.insert(0, f.clone());
        Ok(Some(f))
    }
}

/// Applies one `Name: value` line to `region`.
fn field(
    region: &mut Region,
    name: &[u8],
    value: &[u8],
    flags: &mut FlagsCache,
    budget: &mut Budget,
) -> Result<(), ParseError> {
    let value = trim_spaces(value);
    let bad = || ParseError::BadValue {
        line: 0,
        field: excerpt(name),
        value: excerpt(value),
    };
    if name == b"VmFlags" {
        let shared = flags.get(value, budget).map_err(|e| over(e.limit))?;
        region.vm_flags = Some(shared.ok_or_else(bad)?);
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
        return keep_other(region, name, value, budget);
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
        None => keep_other(region, name, value, budget),
    }
}

/// An over-budget error, placed at its line by the caller.
fn over(limit: usize) -> ParseError {
    ParseError::OverBudget { line: 0, limit }
}

/// What keeping one unknown field costs beyond its bytes: its entry in the list.
const OTHER_COST: usize = std::mem::size_of::<(Box<str>, Box<str>)>();

fn keep_other(
    region: &mut Region,
    name: &[u8],
    value: &[u8],
    budget: &mut Budget,
) -> Result<(), ParseError> {
    let utf8 = |b: &[u8]| std::str::from_utf8(b).map(Box::<str>::from);
    match (utf8(name), utf8(value)) {
        (Ok(n), Ok(v)) => {
            budget
                .charge(n.len() + v.len() + OTHER_COST)
                .map_err(|e| over(e.limit))?;
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
    use proptest::prelude::*;

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

    /// Every smaps capture in the repository, and the benchmark's.
    fn real_inputs() -> Vec<(std::path::PathBuf, Vec<u8>)> {
        let out = crate::linux::captures::files_named("smaps");
        assert!(out.len() >= 3, "smaps fixtures found: {}", out.len());
        out
    }

    /// A parse's regions and result.
    type Parsed = (Vec<Region>, Result<(), ParseError>);

    /// The same text parsed with the shortcut and without.
    fn both(text: &[u8]) -> (Parsed, Parsed) {
        let mut fast = Vec::new();
        let rf = parse_with(text, &mut fast, true, &mut Budget::per_process());
        let mut general = Vec::new();
        let rg = parse_with(text, &mut general, false, &mut Budget::per_process());
        ((fast, rf), (general, rg))
    }

    #[test]
    fn the_shortcut_changes_nothing_on_real_captures() {
        for (path, text) in real_inputs() {
            let ((fast, rf), (general, rg)) = both(&text);
            assert_eq!(format!("{rf:?}"), format!("{rg:?}"), "{}", path.display());
            assert_eq!(fast, general, "{}", path.display());
            // Damaged copies: every 7th byte changed in turn, cut at odd places.
            for k in (0..text.len()).step_by(text.len() / 97 + 1) {
                for b in [b' ', b'\n', b'9', b'x', b'\t', b':', b'\r'] {
                    let mut t = text[..text.len().min(k + 4000)].to_vec();
                    t[k] = b;
                    let ((fast, rf), (general, rg)) = both(&t);
                    assert_eq!(
                        format!("{rf:?}"),
                        format!("{rg:?}"),
                        "{} byte {k} = {b}",
                        path.display()
                    );
                    assert_eq!(fast, general, "{} byte {k} = {b}", path.display());
                }
            }
        }
    }

    #[test]
    fn name_prefix_compare() {
        let names: &[&[u8]] = &[
            b"Rss:",
            b"Pss_Dirty:",
            b"Private_Hugetlb:",
            b"KernelPageSize:",
        ];
        let lines: &[&[u8]] = &[
            b"Rss:     4 kB",
            b"Rss",
            b"Pss_Dirty:  0 kB",
            b"Pss_Dirtx:  0 kB",
            b"Private_Hugetlb:  0 kB",
            b"Private_Hugetlc:",
            b"KernelPageSize:",
            b"XernelPageSize:",
            b"",
        ];
        for name in names {
            for line in lines {
                assert_eq!(
                    starts_with_name(line, name),
                    line.starts_with(name),
                    "{line:?}"
                );
            }
        }
        assert!(!starts_with_name(b"x", b""));
        assert!(starts_with_name(
            b"A_name_longer_than_16:",
            b"A_name_longer_than_16:"
        ));
    }

    #[test]
    fn slot_names_are_the_models() {
        for (i, f) in UsageField::ALL.iter().enumerate() {
            if *f == UsageField::Dirty {
                assert!(NAMES[i].as_bytes().is_empty());
                continue;
            }
            assert_eq!(
                NAMES[i].as_bytes(),
                format!("{}:", f.smaps_name()).as_bytes()
            );
            assert_eq!(slot_of(f.smaps_name().as_bytes()), i as u8);
        }
        assert_eq!(NAMES[usize::from(SIZE)].as_bytes(), b"Size:");
        assert_eq!(NAMES[usize::from(VM_FLAGS)].as_bytes(), b"VmFlags:");
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

    proptest! {
        /// Any edit of a real record: the shortcut and the general path agree.
        #[test]
        fn the_shortcut_changes_nothing_on_edited_records(
            edits in proptest::collection::vec((0usize..2000, prop_oneof![
                Just(b' '), Just(b'\n'), Just(b'0'), Just(b'k'), Just(b'B'), Just(b':'),
                Just(b'\t'), any::<u8>()]), 1..6),
            cut in 0usize..2000,
        ) {
            let mut t = TWO.to_vec();
            t.extend_from_slice(TWO);
            for (at, b) in edits {
                let at = at % t.len();
                t[at] = b;
            }
            t.truncate(cut.max(1).min(t.len()));
            let ((fast, rf), (general, rg)) = both(&t);
            prop_assert_eq!(format!("{rf:?}"), format!("{rg:?}"));
            prop_assert_eq!(fast, general);
        }
    }
}
