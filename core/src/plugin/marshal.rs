//! ABI views of vmpipe's data: processes, regions and options, borrowed for one call.

// An FFI module: the workspace denies unsafe code everywhere else.
#![allow(unsafe_code)]

use vmpipe_plugin::abi::{
    self, EntryV2, ProcessV2, RegionV2, StrV2, ValueV2, ZoneV2, process_status,
};

use crate::model::{ProcessStatus, Region, UsageField};
use crate::source::Collected;

fn bytes(b: &[u8]) -> StrV2 {
    StrV2::new(b)
}

fn opt_i64(v: Option<u32>) -> i64 {
    v.map_or(-1, i64::from)
}

/// The reported malloc zones of `c`, borrowing their names.
pub fn zones(c: &Collected) -> Vec<ZoneV2> {
    use vmpipe_plugin::abi::zone_field as f;
    let Some(v) = &c.vmmap else {
        return Vec::new();
    };
    v.malloc_zones
        .iter()
        .map(|z| {
            let mut present = 0;
            let mut take = |v: Option<u64>, bit: u32| {
                if v.is_some() {
                    present |= bit;
                }
                v.unwrap_or(0)
            };
            let virtual_size = take(z.virtual_size, f::VIRTUAL);
            let resident = take(z.resident, f::RESIDENT);
            let dirty = take(z.dirty, f::DIRTY);
            let swapped = take(z.swapped, f::SWAPPED);
            let allocation_count = take(z.allocation_count, f::ALLOCATION_COUNT);
            let bytes_allocated = take(z.bytes_allocated, f::BYTES_ALLOCATED);
            let frag_size = take(z.dirty_swap_frag_size, f::FRAG_SIZE);
            let region_count = take(z.region_count, f::REGION_COUNT);
            if z.pct_frag.is_some() {
                present |= f::PCT_FRAG;
            }
            if z.pct_full.is_some() {
                present |= f::PCT_FULL;
            }
            ZoneV2 {
                name: bytes(z.name.as_bytes()),
                present,
                virtual_size,
                resident,
                dirty,
                swapped,
                allocation_count,
                bytes_allocated,
                frag_size,
                pct_frag: z.pct_frag.unwrap_or(0.0),
                pct_full: z.pct_full.unwrap_or(0.0),
                region_count,
            }
        })
        .collect()
}

/// The process of `c`, borrowing its strings and `zones`.
pub fn process(c: &Collected, has_memory: bool, zones: &[ZoneV2]) -> ProcessV2 {
    let p = &c.process;
    ProcessV2 {
        pid: p.pid,
        status: match p.status {
            ProcessStatus::Ok => process_status::OK,
            ProcessStatus::Partial => process_status::PARTIAL,
            ProcessStatus::Denied => process_status::DENIED,
            ProcessStatus::Vanished => process_status::VANISHED,
        },
        ppid: opt_i64(p.ppid),
        uid: opt_i64(p.uid),
        threads: opt_i64(p.threads),
        name: bytes(&p.name),
        exe: p.exe.as_deref().map_or(StrV2::ABSENT, bytes),
        cmdline: bytes(&p.cmdline),
        has_memory: u32::from(has_memory),
        zones: if zones.is_empty() {
            std::ptr::null()
        } else {
            zones.as_ptr()
        },
        zones_len: zones.len(),
        zone_size: size_of::<ZoneV2>(),
    }
}

/// The regions, borrowing their paths and flags. `UsageField`'s order is the ABI's
/// `usage` index order (a test checks it).
pub fn regions(regions: &[Region]) -> Vec<RegionV2> {
    regions
        .iter()
        .map(|r| {
            let mut usage = [0u64; abi::usage::SLOTS];
            let mut present = 0u64;
            for f in UsageField::ALL {
                if let Some(v) = r.usage.get(f) {
                    usage[f as usize] = v;
                    present |= 1 << (f as usize);
                }
            }
            let p = &r.perms;
            RegionV2 {
                start: r.start,
                end: r.end,
                offset: r.offset,
                inode: r.inode,
                dev_major: r.dev_major,
                dev_minor: r.dev_minor,
                perms: [
                    (p.read, abi::perms::READ),
                    (p.write, abi::perms::WRITE),
                    (p.exec, abi::perms::EXEC),
                    (p.shared, abi::perms::SHARED),
                ]
                .iter()
                .filter(|(on, _)| *on)
                .fold(0, |bits, (_, bit)| bits | bit),
                kind: r.kind.code(),
                path: r.path.as_deref().map_or(StrV2::ABSENT, bytes),
                vm_flags: r
                    .vm_flags
                    .as_deref()
                    .map_or(StrV2::ABSENT, |f| bytes(f.as_bytes())),
                usage_present: present,
                usage,
                region_type: r
                    .reported
                    .as_deref()
                    .map_or(StrV2::ABSENT, |x| bytes(x.region_type.as_bytes())),
                share_mode: r
                    .reported
                    .as_deref()
                    .and_then(|x| x.share_mode.as_deref())
                    .map_or(StrV2::ABSENT, |m| bytes(m.as_bytes())),
                detail: r
                    .reported
                    .as_deref()
                    .filter(|x| !x.detail.is_empty())
                    .map_or(StrV2::ABSENT, |x| bytes(x.detail.as_bytes())),
                max_perms: r.max_perms().map_or(0, |m| {
                    abi::perms::KNOWN
                        | [
                            (m[0] == b'r', abi::perms::READ),
                            (m[1] == b'w', abi::perms::WRITE),
                            (m[2] == b'x', abi::perms::EXEC),
                        ]
                        .iter()
                        .filter(|(on, _)| *on)
                        .fold(0, |bits, (_, bit)| bits | bit)
                }),
            }
        })
        .collect()
}

/// An options table in ABI form. The views point into `table` and into this value's own
/// storage, so both must outlive the call that uses [`OptionsView::entries`].
pub struct OptionsView<'t> {
    root: Box<[EntryV2]>,
    // Nested arrays and tables, kept alive (boxed slices do not move when this grows).
    _values: Vec<Box<[ValueV2]>>,
    _entries: Vec<Box<[EntryV2]>>,
    _texts: Vec<Box<str>>,
    _table: std::marker::PhantomData<&'t toml::Table>,
}

struct Builder {
    values: Vec<Box<[ValueV2]>>,
    entries: Vec<Box<[EntryV2]>>,
    texts: Vec<Box<str>>,
}

const EMPTY: ValueV2 = ValueV2 {
    kind: 0,
    int: 0,
    float: 0.0,
    text: StrV2::ABSENT,
    items: std::ptr::null(),
    items_len: 0,
    item_size: size_of::<ValueV2>(),
    entries: std::ptr::null(),
    entries_len: 0,
    entry_size: size_of::<EntryV2>(),
};

impl Builder {
    fn table(&mut self, t: &toml::Table) -> Box<[EntryV2]> {
        t.iter()
            .map(|(k, v)| EntryV2 {
                key: bytes(k.as_bytes()),
                value: self.value(v),
            })
            .collect()
    }

    fn value(&mut self, v: &toml::Value) -> ValueV2 {
        use abi::value_kind as k;
        match v {
            toml::Value::String(s) => ValueV2 {
                kind: k::STRING,
                text: bytes(s.as_bytes()),
                ..EMPTY
            },
            toml::Value::Integer(i) => ValueV2 {
                kind: k::INTEGER,
                int: *i,
                ..EMPTY
            },
            toml::Value::Float(f) => ValueV2 {
                kind: k::FLOAT,
                float: *f,
                ..EMPTY
            },
            toml::Value::Boolean(b) => ValueV2 {
                kind: k::BOOLEAN,
                int: i64::from(*b),
                ..EMPTY
            },
            toml::Value::Datetime(d) => {
                let text: Box<str> = d.to_string().into();
                let view = bytes(text.as_bytes());
                self.texts.push(text);
                ValueV2 {
                    kind: k::DATETIME,
                    text: view,
                    ..EMPTY
                }
            }
            toml::Value::Array(items) => {
                let items: Box<[ValueV2]> = items.iter().map(|i| self.value(i)).collect();
                let (ptr, len) = (items.as_ptr(), items.len());
                self.values.push(items);
                ValueV2 {
                    kind: k::ARRAY,
                    items: ptr,
                    items_len: len,
                    ..EMPTY
                }
            }
            toml::Value::Table(t) => {
                let entries = self.table(t);
                let (ptr, len) = (entries.as_ptr(), entries.len());
                self.entries.push(entries);
                ValueV2 {
                    kind: k::TABLE,
                    entries: ptr,
                    entries_len: len,
                    ..EMPTY
                }
            }
        }
    }
}

impl<'t> OptionsView<'t> {
    /// The ABI form of `table`.
    pub fn new(table: &'t toml::Table) -> OptionsView<'t> {
        let mut b = Builder {
            values: Vec::new(),
            entries: Vec::new(),
            texts: Vec::new(),
        };
        let root = b.table(table);
        OptionsView {
            root,
            _values: b.values,
            _entries: b.entries,
            _texts: b.texts,
            _table: std::marker::PhantomData,
        }
    }

    /// The top-level entries.
    pub fn entries(&self) -> &[EntryV2] {
        &self.root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_order_is_the_abi_order() {
        let pairs = [
            (UsageField::KernelPageSize, abi::usage::KERNEL_PAGE_SIZE),
            (UsageField::MmuPageSize, abi::usage::MMU_PAGE_SIZE),
            (UsageField::Rss, abi::usage::RSS),
            (UsageField::Pss, abi::usage::PSS),
            (UsageField::PssDirty, abi::usage::PSS_DIRTY),
            (UsageField::SharedClean, abi::usage::SHARED_CLEAN),
            (UsageField::SharedDirty, abi::usage::SHARED_DIRTY),
            (UsageField::PrivateClean, abi::usage::PRIVATE_CLEAN),
            (UsageField::PrivateDirty, abi::usage::PRIVATE_DIRTY),
            (UsageField::Referenced, abi::usage::REFERENCED),
            (UsageField::Anonymous, abi::usage::ANONYMOUS),
            (UsageField::Ksm, abi::usage::KSM),
            (UsageField::LazyFree, abi::usage::LAZY_FREE),
            (UsageField::AnonHugePages, abi::usage::ANON_HUGE_PAGES),
            (UsageField::ShmemPmdMapped, abi::usage::SHMEM_PMD_MAPPED),
            (UsageField::FilePmdMapped, abi::usage::FILE_PMD_MAPPED),
            (UsageField::SharedHugetlb, abi::usage::SHARED_HUGETLB),
            (UsageField::PrivateHugetlb, abi::usage::PRIVATE_HUGETLB),
            (UsageField::Swap, abi::usage::SWAP),
            (UsageField::SwapPss, abi::usage::SWAP_PSS),
            (UsageField::Locked, abi::usage::LOCKED),
            (UsageField::ThpEligible, abi::usage::THP_ELIGIBLE),
            (UsageField::ProtectionKey, abi::usage::PROTECTION_KEY),
            (UsageField::Dirty, abi::usage::DIRTY),
        ];
        assert_eq!(pairs.len(), UsageField::ALL.len());
        for (f, i) in pairs {
            assert_eq!(f as usize, i, "{f:?}");
        }
        assert!(UsageField::ALL.len() <= abi::usage::SLOTS);
    }

    #[test]
    fn options_round_trip_through_the_abi() {
        let table: toml::Table = toml::from_str(
            "a = 1\nb = \"x\"\nc = [true, 2.5]\nd = { e = \"f\" }\nt = 1979-05-27T07:32:00Z\n",
        )
        .unwrap();
        let view = OptionsView::new(&table);
        // SAFETY: the view and the table are alive for this call.
        let opts = unsafe {
            vmpipe_plugin::Options::from_raw(
                view.entries().as_ptr(),
                view.entries().len(),
                size_of::<EntryV2>(),
            )
        };
        use vmpipe_plugin::OptionValue as V;
        assert_eq!(opts.get("a"), Some(&V::Integer(1)));
        assert_eq!(opts.get("b"), Some(&V::String("x".into())));
        assert_eq!(
            opts.get("c"),
            Some(&V::Array(vec![V::Boolean(true), V::Float(2.5)]))
        );
        match opts.get("d") {
            Some(V::Table(t)) => assert_eq!(t.string("e"), Ok(Some("f"))),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            opts.get("t"),
            Some(&V::Datetime("1979-05-27T07:32:00Z".into()))
        );
    }
}
