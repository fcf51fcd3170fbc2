//! Fuzz target: the component version parser and its ordering on arbitrary strings. Parsing
//! must never panic, and the order must stay consistent (antisymmetric, equal to itself, and
//! in agreement with `==`), since vulnerable ranges are decided by it.
#![no_main]

use std::cmp::Ordering;

use hashward_firmware::vulns::Version;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Two versions from one input: split at the first NUL when there is one.
    let (a, b) = text.split_once('\0').unwrap_or((&text, "1.0.2k"));
    let (Some(x), Some(y)) = (Version::parse(a), Version::parse(b)) else {
        return;
    };
    assert_eq!(x.cmp(&x), Ordering::Equal);
    assert_eq!(x.cmp(&y), y.cmp(&x).reverse());
    assert_eq!(x == y, x.cmp(&y) == Ordering::Equal);
    // The canonical form parses back to an equal version (it can be one character longer than
    // the input, `4.0rc1` -> `4.0-rc1`, so only within the length bound).
    let canonical = x.to_string();
    if canonical.len() <= 64 {
        let again = Version::parse(&canonical);
        assert!(again.is_some_and(|z| z == x), "{a:?} -> {x}");
    }
    // Looking it up in the built-in table never panics.
    let _ = hashward_firmware::vulns::builtin().lookup("openssl", a);
});
