//! Reading maps and smaps as a stream: cut into pieces anywhere (the first bytes of the input
//! choose the piece size, the longest record, the file limit and the parse budget), the stream
//! gives a prefix of what the whole-file parser gives, all of it when nothing was cut short,
//! and never holds more parsed data than its budget.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmpipe_source::model::Region;
use vmpipe_source::budget::Budget;
use vmpipe_source::linux::map_stream::{MapFormat, Sizes, StreamError, parse_stream_sized};
use vmpipe_source::linux::{ParseError, maps, smaps};

fuzz_target!(|data: &[u8]| {
    let [a, b, c, d, text @ ..] = data else {
        return;
    };
    let format = if a & 1 == 0 {
        MapFormat::Maps
    } else {
        MapFormat::Smaps
    };
    let sizes = Sizes {
        piece: 1 + usize::from(*b) * 3,
        max_record: 64 + usize::from(*c) * 16,
        max_file: 256 + u64::from(*d) * 256,
    };
    let limit = usize::from(a >> 1) * 400;
    let mut budget = Budget::new(limit);
    let mut streamed: Vec<Region> = Vec::new();
    let mut buf = Vec::new();
    let r = parse_stream_sized(text, format, &mut buf, &mut streamed, &mut budget, sizes);
    assert!(budget.used() <= limit);
    assert!(streamed.len() * std::mem::size_of::<Region>() <= limit);
    assert!(buf.capacity() <= 4 * (sizes.piece + sizes.max_record) + 64);

    let mut whole = Vec::new();
    let whole_r = match format {
        MapFormat::Maps => maps::parse(text, &mut whole),
        MapFormat::Smaps => smaps::parse(text, &mut whole),
    };
    assert!(streamed.len() <= whole.len());
    // Every region the stream kept is the whole parser's, in order — except the last one of a
    // stream cut inside a record, which may lack the fields after the cut.
    let cut = matches!(
        r,
        Err(StreamError::Parse(
            ParseError::OverBudget { .. } | ParseError::RecordTooLong { .. } | ParseError::TooLarge { .. }
        ))
    );
    let same = if cut {
        streamed.len().saturating_sub(1)
    } else {
        streamed.len()
    };
    assert_eq!(&streamed[..same], &whole[..same]);
    match &r {
        Ok(()) => {
            assert_eq!(whole_r, Ok(()));
            assert_eq!(streamed, whole);
        }
        Err(StreamError::Parse(e)) if !cut => {
            // A refusal of the text itself is the whole parser's refusal at the same line.
            assert_eq!(Err(e.clone()), whole_r);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
