//! `/proc/PID/status` and `/proc/PID/stat`, both fed the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmpipe_source::linux::{stat, status};

fuzz_target!(|data: &[u8]| {
    match status::parse(data) {
        Ok(f) => {
            let _ = format!("{f:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    match stat::parse(data) {
        Ok(f) => {
            // The name is what lies between the first `(` and the last `)`.
            assert!(f.comm.len() + 2 <= data.len());
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
