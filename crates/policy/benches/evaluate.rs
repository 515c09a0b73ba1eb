//! Evaluation benchmark (being written).
fn main() {}
