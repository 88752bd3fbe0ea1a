//! Indexing a `.tar` or `.tar.gz` capture without holding it in memory.
//!
//! The tar crate walks the archive in raw mode (`Entries::raw(true)`): every header is seen
//! as it is, and the extension headers are read here, bounded — a GNU long name
//! ([`MAX_NAME`] bytes; a longer one names no process file, and its member is skipped), a
//! PAX header ([`MAX_PAX`] bytes; a longer one refuses the archive) — and the rest of any
//! member is skipped without being buffered. A PAX `path` names the next member; a PAX
//! `size` that disagrees with the member's header refuses the archive (tar readers would
//! disagree on where the next member starts; vmpipe never writes one, and GNU tar only past
//! 8 GiB, beyond every limit).
//!
//! A plain `.tar` stays where it is: each process file is the span of the archive its data
//! occupies, read back with `pread` from the held descriptor. A `.tar.gz` is decompressed
//! once; its process files (each up to its limit, and one byte more so that "larger" can be
//! said) are copied into one anonymous temporary file (`O_TMPFILE`: no name anyone could
//! race) and read back the same way. The bytes counted against [`MAX_TOTAL`] are those a
//! read can ever return, never what a header claims.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use super::index::{Budget, CaptureError, Content, Index, MAX_UNPACKED, kept_as, limit};

#[cfg(doc)]
use super::index::MAX_TOTAL;

/// The longest GNU long name read (`PATH_MAX`).
pub const MAX_NAME: u64 = 4096;
/// The largest PAX extended header read.
pub const MAX_PAX: u64 = 64 << 10;

/// Indexes the archive `file` (opened from `path`, a regular file) into `index`.
pub(super) fn read(
    index: &mut Index,
    path: &Path,
    file: File,
    budget: &mut Budget,
) -> Result<(), CaptureError> {
    let io = |source| CaptureError::Io {
        path: path.to_path_buf(),
        source,
    };
    use std::os::unix::fs::FileExt;
    let mut magic = [0u8; 2];
    let gz = file.read_at(&mut magic, 0).map_err(io)? == 2 && magic == [0x1f, 0x8b];
    let mut ustar = [0u8; 5];
    let is_tar = file.read_at(&mut ustar, 257).map_err(io)? == 5 && &ustar == b"ustar";
    if gz {
        let hit = Rc::new(Cell::new(false));
        let unpacked = Capped {
            inner: flate2::read::MultiGzDecoder::new(file),
            left: MAX_UNPACKED,
            hit: hit.clone(),
        };
        let mut spill = Spill::default();
        let mut archive = tar::Archive::new(unpacked);
        let entries = archive.entries().map_err(io)?.raw(true);
        let walked = walk(index, path, entries, budget, &mut |entry, keep| {
            spill.copy(entry, keep)
        });
        if hit.get() {
            return Err(CaptureError::Limit {
                path: path.to_path_buf(),
                what: "the bytes decompressed from the archive".into(),
                limit: MAX_UNPACKED,
            });
        }
        walked
    } else if is_tar {
        let size = file.metadata().map_err(io)?.len();
        let file = Arc::new(file);
        let mut archive = tar::Archive::new(&*file);
        let entries = archive.entries_with_seek().map_err(io)?.raw(true);
        walk(index, path, entries, budget, &mut |entry, _| {
            let offset = entry.raw_file_position();
            let len = entry.header().entry_size()?;
            if offset.checked_add(len).is_none_or(|end| end > size) {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the archive ends inside this member (cut short?)",
                ));
            }
            Ok(Content::Span {
                file: file.clone(),
                offset,
                len,
            })
        })
    } else {
        Err(CaptureError::NotCapture(path.to_path_buf()))
    }
}

/// A GNU long name as read: the name, or too long to be a process file's.
enum LongName {
    Name(Vec<u8>),
    TooLong,
}

/// What a PAX extended header says about the next member.
#[derive(Default)]
struct Pax {
    path: Option<Vec<u8>>,
    size: Option<u64>,
}

/// Reads at most `max` bytes of `entry`; `None` when it has more (the rest is skipped by
/// the tar reader, unbuffered).
fn bounded(entry: &mut impl Read, max: u64) -> io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::new();
    entry.take(max + 1).read_to_end(&mut buf)?;
    Ok((buf.len() as u64 <= max).then_some(buf))
}

fn parse_pax(data: &[u8]) -> Result<Pax, String> {
    let mut pax = Pax::default();
    for record in tar::PaxExtensions::new(data) {
        let record = record.map_err(|e| format!("a malformed PAX header ({e})"))?;
        match record.key_bytes() {
            b"path" => pax.path = Some(record.value_bytes().to_vec()),
            b"size" => {
                let v = std::str::from_utf8(record.value_bytes())
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| "a PAX size that is not a number".to_string())?;
                pax.size = Some(v);
            }
            _ => {}
        }
    }
    Ok(pax)
}

/// Walks the raw headers of an archive; `keep` makes the content of each process file
/// (given the member, positioned at its data, and the most bytes to keep).
fn walk<R: Read>(
    index: &mut Index,
    path: &Path,
    entries: tar::Entries<'_, R>,
    budget: &mut Budget,
    keep: &mut dyn FnMut(&mut tar::Entry<'_, R>, u64) -> io::Result<Content>,
) -> Result<(), CaptureError> {
    let io = |source| CaptureError::Io {
        path: path.to_path_buf(),
        source,
    };
    let refuse = |member: &[u8], message: String| CaptureError::Archive {
        path: path.to_path_buf(),
        member: String::from_utf8_lossy(member).into_owned(),
        message,
    };
    let mut long_name: Option<LongName> = None;
    let mut pax: Option<Pax> = None;
    for entry in entries {
        budget.entry()?;
        let mut entry = entry.map_err(io)?;
        let header = entry.header();
        let ty = header.entry_type();
        let size = header.entry_size().map_err(io)?;
        let header_name = header.path_bytes().into_owned();
        if ty.is_gnu_longname() {
            if long_name.is_some() {
                return Err(refuse(
                    &header_name,
                    "two GNU long names for one member".into(),
                ));
            }
            long_name = Some(match bounded(&mut entry, MAX_NAME).map_err(io)? {
                Some(mut n) => {
                    while n.last() == Some(&0) {
                        n.pop();
                    }
                    LongName::Name(n)
                }
                None => LongName::TooLong,
            });
            continue;
        }
        if ty.is_gnu_longlink() {
            continue; // link targets are never used: skipped unread
        }
        if ty.is_pax_local_extensions() || ty.is_pax_global_extensions() {
            let Some(data) = bounded(&mut entry, MAX_PAX).map_err(io)? else {
                return Err(CaptureError::Limit {
                    path: path.to_path_buf(),
                    what: format!("a PAX header ({size} bytes)"),
                    limit: MAX_PAX,
                });
            };
            let parsed = parse_pax(&data).map_err(|m| refuse(&header_name, m))?;
            if ty.is_pax_global_extensions() {
                if parsed.size.is_some() {
                    return Err(refuse(
                        &header_name,
                        "a global PAX header sets every member's size; tar readers disagree on such archives, and vmpipe refuses them".into(),
                    ));
                }
                continue;
            }
            if pax.is_some() {
                return Err(refuse(
                    &header_name,
                    "two PAX headers for one member".into(),
                ));
            }
            pax = Some(parsed);
            continue;
        }
        let long = long_name.take();
        let ext = pax.take().unwrap_or_default();
        let name = match (&long, ext.path) {
            (Some(LongName::Name(n)), _) => n.clone(),
            (Some(LongName::TooLong), _) => Vec::new(),
            (None, Some(p)) => p,
            (None, None) => header_name,
        };
        if let Some(claimed) = ext.size
            && claimed != size
        {
            return Err(refuse(
                &name,
                format!(
                    "its PAX header gives {claimed} bytes and its tar header {size}; tar readers would disagree on where the next member starts, so vmpipe refuses the archive"
                ),
            ));
        }
        if !ty.is_file() || matches!(long, Some(LongName::TooLong)) {
            continue;
        }
        let name = String::from_utf8_lossy(&name)
            .trim_start_matches("./")
            .to_string();
        let Some(kept) = kept_as(&name) else {
            continue;
        };
        let most = limit(kept);
        let content = keep(&mut entry, most).map_err(|e| CaptureError::Io {
            path: path.join(&name),
            source: e,
        })?;
        let held = match &content {
            Content::Span { len, .. } => *len,
            Content::File { .. } => 0,
        };
        budget.bytes(held.min(most))?;
        index.add(path, name, content)?;
    }
    Ok(())
}

/// The anonymous temporary file a `.tar.gz`'s process files are decompressed into.
#[derive(Default)]
struct Spill {
    file: Option<Arc<File>>,
    end: u64,
}

impl Spill {
    /// Copies up to `most + 1` bytes of `entry` (so that a file over its limit is known to
    /// be) and returns where they are.
    fn copy(&mut self, entry: &mut impl Read, most: u64) -> io::Result<Content> {
        let file = match &self.file {
            Some(f) => f.clone(),
            None => {
                let f = Arc::new(tempfile::tempfile()?);
                self.file = Some(f.clone());
                f
            }
        };
        let mut w = &*file;
        w.seek(SeekFrom::Start(self.end))?;
        let len = io::copy(&mut entry.take(most + 1), &mut w)?;
        w.flush()?;
        let offset = self.end;
        self.end += len;
        Ok(Content::Span { file, offset, len })
    }
}

/// A reader that fails once more than `left` bytes have come out of it, and says so in
/// `hit` (the tar reader may wrap the error).
struct Capped<R> {
    inner: R,
    left: u64,
    hit: Rc<Cell<bool>>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        match self.left.checked_sub(n as u64) {
            Some(l) => {
                self.left = l;
                Ok(n)
            }
            None => {
                self.hit.set(true);
                Err(io::Error::new(
                    io::ErrorKind::FileTooLarge,
                    format!("more than {MAX_UNPACKED} bytes decompressed"),
                ))
            }
        }
    }
}
