//! Same input, same bytes: the thread count does not change the output.

mod support;

use support::{start_map_target, sweep};

#[test]
fn one_and_two_threads_write_identical_tables() {
    let targets: Vec<_> = (0..4).map(|_| start_map_target(&[])).collect();
    for t in &targets {
        t.stop();
    }
    let pids: Vec<u32> = targets.iter().map(|t| t.pid()).collect();
    // A small batch size is not configurable from the CLI; many pids across two threads is
    // the case that would reorder.
    let (one, _) = sweep(&pids, &["--threads", "1"]);
    let (two, _) = sweep(&pids, &["--threads", "2"]);
    let (again, _) = sweep(&pids, &["--threads", "2"]);
    for table in ["regions.csv", "processes.csv", "errors.csv"] {
        let a = std::fs::read(one.path().join(table)).unwrap();
        let b = std::fs::read(two.path().join(table)).unwrap();
        let c = std::fs::read(again.path().join(table)).unwrap();
        assert!(a == b && b == c, "{table} differs between runs");
    }
    let regions = std::fs::read_to_string(one.path().join("regions.csv")).unwrap();
    assert!(regions.lines().count() > 4 * 15);
    // Rows are in pid order, then address order.
    let table = support::Table::read(&one.path().join("regions.csv"));
    let keys: Vec<(u64, u64)> = table
        .rows
        .iter()
        .map(|r| (table.num(r, "pid").unwrap(), table.num(r, "start").unwrap()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}
