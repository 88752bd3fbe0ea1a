//! Exact sharing: which resident pages a process maps alone, from `/proc/PID/pagemap` (the
//! page frame of every virtual page, opened through the host's `/proc/PID` handle) and
//! `/proc/kpagecount` (how many times each frame is mapped). Root only: without `CAP_SYS_ADMIN` the kernel reports page frame numbers as 0.

use std::fs::File;
use std::os::unix::fs::FileExt;

use vmpipe_plugin::abi::open_what;
use vmpipe_plugin::{Host, Region};

const PAGE: u64 = 4096;
const PRESENT: u64 = 1 << 63;
const PFN_MASK: u64 = (1 << 55) - 1;

/// Fails with a clear message when the page maps cannot be read.
pub fn check_access() -> Result<(), String> {
    let counts = File::open("/proc/kpagecount")
        .map_err(|e| format!("exact = true needs root: /proc/kpagecount: {e}"))?;
    let mut buf = [0u8; 8];
    counts
        .read_at(&mut buf, 0)
        .map_err(|e| format!("exact = true needs root: /proc/kpagecount: {e}"))?;
    // Our own stack page is resident: its frame number must be visible.
    let probe = 0u8;
    let addr = &probe as *const u8 as u64;
    let own = File::open("/proc/self/pagemap").map_err(|e| format!("/proc/self/pagemap: {e}"))?;
    own.read_exact_at(&mut buf, addr / PAGE * 8)
        .map_err(|e| format!("/proc/self/pagemap: {e}"))?;
    let entry = u64::from_le_bytes(buf);
    if entry & PRESENT != 0 && entry & PFN_MASK == 0 {
        return Err("exact = true needs root (CAP_SYS_ADMIN): the kernel hides page frame numbers from this user".into());
    }
    Ok(())
}

/// Per region: (bytes of resident pages mapped once, bytes mapped more than once). The page
/// map is opened through the host's handle on the process collected (never by naming its pid
/// again, which another process may hold by now); `pid` only names it in messages.
pub fn count(host: &Host<'_>, pid: u32, regions: &[Region]) -> Result<Vec<(u64, u64)>, String> {
    let map = host
        .open(open_what::PAGEMAP, 0, 0, b"")
        .map_err(|e| format!("/proc/{pid}/pagemap: {e}"))?;
    let counts = File::open("/proc/kpagecount").map_err(|e| format!("/proc/kpagecount: {e}"))?;
    let mut out = Vec::with_capacity(regions.len());
    let mut entries: Vec<u8> = Vec::new();
    for r in regions {
        if r.rss() == Some(0) || r.size() == 0 || r.start() >= (1 << 56) {
            out.push((0, 0));
            continue;
        }
        let pages = (r.size() / PAGE) as usize;
        entries.resize(pages * 8, 0);
        map.read_exact_at(&mut entries, r.start() / PAGE * 8)
            .map_err(|e| format!("/proc/{pid}/pagemap at {:#x}: {e}", r.start()))?;
        let (mut alone, mut shared) = (0u64, 0u64);
        let mut c = [0u8; 8];
        for e in entries.chunks_exact(8) {
            let e = u64::from_le_bytes([e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]]);
            if e & PRESENT == 0 {
                continue;
            }
            let pfn = e & PFN_MASK;
            if pfn == 0 {
                continue;
            }
            counts
                .read_exact_at(&mut c, pfn * 8)
                .map_err(|e| format!("/proc/kpagecount at frame {pfn}: {e}"))?;
            match u64::from_le_bytes(c) {
                0 => {}
                1 => alone += PAGE,
                _ => shared += PAGE,
            }
        }
        out.push((alone, shared));
    }
    Ok(out)
}
