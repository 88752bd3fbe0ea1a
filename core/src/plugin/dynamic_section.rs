//! What the dynamic loader reads from a shared library before mapping its dependencies:
//! `DT_NEEDED`, `DT_RPATH`, `DT_RUNPATH`, `DT_SONAME` and `DF_1_NODEFLIB`, taken from the
//! `PT_DYNAMIC` segment as `ld.so` takes them (not from section headers, which a loader never
//! reads and a file may omit or contradict).
//!
//! The file is read on demand ([`object::ReadCache`]), never whole, and every part read is
//! bounded: the program headers by the ELF format (at most 65,535 entries), the dynamic
//! segment by [`MAX_DYNAMIC_BYTES`], each string by [`MAX_STRING_BYTES`], all the names kept
//! by [`MAX_NAMES_BYTES`].

use std::fs::File;

use object::elf;
use object::read::elf::{Dyn, FileHeader, ProgramHeader};
use object::{Endianness, ReadCache, ReadRef};

/// Largest dynamic segment read (64 Ki entries of 16 bytes; real libraries have < 100).
pub const MAX_DYNAMIC_BYTES: u64 = 1 << 20;
/// Longest string read from the dynamic string table (a path: `PATH_MAX`).
pub const MAX_STRING_BYTES: u64 = 4096;
/// Most bytes of names kept from one object (real libraries need well under 4 KiB); with
/// [`super::dependencies::MAX_OBJECTS`] this bounds what a closure holds.
pub const MAX_NAMES_BYTES: usize = 64 << 10;

/// The loader-relevant part of a library's dynamic section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dynamic {
    /// `DT_NEEDED` entries, in order.
    pub needed: Vec<Vec<u8>>,
    /// `DT_RPATH`, if any.
    pub rpath: Option<Vec<u8>>,
    /// `DT_RUNPATH`, if any.
    pub runpath: Option<Vec<u8>>,
    /// `DT_SONAME`, if any.
    pub soname: Option<Vec<u8>>,
    /// `DF_1_NODEFLIB`: the default directories (and their ld.so.cache entries) are not
    /// searched for this object's dependencies.
    pub nodeflib: bool,
}

/// What a file is to the loader.
#[derive(Debug)]
pub enum Object {
    /// An ELF object of another class, byte order or machine: the loader skips it and goes on
    /// searching.
    Foreign,
    /// A shared library (or position-independent object) for this machine.
    Library(Dynamic),
}

#[cfg(target_pointer_width = "64")]
type Header = elf::FileHeader64<Endianness>;
#[cfg(target_pointer_width = "32")]
type Header = elf::FileHeader32<Endianness>;

fn host_machine() -> u16 {
    if cfg!(target_arch = "x86_64") {
        elf::EM_X86_64.0
    } else if cfg!(target_arch = "aarch64") {
        elf::EM_AARCH64.0
    } else if cfg!(target_arch = "x86") {
        elf::EM_386.0
    } else if cfg!(target_arch = "arm") {
        elf::EM_ARM.0
    } else if cfg!(target_arch = "riscv64") {
        elf::EM_RISCV.0
    } else if cfg!(target_arch = "powerpc64") {
        elf::EM_PPC64.0
    } else if cfg!(target_arch = "s390x") {
        elf::EM_S390.0
    } else {
        0
    }
}

/// Reads `file` as the loader would decide whether to use it. `Err` says why it is not a
/// loadable object at all (not ELF, truncated, not a shared object).
pub fn read(file: File) -> Result<Object, String> {
    read_as::<Header>(&ReadCache::new(file))
}

fn read_as<Elf: FileHeader<Endian = Endianness>>(data: &ReadCache<File>) -> Result<Object, String> {
    let header = match Elf::parse(data) {
        Ok(h) => h,
        // Parsed as the other class or byte order it would have been fine: another machine's.
        Err(_) if is_other_elf(data) => return Ok(Object::Foreign),
        Err(e) => return Err(format!("not a shared library ({e})")),
    };
    let endian = header
        .endian()
        .map_err(|e| format!("not a shared library ({e})"))?;
    if Endianness::default() != endian || header.e_machine(endian).0 != host_machine() {
        return Ok(Object::Foreign);
    }
    if header.e_type(endian) != elf::ET_DYN {
        return Err("not a shared library".into());
    }
    let phdrs = header
        .program_headers(endian, data)
        .map_err(|e| format!("unreadable program headers ({e})"))?;
    let Some(dynamic) = phdrs.iter().find(|p| p.p_type(endian) == elf::PT_DYNAMIC) else {
        // Statically linked shared object: no dependencies.
        return Ok(Object::Library(Dynamic::default()));
    };
    if dynamic.p_filesz(endian).into() > MAX_DYNAMIC_BYTES {
        return Err(format!(
            "a dynamic segment of {} bytes (vmpipe reads at most {MAX_DYNAMIC_BYTES})",
            dynamic.p_filesz(endian).into()
        ));
    }
    let entries = dynamic
        .dynamic(endian, data)
        .map_err(|e| format!("unreadable dynamic segment ({e})"))?
        .unwrap_or(&[]);
    let mut strtab = None;
    let mut strsz = None;
    let mut out = Dynamic::default();
    let mut strings = Vec::new();
    for d in entries {
        let tag = d.d_tag(endian);
        let val = d.val(endian);
        match tag {
            elf::DT_NULL => break,
            elf::DT_STRTAB => strtab = Some(val),
            elf::DT_STRSZ => strsz = Some(val),
            elf::DT_NEEDED | elf::DT_RPATH | elf::DT_RUNPATH | elf::DT_SONAME => {
                strings.push((tag, val))
            }
            elf::DT_FLAGS_1 => out.nodeflib = val & elf::DF_1_NODEFLIB.0 != 0,
            _ => {}
        }
    }
    if strings.is_empty() {
        return Ok(Object::Library(out));
    }
    let (Some(addr), Some(size)) = (strtab, strsz) else {
        return Err("a dynamic section with names but no string table".into());
    };
    // The string table is given as an address: find the loaded segment holding it.
    let offset = phdrs
        .iter()
        .filter(|p| p.p_type(endian) == elf::PT_LOAD)
        .find_map(|p| {
            let vaddr: u64 = p.p_vaddr(endian).into();
            let filesz: u64 = p.p_filesz(endian).into();
            let off: u64 = p.p_offset(endian).into();
            (addr >= vaddr && addr.checked_add(size)? <= vaddr.checked_add(filesz)?)
                .then(|| off + (addr - vaddr))
        })
        .ok_or("the dynamic string table lies outside the file's loaded segments")?;
    let mut kept = 0usize;
    for (tag, val) in strings {
        if val >= size {
            return Err(format!(
                "a dynamic entry names string {val}, past the string table"
            ));
        }
        let start = offset + val;
        let end = offset + size.min(val + MAX_STRING_BYTES + 1);
        let s = data
            .read_bytes_at_until(start..end, 0)
            .map_err(|()| "a dynamic string is unterminated or too long".to_string())?
            .to_vec();
        kept += s.len();
        if kept > MAX_NAMES_BYTES {
            return Err(format!(
                "more than {MAX_NAMES_BYTES} bytes of dependency names and search paths"
            ));
        }
        match tag {
            elf::DT_NEEDED => out.needed.push(s),
            elf::DT_RPATH => out.rpath = Some(s),
            elf::DT_RUNPATH => out.runpath = Some(s),
            _ => out.soname = Some(s),
        }
    }
    Ok(Object::Library(out))
}

/// An ELF file of the class or byte order this vmpipe does not read.
fn is_other_elf(data: &ReadCache<File>) -> bool {
    data.read_bytes_at(0, 4)
        .is_ok_and(|magic| magic == elf::ELFMAG.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// readelf's view of a library's dynamic section: (tag, value) pairs.
    fn readelf(path: &str) -> Vec<(String, String)> {
        let out = Command::new("readelf")
            .args(["-d", "-W", path])
            .output()
            .expect("readelf (binutils)");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let open = l.find('(')?;
                let close = l[open..].find(')')? + open;
                let tag = l[open + 1..close].to_string();
                let v = l
                    .find('[')
                    .and_then(|a| Some(l[a + 1..l.rfind(']')?].to_string()));
                Some((tag, v.unwrap_or_default()))
            })
            .collect()
    }

    #[test]
    fn the_dynamic_section_agrees_with_readelf() {
        let libs = [
            "/lib/x86_64-linux-gnu/libc.so.6",
            "/lib/x86_64-linux-gnu/libm.so.6",
            "/lib/x86_64-linux-gnu/libgcc_s.so.1",
            "/lib/aarch64-linux-gnu/libc.so.6",
        ];
        let mut checked = 0;
        for lib in libs.iter().filter(|l| std::path::Path::new(l).exists()) {
            let Object::Library(d) = read(File::open(lib).unwrap()).unwrap() else {
                panic!("{lib} read as foreign");
            };
            let want = readelf(lib);
            let of = |tag: &str| -> Vec<Vec<u8>> {
                want.iter()
                    .filter(|(t, _)| t == tag)
                    .map(|(_, v)| v.clone().into_bytes())
                    .collect()
            };
            assert_eq!(d.needed, of("NEEDED"), "{lib}");
            assert_eq!(d.soname, of("SONAME").pop(), "{lib}");
            assert_eq!(d.runpath, of("RUNPATH").pop(), "{lib}");
            assert_eq!(d.rpath, of("RPATH").pop(), "{lib}");
            checked += 1;
        }
        assert!(checked >= 2, "no system libraries found to compare");
    }

    #[test]
    fn other_files_are_told_apart() {
        let t = tempfile::tempdir().unwrap();
        let text = t.path().join("t");
        std::fs::write(&text, b"not a library").unwrap();
        assert!(read(File::open(&text).unwrap()).is_err());
        // The same libc with another machine in its header: skipped, as ld.so skips it.
        let libc = [
            "/lib/x86_64-linux-gnu/libc.so.6",
            "/lib/aarch64-linux-gnu/libc.so.6",
        ]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap();
        let mut bytes = std::fs::read(libc).unwrap();
        bytes[18] ^= 0x55;
        let foreign = t.path().join("f");
        std::fs::write(&foreign, bytes).unwrap();
        assert!(matches!(
            read(File::open(&foreign).unwrap()),
            Ok(Object::Foreign)
        ));
    }
}
