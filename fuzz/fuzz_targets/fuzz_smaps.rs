//! `/proc/PID/smaps`: records of a maps header and `Name: value kB` field lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmpipe::source::linux::smaps;

fuzz_target!(|data: &[u8]| {
    let mut regions = Vec::new();
    if let Err(e) = smaps::parse(data, &mut regions) {
        let _ = e.to_string();
    }
    for r in &regions {
        assert!(r.start <= r.end);
        let _ = format!("{r:?}");
    }
});
