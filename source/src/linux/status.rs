//! Parser for `/proc/PID/status`: the few facts vmpipe takes from it.

use super::ParseError;
use super::maps::decimal;
use super::parse_error::excerpt;

/// The facts taken from `/proc/PID/status`. A field the file lacks is `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusFacts {
    /// `State:` letter (`R`, `S`, `Z`, …).
    pub state: Option<u8>,
    /// `Tgid:`.
    pub tgid: Option<u32>,
    /// `PPid:`.
    pub ppid: Option<u32>,
    /// `Uid:` real uid (first of four).
    pub uid: Option<u32>,
    /// `Threads:`.
    pub threads: Option<u32>,
}

fn number(name: &[u8], value: &[u8]) -> Result<u32, ParseError> {
    decimal(value)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| ParseError::BadValue {
            line: 0,
            field: excerpt(name),
            value: excerpt(value),
        })
}

/// Parses the text of `/proc/PID/status`. Unknown lines are skipped; a known line with a bad
/// value is an error naming the line. The `Name:` line is not used (vmpipe reads `comm`,
/// which holds the raw bytes rather than the kernel's escaped form).
pub fn parse(text: &[u8]) -> Result<StatusFacts, ParseError> {
    let mut facts = StatusFacts::default();
    for (n, line) in text.split(|&b| b == b'\n').enumerate() {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, rest) = (&line[..colon], &line[colon + 1..]);
        let mut values = rest
            .split(|&b| b == b'\t' || b == b' ')
            .filter(|v| !v.is_empty());
        let first = values.next().unwrap_or(&[]);
        let at = |e: ParseError| e.at_line(n + 1);
        match name {
            b"State" => facts.state = first.first().copied(),
            b"Tgid" => facts.tgid = Some(number(name, first).map_err(at)?),
            b"PPid" => facts.ppid = Some(number(name, first).map_err(at)?),
            b"Uid" => facts.uid = Some(number(name, first).map_err(at)?),
            b"Threads" => facts.threads = Some(number(name, first).map_err(at)?),
            _ => {}
        }
    }
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_facts() {
        let f = parse(
            b"Name:\tcat\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t3042\nPPid:\t3037\n\
              Uid:\t1000\t1000\t1000\t1000\nThreads:\t4\n",
        )
        .unwrap();
        assert_eq!(
            f,
            StatusFacts {
                state: Some(b'S'),
                tgid: Some(3042),
                ppid: Some(3037),
                uid: Some(1000),
                threads: Some(4),
            }
        );
    }

    #[test]
    fn a_name_with_a_colon_and_newline_does_not_confuse_it() {
        // The kernel escapes the name in status; even so, a hostile name cannot add fields.
        let f = parse(b"Name:\tPPid: 1\\nUid: 0\nPPid:\t7\nUid:\t5\t5\t5\t5\n").unwrap();
        assert_eq!(f.ppid, Some(7));
        assert_eq!(f.uid, Some(5));
    }

    #[test]
    fn bad_values_name_the_line() {
        let e = parse(b"Name:\tx\nPPid:\tseven\n").unwrap_err();
        assert!(matches!(e, ParseError::BadValue { line: 2, .. }), "{e:?}");
    }
}
