//! libproc and sysctl calls (macOS only), each wrapped in a safe function: the process list,
//! a process's BSD facts, thread count, executable path, command line, and the file behind a
//! region.
//!
//! Every `unsafe` block here passes a buffer the call writes into, of the size it is told;
//! what comes back is checked (length, NUL termination) before use. Failures keep the OS
//! error (`ESRCH`: the process is gone; `EPERM`: not allowed).

// An FFI module: the workspace denies unsafe code everywhere else.
#![allow(unsafe_code)]

use std::io;
use std::mem::{MaybeUninit, size_of};

use libc::{c_int, c_void};

/// The most pids listed (macOS's `kern.maxproc` is a few thousand).
const MAX_PIDS: usize = 1 << 20;
/// The largest `KERN_PROCARGS2` buffer read.
const MAX_ARGS_BYTES: usize = 16 << 20;

fn pid_arg(pid: u32) -> io::Result<c_int> {
    c_int::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))
}

/// Every pid of the machine (`proc_listallpids`), ascending, without 0 (`kernel_task`).
pub(super) fn list_pids() -> io::Result<Vec<u32>> {
    let mut cap = 1024usize;
    loop {
        let mut buf = vec![0 as c_int; cap];
        let bytes = c_int::try_from(cap * size_of::<c_int>())
            .map_err(|_| io::Error::from_raw_os_error(libc::ENOMEM))?;
        // SAFETY: `buf` holds `cap` ints, i.e. `bytes` writable bytes; the call writes at
        // most that many and returns how many pids it wrote.
        let n = unsafe { libc::proc_listallpids(buf.as_mut_ptr().cast::<c_void>(), bytes) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        if n < cap {
            buf.truncate(n);
            let mut pids: Vec<u32> = buf
                .into_iter()
                .filter_map(|p| u32::try_from(p).ok())
                .filter(|&p| p != 0)
                .collect();
            pids.sort_unstable();
            pids.dedup();
            return Ok(pids);
        }
        if cap >= MAX_PIDS {
            return Err(io::Error::other(format!(
                "proc_listallpids: more than {MAX_PIDS} processes"
            )));
        }
        cap *= 2;
    }
}

/// The facts of `proc_bsdinfo` vmpipe uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct BsdInfo {
    /// `pbi_ppid`.
    pub ppid: u32,
    /// `pbi_ruid`: the real uid.
    pub ruid: u32,
    /// `pbi_status` (`SIDL` 1, `SRUN` 2, `SSLEEP` 3, `SSTOP` 4, `SZOMB` 5).
    pub status: u32,
    /// `pbi_name` when set (up to 32 bytes), else `pbi_comm` (up to 16).
    pub name: Vec<u8>,
    /// `pbi_start_tvsec`, `pbi_start_tvusec`: when the process started (tells a reused pid
    /// apart).
    pub start: (u64, u64),
}

fn c_bytes(chars: &[libc::c_char]) -> Vec<u8> {
    chars
        .iter()
        .map(|&c| c as u8)
        .take_while(|&b| b != 0)
        .collect()
}

/// `proc_pidinfo(PROC_PIDTBSDINFO)`: readable for every process.
pub(super) fn bsd_info(pid: u32) -> io::Result<BsdInfo> {
    let pid = pid_arg(pid)?;
    let size = size_of::<libc::proc_bsdinfo>() as c_int;
    let mut info = MaybeUninit::<libc::proc_bsdinfo>::zeroed();
    // SAFETY: `info` is `size` writable bytes; proc_pidinfo writes at most `size` bytes and
    // returns how many.
    let n = unsafe {
        libc::proc_pidinfo(
            pid,
            libc::PROC_PIDTBSDINFO,
            0,
            info.as_mut_ptr().cast::<c_void>(),
            size,
        )
    };
    if n <= 0 {
        return Err(io::Error::last_os_error());
    }
    if n < size {
        return Err(io::Error::other(format!(
            "proc_pidinfo(PROC_PIDTBSDINFO) returned {n} of {size} bytes"
        )));
    }
    // SAFETY: zero-initialised, then fully written by the kernel (n == size); every field is
    // an integer or an array of integers, for which any bit pattern is valid.
    let info = unsafe { info.assume_init() };
    let name = c_bytes(&info.pbi_name);
    Ok(BsdInfo {
        ppid: info.pbi_ppid,
        ruid: info.pbi_ruid,
        status: info.pbi_status,
        name: if name.is_empty() {
            c_bytes(&info.pbi_comm)
        } else {
            name
        },
        start: (info.pbi_start_tvsec, info.pbi_start_tvusec),
    })
}

/// The number of threads (`proc_pidinfo(PROC_PIDTASKINFO)`: needs the same rights as the
/// task port).
pub(super) fn thread_count(pid: u32) -> io::Result<u32> {
    let pid = pid_arg(pid)?;
    let size = size_of::<libc::proc_taskinfo>() as c_int;
    let mut info = MaybeUninit::<libc::proc_taskinfo>::zeroed();
    // SAFETY: as in `bsd_info`: `size` writable bytes, at most `size` written.
    let n = unsafe {
        libc::proc_pidinfo(
            pid,
            libc::PROC_PIDTASKINFO,
            0,
            info.as_mut_ptr().cast::<c_void>(),
            size,
        )
    };
    if n <= 0 {
        return Err(io::Error::last_os_error());
    }
    if n < size {
        return Err(io::Error::other(format!(
            "proc_pidinfo(PROC_PIDTASKINFO) returned {n} of {size} bytes"
        )));
    }
    // SAFETY: zero-initialised then fully written; integer fields only.
    let info = unsafe { info.assume_init() };
    Ok(u32::try_from(info.pti_threadnum).unwrap_or(0))
}

/// The executable's path (`proc_pidpath`).
pub(super) fn pid_path(pid: u32) -> io::Result<Vec<u8>> {
    let pid = pid_arg(pid)?;
    let mut buf = vec![0u8; libc::PROC_PIDPATHINFO_MAXSIZE as usize];
    // SAFETY: `buf` is `buf.len()` writable bytes, the size passed.
    let n = unsafe { libc::proc_pidpath(pid, buf.as_mut_ptr().cast::<c_void>(), buf.len() as u32) };
    if n <= 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate((n as usize).min(buf.len()));
    if let Some(nul) = buf.iter().position(|&b| b == 0) {
        buf.truncate(nul);
    }
    Ok(buf)
}

/// The path of the file behind the region at `address` (`proc_regionfilename`), if any.
pub(super) fn region_filename(pid: u32, address: u64) -> Option<Vec<u8>> {
    let pid = pid_arg(pid).ok()?;
    // proc_regionfilename refuses buffers smaller than MAXPATHLEN.
    let mut buf = vec![0u8; libc::PROC_PIDPATHINFO_MAXSIZE as usize];
    // SAFETY: `buf` is `buf.len()` writable bytes, the size passed.
    let n = unsafe {
        libc::proc_regionfilename(
            pid,
            address,
            buf.as_mut_ptr().cast::<c_void>(),
            buf.len() as u32,
        )
    };
    if n <= 0 {
        return None;
    }
    buf.truncate((n as usize).min(buf.len()));
    if let Some(nul) = buf.iter().position(|&b| b == 0) {
        buf.truncate(nul);
    }
    (!buf.is_empty()).then_some(buf)
}

/// The raw `KERN_PROCARGS2` buffer (argc, executable path, arguments, environment).
pub(super) fn procargs2(pid: u32) -> io::Result<Vec<u8>> {
    let pid = pid_arg(pid)?;
    let mut argmax: c_int = 0;
    let mut len = size_of::<c_int>();
    let mut mib = [libc::CTL_KERN, libc::KERN_ARGMAX];
    // SAFETY: `mib` is 2 ints; `argmax` is `len` writable bytes; no new value is set.
    let rc = unsafe {
        libc::sysctl(
            mib.as_mut_ptr(),
            2,
            (&raw mut argmax).cast::<c_void>(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let cap = usize::try_from(argmax)
        .unwrap_or(0)
        .clamp(4096, MAX_ARGS_BYTES);
    let mut buf = vec![0u8; cap];
    let mut len = buf.len();
    let mut mib = [libc::CTL_KERN, libc::KERN_PROCARGS2, pid];
    // SAFETY: `mib` is 3 ints; `buf` is `len` writable bytes and the kernel writes at most
    // `len`, storing the count back in `len`; no new value is set.
    let rc = unsafe {
        libc::sysctl(
            mib.as_mut_ptr(),
            3,
            buf.as_mut_ptr().cast::<c_void>(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(len.min(cap));
    Ok(buf)
}
