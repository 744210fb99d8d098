use crate::cli::HandbookArgs;
use anyhow::Context;
use std::io::Write;

pub fn handbook(args: HandbookArgs) -> anyhow::Result<()> {
    let cfg = sim::HandbookConfig {
        customers: args.customers,
        terminals: args.terminals,
        days: args.days,
        ..sim::HandbookConfig::default()
    };
    let started = std::time::Instant::now();
    let txs = sim::generate(&cfg);
    let generated = started.elapsed();
    let frauds = txs.iter().filter(|t| t.fraud).count();
    if args.out == "-" {
        let stdout = std::io::stdout();
        let mut w = std::io::BufWriter::new(stdout.lock());
        sim::write_csv(&mut w, cfg.start_date, &txs).context("write the CSV")?;
        w.flush().context("write the CSV")?;
    } else {
        let file =
            std::fs::File::create(&args.out).with_context(|| format!("create {}", args.out))?;
        let mut w = std::io::BufWriter::new(file);
        sim::write_csv(&mut w, cfg.start_date, &txs)
            .with_context(|| format!("write {}", args.out))?;
        w.flush().with_context(|| format!("write {}", args.out))?;
    }
    eprintln!(
        "{} transactions, {} frauds, generated in {:.2?}",
        txs.len(),
        frauds,
        generated
    );
    Ok(())
}
