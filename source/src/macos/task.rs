//! A target's task port (macOS only) and everything read through it: the region walk
//! (`mach_vm_region_recurse`), per-page residency (`mach_vm_page_range_query`), purgeable
//! state (`mach_vm_purgable_control`), `task_info` (`TASK_VM_INFO`, `TASK_DYLD_INFO`) and
//! memory (`mach_vm_read_overwrite`).
//!
//! The port is a send right `task_for_pid` gave; [`Task`] owns it and deallocates it when
//! dropped. It names the task, not the pid: once held, everything read through it is that
//! process's, even if the pid is reused; when the process exits, calls fail with
//! `MACH_SEND_INVALID_DEST` (see [`KernReturn::task_gone`]).

// An FFI module: the workspace denies unsafe code everywhere else.
#![allow(unsafe_code)]

use std::mem::size_of;

use mach2::kern_return::kern_return_t;
use mach2::mach_port::mach_port_deallocate;
use mach2::port::{MACH_PORT_NULL, mach_port_name_t, mach_port_t};
use mach2::task::task_info;
use mach2::task_info::{
    TASK_DYLD_INFO, TASK_DYLD_INFO_COUNT, TASK_VM_INFO, task_dyld_info, task_vm_info,
};
use mach2::traps::{mach_task_self, task_for_pid};
use mach2::vm::{mach_vm_purgable_control, mach_vm_read_overwrite, mach_vm_region_recurse};
use mach2::vm_purgable::VM_PURGABLE_GET_STATE;
use mach2::vm_region::vm_region_submap_info_64;
use mach2::vm_types::{mach_vm_address_t, mach_vm_size_t, natural_t};

use super::kern::{KERN_INVALID_ADDRESS, KERN_SUCCESS, KernReturn};
use super::regions::PageDispositions;
use super::submap_walk::{RegionInfo, RegionQuery};
use crate::{MemoryAccess, MemoryError};

unsafe extern "C" {
    /// `<mach/mach_vm.h>` (macOS 10.13+): one disposition int per page of
    /// `[address, address + size)`, written to `dispositions` (an address in the caller's
    /// space); `dispositions_count` is the capacity in, the count written out.
    fn mach_vm_page_range_query(
        target_map: mach_port_t,
        address: mach_vm_address_t,
        size: mach_vm_size_t,
        dispositions: mach_vm_address_t,
        dispositions_count: *mut mach_vm_size_t,
    ) -> kern_return_t;
}

/// The most pages asked of `mach_vm_page_range_query` at once (4 MiB of dispositions).
const MAX_PAGE_QUERY: u64 = 1 << 20;

/// The granule reads are split into after a failed whole read.
const READ_GRANULE: u64 = 4096;

/// This process's page size (`vm_page_size`: 16 KiB for native arm64, 4 KiB for x86_64 and
/// under Rosetta).
pub(super) fn host_page_size() -> u64 {
    // SAFETY: reads `vm_page_size`, a libSystem global set before main and never changed.
    let size = unsafe { mach2::vm_page_size::vm_page_size };
    size as u64
}

/// This process's own task port.
fn self_task() -> mach_port_t {
    // SAFETY: reads `mach_task_self_`, a process-global libSystem initialises before main.
    unsafe { mach_task_self() }
}

/// A send right to a target task.
#[derive(Debug)]
pub(super) struct Task {
    port: mach_port_name_t,
}

impl Drop for Task {
    fn drop(&mut self) {
        // SAFETY: `port` is a send right this Task alone owns (from task_for_pid), released
        // exactly once here.
        unsafe {
            mach_port_deallocate(self_task(), self.port);
        }
    }
}

impl Task {
    /// `task_for_pid`: needs root (and is refused for SIP-protected and hardened processes).
    pub(super) fn for_pid(pid: u32) -> Result<Task, KernReturn> {
        let pid = i32::try_from(pid).map_err(|_| KernReturn(super::kern::KERN_INVALID_ARGUMENT))?;
        let mut port: mach_port_name_t = MACH_PORT_NULL;
        // SAFETY: `port` is a local the call writes a port name into.
        let kr = unsafe { task_for_pid(self_task(), pid, &mut port) };
        if kr != KERN_SUCCESS {
            return Err(KernReturn(kr));
        }
        if port == MACH_PORT_NULL {
            return Err(KernReturn(super::kern::KERN_FAILURE));
        }
        Ok(Task { port })
    }

    /// The target's page size (`TASK_VM_INFO.page_size`: 16 KiB for native arm64, 4 KiB for
    /// x86_64 and Rosetta processes).
    pub(super) fn page_size(&self) -> Result<u64, KernReturn> {
        let mut info = task_vm_info::default();
        let mut count = (size_of::<task_vm_info>() / size_of::<natural_t>()) as natural_t;
        // SAFETY: `info` is `count` natural_t words; the kernel writes at most `count` and
        // stores the number written back.
        let kr = unsafe { task_info(self.port, TASK_VM_INFO, (&raw mut info).cast(), &mut count) };
        if kr != KERN_SUCCESS {
            return Err(KernReturn(kr));
        }
        let page = info.page_size;
        // A kernel that leaves the field 0 (or garbage) has not answered it.
        u64::try_from(page)
            .ok()
            .filter(|p| p.is_power_of_two())
            .ok_or(KernReturn(super::kern::KERN_INVALID_ARGUMENT))
    }

    /// `TASK_DYLD_INFO`: the address, size and format of `dyld_all_image_infos`.
    pub(super) fn dyld_info(&self) -> Result<(u64, u64, i32), KernReturn> {
        let mut info = task_dyld_info::default();
        let mut count = TASK_DYLD_INFO_COUNT;
        // SAFETY: `info` is TASK_DYLD_INFO_COUNT natural_t words; the kernel writes at most
        // `count`.
        let kr = unsafe {
            task_info(
                self.port,
                TASK_DYLD_INFO,
                (&raw mut info).cast(),
                &mut count,
            )
        };
        if kr != KERN_SUCCESS {
            return Err(KernReturn(kr));
        }
        let (addr, size, format) = (
            info.all_image_info_addr,
            info.all_image_info_size,
            info.all_image_info_format,
        );
        Ok((addr, size, format))
    }

    /// The purgeable state of the object at `address` (`VM_PURGABLE_GET_STATE`); `None`
    /// when the kernel does not say.
    pub(super) fn purge_state(&self, address: u64) -> Option<i32> {
        let mut state: i32 = 0;
        // SAFETY: `state` is a local int the call writes.
        let kr = unsafe {
            mach_vm_purgable_control(self.port, address, VM_PURGABLE_GET_STATE, &mut state)
        };
        (kr == KERN_SUCCESS).then_some(state)
    }

    /// The region walk's query.
    pub(super) fn regions(&self) -> TaskRegions<'_> {
        TaskRegions { task: self }
    }

    /// Page dispositions at `page_size` granularity (the smaller of the target's and ours, as
    /// the kernel answers).
    pub(super) fn pages(&self, target_page_size: u64) -> TaskPages<'_> {
        let ours = host_page_size();
        let page_size = match (ours, target_page_size) {
            (0, t) => t,
            (o, 0) => o,
            (o, t) => o.min(t),
        };
        TaskPages {
            task: self,
            page_size,
        }
    }

    /// One `mach_vm_read_overwrite` of the whole of `buf`.
    fn read_once(&self, address: u64, buf: &mut [u8]) -> Result<usize, KernReturn> {
        let mut out: mach_vm_size_t = 0;
        // SAFETY: `buf` is `buf.len()` writable bytes of this process; the kernel copies at
        // most `size` bytes there and stores the count in `out`.
        let kr = unsafe {
            mach_vm_read_overwrite(
                self.port,
                address,
                buf.len() as mach_vm_size_t,
                buf.as_mut_ptr() as mach_vm_address_t,
                &mut out,
            )
        };
        if kr != KERN_SUCCESS {
            return Err(KernReturn(kr));
        }
        Ok((out as usize).min(buf.len()))
    }

    /// Reads up to `buf.len()` bytes at `address`: the whole at once, or, when that fails, 4
    /// KiB granule by granule up to the first unreadable one.
    pub(super) fn read(&self, address: u64, buf: &mut [u8]) -> Result<usize, MemoryError> {
        if buf.is_empty() {
            return Ok(0);
        }
        let first = match self.read_once(address, buf) {
            Ok(n) => return Ok(n),
            Err(kr) => kr,
        };
        let mut done = 0usize;
        while done < buf.len() {
            let Some(at) = address.checked_add(done as u64) else {
                break;
            };
            let chunk = ((READ_GRANULE - at % READ_GRANULE) as usize).min(buf.len() - done);
            match self.read_once(at, &mut buf[done..done + chunk]) {
                Ok(n) if n > 0 => done += n,
                _ => break,
            }
        }
        if done == 0 {
            Err(first.memory_error())
        } else {
            Ok(done)
        }
    }
}

/// [`RegionQuery`] through `mach_vm_region_recurse`.
pub(super) struct TaskRegions<'a> {
    task: &'a Task,
}

impl RegionQuery for TaskRegions<'_> {
    type Error = KernReturn;

    fn query(&mut self, address: u64, depth: u32) -> Result<Option<RegionInfo>, KernReturn> {
        let mut addr: mach_vm_address_t = address;
        let mut size: mach_vm_size_t = 0;
        let mut nesting: natural_t = depth;
        let mut info = vm_region_submap_info_64::default();
        let mut count = vm_region_submap_info_64::count();
        // SAFETY: every pointer is to a local; `info` is `count` natural_t words and the
        // kernel writes at most that many.
        let kr = unsafe {
            mach_vm_region_recurse(
                self.task.port,
                &mut addr,
                &mut size,
                &mut nesting,
                (&raw mut info).cast(),
                &mut count,
            )
        };
        if kr == KERN_INVALID_ADDRESS {
            return Ok(None);
        }
        if kr != KERN_SUCCESS {
            return Err(KernReturn(kr));
        }
        // Copies out of the packed struct (no references to its fields are taken).
        let vm_region_submap_info_64 {
            protection,
            max_protection,
            offset,
            user_tag,
            pages_resident,
            pages_shared_now_private,
            pages_swapped_out,
            pages_dirtied,
            ref_count,
            external_pager,
            share_mode,
            is_submap,
            object_id_full,
            ..
        } = info;
        Ok(Some(RegionInfo {
            start: addr,
            size,
            depth: nesting,
            is_submap: is_submap != 0,
            protection: protection as u32,
            max_protection: max_protection as u32,
            user_tag,
            share_mode,
            external_pager: external_pager != 0,
            offset,
            pages_resident,
            pages_dirtied,
            pages_swapped_out,
            pages_shared_now_private,
            ref_count,
            object_id: object_id_full,
        }))
    }
}

/// [`PageDispositions`] through `mach_vm_page_range_query`.
pub(super) struct TaskPages<'a> {
    task: &'a Task,
    page_size: u64,
}

impl PageDispositions for TaskPages<'_> {
    fn page_size(&self) -> u64 {
        self.page_size
    }

    fn dispositions(&mut self, start: u64, end: u64) -> Option<Vec<i32>> {
        if self.page_size == 0 || end <= start {
            return None;
        }
        let pages = (end - start).div_ceil(self.page_size);
        if pages > MAX_PAGE_QUERY {
            return None;
        }
        let mut out = vec![0i32; pages as usize];
        let mut count: mach_vm_size_t = pages;
        // SAFETY: `out` is `pages` writable ints of this process, the capacity passed in
        // `count`; the kernel writes at most that many and stores the count back.
        let kr = unsafe {
            mach_vm_page_range_query(
                self.task.port,
                start,
                end - start,
                out.as_mut_ptr() as mach_vm_address_t,
                &mut count,
            )
        };
        if kr != KERN_SUCCESS {
            return None;
        }
        out.truncate((count as usize).min(out.len()));
        Some(out)
    }
}

/// A borrowed task as [`MemoryAccess`] (for reading dyld's structures during collection).
pub(super) struct TaskMemory<'a>(pub(super) &'a Task);

impl MemoryAccess for TaskMemory<'_> {
    fn read(&mut self, address: u64, buf: &mut [u8]) -> Result<usize, MemoryError> {
        self.0.read(address, buf)
    }
}

/// A process's memory for analyzers (`mach_vm_read_overwrite` through its task port, which
/// it owns).
#[derive(Debug)]
pub struct MachMemory {
    task: Task,
}

impl MachMemory {
    pub(super) fn new(task: Task) -> MachMemory {
        MachMemory { task }
    }
}

impl MemoryAccess for MachMemory {
    fn read(&mut self, address: u64, buf: &mut [u8]) -> Result<usize, MemoryError> {
        self.task.read(address, buf)
    }
}
