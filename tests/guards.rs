//! The guard-detection built-in against what glibc itself says about a process's threads:
//! `pthread_getattr_np` gives each thread's usable stack and `pthread_attr_getguardsize` its
//! guard; malloc's own pointers locate the arena heaps.

mod support;

use std::collections::BTreeSet;

use support::{Table, start_target, sweep};

const ARENA: u64 = 64 << 20;

#[test]
fn guards_are_named_as_glibc_made_them() {
    let target = start_target("threadtarget", |_| Vec::new(), &[]);
    check(&target, 4, 0);
}

/// A thread without a guard has a stack nobody can tell from other memory: it is not
/// counted, and the table says so.
#[test]
fn a_thread_without_a_guard_shows_as_a_difference() {
    let target = start_target("threadtarget", |_| vec!["noguard".into()], &[]);
    check(&target, 4, -1);
}

/// Checks `target`: `guarded` thread stacks found, `difference` against `Threads:`.
fn check(target: &support::Target, guarded: usize, difference: i64) {
    target.stop();
    let (out, _) = sweep(&[target.pid()], &[]);
    let regions = Table::read(&out.path().join("regions.csv"));
    let rows = regions.rows_for(target.pid());
    let region_at = |start: u64| {
        rows.iter()
            .find(|r| regions.num(r, "start") == Some(start))
            .unwrap_or_else(|| panic!("no region at {start:x}"))
    };

    let mut want: BTreeSet<(u64, u64, &str)> = BTreeSet::new();
    let mut guarded_threads = 0;
    for line in &target.lines {
        let f: Vec<&str> = line.split(' ').collect();
        let hex = |s: &str| u64::from_str_radix(s, 16).unwrap();
        match f[0] {
            "stack" => {
                let (low, size, guard) = (hex(f[2]), hex(f[3]), hex(f[4]));
                // The usable stack is one rw-p region.
                let stack = region_at(low);
                assert_eq!(regions.num(stack, "end"), Some(low + size), "{line}");
                assert_eq!(regions.get(stack, "perms"), "rw-p");
                if guard > 0 {
                    guarded_threads += 1;
                    want.insert((low - guard, low, "thread-stack-guard"));
                }
            }
            "arena" => {
                let block = hex(f[2]) & !(ARENA - 1);
                // The heap's rw part starts at the block; the reserve runs to its end.
                let heap = region_at(block);
                let reserve_start = regions.num(heap, "end").unwrap();
                want.insert((reserve_start, block + ARENA, "heap-reserve"));
            }
            "reservation" => {
                want.insert((hex(f[1]), hex(f[2]), "reservation"));
            }
            "guardpage" => {
                want.insert((hex(f[1]), hex(f[2]), "guard-page"));
            }
            other => panic!("unexpected line {other}"),
        }
    }
    assert_eq!(guarded_threads, guarded, "{:?}", target.lines);
    let arenas = target
        .lines
        .iter()
        .filter(|l| l.starts_with("arena "))
        .count();
    assert!(
        arenas >= 4,
        "every thread got its own arena: {:?}",
        target.lines
    );
    assert_eq!(want.len(), guarded + arenas + 1 + 1);

    let got: BTreeSet<(u64, u64, &str)> = rows
        .iter()
        .filter(|r| !regions.get(r, "guard").is_empty())
        .map(|r| {
            (
                regions.num(r, "start").unwrap(),
                regions.num(r, "end").unwrap(),
                regions.get(r, "guard"),
            )
        })
        .collect();
    assert_eq!(got, want);

    // The per-process tables agree with the regions and with the kernel's thread count.
    let guards = Table::read(&out.path().join("guards.csv"));
    let mut by_kind: Vec<(String, u64, u64)> = guards
        .rows_for(target.pid())
        .iter()
        .map(|r| {
            (
                guards.get(r, "kind").to_string(),
                guards.num(r, "count").unwrap(),
                guards.num(r, "virtual").unwrap(),
            )
        })
        .collect();
    by_kind.sort();
    let mut expect: Vec<(String, u64, u64)> = Vec::new();
    for kind in [
        "guard-page",
        "heap-reserve",
        "reservation",
        "thread-stack-guard",
    ] {
        let of: Vec<_> = want.iter().filter(|w| w.2 == kind).collect();
        expect.push((
            kind.to_string(),
            of.len() as u64,
            of.iter().map(|w| w.1 - w.0).sum(),
        ));
    }
    assert_eq!(by_kind, expect);

    let status = std::fs::read_to_string(format!("/proc/{}/status", target.pid())).unwrap();
    let threads: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let started = target
        .lines
        .iter()
        .filter(|l| l.starts_with("stack "))
        .count();
    assert_eq!(
        threads as usize,
        started + 1,
        "the main thread and the started ones"
    );
    let stacks = Table::read(&out.path().join("thread_stacks.csv"));
    let row = stacks.rows_for(target.pid())[0];
    assert_eq!(stacks.num(row, "threads"), Some(threads));
    assert_eq!(stacks.num(row, "thread_stacks"), Some(guarded as u64));
    assert_eq!(stacks.get(row, "main_stack"), "true");
    assert_eq!(stacks.get(row, "difference"), difference.to_string());
    if difference == 0 {
        // Every thread but the main one was found by its guard: Threads: - 1.
        assert_eq!(guarded as u64, threads - 1);
    }
}

/// A vmmap report names its guards: every `STACK GUARD` row is a thread-stack-guard and every
/// `MALLOC guard page` row a guard-page, counted from the report's own lines.
#[test]
fn vmmap_report_guards_map_to_the_same_kinds() {
    let file =
        support::repo().join("tests/fixtures/vmmap/vmmap_shared_library_demo_macos14.0_arm64.txt");
    let text = std::fs::read_to_string(&file).unwrap();
    let rows = |ty: &str| {
        text.lines()
            .filter(|l| l.starts_with(ty) && l.contains('[') && l.contains("SM="))
            .count() as u64
    };
    let out = support::run_offline("vmmap-report.toml", &file);
    let guards = Table::read(&out.path().join("guards.csv"));
    let count = |kind: &str| {
        guards
            .rows
            .iter()
            .find(|r| guards.get(r, "kind") == kind)
            .and_then(|r| guards.num(r, "count"))
            .unwrap_or(0)
    };
    assert!(rows("STACK GUARD") > 0 && rows("MALLOC guard page") > 0);
    assert_eq!(count("thread-stack-guard"), rows("STACK GUARD"));
    assert_eq!(count("guard-page"), rows("MALLOC guard page"));
    let regions = Table::read(&out.path().join("regions.csv"));
    for r in &regions.rows {
        let want = match regions.get(r, "region_type") {
            "STACK GUARD" => "thread-stack-guard",
            "MALLOC guard page" => "guard-page",
            _ => "",
        };
        assert_eq!(regions.get(r, "guard"), want);
    }
}
