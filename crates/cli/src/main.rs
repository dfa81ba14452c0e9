//! The `coffer` binary.

fn main() {}
