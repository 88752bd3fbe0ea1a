//! A whole-machine sweep with every built-in analyzer: it succeeds, no analyzer fails on any
//! process, and the run-wide tables agree with the region rows.

mod support;

use std::collections::{BTreeSet, HashMap};

use support::Table;

#[test]
fn a_whole_machine_sweep_with_all_analyzers_succeeds() {
    let out = tempfile::tempdir().unwrap();
    let run = support::vmpipe()
        .arg("run")
        .arg(support::repo().join("pipelines/all-procs.toml"))
        .arg("--out")
        .arg(out.path())
        .arg("-q")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let procs = Table::read(&out.path().join("processes.csv"));
    assert!(procs.rows.len() > 5);
    let errors = Table::read(&out.path().join("errors.csv"));
    let analyzer_errors: Vec<String> = errors
        .rows
        .iter()
        .filter(|r| !errors.get(r, "plugin").is_empty())
        .map(|r| format!("{r:?}"))
        .collect();
    assert!(analyzer_errors.is_empty(), "{analyzer_errors:#?}");

    // libraries.csv: for each image, the processes whose regions map it.
    let regions = Table::read(&out.path().join("regions.csv"));
    let mut mapping: HashMap<&str, BTreeSet<u64>> = HashMap::new();
    for r in &regions.rows {
        let image = regions.get(r, "image");
        if !image.is_empty() {
            mapping
                .entry(image)
                .or_default()
                .insert(regions.num(r, "pid").unwrap());
        }
    }
    let libraries = Table::read(&out.path().join("libraries.csv"));
    let me = u64::from(std::process::id());
    let mut libc_seen = false;
    for l in &libraries.rows {
        let image = libraries.get(l, "image");
        let pids = mapping
            .get(image)
            .unwrap_or_else(|| panic!("{image} in no region row"));
        assert_eq!(
            libraries.num(l, "processes"),
            Some(pids.len() as u64),
            "{image}"
        );
        if image.ends_with("/libc.so.6") && pids.contains(&me) {
            libc_seen = true;
            assert!(
                pids.len() >= 2,
                "libc is mapped by this test and the processes around it"
            );
        }
    }
    assert!(
        libc_seen,
        "libc.so.6 mapped by this very test process is in libraries.csv"
    );
}
