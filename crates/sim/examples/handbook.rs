//! Generates the Handbook dataset, reports its size, fraud counts and generation time, and
//! writes it as CSV when given a path: `cargo run --release -p sim --example handbook [out.csv]`.
//! `SIM_THREADS=1` times the single-threaded path.

use std::fs::File;
use std::io::BufWriter;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let threads = std::env::var("SIM_THREADS").map_or(Ok(0), |v| v.parse())?;
    let cfg = sim::HandbookConfig {
        threads,
        ..Default::default()
    };
    let started = Instant::now();
    let dataset = sim::generate_dataset(&cfg);
    let elapsed = started.elapsed();
    println!(
        "{} transactions, {} frauds, added {:?}, labelled {:?}, generated in {:.3} s",
        dataset.transactions.len(),
        dataset.fraud.total(),
        dataset.fraud.added,
        dataset.fraud.labelled,
        elapsed.as_secs_f64()
    );
    if let Some(path) = std::env::args_os().nth(1) {
        let out = BufWriter::new(File::create(&path)?);
        sim::write_csv(out, cfg.start_date, &dataset.transactions)?;
        println!("written to {}", path.to_string_lossy());
    }
    Ok(())
}
