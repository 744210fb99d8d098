use crate::cli::StoreArgs;
use anyhow::Context;
use model::{Currency, TxnId};

pub fn store_url(args: &StoreArgs) -> String {
    match &args.store_url {
        Some(url) => url.clone(),
        None => format!("sqlite:{}", args.data_dir.join("posguard.db").display()),
    }
}

/// Runs the ledger verifier over a store; exits non-zero when it finds a problem.
pub fn verify(args: StoreArgs) -> anyhow::Result<()> {
    let url = store_url(&args);
    if url.starts_with("sqlite:")
        && !args.data_dir.join("posguard.db").exists()
        && args.store_url.is_none()
    {
        anyhow::bail!(
            "no database in {} (start posguard once, or pass --data-dir)",
            args.data_dir.display()
        );
    }
    let store = store::open(&url).context("open the store")?;
    let mut verifier = ledger::Verifier::new();
    for card in store.cards().context("read cards")? {
        verifier.add_card(&card);
    }
    store
        .for_each_txn(&mut |t| {
            verifier.add_txn(t);
            Ok(())
        })
        .context("read transactions")?;
    store
        .for_each_entry(&mut |e| {
            verifier.add_entry(e);
            Ok(())
        })
        .context("read ledger entries")?;
    let report = verifier.finish();
    println!("transactions {}  entries {}", report.txns, report.entries);
    for (currency, sum) in &report.currency_sums {
        println!("currency {}  sum of entries {sum}", Currency(*currency));
    }
    for p in &report.problems {
        match p.txn_id {
            Some(TxnId(id)) => println!("problem: txn {id}: {}", p.what),
            None => println!("problem: {}", p.what),
        }
    }
    if !report.ok() {
        anyhow::bail!("ledger verify found {} problem(s)", report.problem_count);
    }
    println!("ledger verify: ok / 账务校验通过");
    Ok(())
}
