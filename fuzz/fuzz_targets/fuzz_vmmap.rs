//! macOS `vmmap` reports: the report parser, then (through a file, as `vmpipe` reads one) the
//! vmmap-report source that turns a parsed report into a process and its regions. The
//! parsed report must hold at most its budget, and at most a fixed multiple of its input
//! (the worst shapes found: a blank line inside a table makes a 100-byte warning, `A 1` a
//! 185-byte table row; 256 per byte leaves room for vectors' doubling).
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vmpipe_source::limits::{VMMAP_LINE_BYTES, VMMAP_PARSED_BYTES};
use vmpipe_source::vmmap;
use vmpipe_source::vmmap::VmmapReports;
use vmpipe_source::{Selection, Source};

fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("vmpipe-fuzz-vmmap-{}.txt", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let report = match vmmap::parse(data) {
        Ok(r) => r,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let kept = report.kept_bytes();
    assert!(
        kept <= VMMAP_PARSED_BYTES + 4 * VMMAP_LINE_BYTES,
        "{kept} bytes kept, over the budget"
    );
    assert!(
        kept <= 256 * data.len() + (64 << 10),
        "{kept} bytes kept of a {}-byte input",
        data.len()
    );
    for w in &report.warnings {
        let _ = w.to_string();
    }
    for r in &report.regions {
        assert!(
            r.start <= r.end,
            "a region row with END below START was accepted"
        );
        let _ = r.size();
    }
    let _ = format!("{report:?}");

    let path = scratch();
    std::fs::write(path, data).expect("write the scratch file");
    let reports = VmmapReports::open(path, Selection::default()).expect("open a report file");
    let _ = reports.describe();
    for pid in reports.list().expect("list") {
        if let Some(c) = reports.collect(pid) {
            for r in &c.regions {
                assert!(r.start <= r.end);
            }
            let _ = format!("{c:?}");
        }
    }
});
