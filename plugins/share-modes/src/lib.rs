//! # share-modes — vmmap's share modes on Linux, and who really owns the memory
//!
//! A vmpipe built-in analyzer. Region column `share_mode` uses vmmap's `SHRMOD` vocabulary.
//! Where the source reports a share mode (a vmmap report) it is passed through unchanged;
//! on Linux it is derived from the mapping's flags and the smaps page counts, first rule that
//! matches:
//!
//! | mode  | rule (Linux) | why |
//! |-------|--------------|-----|
//! | (empty) | the source has no residency (`maps` detail) | without page counts no mode can be told |
//! | `NUL` | `Rss = 0` and `Swap = 0` | no page resident or swapped: vmmap's "empty" |
//! | `SHM` | the mapping is shared (`s` in the permissions: `MAP_SHARED`, SysV/POSIX shm, shared file mappings) | writes are seen by every process mapping it |
//! | `COW` | private, and some of its pages are shared: `Shared_Clean + Shared_Dirty > 0` (pages another process maps: after `fork`, or a library's file pages), or swapped pages are shared (`SwapPss < Swap`), or it maps a file and not every resident page is anonymous (`Anonymous < Rss`: unwritten file pages, still the page cache's) | copy-on-write: shared until written |
//! | `PRV` | private, every resident or swapped page belongs to this process alone | private |
//!
//! vmmap's `ZER` (zero-filled), `ALI` (aliased) and `S/A` (shared alias) describe macOS
//! memory-object states that `/proc` does not expose (an untouched page reads from the shared
//! zero page, which smaps does not count): they are never derived on Linux, only passed
//! through from reports.
//!
//! Tables:
//!
//! * `share_modes` (per process): per mode, `regions, virtual, resident, dirty, swapped`
//!   (dirty is `Shared_Dirty + Private_Dirty`, or the report's DIRTY). Summed over the modes,
//!   `resident` and `swapped` equal the process's `rss` and `swap`.
//! * `modes_by_machine` (run-wide): the same per mode across every process, plus `processes`.
//! * `users` (run-wide, like `smem -u`): per real uid, the user name on this machine, `count`
//!   of processes, `swap`, `uss`, `pss`, `rss`.
//!
//! Option `exact = true` (root only): per region, reads `/proc/PID/pagemap` and
//! `/proc/kpagecount` and counts the resident pages this process maps alone
//! (`exact_private`, bytes) and those mapped more than once (`exact_shared`): true sharing,
//! not the kernel's proportional estimate. Without root the kernel hides page frame numbers,
//! and the run stops with a message saying so. The page map is opened through the `/proc/PID`
//! handle vmpipe holds since it collected the process (host service `open`, `PAGEMAP`): a
//! process replaced under its pid since then gets no counts and a warning, never the
//! newcomer's pages.

mod exact;

use std::collections::BTreeMap;
use std::sync::Mutex;

use vmpipe_plugin::abi::usage;
use vmpipe_plugin::{Analyzer, Host, Options, Process, Region, RegionKind, Regions, Schema, Value};

/// A share mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    /// Copy-on-write.
    Cow,
    /// Private.
    Prv,
    /// Empty.
    Nul,
    /// Zero-filled (reports only).
    Zer,
    /// Shared.
    Shm,
    /// Aliased (reports only).
    Ali,
    /// Shared alias (reports only).
    SharedAlias,
}

impl Mode {
    /// The vmmap name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Cow => "COW",
            Mode::Prv => "PRV",
            Mode::Nul => "NUL",
            Mode::Zer => "ZER",
            Mode::Shm => "SHM",
            Mode::Ali => "ALI",
            Mode::SharedAlias => "S/A",
        }
    }

    /// The mode for a vmmap name.
    pub fn from_vmmap(s: &str) -> Option<Mode> {
        Some(match s {
            "COW" => Mode::Cow,
            "PRV" => Mode::Prv,
            "NUL" => Mode::Nul,
            "ZER" => Mode::Zer,
            "SHM" => Mode::Shm,
            "ALI" => Mode::Ali,
            "S/A" => Mode::SharedAlias,
            _ => return None,
        })
    }
}

/// The share mode of a region: the reported one, else derived by the table in the crate docs.
pub fn mode(r: &Region) -> Option<Mode> {
    if let Some(m) = r.reported_share_mode() {
        return Mode::from_vmmap(m);
    }
    let rss = r.rss()?;
    let swap = r.swap().unwrap_or(0);
    if rss == 0 && swap == 0 {
        return Some(Mode::Nul);
    }
    if r.shared() {
        return Some(Mode::Shm);
    }
    let shared_pages = r
        .usage(usage::SHARED_CLEAN)
        .unwrap_or(0)
        .saturating_add(r.usage(usage::SHARED_DIRTY).unwrap_or(0));
    let swap_shared = r.usage(usage::SWAP_PSS).is_some_and(|p| p < swap);
    let file = matches!(r.kind(), RegionKind::File | RegionKind::Memfd);
    let unwritten_file_pages = file && r.usage(usage::ANONYMOUS).is_some_and(|a| a < rss);
    if shared_pages > 0 || swap_shared || unwritten_file_pages {
        Some(Mode::Cow)
    } else {
        Some(Mode::Prv)
    }
}

/// Dirty bytes of a region: the report's, else `Shared_Dirty + Private_Dirty`.
fn dirty(r: &Region) -> Option<u64> {
    r.usage(usage::DIRTY).or_else(|| {
        Some(
            r.usage(usage::SHARED_DIRTY)?
                .saturating_add(r.usage(usage::PRIVATE_DIRTY)?),
        )
    })
}

/// Totals of one mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Totals {
    processes: u64,
    regions: u64,
    virt: u64,
    resident: Option<u64>,
    dirty: Option<u64>,
    swapped: Option<u64>,
}

fn add(t: &mut Option<u64>, v: Option<u64>) {
    *t = match (*t, v) {
        (Some(a), Some(b)) => Some(a.saturating_add(b)),
        _ => None,
    };
}

impl Totals {
    fn empty() -> Totals {
        Totals {
            resident: Some(0),
            dirty: Some(0),
            swapped: Some(0),
            ..Totals::default()
        }
    }
    /// The figures that end a `share_modes` (per process) and a `modes_by_machine`
    /// (run-wide) row.
    fn figures(&self) -> [Value<'static>; 5] {
        [
            Value::U64(self.regions),
            Value::U64(self.virt),
            Value::from(self.resident),
            Value::from(self.dirty),
            Value::from(self.swapped),
        ]
    }

    fn merge(&mut self, o: &Totals) {
        self.regions = self.regions.saturating_add(o.regions);
        self.virt = self.virt.saturating_add(o.virt);
        add(&mut self.resident, o.resident);
        add(&mut self.dirty, o.dirty);
        add(&mut self.swapped, o.swapped);
    }
}

/// Per-user totals (like `smem -u`).
#[derive(Clone, Copy, Debug, Default)]
struct User {
    count: u64,
    swap: Option<u64>,
    uss: Option<u64>,
    pss: Option<u64>,
    rss: Option<u64>,
}

/// The analyzer.
pub struct ShareModes {
    exact: bool,
    modes: Mutex<BTreeMap<Mode, Totals>>,
    users: Mutex<BTreeMap<u32, User>>,
}

fn sum(regions: &[Region], f: impl Fn(&Region) -> Option<u64>) -> Option<u64> {
    regions
        .iter()
        .try_fold(0u64, |acc, r| Some(acc.saturating_add(f(r)?)))
}

vmpipe_plugin::region_columns! {
    REGION_COLUMNS = [
        MODE: Text = (
            "share_mode",
            "COW, PRV, NUL, SHM (derived on Linux, as reported otherwise); ZER, ALI, S/A from reports"
        ),
        EXACT_PRIVATE: U64 = (
            "exact_private",
            "with exact = true: bytes of resident pages this process alone maps (pagemap + kpagecount)"
        ),
        EXACT_SHARED: U64 = (
            "exact_shared",
            "with exact = true: bytes of resident pages also mapped elsewhere"
        ),
    ];
}

vmpipe_plugin::tables! {
    TABLES = [
        PROCESS: Process (
            "share_modes",
            "one share mode of one process"
        ) {
            "mode": Text = "the share mode",
            "regions": U64 = "regions",
            "virtual": U64 = "virtual bytes",
            "resident": U64 = "resident bytes (Rss)",
            "dirty": U64 = "dirty bytes (Shared_Dirty + Private_Dirty)",
            "swapped": U64 = "swapped bytes",
        },
        MACHINE: Run (
            "modes_by_machine",
            "one share mode across every process swept"
        ) {
            "mode": Text = "the share mode",
            "processes": U64 = "processes with regions of that mode",
            "regions": U64 = "regions",
            "virtual": U64 = "virtual bytes",
            "resident": U64 = "resident bytes",
            "dirty": U64 = "dirty bytes",
            "swapped": U64 = "swapped bytes",
        },
        USERS: Run (
            "users",
            "memory by user across every process swept (like smem -u)"
        ) {
            "uid": U64 = "real uid",
            "user": Bytes = "its name on this machine (empty when unknown)",
            "count": U64 = "processes",
            "swap": U64 = "swapped bytes",
            "uss": U64 = "unique set size: Private_Clean + Private_Dirty",
            "pss": U64 = "proportional set size",
            "rss": U64 = "resident set size",
        },
    ];
}

impl Analyzer for ShareModes {
    const SCHEMA: Schema = Schema::new(
        "share-modes",
        "1.0.0",
        "vmmap's share modes (COW, PRV, NUL, SHM, …) for every region, per-mode totals, and memory by user (like smem -u)",
    )
    .region_columns(REGION_COLUMNS)
    .tables(TABLES);

    fn create(options: &Options) -> vmpipe_plugin::Result<Self> {
        options.only(&["exact"])?;
        let exact = options.boolean("exact")?.unwrap_or(false);
        if exact {
            exact::check_access()?;
        }
        Ok(ShareModes {
            exact,
            modes: Mutex::new(BTreeMap::new()),
            users: Mutex::new(BTreeMap::new()),
        })
    }

    fn analyze(
        &self,
        process: &Process<'_>,
        regions: &Regions<'_>,
        host: &mut Host<'_>,
    ) -> vmpipe_plugin::Result {
        let regions: Vec<Region> = regions.iter().collect();
        let regions = regions.as_slice();
        let mut per_mode: BTreeMap<Mode, Totals> = BTreeMap::new();
        for (i, r) in regions.iter().enumerate() {
            let Some(m) = mode(r) else { continue };
            host.set(i, MODE, m.as_str())?;
            let t = per_mode.entry(m).or_insert_with(Totals::empty);
            t.merge(&Totals {
                processes: 0,
                regions: 1,
                virt: r.size(),
                resident: r.rss(),
                dirty: dirty(r),
                swapped: r.swap(),
            });
        }
        if self.exact && process.has_memory() {
            let pages = exact::count(host, process.pid(), regions);
            match pages {
                Ok(per_region) => {
                    for (i, (private, shared)) in per_region.into_iter().enumerate() {
                        host.set(i, EXACT_PRIVATE, private)?;
                        host.set(i, EXACT_SHARED, shared)?;
                    }
                }
                Err(e) => host.warn(&format!("exact page counts: {e}")),
            }
        }
        for (m, t) in &per_mode {
            let [a, b, c, d, e] = t.figures();
            host.row(PROCESS, [Value::Text(m.as_str()), a, b, c, d, e])?;
        }
        {
            let mut modes = self.modes.lock().unwrap_or_else(|e| e.into_inner());
            for (m, t) in &per_mode {
                let all = modes.entry(*m).or_insert_with(Totals::empty);
                all.processes += 1;
                all.merge(t);
            }
        }
        if let Some(uid) = process.uid().filter(|_| !regions.is_empty()) {
            let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
            let u = users.entry(uid).or_insert(User {
                count: 0,
                swap: Some(0),
                uss: Some(0),
                pss: Some(0),
                rss: Some(0),
            });
            u.count += 1;
            add(&mut u.swap, sum(regions, |r| r.swap()));
            add(
                &mut u.uss,
                sum(regions, |r| {
                    Some(
                        r.usage(usage::PRIVATE_CLEAN)?
                            .saturating_add(r.usage(usage::PRIVATE_DIRTY)?),
                    )
                }),
            );
            add(&mut u.pss, sum(regions, |r| r.pss()));
            add(&mut u.rss, sum(regions, |r| r.rss()));
        }
        Ok(())
    }

    fn finish(&self, host: &mut Host<'_>) -> vmpipe_plugin::Result {
        let modes = self.modes.lock().unwrap_or_else(|e| e.into_inner());
        for (m, t) in modes.iter() {
            let [a, b, c, d, e] = t.figures();
            host.row(
                MACHINE,
                [
                    Value::Text(m.as_str()),
                    Value::U64(t.processes),
                    a,
                    b,
                    c,
                    d,
                    e,
                ],
            )?;
        }
        let users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        for (uid, u) in users.iter() {
            let name = uzers::get_user_by_uid(*uid).map(|u| u.name().as_encoded_bytes().to_vec());
            host.row(
                USERS,
                [
                    Value::U64(u64::from(*uid)),
                    Value::Bytes(name.as_deref().unwrap_or(&[])),
                    Value::U64(u.count),
                    Value::from(u.swap),
                    Value::from(u.uss),
                    Value::from(u.pss),
                    Value::from(u.rss),
                ],
            )?;
        }
        Ok(())
    }
}

vmpipe_plugin::export!(ShareModes, share_modes);

#[cfg(test)]
mod tests {
    use super::*;
    use vmpipe_plugin::testing::{self, Fixture, Harness, OwnedValue as O, Region};

    /// One region per rule of the table in the crate docs, as smaps prints them.
    const SMAPS: &[u8] = b"\
00400000-00402000 r-xp 00000000 08:01 12                         /bin/x
Rss:                   8 kB
Pss:                   2 kB
Shared_Clean:          8 kB
Shared_Dirty:          0 kB
Private_Clean:         0 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
Swap:                  0 kB
SwapPss:               0 kB
01000000-01001000 rw-p 00000000 00:00 0                          [heap]
Rss:                   4 kB
Pss:                   4 kB
Shared_Clean:          0 kB
Shared_Dirty:          0 kB
Private_Clean:         0 kB
Private_Dirty:         4 kB
Anonymous:             4 kB
Swap:                  0 kB
SwapPss:               0 kB
7f0000000000-7f0000004000 rw-p 00000000 00:00 0 
Rss:                   0 kB
Pss:                   0 kB
Shared_Clean:          0 kB
Shared_Dirty:          0 kB
Private_Clean:         0 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
Swap:                  0 kB
SwapPss:               0 kB
7f0000004000-7f0000005000 rw-s 00000000 00:05 99                 /dev/shm/x
Rss:                   4 kB
Pss:                   2 kB
Shared_Clean:          0 kB
Shared_Dirty:          4 kB
Private_Clean:         0 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
Swap:                  0 kB
SwapPss:               0 kB
7f0000005000-7f0000007000 rw-p 00000000 00:00 0 
Rss:                   0 kB
Pss:                   0 kB
Shared_Clean:          0 kB
Shared_Dirty:          0 kB
Private_Clean:         0 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
Swap:                  8 kB
SwapPss:               4 kB
7f0000007000-7f0000009000 rw-p 00002000 08:01 12                 /bin/x
Rss:                   8 kB
Pss:                   8 kB
Shared_Clean:          0 kB
Shared_Dirty:          0 kB
Private_Clean:         4 kB
Private_Dirty:         4 kB
Anonymous:             4 kB
Swap:                  0 kB
SwapPss:               0 kB
";

    fn fixture() -> Fixture {
        Fixture::from_smaps(7, SMAPS)
            .expect("the fixture parses")
            .uid(0)
    }

    #[test]
    fn every_rule_gives_its_mode_and_the_totals_add_up() {
        let out = testing::run::<ShareModes>(&fixture());
        assert!(out.is_clean(), "{out:#?}");
        let modes: Vec<Option<&str>> = out.column("share_mode").iter().map(O::as_text).collect();
        assert_eq!(
            modes,
            [
                Some("COW"), // shared clean pages (a library's text)
                Some("PRV"), // every page private
                Some("NUL"), // nothing resident or swapped
                Some("SHM"), // MAP_SHARED
                Some("COW"), // swapped pages shared (SwapPss < Swap)
                Some("COW"), // a file's pages not all anonymous: still the page cache's
            ]
        );
        let k = |n: u64| O::U64(n << 10);
        assert_eq!(
            out.rows("share_modes"),
            [
                vec![O::from("COW"), O::U64(3), k(24), k(16), k(4), k(8)],
                vec![O::from("PRV"), O::U64(1), k(4), k(4), k(4), k(0)],
                vec![O::from("NUL"), O::U64(1), k(16), k(0), k(0), k(0)],
                vec![O::from("SHM"), O::U64(1), k(4), k(4), k(4), k(0)],
            ]
        );
        // smem -u for uid 0: USS is Private_Clean + Private_Dirty.
        assert_eq!(
            out.rows("users"),
            [vec![
                O::U64(0),
                O::Bytes(b"root".to_vec()),
                O::U64(1),
                k(8),
                k(12),
                k(16),
                k(24)
            ]]
        );
        assert!(out.column("exact_private").iter().all(O::is_absent));
    }

    #[test]
    fn a_maps_sweep_has_no_modes_and_a_report_passes_its_own() {
        let maps = b"00400000-00402000 r-xp 00000000 08:01 12 /bin/x\n";
        let out = testing::run::<ShareModes>(&Fixture::from_maps(7, maps).expect("maps"));
        assert_eq!(out.column("share_mode"), [O::Absent]);
        assert!(out.rows("share_modes").is_empty());
        let report = Fixture::new(8).region(
            Region::new(0x1000, 0x2000)
                .perms("r-xp")
                .share_mode("ZER")
                .rss(0),
        );
        let out = testing::run::<ShareModes>(&report);
        assert_eq!(out.column("share_mode"), [O::from("ZER")]);
    }

    #[test]
    fn the_machine_table_counts_processes() {
        let h = Harness::create::<ShareModes>(&Options::default()).expect("created");
        for _ in 0..2 {
            assert!(h.analyze(&fixture()).is_clean());
        }
        let out = h.finish();
        let cow = &out.rows("modes_by_machine")[0];
        assert_eq!(cow[..3], [O::from("COW"), O::U64(2), O::U64(6)]);
        assert_eq!(out.rows("users")[0][2], O::U64(2));
    }

    #[test]
    fn exact_needs_a_known_option() {
        let bad = Options::from_entries(vec![(
            "exact".into(),
            vmpipe_plugin::OptionValue::String("yes".into()),
        )]);
        let Err(out) = Harness::create::<ShareModes>(&bad) else {
            panic!("created with exact = \"yes\"");
        };
        assert_eq!(out.errors[0].option.as_deref(), Some("exact"));
    }
}
