//! # guard-detection — which regions exist only to catch overflows or to reserve address space
//!
//! A vmpipe built-in analyzer. It looks at the `PROT_NONE` (`---p`) private anonymous regions
//! of a process and their neighbours, and names what each one is for. The rules, applied in
//! this order to every such region `N`:
//!
//! | kind                 | rule |
//! |----------------------|------|
//! | `thread-stack-guard` | `N` is at most 1 MiB, and the region directly above it (starting where `N` ends) is a private anonymous `rw-p` region of at least 16 KiB that is not `[heap]` or `[stack]`: glibc, musl and the Rust runtime create a thread stack as one mapping and turn its lowest pages into the guard (`pthread_attr_getguardsize` bytes). |
//! | `heap-reserve`       | `N` ends on a 64 MiB boundary, and the region directly below it is a private anonymous `rw-p` region starting inside the same 64 MiB block: a glibc malloc arena heap (`HEAP_MAX_SIZE` = 64 MiB on 64-bit) reserves its block `PROT_NONE` and makes it readable and writable from the bottom as it grows. |
//! | `reservation`        | `N` is larger than 1 MiB: address space reserved for later (JVM and V8 heaps and code caches, Go arenas, ASan shadow memory, …). |
//! | `guard-page`         | `N` is at most 1 MiB and touches a writable anonymous region on either side (guard pages of allocators, JITs, `sigaltstack`, …). |
//!
//! **vmmap reports** name their guards: `STACK GUARD` is a `thread-stack-guard` (the one whose
//! detail says `thread 0` guards the main thread's stack and is not counted as a thread stack)
//! and `MALLOC guard page` a `guard-page`; no other rule is applied to a report's regions.
//!
//! A `PROT_NONE` region that matches no rule (a file-backed alignment gap between a shared
//! library's segments, for instance) gets no kind. The main thread's stack has no guard region:
//! the kernel keeps a guard gap below `[stack]` that is not a mapping.
//!
//! Output:
//!
//! * region column `guard`: the kind, or empty;
//! * table `guards` (per process): `kind, count, virtual` for every kind present;
//! * table `thread_stacks` (per process): `thread_stacks` (regions identified as the stacks of
//!   threads other than the main one), `main_stack` (whether `[stack]` is mapped), `threads`
//!   (the process's own count, `/proc/PID/status` `Threads:`), and `difference`
//!   (`thread_stacks + main_stack - threads`). A thread created without a guard
//!   (`pthread_attr_setguardsize(0)`, Go's goroutines on their own stacks) makes it negative;
//!   glibc keeps the stacks of exited threads mapped for reuse, which makes it positive. Both
//!   are facts worth seeing; neither is hidden.
//!
//! It needs no residency figures (a `maps`-only sweep suffices) and no memory access.

use vmpipe_plugin::{Analyzer, Host, Options, Process, Region, RegionKind, Regions, Schema, Value};

const MIB: u64 = 1 << 20;
/// The largest region treated as a guard (thread stack guard or guard page).
pub const GUARD_MAX: u64 = MIB;
/// The smallest region treated as a thread stack (glibc's `PTHREAD_STACK_MIN`).
pub const STACK_MIN: u64 = 16 << 10;
/// glibc's `HEAP_MAX_SIZE` on 64-bit: the size and alignment of a malloc arena heap.
pub const ARENA_HEAP: u64 = 64 * MIB;

/// What a guard region is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum GuardKind {
    /// The guard below a thread's stack.
    ThreadStackGuard,
    /// The unused tail of a glibc malloc arena heap.
    HeapReserve,
    /// Large reserved address space.
    Reservation,
    /// A small guard next to writable memory.
    GuardPage,
}

impl GuardKind {
    /// Every kind, in table order.
    pub const ALL: [GuardKind; 4] = [
        GuardKind::ThreadStackGuard,
        GuardKind::HeapReserve,
        GuardKind::Reservation,
        GuardKind::GuardPage,
    ];

    /// The name used in the output.
    pub fn as_str(self) -> &'static str {
        match self {
            GuardKind::ThreadStackGuard => "thread-stack-guard",
            GuardKind::HeapReserve => "heap-reserve",
            GuardKind::Reservation => "reservation",
            GuardKind::GuardPage => "guard-page",
        }
    }
}

fn private_anon(r: &Region) -> bool {
    r.kind() == RegionKind::Anon && !r.shared()
}

fn prot_none(r: &Region) -> bool {
    !r.readable() && !r.writable() && !r.executable()
}

fn rw_anon(r: &Region) -> bool {
    private_anon(r) && r.readable() && r.writable() && !r.executable()
}

/// What the regions are for: one entry per region (`None` for ordinary regions), and how many
/// regions were identified as thread stacks (not counting the main `[stack]`).
///
/// `regions` must be in address order, as vmpipe gives them.
pub fn classify(regions: &[Region]) -> (Vec<Option<GuardKind>>, usize) {
    let mut kinds = vec![None; regions.len()];
    let mut stacks = 0;
    if regions.iter().any(|r| r.region_type().is_some()) {
        // A report names its guards itself.
        for (i, r) in regions.iter().enumerate() {
            kinds[i] = match r.region_type() {
                Some("STACK GUARD") => {
                    if !r.detail().is_some_and(|d| d.ends_with("thread 0")) {
                        stacks += 1;
                    }
                    Some(GuardKind::ThreadStackGuard)
                }
                Some("MALLOC guard page") => Some(GuardKind::GuardPage),
                _ => None,
            };
        }
        return (kinds, stacks);
    }
    for (i, n) in regions.iter().enumerate() {
        if !(prot_none(n) && private_anon(n)) {
            continue;
        }
        let above = regions.get(i + 1).filter(|a| a.start() == n.end());
        let below = i
            .checked_sub(1)
            .and_then(|j| regions.get(j))
            .filter(|b| b.end() == n.start());
        let size = n.size();
        kinds[i] =
            if size <= GUARD_MAX && above.is_some_and(|a| rw_anon(a) && a.size() >= STACK_MIN) {
                stacks += 1;
                Some(GuardKind::ThreadStackGuard)
            } else if n.end() % ARENA_HEAP == 0
                && below.is_some_and(|b| rw_anon(b) && b.start() >= n.end() - ARENA_HEAP)
            {
                Some(GuardKind::HeapReserve)
            } else if size > GUARD_MAX {
                Some(GuardKind::Reservation)
            } else if above.is_some_and(|a| private_anon(a) && a.writable())
                || below.is_some_and(|b| private_anon(b) && b.writable())
            {
                Some(GuardKind::GuardPage)
            } else {
                None
            };
    }
    (kinds, stacks)
}

/// The analyzer.
pub struct GuardDetection;

vmpipe_plugin::region_columns! {
    REGION_COLUMNS = [
        GUARD: Text = (
            "guard",
            "thread-stack-guard, heap-reserve, reservation or guard-page; empty for other regions"
        ),
    ];
}

vmpipe_plugin::tables! {
    TABLES = [
        GUARDS: Process ("guards", "guard regions of one process, by kind") {
            "kind": Text = "what the regions are for",
            "count": U64 = "how many regions",
            "virtual": U64 = "their total size in bytes",
        },
        THREAD_STACKS: Process ("thread_stacks", "thread stacks found against the process's own thread count") {
            "thread_stacks": U64 = "stacks of threads other than the main one, found by their guards",
            "main_stack": Bool = "the main thread's [stack] is mapped",
            "threads": U64 = "the process's thread count (Threads: in /proc/PID/status)",
            "difference": I64 = "thread_stacks + main_stack - threads",
        },
    ];
}

impl Analyzer for GuardDetection {
    const SCHEMA: Schema = Schema::new(
        "guard-detection",
        "1.0.0",
        "names the PROT_NONE regions: thread stack guards, malloc arena heap reserves, address-space reservations, guard pages",
    )
    .region_columns(REGION_COLUMNS)
    .tables(TABLES);

    fn create(options: &Options) -> vmpipe_plugin::Result<Self> {
        options.only(&[])?;
        Ok(GuardDetection)
    }

    fn analyze(
        &self,
        process: &Process<'_>,
        regions: &Regions<'_>,
        host: &mut Host<'_>,
    ) -> vmpipe_plugin::Result {
        let regions: Vec<Region> = regions.iter().collect();
        if regions.is_empty() {
            // A kernel thread, or a process whose map could not be read: nothing to say.
            return Ok(());
        }
        let (kinds, stacks) = classify(&regions);
        let mut totals = [(0u64, 0u64); GuardKind::ALL.len()];
        for (i, k) in kinds.iter().enumerate() {
            if let Some(k) = k {
                host.set(i, GUARD, k.as_str())?;
                let t = &mut totals[*k as usize];
                t.0 += 1;
                t.1 = t.1.saturating_add(regions[i].size());
            }
        }
        for (k, (count, bytes)) in GuardKind::ALL.iter().zip(totals) {
            if count > 0 {
                host.row(
                    GUARDS,
                    [
                        Value::Text(k.as_str()),
                        Value::U64(count),
                        Value::U64(bytes),
                    ],
                )?;
            }
        }
        let main = regions.iter().any(|r| r.kind() == RegionKind::Stack);
        let found = stacks as i64 + i64::from(main);
        let threads = process.threads();
        host.row(
            THREAD_STACKS,
            [
                Value::U64(stacks as u64),
                Value::Bool(main),
                Value::from(threads.map(u64::from)),
                Value::from(threads.map(|t| found - i64::from(t))),
            ],
        )?;
        Ok(())
    }
}

vmpipe_plugin::export!(GuardDetection, guard_detection);

#[cfg(test)]
mod tests {
    use super::*;
    use vmpipe_plugin::testing::{self, Fixture, OwnedValue as O, Region as R};

    /// One region for each rule, and one for none, as maps prints them.
    const MAPS: &[u8] = b"\
00400000-00401000 r-xp 00000000 08:01 12 /lib/x.so
00401000-00600000 ---p 00001000 08:01 12 /lib/x.so
7e0000000000-7e0000021000 rw-p 00000000 00:00 0
7e0000021000-7e0004000000 ---p 00000000 00:00 0
7f0000000000-7f0010000000 ---p 00000000 00:00 0
7f1000000000-7f1000001000 ---p 00000000 00:00 0
7f1000001000-7f1000801000 rw-p 00000000 00:00 0
7f2000000000-7f2000001000 rw-p 00000000 00:00 0
7f2000001000-7f2000002000 ---p 00000000 00:00 0
7f2000002000-7f2000003000 rw-p 00000000 00:00 0
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]
";

    #[test]
    fn each_rule_names_its_regions_and_the_tables_count_them() {
        let f = Fixture::from_maps(9, MAPS).expect("maps").threads(3);
        let out = testing::run::<GuardDetection>(&f);
        assert!(out.is_clean(), "{out:#?}");
        let kinds: Vec<Option<&str>> = out.column("guard").iter().map(O::as_text).collect();
        assert_eq!(
            kinds,
            [
                None,
                None, // a library's alignment gap: file-backed
                None,
                Some("heap-reserve"),
                Some("reservation"),
                Some("thread-stack-guard"),
                None,
                None,
                Some("guard-page"),
                None,
                None,
            ]
        );
        assert_eq!(
            out.rows("guards"),
            [
                vec![O::from("thread-stack-guard"), O::U64(1), O::U64(0x1000)],
                vec![
                    O::from("heap-reserve"),
                    O::U64(1),
                    O::U64(0x4000000 - 0x21000)
                ],
                vec![O::from("reservation"), O::U64(1), O::U64(0x10000000)],
                vec![O::from("guard-page"), O::U64(1), O::U64(0x1000)],
            ]
        );
        // One thread stack found, the main stack mapped, three threads: one stack missing.
        assert_eq!(
            out.rows("thread_stacks"),
            [vec![O::U64(1), O::Bool(true), O::U64(3), O::I64(-1)]]
        );
    }

    #[test]
    fn a_report_names_its_guards_and_no_rule_is_applied() {
        let f = Fixture::new(3)
            .region(
                R::new(0x1000, 0x2000)
                    .region_type("STACK GUARD")
                    .detail("stack guard for thread 0"),
            )
            .region(
                R::new(0x2000, 0x3000)
                    .region_type("STACK GUARD")
                    .detail("stack guard for thread 1"),
            )
            .region(R::new(0x3000, 0x4000).region_type("MALLOC guard page"))
            .region(R::new(0x10000000, 0x30000000).region_type("VM_ALLOCATE"));
        let out = testing::run::<GuardDetection>(&f);
        let kinds: Vec<Option<&str>> = out.column("guard").iter().map(O::as_text).collect();
        assert_eq!(
            kinds,
            [
                Some("thread-stack-guard"),
                Some("thread-stack-guard"),
                Some("guard-page"),
                None
            ]
        );
        // Thread 0's guard is the main thread's: one thread stack; threads unknown.
        assert_eq!(
            out.rows("thread_stacks"),
            [vec![O::U64(1), O::Bool(false), O::Absent, O::Absent]]
        );
    }

    #[test]
    fn a_process_without_regions_gets_no_rows_and_options_are_refused() {
        let out = testing::run::<GuardDetection>(&Fixture::new(2));
        assert!(
            out.is_clean() && out.rows("thread_stacks").is_empty(),
            "{out:#?}"
        );
        let opts = Options::from_entries(vec![(
            "strict".into(),
            vmpipe_plugin::OptionValue::Boolean(true),
        )]);
        let out = testing::run_with::<GuardDetection>(&opts, &Fixture::new(2));
        assert_eq!(out.errors[0].option.as_deref(), Some("strict"), "{out:#?}");
    }
}
