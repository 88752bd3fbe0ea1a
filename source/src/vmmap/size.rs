//! Sizes, counts and percentages as vmmap prints them.
//!
//! vmmap prints a size as a decimal number with an optional binary suffix: `24K`, `56.0M`,
//! `1.2G`, `0K`; below 4 KiB recent versions print bare bytes (`2784`). A report made with
//! `-pages` prints page counts instead (`2048`), with byte sizes still suffixed (`17K`).
//! The printed value is rounded to the nearest unit of its last digit, so every size also
//! carries how far the true value may be from it ([`Size::tolerance`]).

/// A size read from a report: the value in bytes and how far the true value may be from it
/// because of the report's display rounding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Size {
    /// The value in bytes.
    pub bytes: u64,
    /// Half a unit of the printed value's last digit, in bytes (`56.0M` → 0.05 MiB, `592K` →
    /// 512, bare bytes and page counts → 0).
    pub tolerance: u64,
}

/// Parses a size as vmmap prints it (`"24K"`, `"56.0M"`, `"1.2G"`, `"2784"` bare bytes,
/// `"0K"`) into bytes. Suffixes `K`, `M`, `G`, `T`, `P` are binary (1024). Returns `None` for
/// anything else (signs, exponents, empty text, a fraction without a suffix, overflow).
///
/// A bare number is bytes; for a report made with `-pages`, use [`parse_size_in`].
///
/// ```
/// use vmpipe_source::vmmap::parse_size;
/// assert_eq!(parse_size("24K"), Some(24 * 1024));
/// assert_eq!(parse_size("56.0M"), Some(56 * 1024 * 1024));
/// assert_eq!(parse_size("2784"), Some(2784));
/// assert_eq!(parse_size("1.5"), None);
/// ```
pub fn parse_size(s: &str) -> Option<u64> {
    parse_size_in(s, None)
}

/// Parses a size like [`parse_size`], except that when `page_size` is `Some`, a bare number
/// is a count of pages of that size (as in a report made with `vmmap -pages`) rather than
/// bytes. Suffixed values (`17K`) are bytes either way.
///
/// ```
/// use vmpipe_source::vmmap::parse_size_in;
/// assert_eq!(parse_size_in("2048", Some(4096)), Some(2048 * 4096));
/// assert_eq!(parse_size_in("17K", Some(4096)), Some(17 * 1024));
/// assert_eq!(parse_size_in("2048", None), Some(2048));
/// ```
pub fn parse_size_in(s: &str, page_size: Option<u64>) -> Option<u64> {
    parse_size_token(s, page_size).map(|size| size.bytes)
}

/// Parses a size token with its display tolerance. See [`parse_size_in`].
pub(crate) fn parse_size_token(s: &str, page_size: Option<u64>) -> Option<Size> {
    let s = trim(s).as_bytes();
    let shift = match s.last()?.to_ascii_uppercase() {
        b'K' => 10,
        b'M' => 20,
        b'G' => 30,
        b'T' => 40,
        b'P' => 50,
        b'0'..=b'9' => 0,
        _ => return None,
    };
    let number = if shift == 0 { s } else { s.get(..s.len() - 1)? };
    // Tokens are short: a plain search beats memchr's set-up.
    let (int_part, frac_part) = match number.iter().position(|&b| b == b'.') {
        Some(dot) => (number.get(..dot)?, Some(number.get(dot + 1..)?)),
        None => (number, None),
    };
    let int_value = digits(int_part, 20)?;
    if shift == 0 {
        // Bare number: whole bytes, or whole pages for a -pages report.
        if frac_part.is_some() {
            return None;
        }
        let n = u64::try_from(int_value).ok()?;
        return match page_size {
            Some(page) => Some(Size {
                bytes: n.checked_mul(page)?,
                tolerance: 0,
            }),
            None => Some(Size {
                bytes: n,
                tolerance: 0,
            }),
        };
    }
    let unit = 1u64 << shift;
    let (frac_len, frac_value) = match frac_part {
        // At most 9 fraction digits: the scale and the fraction fit in a u64.
        Some(f) => (f.len(), u64::try_from(digits(f, 9)?).ok()?),
        None => (0, 0),
    };
    let scale = 10u64.checked_pow(u32::try_from(frac_len).ok()?)?;
    // Up to 20 integer digits times the scale and the unit may exceed a u64: u128 here, and
    // the division in u64 whenever the dividend fits (nearly always).
    let numerator = int_value
        .checked_mul(u128::from(scale))?
        .checked_add(u128::from(frac_value))?
        .checked_mul(u128::from(unit))?;
    let rounded = numerator.checked_add(u128::from(scale / 2))?;
    let bytes = match u64::try_from(rounded) {
        Ok(r) => div_pow10(r, frac_len, false),
        Err(_) => u64::try_from(rounded / u128::from(scale)).ok()?,
    };
    Some(Size {
        bytes,
        // Half a unit of the last digit: unit / (2 × scale), rounded up.
        tolerance: div_pow10(unit, frac_len, true),
    })
}

/// The value of 1 to `max` ASCII digits; `None` for anything else (or beyond a u128).
#[inline]
fn digits(d: &[u8], max: usize) -> Option<u128> {
    if d.is_empty() || d.len() > max {
        return None;
    }
    let (head, tail) = d.split_at(d.len().min(19));
    // 19 digits are below 10^19 < 2^64: no overflow in u64.
    let mut v = 0u64;
    for &c in head {
        let x = c.wrapping_sub(b'0');
        if x > 9 {
            return None;
        }
        v = v * 10 + u64::from(x);
    }
    let mut v = u128::from(v);
    for &c in tail {
        let x = c.wrapping_sub(b'0');
        if x > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u128::from(x))?;
    }
    Some(v)
}

/// `x / 10^digits`, or `x / (2 × 10^digits)` rounded up when `half_up`, for `digits` up to
/// 9 (a division by a constant is a multiplication; a division by a variable is not).
#[inline(always)]
fn div_pow10(x: u64, digits: usize, half_up: bool) -> u64 {
    fn div<const D: u64>(x: u64, half_up: bool) -> u64 {
        if half_up { x.div_ceil(2 * D) } else { x / D }
    }
    match digits {
        0 => div::<1>(x, half_up),
        1 => div::<10>(x, half_up),
        2 => div::<100>(x, half_up),
        3 => div::<1_000>(x, half_up),
        4 => div::<10_000>(x, half_up),
        5 => div::<100_000>(x, half_up),
        6 => div::<1_000_000>(x, half_up),
        7 => div::<10_000_000>(x, half_up),
        8 => div::<100_000_000>(x, half_up),
        _ => div::<1_000_000_000>(x, half_up),
    }
}

/// `s.trim()`, without its cost when `s` starts and ends with a visible ASCII byte (a
/// token always does).
fn trim(s: &str) -> &str {
    match s.as_bytes() {
        [first, .., last] | [first @ last]
            if first.is_ascii_graphic() && last.is_ascii_graphic() =>
        {
            s
        }
        _ => s.trim(),
    }
}

/// Parses a plain count (`"7081"`); `None` for anything but 1 to 20 ASCII digits that fit.
pub(crate) fn parse_count(s: &str) -> Option<u64> {
    let s = s.trim();
    if !is_digits(s, 20) {
        return None;
    }
    s.parse().ok()
}

/// Parses a percentage (`"98%"`, `"0%"`, `"12.5%"`) into its number (98.0).
pub(crate) fn parse_percent(s: &str) -> Option<f64> {
    let number = s.trim().strip_suffix('%')?;
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (number, None),
    };
    if !is_digits(int_part, 6) || frac_part.is_some_and(|f| !is_digits(f, 6)) {
        return None;
    }
    number.parse().ok()
}

/// True when `s` may be a value cell of a vmmap table: a size, a count or a percentage.
pub(crate) fn is_value_like(s: &str) -> bool {
    parse_size_token(s, None).is_some() || parse_percent(s).is_some()
}

/// True when `s` is 1 to `max` ASCII digits.
fn is_digits(s: &str, max: usize) -> bool {
    is_digit_bytes(s.as_bytes(), max)
}

/// True when `s` is 1 to `max` ASCII digits.
fn is_digit_bytes(s: &[u8], max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size reader as it was before it was made faster.
    fn parse_size_token_reference(s: &str, page_size: Option<u64>) -> Option<Size> {
        let s = s.trim();
        let shift = match s.as_bytes().last()?.to_ascii_uppercase() {
            b'K' => 10,
            b'M' => 20,
            b'G' => 30,
            b'T' => 40,
            b'P' => 50,
            b'0'..=b'9' => 0,
            _ => return None,
        };
        // A suffix is one ASCII byte, so cutting it leaves a valid `str`.
        let (number, unit) = if shift == 0 {
            (s, 0u128)
        } else {
            (s.get(..s.len() - 1)?, 1u128 << shift)
        };
        let (int_part, frac_part) = match number.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (number, None),
        };
        if !super::is_digits(int_part, 20) {
            return None;
        }
        if unit == 0 {
            // Bare number: whole bytes, or whole pages for a -pages report.
            if frac_part.is_some() {
                return None;
            }
            let n: u64 = int_part.parse().ok()?;
            return match page_size {
                Some(page) => Some(Size {
                    bytes: n.checked_mul(page)?,
                    tolerance: 0,
                }),
                None => Some(Size {
                    bytes: n,
                    tolerance: 0,
                }),
            };
        }
        let frac = frac_part.unwrap_or("");
        if frac_part.is_some() && !super::is_digits(frac, 9) {
            return None;
        }
        let scale = 10u128.checked_pow(u32::try_from(frac.len()).ok()?)?;
        let int_value: u128 = int_part.parse().ok()?;
        let frac_value: u128 = if frac.is_empty() {
            0
        } else {
            frac.parse().ok()?
        };
        let numerator = int_value
            .checked_mul(scale)?
            .checked_add(frac_value)?
            .checked_mul(unit)?;
        let bytes = numerator.checked_add(scale / 2)? / scale;
        let tolerance = unit.div_ceil(scale.checked_mul(2)?);
        Some(Size {
            bytes: u64::try_from(bytes).ok()?,
            tolerance: u64::try_from(tolerance).ok()?,
        })
    }

    /// Same sizes and tolerances as the reference reader, on every token shape around the
    /// limits (digits, fractions, suffixes, overflow, whitespace, junk).
    #[test]
    fn same_as_the_reference_reader() {
        let ints = [
            "",
            "0",
            "1",
            "7",
            "12",
            "999",
            "1023",
            "4096",
            "65535",
            "123456789",
            "4294967296",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999",
            "999999999999999999999",
            "00000000000000000001",
        ];
        let fracs = [
            None,
            Some(""),
            Some("0"),
            Some("5"),
            Some("05"),
            Some("125"),
            Some("1234"),
            Some("12345"),
            Some("123456"),
            Some("1234567"),
            Some("12345678"),
            Some("999999999"),
            Some("1234567890"),
            Some("x"),
        ];
        let suffixes = ["", "K", "k", "M", "m", "G", "T", "P", "p", "B", "%", "KB"];
        let mut n = 0;
        for int in ints {
            for frac in fracs {
                for suffix in suffixes {
                    let body = match frac {
                        Some(f) => format!("{int}.{f}{suffix}"),
                        None => format!("{int}{suffix}"),
                    };
                    for text in [body.clone(), format!(" {body}\t"), format!("{body}\u{a0}")] {
                        for page in [None, Some(4096), Some(u64::MAX)] {
                            assert_eq!(
                                parse_size_token(&text, page),
                                parse_size_token_reference(&text, page),
                                "{text:?} {page:?}"
                            );
                            n += 1;
                        }
                    }
                }
            }
        }
        assert!(n > 10_000);
    }

    #[test]
    fn suffixed_sizes_are_binary() {
        assert_eq!(parse_size("0K"), Some(0));
        assert_eq!(parse_size("24K"), Some(24 * 1024));
        assert_eq!(parse_size("8192K"), Some(8 * 1024 * 1024));
        assert_eq!(parse_size("56.0M"), Some(56 << 20));
        assert_eq!(parse_size("28.0G"), Some(28 << 30));
        assert_eq!(parse_size("1T"), Some(1 << 40));
        // 1.2 GiB = 1288490188.8 bytes, rounded to the nearest byte.
        assert_eq!(parse_size("1.2G"), Some(1_288_490_189));
        assert_eq!(parse_size("70.8M"), Some(74_239_181));
    }

    #[test]
    fn bare_numbers_are_bytes_or_pages() {
        assert_eq!(parse_size("2784"), Some(2784));
        assert_eq!(parse_size("0"), Some(0));
        assert_eq!(parse_size_in("14336", Some(4096)), Some(14336 * 4096));
        assert_eq!(parse_size_in("15K", Some(16384)), Some(15 * 1024));
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in [
            "",
            " ",
            "K",
            "-4K",
            "+4K",
            "4.K",
            ".5K",
            "1e3",
            "1.5",
            "NaN",
            "inf",
            "4KB",
            "4 K",
            "0x10",
            "1.2.3M",
            "４K",
            "99999999999999999999999K",
            "18446744073709551616",
        ] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
        assert_eq!(parse_size_in("18446744073709551615", Some(2)), None);
        assert_eq!(parse_size("99999999P"), None);
    }

    #[test]
    fn tolerance_is_half_a_unit_of_the_last_digit() {
        let t = |s| parse_size_token(s, None).map(|x| x.tolerance);
        assert_eq!(t("592K"), Some(512));
        assert_eq!(t("56.0M"), Some(52429));
        assert_eq!(t("2784"), Some(0));
        assert_eq!(t("1.5G"), Some(53_687_092));
        assert_eq!(
            parse_size_token("12", Some(4096)).map(|x| x.tolerance),
            Some(0)
        );
    }

    #[test]
    fn counts_and_percentages() {
        assert_eq!(parse_count("7081"), Some(7081));
        assert_eq!(parse_count("7K"), None);
        assert_eq!(parse_count(""), None);
        assert_eq!(parse_percent("98%"), Some(98.0));
        assert_eq!(parse_percent("12.5%"), Some(12.5));
        assert_eq!(parse_percent("%"), None);
        assert_eq!(parse_percent("-1%"), None);
        assert!(is_value_like("0%") && is_value_like("4K") && is_value_like("12"));
        assert!(!is_value_like("FULL") && !is_value_like("%"));
    }
}
