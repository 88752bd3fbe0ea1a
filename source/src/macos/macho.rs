//! The segments of a Mach-O image, from its header and load commands as they lie in the
//! target's memory at the image's load address (parsed with the `object` crate).
//!
//! Only the header and the `LC_SEGMENT`/`LC_SEGMENT_64` commands are read — never the rest of
//! the file — so an image from the dyld shared cache (whose load commands give the cache's
//! addresses) is read the same way as one loaded from its own file. The runtime address of a
//! segment is its `vmaddr` plus the image's slide, the difference between the load address
//! and the `vmaddr` of the segment that maps the start of the file (`__TEXT`).

use object::macho::{MachHeader32, MachHeader64};
use object::read::macho::{MachHeader, Segment as _};
use object::{Endianness, Pod};
use thiserror::Error;

/// Size of `mach_header`.
pub const HEADER_32_SIZE: usize = 28;
/// Size of `mach_header_64`.
pub const HEADER_64_SIZE: usize = 32;
/// The largest load-command table read (`sizeofcmds`); real images have a few KiB.
pub const MAX_LOAD_COMMANDS_SIZE: u32 = 1 << 20;

/// Why an image's segments could not be read.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum MachoError {
    /// Not a Mach-O header (wrong magic: not an image, or memory was reused).
    #[error("no Mach-O header (magic {0:#010x})")]
    BadMagic(u32),
    /// The load commands do not fit in the bytes given.
    #[error("Mach-O load commands truncated: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes the header says it needs.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// A load-command table larger than [`MAX_LOAD_COMMANDS_SIZE`].
    #[error("Mach-O load commands of {0} bytes: larger than vmpipe reads")]
    TooLarge(u32),
    /// A load command that does not parse.
    #[error("bad Mach-O load command: {0}")]
    BadCommand(String),
    /// No segment maps the start of the file, so the slide is unknown.
    #[error("no segment maps file offset 0 (no __TEXT)")]
    NoText,
}

/// What the first bytes of an image say about the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderShape {
    /// 64-bit header (`MH_MAGIC_64`/`MH_CIGAM_64`).
    pub is_64: bool,
    /// Header size in bytes.
    pub header_size: usize,
    /// `sizeofcmds`: the bytes of load commands after the header.
    pub sizeofcmds: u32,
}

impl HeaderShape {
    /// Header plus load commands: how many bytes to read at the load address.
    pub fn total(&self) -> usize {
        self.header_size + self.sizeofcmds as usize
    }
}

/// Reads the shape of a Mach-O header from its first bytes (at least [`HEADER_64_SIZE`] for a
/// 64-bit image, [`HEADER_32_SIZE`] for a 32-bit one).
pub fn header_shape(bytes: &[u8]) -> Result<HeaderShape, MachoError> {
    let magic = bytes
        .get(..4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes)
        .ok_or(MachoError::Truncated {
            need: 4,
            have: bytes.len(),
        })?;
    let (is_64, header_size, big) = match magic {
        0xfeed_facf => (true, HEADER_64_SIZE, false),
        0xcffa_edfe => (true, HEADER_64_SIZE, true),
        0xfeed_face => (false, HEADER_32_SIZE, false),
        0xcefa_edfe => (false, HEADER_32_SIZE, true),
        other => return Err(MachoError::BadMagic(other)),
    };
    // sizeofcmds is the sixth 32-bit word.
    let word = bytes
        .get(20..24)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .ok_or(MachoError::Truncated {
            need: header_size,
            have: bytes.len(),
        })?;
    let sizeofcmds = if big {
        u32::from_be_bytes(word)
    } else {
        u32::from_le_bytes(word)
    };
    if sizeofcmds > MAX_LOAD_COMMANDS_SIZE {
        return Err(MachoError::TooLarge(sizeofcmds));
    }
    Ok(HeaderShape {
        is_64,
        header_size,
        sizeofcmds,
    })
}

/// One segment of an image, at its runtime address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// `segname` (`__TEXT`, `__DATA_CONST`, …), lossily as UTF-8.
    pub name: Box<str>,
    /// Runtime start (`vmaddr` + slide).
    pub start: u64,
    /// Runtime end.
    pub end: u64,
    /// Offset of the segment's data in the file.
    pub fileoff: u64,
}

/// Parses the segments of an image whose header and load commands are `bytes`, loaded at
/// `load_address`. Segments with no size are left out (they map nothing).
pub fn segments(bytes: &[u8], load_address: u64) -> Result<Vec<Segment>, MachoError> {
    let shape = header_shape(bytes)?;
    if bytes.len() < shape.total() {
        return Err(MachoError::Truncated {
            need: shape.total(),
            have: bytes.len(),
        });
    }
    let raw = if shape.is_64 {
        raw_segments::<MachHeader64<Endianness>>(bytes)?
    } else {
        raw_segments::<MachHeader32<Endianness>>(bytes)?
    };
    let text = raw
        .iter()
        .find(|s| s.fileoff == 0 && s.filesize > 0)
        .ok_or(MachoError::NoText)?;
    let slide = load_address.wrapping_sub(text.vmaddr);
    Ok(raw
        .iter()
        .filter(|s| s.vmsize > 0)
        .map(|s| {
            let start = s.vmaddr.wrapping_add(slide);
            Segment {
                name: String::from_utf8_lossy(&s.name).into(),
                start,
                end: start.saturating_add(s.vmsize),
                fileoff: s.fileoff,
            }
        })
        .collect())
}

struct RawSegment {
    name: Vec<u8>,
    vmaddr: u64,
    vmsize: u64,
    fileoff: u64,
    filesize: u64,
}

fn raw_segments<H: MachHeader<Endian = Endianness> + Pod>(
    bytes: &[u8],
) -> Result<Vec<RawSegment>, MachoError> {
    let bad = |e: object::Error| MachoError::BadCommand(e.to_string());
    let header = H::parse(bytes, 0).map_err(bad)?;
    let endian = header.endian().map_err(bad)?;
    let mut commands = header.load_commands(endian, bytes, 0).map_err(bad)?;
    let mut out = Vec::new();
    // The iterator stops after `ncmds` commands or when the table ends: bounded by
    // sizeofcmds (each command is at least 8 bytes).
    while let Some(command) = commands.next().map_err(bad)? {
        if let Some((seg, _)) = H::Segment::from_command(command).map_err(bad)? {
            out.push(RawSegment {
                name: seg.name().to_vec(),
                vmaddr: seg.vmaddr(endian).into(),
                vmsize: seg.vmsize(endian).into(),
                fileoff: seg.fileoff(endian).into(),
                filesize: seg.filesize(endian).into(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod build {
    //! A minimal little-endian 64-bit Mach-O header with segment commands, for tests.

    /// `(name, vmaddr, vmsize, fileoff, filesize)` → header + `LC_SEGMENT_64` commands.
    pub fn image(segments: &[(&str, u64, u64, u64, u64)]) -> Vec<u8> {
        let mut cmds = Vec::new();
        for (name, vmaddr, vmsize, fileoff, filesize) in segments {
            cmds.extend_from_slice(&0x19u32.to_le_bytes()); // LC_SEGMENT_64
            cmds.extend_from_slice(&72u32.to_le_bytes());
            let mut segname = [0u8; 16];
            segname[..name.len()].copy_from_slice(name.as_bytes());
            cmds.extend_from_slice(&segname);
            for v in [vmaddr, vmsize, fileoff, filesize] {
                cmds.extend_from_slice(&v.to_le_bytes());
            }
            cmds.extend_from_slice(&7i32.to_le_bytes()); // maxprot
            cmds.extend_from_slice(&5i32.to_le_bytes()); // initprot
            cmds.extend_from_slice(&0u32.to_le_bytes()); // nsects
            cmds.extend_from_slice(&0u32.to_le_bytes()); // flags
        }
        // An LC_UUID, which is not a segment.
        cmds.extend_from_slice(&0x1bu32.to_le_bytes());
        cmds.extend_from_slice(&24u32.to_le_bytes());
        cmds.extend_from_slice(&[0xab; 16]);
        let mut out = Vec::new();
        out.extend_from_slice(&0xfeed_facfu32.to_le_bytes());
        out.extend_from_slice(&0x0100_000cu32.to_le_bytes()); // CPU_TYPE_ARM64
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&6u32.to_le_bytes()); // MH_DYLIB
        out.extend_from_slice(&(segments.len() as u32 + 1).to_le_bytes());
        out.extend_from_slice(&(cmds.len() as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&cmds);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_slid_to_the_load_address() {
        let bytes = build::image(&[
            ("__PAGEZERO", 0, 0x1_0000_0000, 0, 0),
            ("__TEXT", 0x1_0000_0000, 0x8000, 0, 0x8000),
            ("__DATA_CONST", 0x1_0000_8000, 0x4000, 0x8000, 0x4000),
            ("__EMPTY", 0x1_0000_c000, 0, 0, 0),
            ("__LINKEDIT", 0x1_0000_c000, 0x10000, 0xc000, 0x9000),
        ]);
        let shape = header_shape(&bytes).expect("shape");
        assert!(shape.is_64);
        assert_eq!(shape.total(), bytes.len());
        let segs = segments(&bytes, 0x1_04e9_8000).expect("segments");
        let got: Vec<(&str, u64, u64)> = segs.iter().map(|s| (&*s.name, s.start, s.end)).collect();
        let slide = 0x4e9_8000;
        assert_eq!(
            got,
            vec![
                ("__PAGEZERO", slide, 0x1_0000_0000 + slide),
                ("__TEXT", 0x1_04e9_8000, 0x1_04ea_0000),
                ("__DATA_CONST", 0x1_04ea_0000, 0x1_04ea_4000),
                ("__LINKEDIT", 0x1_04ea_4000, 0x1_04eb_4000),
            ]
        );
    }

    #[test]
    fn damaged_headers_are_errors_not_panics() {
        let bytes = build::image(&[("__TEXT", 0x1000, 0x1000, 0, 0x1000)]);
        assert!(matches!(
            segments(&bytes[..40], 0x1000),
            Err(MachoError::Truncated { .. })
        ));
        assert!(matches!(
            header_shape(&[0u8; 32]),
            Err(MachoError::BadMagic(0))
        ));
        assert!(matches!(
            header_shape(&[0xcf, 0xfa]),
            Err(MachoError::Truncated { .. })
        ));
        let mut huge = bytes.clone();
        huge[20..24].copy_from_slice(&(MAX_LOAD_COMMANDS_SIZE + 1).to_le_bytes());
        assert_eq!(
            header_shape(&huge),
            Err(MachoError::TooLarge(MAX_LOAD_COMMANDS_SIZE + 1))
        );
        let no_text = build::image(&[("__DATA", 0x1000, 0x1000, 0x1000, 0x1000)]);
        assert_eq!(segments(&no_text, 0x1000), Err(MachoError::NoText));
        // A command whose size runs past the table.
        let mut bad = bytes.clone();
        bad[HEADER_64_SIZE + 4..HEADER_64_SIZE + 8].copy_from_slice(&0xffffu32.to_le_bytes());
        assert!(matches!(
            segments(&bad, 0x1000),
            Err(MachoError::BadCommand(_))
        ));
        // Every prefix of a good header fails cleanly.
        for n in 0..bytes.len() {
            assert!(segments(&bytes[..n], 0x1000).is_err(), "{n}");
        }
    }
}
