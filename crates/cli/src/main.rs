//! The `hashward` binary.
fn main() {}
