//! What an ELF file's own headers say about its memory image: its `PT_LOAD` segments, its
//! `PT_GNU_RELRO` range and its allocated sections, and from them the name of the part of the
//! image a mapping holds.

use object::read::elf::{FileHeader, ProgramHeader, SectionHeader};
use object::{Endianness, ReadRef};

// ELF constants (the gABI's values).
const PT_LOAD: u32 = 1;
const PT_GNU_RELRO: u32 = 0x6474_e552;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const SHT_NOBITS: u32 = 8;
const SHF_WRITE: u64 = 1;
const SHF_ALLOC: u64 = 2;
const SHF_EXECINSTR: u64 = 4;
const SHF_TLS: u64 = 0x400;

/// The parts of an image, in the order segment names list them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Part {
    /// Executable code (`SHF_EXECINSTR` sections: `.init`, `.plt`, `.text`, `.fini`, …).
    Text,
    /// Read-only data (`.rodata`, `.dynsym`, `.dynstr`, `.rela.*`, notes, …).
    Rodata,
    /// Unwind tables (`.eh_frame`, `.eh_frame_hdr`, `.gcc_except_table`).
    EhFrame,
    /// Data made read-only after relocation (writable sections inside `PT_GNU_RELRO`:
    /// `.init_array`, `.data.rel.ro`, `.dynamic`, `.got`).
    Relro,
    /// Writable data (`.data`, `.got.plt`, …).
    Data,
    /// Zero-initialised data (`SHT_NOBITS` writable sections: `.bss`).
    Bss,
}

impl Part {
    /// The name used in the output.
    pub fn as_str(self) -> &'static str {
        match self {
            Part::Text => "text",
            Part::Rodata => "rodata",
            Part::EhFrame => "eh_frame",
            Part::Relro => "relro",
            Part::Data => "data",
            Part::Bss => "bss",
        }
    }
}

/// One `PT_LOAD` segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Load {
    /// `p_offset`.
    pub offset: u64,
    /// `p_vaddr`.
    pub vaddr: u64,
    /// `p_filesz`.
    pub filesz: u64,
    /// `p_memsz`.
    pub memsz: u64,
    /// `p_flags`.
    pub flags: u32,
}

/// One allocated section, by virtual address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// `sh_addr`.
    pub addr: u64,
    /// `sh_size`.
    pub size: u64,
    /// What kind of part it is.
    pub part: Part,
}

/// The memory image an ELF file describes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// `PT_LOAD` segments.
    pub loads: Vec<Load>,
    /// The `PT_GNU_RELRO` range, if any.
    pub relro: Option<(u64, u64)>,
    /// Allocated sections (empty when the file has no section headers).
    pub sections: Vec<Section>,
    /// The file's size in bytes.
    pub file_size: u64,
}

/// The page size the loader aligns to when mapping segments.
pub const PAGE: u64 = 4096;

fn page_down(v: u64) -> u64 {
    v & !(PAGE - 1)
}

fn page_up(v: u64) -> u64 {
    v.saturating_add(PAGE - 1) & !(PAGE - 1)
}

fn parse_as<'d, H: FileHeader<Endian = Endianness>, R: ReadRef<'d>>(
    data: R,
    file_size: u64,
) -> object::read::Result<Layout> {
    let header = H::parse(data)?;
    let endian = header.endian()?;
    let mut layout = Layout {
        file_size,
        ..Layout::default()
    };
    for ph in header.program_headers(endian, data)? {
        let p_type = ph.p_type(endian).0;
        let (offset, vaddr) = (ph.p_offset(endian).into(), ph.p_vaddr(endian).into());
        let (filesz, memsz) = (ph.p_filesz(endian).into(), ph.p_memsz(endian).into());
        if p_type == PT_LOAD {
            layout.loads.push(Load {
                offset,
                vaddr,
                filesz,
                memsz,
                flags: ph.p_flags(endian).0,
            });
        } else if p_type == PT_GNU_RELRO {
            layout.relro = Some((vaddr, vaddr.saturating_add(memsz)));
        }
    }
    // Section headers are optional (and may be damaged): without them, parts come from the
    // program headers alone.
    if let Ok(sections) = header.sections(endian, data) {
        for s in sections.iter() {
            let flags: u64 = s.sh_flags(endian).0;
            let (addr, size) = (s.sh_addr(endian).into(), s.sh_size(endian).into());
            let nobits = s.sh_type(endian).0 == SHT_NOBITS;
            if flags & SHF_ALLOC == 0 || size == 0 || (nobits && flags & SHF_TLS != 0) {
                continue;
            }
            let name = sections.section_name(endian, s).unwrap_or(b"");
            let in_relro = layout.relro.is_some_and(|(lo, hi)| addr >= lo && addr < hi);
            let part = if flags & SHF_EXECINSTR != 0 {
                Part::Text
            } else if name.starts_with(b".eh_frame") || name.starts_with(b".gcc_except_table") {
                Part::EhFrame
            } else if nobits && flags & SHF_WRITE != 0 {
                Part::Bss
            } else if flags & SHF_WRITE != 0 && in_relro {
                Part::Relro
            } else if flags & SHF_WRITE != 0 {
                Part::Data
            } else {
                Part::Rodata
            };
            layout.sections.push(Section { addr, size, part });
        }
    }
    Ok(layout)
}

/// Reads the layout of an ELF file (32- or 64-bit, either byte order). `data` may be a whole
/// file in memory or an `object::ReadCache` over an open file (only the headers are read).
pub fn parse<'d, R: ReadRef<'d>>(data: R, file_size: u64) -> Result<Layout, String> {
    let ident = data
        .read_bytes_at(0, 5)
        .map_err(|()| "shorter than an ELF header".to_string())?;
    if &ident[..4] != b"\x7fELF" {
        return Err("not an ELF file".into());
    }
    let parsed = match ident[4] {
        1 => parse_as::<object::elf::FileHeader32<Endianness>, R>(data, file_size),
        2 => parse_as::<object::elf::FileHeader64<Endianness>, R>(data, file_size),
        c => return Err(format!("unknown ELF class {c}")),
    };
    parsed.map_err(|e| format!("damaged ELF headers ({e})"))
}

impl Layout {
    /// The `PT_LOAD` holding file offset `offset`, and the virtual address (before the load
    /// bias) that a mapping starting at that offset starts at.
    pub fn vaddr_of(&self, offset: u64) -> Option<(&Load, u64)> {
        self.loads.iter().find_map(|l| {
            let lo = page_down(l.offset);
            let hi = l.offset.saturating_add(l.filesz.max(1));
            (offset >= lo && offset < page_up(hi).max(lo + PAGE))
                .then(|| (l, page_down(l.vaddr).wrapping_add(offset - lo)))
        })
    }

    /// The `PT_LOAD` whose page-aligned virtual range holds `vaddr` (before the load bias).
    pub fn load_at(&self, vaddr: u64) -> Option<&Load> {
        self.loads.iter().find(|l| {
            vaddr >= page_down(l.vaddr) && vaddr < page_up(l.vaddr.saturating_add(l.memsz.max(1)))
        })
    }

    /// The parts of the image in the virtual range `[lo, hi)` (before the load bias), in
    /// canonical order; from the sections when the file has them, else from the segment's flags.
    pub fn parts(&self, load: &Load, lo: u64, hi: u64) -> Vec<Part> {
        let mut parts: Vec<Part> = self
            .sections
            .iter()
            .filter(|s| s.addr < hi && s.addr.saturating_add(s.size) > lo)
            .map(|s| s.part)
            .collect();
        if parts.is_empty() && self.sections.is_empty() {
            parts.push(if load.flags & PF_X != 0 {
                Part::Text
            } else if load.flags & PF_W != 0 {
                match self.relro {
                    Some((a, b)) if lo >= a && hi <= page_up(b) => Part::Relro,
                    _ => Part::Data,
                }
            } else {
                Part::Rodata
            });
        }
        parts.sort();
        parts.dedup();
        parts
    }

    /// The virtual range (before the load bias) of the zero-filled tail of the last segment
    /// that has one: `[page_up(vaddr + filesz), page_up(vaddr + memsz))`. Anonymous memory the
    /// loader maps there holds the image's `.bss`.
    pub fn bss_tail(&self) -> Option<(u64, u64)> {
        self.loads
            .iter()
            .filter(|l| l.memsz > l.filesz)
            .map(|l| {
                (
                    page_up(l.vaddr.saturating_add(l.filesz)),
                    page_up(l.vaddr.saturating_add(l.memsz)),
                )
            })
            .filter(|(a, b)| b > a)
            .max_by_key(|(_, b)| *b)
    }
}

/// Joins parts as the `segment` column shows them (`rodata+eh_frame`).
pub fn join(parts: &[Part]) -> String {
    parts
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join("+")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_test_binary_describes_itself() {
        let exe = std::fs::read("/proc/self/exe").unwrap();
        let layout = parse(&*exe, exe.len() as u64).unwrap();
        assert!(!layout.loads.is_empty());
        assert!(layout.sections.iter().any(|s| s.part == Part::Text));
        assert!(layout.sections.iter().any(|s| s.part == Part::Rodata));
        // A mapping of offset 0 is in the first PT_LOAD.
        let (load, va) = layout.vaddr_of(0).unwrap();
        assert_eq!(load.offset, 0);
        assert_eq!(va, page_down(load.vaddr));
    }

    #[test]
    fn refuses_what_is_not_elf() {
        assert_eq!(
            parse(&b"#!/bin/sh\n"[..], 10),
            Err("not an ELF file".to_string())
        );
        assert_eq!(
            parse(&b"\x7fEL"[..], 3),
            Err("shorter than an ELF header".to_string())
        );
        assert!(
            parse(&b"\x7fELF\x02\x01\x01"[..], 7)
                .unwrap_err()
                .starts_with("damaged")
        );
    }
}
