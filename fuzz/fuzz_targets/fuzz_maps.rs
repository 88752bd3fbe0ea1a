//! `/proc/PID/maps`: the whole-file parser and the line parser, which must agree, and the line
//! parser's one-pass shortcut with its general tokenizer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmpipe_source::linux::maps;

fuzz_target!(|data: &[u8]| {
    let mut regions = Vec::new();
    let whole = maps::parse(data, &mut regions);
    if let Err(e) = &whole {
        let _ = e.to_string();
    }
    let mut ok_lines = 0usize;
    for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let parsed = maps::parse_line(line);
        // The one-pass reading of the kernel's form changes nothing: the general tokenizer
        // gives the same fields or the same error.
        assert_eq!(parsed, maps::parse_general(line));
        match parsed {
            Ok(l) => {
                assert!(
                    l.start <= l.end,
                    "a maps line with end below start was accepted"
                );
                let _ = maps::decode_path(l.path);
                ok_lines += 1;
            }
            Err(e) => {
                let _ = e.to_string();
                break;
            }
        }
    }
    // The file parser keeps every region before the first bad line, and no more.
    assert_eq!(regions.len(), ok_lines);
    for r in &regions {
        assert!(r.start <= r.end);
    }
});
