//! Captures: the input is written to a file (a `.tar`, or a `.tar.gz` when it starts with the
//! gzip magic), indexed, opened as a capture source, and every process in it collected — which
//! parses its archived `status`, `stat`, `smaps` or `maps`, `comm`, `cmdline`, `exe` and `error`.
//! The path classifier is fed the input's text too.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vmpipe_source::capture::Capture;
use vmpipe_source::capture::index::{self, Index};
use vmpipe_source::{Selection, Source};

fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("vmpipe-fuzz-capture-{}.tar", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(&data[..data.len().min(4096)]);
    for line in text.split(['\n', '\0']) {
        if let Some((_, name)) = index::classify(line) {
            assert!(index::FILES.contains(&name));
        }
    }

    let path = scratch();
    std::fs::write(path, data).expect("write the scratch file");
    match Index::open(path) {
        Ok(ix) => assert!(!ix.processes.is_empty()),
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    }
    let capture = match Capture::open(path, Selection::default()) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let _ = capture.describe();
    let pids = match capture.list() {
        Ok(p) => p,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    for pid in pids {
        if let Some(c) = capture.collect(pid) {
            for r in &c.regions {
                assert!(r.start <= r.end);
            }
            let _ = format!("{c:?}");
        }
    }
});
