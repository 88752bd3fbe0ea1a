//! CSV cell escaping: `unescape(escape(b)) == b` for every byte string, the formula guard is
//! undone by `unguard`, and `unescape`/`display` take any text without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmpipe_source::model::escape as cell;

fuzz_target!(|data: &[u8]| {
    let escaped = cell::escape(data);
    assert_eq!(
        cell::unescape(&escaped).as_deref(),
        Some(data),
        "escape then unescape changed the bytes (escaped: {escaped:?})"
    );

    // escape_into appends to what is already there.
    let mut out = b"x,".to_vec();
    cell::escape_into(data, &mut out);
    assert_eq!(&out[2..], escaped.as_bytes());

    // The formula guard is reversible.
    let mut guarded = escaped.clone().into_bytes();
    cell::guard_from(&mut guarded, 0);
    let guarded = String::from_utf8(guarded).expect("a guarded cell is UTF-8");
    assert!(
        !guarded
            .as_bytes()
            .first()
            .is_some_and(|b| cell::FORMULA_STARTS.contains(b) && *b != b'\'')
    );
    assert_eq!(cell::unguard(&guarded), escaped);

    // Any text: unescape never panics, and what it gives escapes back to a cell that unescapes
    // to the same bytes.
    let text = String::from_utf8_lossy(data);
    if let Some(bytes) = cell::unescape(&text) {
        assert_eq!(
            cell::unescape(&cell::escape(&bytes)).as_deref(),
            Some(&bytes[..])
        );
    }

    // display never lets a control character through.
    let shown = cell::display(data);
    assert!(!shown.chars().any(|c| c.is_control()));
});
