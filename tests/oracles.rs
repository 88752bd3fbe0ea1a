//! vmpipe's numbers against tools nobody here wrote: the kernel's own `smaps_rollup`,
//! `pmap -XX` and `smem`, on a stopped, statically linked process at a unique path (whose
//! pages nobody else maps, so Pss and USS cannot move while we look).

mod support;

use std::collections::HashMap;
use std::process::Command;

use support::{Table, kb_fields, start_map_target, sweep};

#[test]
fn region_sums_equal_smaps_rollup_exactly() {
    let target = start_map_target(&[]);
    target.stop();
    let (out, _) = sweep(&[target.pid()], &[]);
    let rollup = kb_fields(
        &std::fs::read_to_string(format!("/proc/{}/smaps_rollup", target.pid())).unwrap(),
    );
    let regions = Table::read(&out.path().join("regions.csv"));
    let rows = regions.rows_for(target.pid());
    assert!(rows.len() >= 15, "only {} regions", rows.len());
    let sum = |col: &str| -> u64 { rows.iter().map(|r| regions.num(r, col).unwrap()).sum() };
    assert_eq!(sum("rss"), rollup["Rss"], "Rss");
    assert_eq!(sum("pss"), rollup["Pss"], "Pss");
    assert_eq!(sum("swap"), rollup["Swap"], "Swap");
    assert_eq!(
        sum("private_clean") + sum("private_dirty"),
        rollup["Private_Clean"] + rollup["Private_Dirty"],
        "USS"
    );
    assert_eq!(sum("anonymous"), rollup["Anonymous"], "Anonymous");
    assert_eq!(sum("shared_clean"), rollup["Shared_Clean"], "Shared_Clean");
    assert!(rollup["Rss"] > 0);

    // processes.csv carries the same totals.
    let procs = Table::read(&out.path().join("processes.csv"));
    let p = procs.rows_for(target.pid());
    assert_eq!(p.len(), 1);
    assert_eq!(procs.num(p[0], "rss"), Some(rollup["Rss"]));
    assert_eq!(procs.num(p[0], "pss"), Some(rollup["Pss"]));
    assert_eq!(
        procs.num(p[0], "uss"),
        Some(rollup["Private_Clean"] + rollup["Private_Dirty"])
    );
    assert_eq!(procs.num(p[0], "swap"), Some(rollup["Swap"]));
}

/// pmap's column name → vmpipe's column, for every numeric pmap -XX column.
fn pmap_column(name: &str) -> String {
    match name {
        "Size" => "size".into(),
        "KernelPageSize" => "kernel_page_size".into(),
        "MMUPageSize" => "mmu_page_size".into(),
        "THPeligible" => "thp_eligible".into(),
        "ProtectionKey" => "protection_key".into(),
        "KSM" => "ksm".into(),
        "SwapPss" => "swap_pss".into(),
        "LazyFree" => "lazy_free".into(),
        "AnonHugePages" => "anon_huge_pages".into(),
        "ShmemPmdMapped" => "shmem_pmd_mapped".into(),
        "FilePmdMapped" => "file_pmd_mapped".into(),
        other => other.to_lowercase(),
    }
}

#[test]
fn every_region_row_equals_pmap_xx() {
    support::require_tool("pmap", "procps");
    let target = start_map_target(&[]);
    target.stop();
    let (out, _) = sweep(&[target.pid()], &[]);
    let pmap = Command::new("pmap")
        .args(["-XX", &target.pid().to_string()])
        .output()
        .expect("run pmap");
    assert!(pmap.status.success());
    let text = String::from_utf8_lossy(&pmap.stdout);
    let mut lines = text.lines().skip(1);
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    // Address Perm Offset Device Inode, then numeric columns up to VmFlags.
    let numeric: Vec<&str> = header[5..]
        .iter()
        .take_while(|h| **h != "VmFlags")
        .copied()
        .collect();
    assert!(
        numeric.contains(&"Rss") && numeric.contains(&"Pss"),
        "{header:?}"
    );

    let regions = Table::read(&out.path().join("regions.csv"));
    let rows = regions.rows_for(target.pid());
    let mut compared = 0;
    for (line, row) in lines
        .take_while(|l| !l.trim_start().starts_with("===="))
        .zip(&rows)
    {
        let f: Vec<&str> = line.split_whitespace().collect();
        let start = u64::from_str_radix(f[0], 16).unwrap();
        assert_eq!(regions.num(row, "start"), Some(start), "{line}");
        assert_eq!(regions.get(row, "perms"), f[1], "{line}");
        assert_eq!(
            regions.num(row, "offset"),
            Some(u64::from_str_radix(f[2], 16).unwrap())
        );
        assert_eq!(regions.get(row, "device"), f[3], "{line}");
        assert_eq!(
            regions.num(row, "inode"),
            Some(f[4].parse().unwrap()),
            "{line}"
        );
        for (i, name) in numeric.iter().enumerate() {
            let pmap_value: u64 = f[5 + i].parse().unwrap();
            let col = pmap_column(name);
            let ours = regions.num(row, &col).unwrap();
            let want = if matches!(*name, "THPeligible" | "ProtectionKey") {
                pmap_value
            } else {
                pmap_value * 1024
            };
            assert_eq!(ours, want, "{name} of region at {:x}", start);
        }
        compared += 1;
    }
    assert_eq!(
        compared,
        rows.len(),
        "pmap listed a different number of regions"
    );
}

#[test]
fn process_totals_equal_smem() {
    support::require_tool("smem", "smem");
    // smem (Python) skips processes whose command line is not valid UTF-8, so this target's
    // file has a plain name.
    let target = support::start_map_target_with(&[], b"plain.bin");
    target.stop();
    let (out, _) = sweep(&[target.pid()], &[]);
    let smem = Command::new("smem")
        .args(["-H", "-c", "pid uss pss rss swap"])
        .output()
        .expect("run smem");
    assert!(
        smem.status.success(),
        "{}",
        String::from_utf8_lossy(&smem.stderr)
    );
    let text = String::from_utf8_lossy(&smem.stdout);
    let mine: HashMap<&str, u64> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.first() == Some(&target.pid().to_string().as_str()))
        .map(|f| {
            ["uss", "pss", "rss", "swap"]
                .iter()
                .zip(&f[1..])
                .map(|(k, v)| (*k, v.parse::<u64>().unwrap() * 1024))
                .collect()
        })
        .expect("smem lists the target");
    let procs = Table::read(&out.path().join("processes.csv"));
    let row = procs.rows_for(target.pid())[0];
    for col in ["uss", "pss", "rss", "swap"] {
        assert_eq!(procs.num(row, col), Some(mine[col]), "{col}");
    }
}
