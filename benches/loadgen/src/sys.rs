//! FFI: the only module of the load generator with `unsafe` code.
//!
//! Memory mappings (`mmap`/`munmap` through `libc`) and signal waiting (`pthread_sigmask`,
//! `sigtimedwait`). Every function here is safe to call: each `unsafe` block states why the
//! call cannot touch memory Rust owns.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::ptr;
use std::time::Duration;

/// Signals the leader waits for.
pub const SIGTERM: i32 = libc::SIGTERM;
pub const SIGINT: i32 = libc::SIGINT;
pub const SIGHUP: i32 = libc::SIGHUP;
pub const SIGCHLD: i32 = libc::SIGCHLD;

/// The machine's page size in bytes.
pub fn page_size() -> usize {
    // SAFETY: sysconf reads a configuration value; it has no memory effects.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}

/// What one slot of [`map_slots`] holds.
#[derive(Debug, Clone, Copy)]
pub enum Fill<'a> {
    /// `rw-p` anonymous; `touch` writes one byte in every page (all pages resident, dirty).
    AnonPrivate { touch: bool },
    /// `rw-s` `MAP_SHARED|MAP_ANONYMOUS`, every page written (shmem pages).
    AnonShared,
    /// `---p` anonymous, never accessible.
    ProtNone,
    /// `r--p` private read-only view of `file` at byte `offset` (page aligned), every page
    /// read (so it is resident and shared through the page cache).
    FileRead { file: &'a File, offset: u64 },
}

/// Places `slots` (each `(length in bytes, fill)`) in a fresh private range of
/// `slots.len() * stride` bytes, slot `i` at `base + i * stride`, and unmaps the rest of each
/// slot, so that every mapping has a hole after it and the kernel cannot merge neighbours.
/// Returns the base address. The mappings are never unmapped: they live as long as the process.
pub fn map_slots(stride: usize, slots: &[(usize, Fill<'_>)]) -> io::Result<usize> {
    let page = page_size();
    if stride == 0 || !stride.is_multiple_of(page) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "stride not page aligned",
        ));
    }
    for &(len, _) in slots {
        if len == 0 || len % page != 0 || len >= stride {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("slot length {len} not a page multiple below the stride {stride}"),
            ));
        }
    }
    let total = stride
        .checked_mul(slots.len())
        .filter(|&t| t > 0)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no slots / too large"))?;
    // SAFETY: a fresh mapping at an address the kernel chooses (no MAP_FIXED): it cannot
    // overlap anything that exists. PROT_NONE + MAP_NORESERVE: it only reserves addresses.
    let base = unsafe {
        libc::mmap(
            ptr::null_mut(),
            total,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let base = base as usize;
    for (i, &(len, fill)) in slots.iter().enumerate() {
        let at = base + i * stride;
        let (prot, flags, fd, offset) = match fill {
            Fill::AnonPrivate { .. } => (
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            ),
            Fill::AnonShared => (
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            ),
            Fill::ProtNone => (
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            ),
            Fill::FileRead { file, offset } => (
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                libc::off_t::try_from(offset)
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file offset"))?,
            ),
        };
        // SAFETY: MAP_FIXED replaces only [at, at + len), which lies inside the PROT_NONE
        // reservation made above (len < stride, checked), nothing of which has been handed out
        // or released: no Rust object can live there.
        let got = unsafe {
            libc::mmap(
                at as *mut libc::c_void,
                len,
                prot,
                flags | libc::MAP_FIXED,
                fd,
                offset,
            )
        };
        if got == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the rest of the slot, [at + len, at + stride), is still our own untouched
        // reservation; unmapping it affects nothing else.
        let rc = unsafe { libc::munmap((at + len) as *mut libc::c_void, stride - len) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        let (write, read) = match fill {
            Fill::AnonPrivate { touch } => (touch, false),
            Fill::AnonShared => (true, false),
            Fill::ProtNone => (false, false),
            Fill::FileRead { .. } => (false, true),
        };
        for p in (at..at + len).step_by(page) {
            if write {
                // SAFETY: p is inside the read-write mapping just made at [at, at + len),
                // which only this function knows about; a volatile write so it really happens.
                unsafe { ptr::write_volatile(p as *mut u8, 1 + (i % 251) as u8) };
            } else if read {
                // SAFETY: p is inside the readable file mapping just made; the file has at
                // least `offset + len` bytes (the caller sizes it), so the page is backed.
                let _ = unsafe { ptr::read_volatile(p as *const u8) };
            }
        }
    }
    Ok(base)
}

/// A set of signals blocked in the calling thread, to be waited for with [`wait_signal`].
pub struct SignalSet(libc::sigset_t);

/// Blocks `signals` in the calling thread (and in threads it creates later), so that they are
/// only delivered through [`wait_signal`]. Call before creating any thread.
pub fn block_signals(signals: &[i32]) -> io::Result<SignalSet> {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it before any use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, exclusively borrowed sigset_t.
    unsafe { libc::sigemptyset(&mut set) };
    for &s in signals {
        // SAFETY: as above; an invalid signal number is reported as an error.
        if unsafe { libc::sigaddset(&mut set, s) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: `set` is initialised; the old mask is not asked for (null).
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(SignalSet(set))
}

/// Restores the default disposition of `signal`. A shell starts background jobs with SIGINT
/// ignored, and an ignored signal is discarded even while blocked, so [`wait_signal`] would
/// never see it; an inherited ignored SIGCHLD would make the kernel reap children itself.
pub fn default_disposition(signal: i32) -> io::Result<()> {
    // SAFETY: installs no handler (SIG_DFL), so no code of ours can run in signal context.
    if unsafe { libc::signal(signal, libc::SIG_DFL) } == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Waits until one of the blocked signals in `set` is pending (returns its number) or
/// `timeout` passes (returns `None`; also on `EINTR`). No timeout: waits indefinitely.
pub fn wait_signal(set: &SignalSet, timeout: Option<Duration>) -> io::Result<Option<i32>> {
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: libc::time_t::try_from(t.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(t.subsec_nanos()),
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `set.0` is an initialised sigset_t; `ts_ptr` is null or points at a live
    // timespec; no siginfo is asked for (null).
    let rc = unsafe { libc::sigtimedwait(&set.0, ptr::null_mut(), ts_ptr) };
    if rc >= 0 {
        return Ok(Some(rc));
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(None),
        _ => Err(err),
    }
}
