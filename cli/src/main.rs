//! The `hsnn` command line (issue 3 fills it in).

fn main() {}
