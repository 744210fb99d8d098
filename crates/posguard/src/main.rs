//! The posguard binary: parses arguments and reports the error of `try_main`.

mod cli;
mod http_client;
mod ledger_cmd;
mod loadgen_cmd;
mod risk_cmd;
mod risk_model_cmd;
mod send;
mod serve;
mod sim_cmd;
mod sim_drive;
mod txn_cmd;

use clap::Parser;

/// mimalloc instead of glibc's malloc: the host allocates on its link and authorizer
/// threads and frees on the committer and applier threads, the cross-thread pattern
/// glibc's arenas handle worst (measured: see README, Performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args = cli::Cli::parse();
    if let Err(e) = try_main(args) {
        eprintln!("posguard: {e:#}");
        std::process::exit(1);
    }
}

fn try_main(args: cli::Cli) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match args.command {
        cli::Command::Serve(a) => serve::run(a),
        cli::Command::Send(a) => send::run(a),
        cli::Command::Ledger(cli::LedgerCommand::Verify(a)) => ledger_cmd::verify(a),
        cli::Command::Merchant(c) => txn_cmd::merchant(c),
        cli::Command::Terminal(c) => txn_cmd::terminal(c),
        cli::Command::Keys(c) => txn_cmd::keys(c),
        cli::Command::Rules(c) => risk_cmd::rules(c),
        cli::Command::Risk(c) => risk_model_cmd::run(c),
        cli::Command::Alerts(c) => risk_cmd::alerts(c),
        cli::Command::Cases(c) => risk_cmd::cases(c),
        cli::Command::Card(c) => txn_cmd::card(c),
        cli::Command::Txn(c) => txn_cmd::txn(c),
        cli::Command::Sim(cli::SimCommand::Handbook(a)) => sim_cmd::handbook(a),
        cli::Command::Sim(cli::SimCommand::Drive(a)) => sim_drive::run(a),
        cli::Command::Loadgen(a) => loadgen_cmd::run(a),
    }
}
