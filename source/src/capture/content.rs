//! Where a captured file's bytes are, and reading them back bounded.
//!
//! Nothing of a capture is held in memory by the index: a directory capture's files are
//! re-opened below the capture's root descriptor (no link followed, non-blocking, regular
//! files only, so a file swapped for a link to a root-only file or for a FIFO after the walk
//! is an error, never the other file's bytes and never a hang); an archive member is a span
//! of a held file (the `.tar` itself, or the anonymous temporary file a `.tar.gz` was
//! decompressed into), read back with `pread`. Every read stops at the file's limit and says
//! so when there is more.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::fsat;

/// Where a file's bytes are.
#[derive(Clone, Debug)]
pub enum Content {
    /// A file of a directory capture: its path below the capture's root, which is held open.
    File {
        /// The capture's root directory.
        root: Arc<OwnedFd>,
        /// The path below it.
        rel: PathBuf,
    },
    /// `len` bytes at `offset` of a held file: a plain `.tar` itself, or the anonymous
    /// temporary file a `.tar.gz`'s process files were decompressed into.
    Span {
        /// The file.
        file: Arc<File>,
        /// Where the bytes start.
        offset: u64,
        /// How many there are.
        len: u64,
    },
}

/// One captured file and the name it has inside the capture (for messages).
#[derive(Clone, Debug)]
pub struct Entry {
    /// The path inside the capture.
    pub name: String,
    /// The content.
    pub content: Content,
    /// The most bytes read from it ([`crate::limits`]).
    pub limit: u64,
}

/// The error a read past a file's limit gives.
pub(crate) fn over_limit(limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!(
            "larger than vmpipe's limit of {limit} bytes for one process file; the rest is not read"
        ),
    )
}

impl Entry {
    /// A reader of the file's bytes that gives at most [`Entry::limit`] of them and then, if
    /// the file has more, an error naming the limit (a streaming parser keeps what it read).
    pub fn reader(&self) -> io::Result<EntryReader> {
        let (inner, size) = match &self.content {
            Content::File { root, rel } => {
                let file = fsat::open_beneath(&**root, rel).map_err(|e| {
                    if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                        io::Error::new(
                            e.kind(),
                            "a symbolic link where the capture had a file when it was indexed: not followed",
                        )
                    } else {
                        e
                    }
                })?;
                let size = file.metadata()?.len();
                (Inner::File(file), size)
            }
            Content::Span { file, offset, len } => (
                Inner::Span {
                    file: file.clone(),
                    pos: *offset,
                    end: offset.saturating_add(*len),
                },
                *len,
            ),
        };
        Ok(EntryReader {
            inner,
            left: self.limit,
            limit: self.limit,
            size,
        })
    }

    /// The file's bytes, whole: an error naming the limit, before anything is read, when the
    /// file is larger than [`Entry::limit`]. For the small files; `maps` and `smaps` are
    /// better streamed with [`Entry::reader`].
    pub fn read(&self) -> io::Result<Arc<[u8]>> {
        let mut r = self.reader()?;
        if r.size > self.limit {
            return Err(over_limit(self.limit));
        }
        let mut buf = Vec::with_capacity(r.size as usize);
        r.read_to_end(&mut buf)?;
        Ok(buf.into())
    }
}

enum Inner {
    File(File),
    Span { file: Arc<File>, pos: u64, end: u64 },
}

impl Read for Inner {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Inner::File(f) => f.read(buf),
            Inner::Span { file, pos, end } => {
                let want = buf.len().min((*end - *pos).min(usize::MAX as u64) as usize);
                if want == 0 {
                    return Ok(0);
                }
                let n = file.read_at(&mut buf[..want], *pos)?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the archive ends inside this file (was it changed after vmpipe indexed it?)",
                    ));
                }
                *pos += n as u64;
                Ok(n)
            }
        }
    }
}

/// A captured file's bytes, at most its limit (see [`Entry::reader`]).
pub struct EntryReader {
    inner: Inner,
    /// Bytes still allowed.
    left: u64,
    limit: u64,
    /// The size the file had when opened (a span's length).
    size: u64,
}

impl EntryReader {
    /// The file's size when it was opened (it may still grow; the limit holds anyway).
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Read for EntryReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            // At the limit: the end of the file, or more than vmpipe reads?
            let mut one = [0u8; 1];
            return match self.inner.read(&mut one)? {
                0 => Ok(0),
                _ => Err(over_limit(self.limit)),
            };
        }
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn span(bytes: &[u8], offset: u64, len: u64, limit: u64) -> Entry {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        Entry {
            name: "proc/1/maps".into(),
            content: Content::Span {
                file: Arc::new(f),
                offset,
                len,
            },
            limit,
        }
    }

    #[test]
    fn a_span_reads_its_bytes_and_stops_at_the_limit() {
        let e = span(b"xxhello worldyy", 2, 11, 100);
        assert_eq!(&*e.read().unwrap(), b"hello world");
        // Over the limit: read() refuses before reading; reader() gives the limit's worth,
        // then the error naming it.
        let e = span(b"xxhello worldyy", 2, 11, 5);
        let err = e.read().unwrap_err();
        assert!(err.to_string().contains("limit of 5 bytes"), "{err}");
        let mut r = e.reader().unwrap();
        let mut got = [0u8; 5];
        r.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello");
        let err = r.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        // Exactly at the limit is fine.
        assert_eq!(&*span(b"hello", 0, 5, 5).read().unwrap(), b"hello");
    }

    #[test]
    fn a_span_past_the_end_of_its_file_is_an_error_not_short_data() {
        let e = span(b"abc", 1, 10, 100);
        let err = e.read().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
    }
}
