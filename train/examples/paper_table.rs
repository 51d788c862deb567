//! Prints the paper comparison table (SPEC.md T7, B1) of a results file, as `hsnn reproduce`
//! prints it at the end of a run: what README.md's generated paper table holds for
//! `models/psmnist-paper/results.json`.
//!
//! `cargo run --release -p hsnn-train --example paper_table -- RESULTS.json`

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: paper_table RESULTS.json")?;
    let results = hsnn_train::report::Results::load(std::path::Path::new(&path))?;
    print!("{}", hsnn_train::report::render_paper_comparison(&results));
    Ok(())
}
