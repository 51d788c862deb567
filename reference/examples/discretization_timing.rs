//! Times the zero-order-hold discretization of the Legendre memory (clause L2: a matrix
//! exponential of an (order + 1)-square matrix) for the orders given on the command line:
//! `cargo run --release -p hsnn-reference --example discretization_timing -- 256 512 1024`.

use hsnn_spec::Discretizer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for argument in std::env::args().skip(1) {
        let order: usize = argument.parse()?;
        let start = std::time::Instant::now();
        hsnn_reference::legendre::lmu_matrices(order, 784.0, Discretizer::ZeroOrderHold)?;
        println!("order {order}: {:.3} s", start.elapsed().as_secs_f64());
    }
    Ok(())
}
