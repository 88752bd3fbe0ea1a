//! `/proc/PID/smaps`: records of a maps header and `Name: value kB` field lines; the parser
//! with its learned shortcut must agree with its general path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmpipe_source::linux::smaps;

fuzz_target!(|data: &[u8]| {
    let mut regions = Vec::new();
    if let Err(e) = smaps::parse(data, &mut regions) {
        let _ = e.to_string();
    }
    for r in &regions {
        assert!(r.start <= r.end);
        let _ = format!("{r:?}");
    }
    // The learned shortcut changes nothing: the general path alone gives the same regions
    // and the same error.
    let mut general = Vec::new();
    let general_result = smaps::parse_general(data, &mut general);
    assert_eq!(regions, general);
    assert_eq!(
        format!("{:?}", smaps::parse(data, &mut Vec::new())),
        format!("{general_result:?}")
    );
});
