//! Access permissions of a mapping, as `/proc/PID/maps` prints them (`r-xp`).

use std::fmt;

/// The four permission characters of a mapping: read, write, execute, and shared (`s`) or
/// private (`p`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Perms {
    /// `r`: the mapping may be read.
    pub read: bool,
    /// `w`: the mapping may be written.
    pub write: bool,
    /// `x`: the mapping may be executed.
    pub exec: bool,
    /// `s` (shared, `MAP_SHARED`) rather than `p` (private, copy-on-write).
    pub shared: bool,
}

impl Perms {
    /// Parses the four-character field of a maps line (`rw-p`, `r-xs`, `---p`).
    ///
    /// Returns `None` for anything that is not exactly four characters from that alphabet.
    pub fn parse(field: &[u8]) -> Option<Perms> {
        let [r, w, x, s] = field else {
            return None;
        };
        let flag = |c: u8, yes: u8| match c {
            b'-' => Some(false),
            c if c == yes => Some(true),
            _ => None,
        };
        Some(Perms {
            read: flag(*r, b'r')?,
            write: flag(*w, b'w')?,
            exec: flag(*x, b'x')?,
            shared: match s {
                b's' => true,
                b'p' => false,
                _ => return None,
            },
        })
    }

    /// The four characters as the kernel prints them.
    pub fn as_bytes(&self) -> [u8; 4] {
        [
            if self.read { b'r' } else { b'-' },
            if self.write { b'w' } else { b'-' },
            if self.exec { b'x' } else { b'-' },
            if self.shared { b's' } else { b'p' },
        ]
    }

    /// True when nothing may be read, written or executed (`PROT_NONE`).
    pub fn is_none(&self) -> bool {
        !self.read && !self.write && !self.exec
    }
}

impl fmt::Display for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.as_bytes();
        // The four bytes are ASCII by construction.
        f.write_str(std::str::from_utf8(&b).map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_combination() {
        for bits in 0u8..16 {
            let p = Perms {
                read: bits & 1 != 0,
                write: bits & 2 != 0,
                exec: bits & 4 != 0,
                shared: bits & 8 != 0,
            };
            assert_eq!(Perms::parse(&p.as_bytes()), Some(p));
        }
    }

    #[test]
    fn rejects_malformed_fields() {
        for bad in [&b"rwx"[..], b"rwxpp", b"rwxq", b"xwrp", b"", b"r-x "] {
            assert_eq!(
                Perms::parse(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
