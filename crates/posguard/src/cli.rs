use clap::{Args, Parser, Subcommand};
use host::config::ClientAuth;
use std::path::PathBuf;

/// posguard: a POS host with risk control built in.
#[derive(Parser)]
#[command(name = "posguard", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the host: terminal link, HTTP API, embedded database.
    Serve(ServeArgs),
    /// Send one ISO 8583 request over the terminal link, as a terminal would.
    Send(SendArgs),
    /// Ledger checks.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Provision merchants (through the HTTP API).
    #[command(subcommand)]
    Merchant(MerchantCommand),
    /// Provision terminals (through the HTTP API).
    #[command(subcommand)]
    Terminal(TerminalCommand),
    /// Provision cards of the stand-in issuer (through the HTTP API).
    #[command(subcommand)]
    Card(CardCommand),
    /// List and show transactions (through the HTTP API).
    #[command(subcommand)]
    Txn(TxnCommand),
    /// Simulators.
    #[command(subcommand)]
    Sim(SimCommand),
    /// Simulated terminals over TCP: throughput, latency percentiles and an ack log.
    Loadgen(crate::loadgen_cmd::LoadgenArgs),
    /// The keystore (through the HTTP API): import keys, list check values, rotate the KEK.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Risk rules: back-test over history (offline), show and install (HTTP API).
    #[command(subcommand)]
    Rules(RulesCommand),
    /// The fraud model: train, evaluate on the Handbook's protocols, install (HTTP API).
    #[command(subcommand)]
    Risk(RiskCommand),
    /// Risk alerts (through the HTTP API).
    #[command(subcommand)]
    Alerts(AlertCommand),
    /// Risk cases: list, show, assign, comment, escalate, close (through the HTTP API).
    #[command(subcommand)]
    Cases(CaseCommand),
}

#[derive(Subcommand)]
pub enum RulesCommand {
    /// Runs a rule set over stored history (or a simulator CSV) and reports per rule its
    /// hits, hit rate, and precision and recall against the known fraud labels.
    Backtest(BacktestArgs),
    /// The rule set in force.
    Show {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Installs `.rules` files as the new rule set (checked in full first; no restart).
    Install {
        #[command(flatten)]
        api: ApiArgs,
        files: Vec<PathBuf>,
    },
}

#[derive(Args)]
pub struct BacktestArgs {
    /// Rule files to test (default: the shipped packs).
    #[arg(long = "rules")]
    pub rules: Vec<PathBuf>,
    /// A CSV written by `posguard sim handbook` (its TX_FRAUD column is the label),
    /// instead of the stored history.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Merchants' offset from UTC (minutes), for time-of-day rules over stored history.
    #[arg(long, default_value_t = 480)]
    pub utc_offset_minutes: i32,
}

#[derive(Subcommand)]
pub enum AlertCommand {
    List {
        #[command(flatten)]
        api: ApiArgs,
        #[arg(long)]
        case: Option<u64>,
    },
}

#[derive(Subcommand)]
pub enum CaseCommand {
    List {
        #[command(flatten)]
        api: ApiArgs,
        /// open, escalated or closed.
        #[arg(long)]
        status: Option<String>,
    },
    Show {
        #[command(flatten)]
        api: ApiArgs,
        id: u64,
    },
    Assign {
        #[command(flatten)]
        api: ApiArgs,
        id: u64,
        #[arg(long)]
        to: String,
    },
    Comment {
        #[command(flatten)]
        api: ApiArgs,
        id: u64,
        #[arg(long)]
        text: String,
    },
    Escalate {
        #[command(flatten)]
        api: ApiArgs,
        id: u64,
        #[arg(long)]
        note: Option<String>,
    },
    /// Closes a case as fraud or not_fraud: its transactions are labelled.
    Close {
        #[command(flatten)]
        api: ApiArgs,
        id: u64,
        /// fraud or not_fraud.
        #[arg(long)]
        outcome: String,
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Every key's id, usage, algorithm and check value (never the key).
    List {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Import a key as 2 or 3 clear components (`--component HEX:KCV`, one per custodian),
    /// or as a TR-31 key block under a stored KBPK.
    Import {
        #[command(flatten)]
        api: ApiArgs,
        #[arg(long)]
        id: String,
        /// bdk, kbpk, zone_pin, pin_verification_pvv, pin_verification_ibm3624...
        #[arg(long)]
        usage: Option<String>,
        /// tdes, aes128, aes192, aes256.
        #[arg(long)]
        algorithm: Option<String>,
        #[arg(long = "component")]
        components: Vec<String>,
        #[arg(long)]
        tr31: Option<String>,
        #[arg(long)]
        kbpk: Option<String>,
    },
    /// Re-wrap every key under a new master key while the host keeps serving.
    RotateKek {
        #[command(flatten)]
        api: ApiArgs,
        /// A file on the host with the new KEK (64 hex digits, mode 0600). Without it, a
        /// host whose KEK is a file generates the new one and replaces the file.
        #[arg(long)]
        new_kek_file: Option<String>,
    },
}

#[derive(Args, Clone)]
pub struct StoreArgs {
    /// Data directory of the embedded database.
    #[arg(long, env = "POSGUARD_DATA_DIR", default_value = "posguard-data")]
    pub data_dir: PathBuf,
    /// Store URL (sqlite:PATH or postgres://...); overrides --data-dir's database.
    #[arg(long, env = "POSGUARD_STORE_URL")]
    pub store_url: Option<String>,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Seed a demo merchant, terminals and test cards, and print how to use them.
    #[arg(long)]
    pub demo: bool,
    /// TOML configuration file.
    #[arg(long, env = "POSGUARD_CONFIG")]
    pub config: Option<PathBuf>,
    #[arg(long, env = "POSGUARD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    #[arg(long, env = "POSGUARD_STORE_URL")]
    pub store_url: Option<String>,
    /// Terminal link address (default 127.0.0.1:8583).
    #[arg(long, env = "POSGUARD_LINK_LISTEN")]
    pub link_listen: Option<String>,
    /// HTTP API address (default 127.0.0.1:8080).
    #[arg(long, env = "POSGUARD_HTTP_LISTEN")]
    pub http_listen: Option<String>,
    /// Link framing: binary2 or ascii4.
    #[arg(long, env = "POSGUARD_LINK_FRAMING")]
    pub framing: Option<String>,
    /// Field spec: posguard-ascii, posguard-binary or a JSON file.
    #[arg(long, env = "POSGUARD_LINK_SPEC")]
    pub spec: Option<String>,
    /// Terminal dialect of the link: generic, unionpay (docs/unionpay.md) or auto (both,
    /// told apart by the UnionPay TPDU id 0x60 after the length).
    #[arg(long, env = "POSGUARD_LINK_PROFILE")]
    pub link_profile: Option<String>,
    /// UnionPay MAC of terminals whose profile names none: ecb, ecb-3des, x9.19, x9.9.
    #[arg(long, env = "POSGUARD_LINK_UNIONPAY_MAC")]
    pub link_unionpay_mac: Option<String>,
    /// Close connections idle for this long (ms).
    #[arg(long, env = "POSGUARD_IDLE_TIMEOUT_MS")]
    pub idle_timeout_ms: Option<u64>,
    /// Forward authorizations to this upstream ISO 8583 host (host:port).
    #[arg(long, env = "POSGUARD_UPSTREAM")]
    pub upstream: Option<String>,
    /// When the upstream is down: stand_in or decline.
    #[arg(long, env = "POSGUARD_UPSTREAM_ON_UNAVAILABLE")]
    pub upstream_on_unavailable: Option<String>,
    /// The master key-encrypting key: a file of 64 hex digits, mode 0600 (or set
    /// POSGUARD_KEK to the hex itself). `--demo` creates one in the data directory.
    #[arg(long, env = "POSGUARD_KEK_FILE")]
    pub kek_file: Option<String>,
    /// Risk control in the authorization path: on (default) or off.
    #[arg(long, env = "POSGUARD_RISK", value_parser = ["on", "off"])]
    pub risk: Option<String>,
    /// When risk control itself fails: open (default: the issuer's checks decide, an
    /// alert is raised) or closed (decline 96).
    #[arg(long, env = "POSGUARD_RISK_FAIL", value_parser = ["open", "closed"])]
    pub risk_fail: Option<String>,
    /// Terminal link TLS listener address (off unless set, with --link-tls-cert/-key).
    #[arg(long, env = "POSGUARD_LINK_TLS_LISTEN")]
    pub link_tls_listen: Option<String>,
    /// PEM certificate chain of the link's TLS listener.
    #[arg(long, env = "POSGUARD_LINK_TLS_CERT")]
    pub link_tls_cert: Option<PathBuf>,
    /// PEM private key of the link's TLS listener.
    #[arg(long, env = "POSGUARD_LINK_TLS_KEY")]
    pub link_tls_key: Option<PathBuf>,
    /// PEM CA bundle for terminals' client certificates (mutual TLS).
    #[arg(long, env = "POSGUARD_LINK_TLS_CLIENT_CA")]
    pub link_tls_client_ca: Option<PathBuf>,
    /// Terminals' client certificates: required (default) or optional.
    #[arg(long, env = "POSGUARD_LINK_TLS_CLIENT_AUTH")]
    pub link_tls_client_auth: Option<ClientAuth>,
    /// PEM certificate chain: set (with --http-tls-key), the API speaks HTTPS only.
    #[arg(long, env = "POSGUARD_HTTP_TLS_CERT")]
    pub http_tls_cert: Option<PathBuf>,
    /// PEM private key of the API's certificate.
    #[arg(long, env = "POSGUARD_HTTP_TLS_KEY")]
    pub http_tls_key: Option<PathBuf>,
    /// PEM CA bundle for API clients' certificates (mutual TLS).
    #[arg(long, env = "POSGUARD_HTTP_TLS_CLIENT_CA")]
    pub http_tls_client_ca: Option<PathBuf>,
    /// API clients' certificates: required (default) or optional.
    #[arg(long, env = "POSGUARD_HTTP_TLS_CLIENT_AUTH")]
    pub http_tls_client_auth: Option<ClientAuth>,
}

#[derive(Args)]
pub struct SendArgs {
    /// purchase, preauth, completion, refund, void, balance, reversal, advice, echo, signon, settle
    pub what: String,
    #[arg(long, env = "POSGUARD_LINK", default_value = "127.0.0.1:8583")]
    pub link: String,
    #[arg(long, default_value = "TERM0001")]
    pub terminal: String,
    #[arg(long)]
    pub merchant: Option<String>,
    #[arg(long)]
    pub pan: Option<String>,
    /// YYMM
    #[arg(long)]
    pub expiry: Option<String>,
    /// Amount in minor units (12500 = 125.00).
    #[arg(long)]
    pub amount: Option<u64>,
    /// ISO 4217 numeric currency.
    #[arg(long, default_value = "156")]
    pub currency: String,
    /// STAN (field 11); default: derived from the clock.
    #[arg(long)]
    pub stan: Option<String>,
    /// Transmission date and time MMDDhhmmss (field 7); default: now (UTC).
    #[arg(long)]
    pub transmitted: Option<String>,
    /// RRN of the original (field 37) for void, refund and completion.
    #[arg(long)]
    pub original_rrn: Option<String>,
    /// STAN of the original, for reversals (field 90 with --original-transmitted).
    #[arg(long)]
    pub original_stan: Option<String>,
    #[arg(long)]
    pub original_transmitted: Option<String>,
    /// Settlement totals: debit count, debit amount, credit count, credit amount.
    #[arg(long, num_args = 4, value_names = ["DEBITS", "DEBIT_MINOR", "CREDITS", "CREDIT_MINOR"])]
    pub totals: Option<Vec<u64>>,
    #[arg(long, default_value = "posguard-ascii")]
    pub spec: String,
    #[arg(long, default_value = "binary2")]
    pub framing: String,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 10)]
    pub timeout_secs: u64,
    #[command(flatten)]
    pub dukpt: crate::send::DukptArgs,
    /// Connect over TLS, trusting this PEM CA bundle for the host's certificate.
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
    /// PEM client certificate chain for mutual TLS (with --tls-key).
    #[arg(long, requires = "tls_key", requires = "tls_ca")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The name the host's certificate must carry; default: the host part of --link.
    #[arg(long, requires = "tls_ca")]
    pub tls_server_name: Option<String>,
}

#[derive(Subcommand)]
pub enum LedgerCommand {
    /// Check that every currency balances and every transaction's entries match its state.
    Verify(StoreArgs),
}

#[derive(Args, Clone)]
pub struct ApiArgs {
    /// Base URL of the HTTP API.
    #[arg(long, env = "POSGUARD_API", default_value = "http://127.0.0.1:8080")]
    pub api: String,
    /// Bearer token (printed once at first start).
    #[arg(long, env = "POSGUARD_TOKEN")]
    pub token: String,
}

#[derive(Subcommand)]
pub enum MerchantCommand {
    Add {
        #[command(flatten)]
        api: ApiArgs,
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "5411")]
        mcc: String,
        #[arg(long, default_value = "156")]
        currency: String,
        #[arg(long, default_value_t = 60)]
        fee_bps: u32,
    },
    List {
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Subcommand)]
pub enum TerminalCommand {
    Add {
        #[command(flatten)]
        api: ApiArgs,
        #[arg(long)]
        id: String,
        #[arg(long)]
        merchant: String,
        #[arg(long, default_value_t = 0)]
        floor_limit_minor: i64,
    },
    List {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Set a terminal's security profile (docs/terminal-security.md).
    Security {
        #[command(flatten)]
        api: ApiArgs,
        #[arg(long)]
        id: String,
        /// tdes, aes128 or aes256.
        #[arg(long)]
        dukpt: Option<String>,
        /// Keystore id of the BDK.
        #[arg(long)]
        bdk: Option<String>,
        /// TDES: the initial KSN (20 hex); AES: the initial key ID (16 hex).
        #[arg(long)]
        key_id: Option<String>,
        /// required, optional or off.
        #[arg(long, default_value = "required")]
        mac: String,
        /// plain, tls or mtls.
        #[arg(long, default_value = "plain")]
        transport: String,
    },
    /// The newest security events (bad MACs, unknown terminals, foreign KSNs...).
    Events {
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Subcommand)]
pub enum CardCommand {
    Add {
        #[command(flatten)]
        api: ApiArgs,
        #[arg(long)]
        pan: String,
        #[arg(long)]
        expiry: String,
        #[arg(long, default_value = "debit")]
        kind: String,
        #[arg(long, default_value = "156")]
        currency: String,
        #[arg(long)]
        limit_minor: i64,
        #[arg(long)]
        daily_limit_minor: i64,
        /// A PIN for a test card: the host keeps only its Visa PVV.
        #[arg(long)]
        pin: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum TxnCommand {
    List {
        #[command(flatten)]
        api: ApiArgs,
        #[arg(long)]
        terminal: Option<String>,
        #[arg(long)]
        merchant: Option<String>,
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    Show {
        #[command(flatten)]
        api: ApiArgs,
        id: u64,
    },
}

#[derive(Subcommand)]
pub enum SimCommand {
    /// The Handbook's transaction simulator (FRAUD-BENCHMARK.md), written as CSV.
    Handbook(HandbookArgs),
    /// The same simulator as purchases over a running host's terminal link (customers as
    /// cards, terminals as terminals, in time order, compressed in time).
    Drive(crate::sim_drive::DriveArgs),
}

#[derive(Args)]
pub struct HandbookArgs {
    /// Output CSV file ("-" for standard output).
    #[arg(long, default_value = "-")]
    pub out: String,
    #[arg(long, default_value_t = 5_000)]
    pub customers: u32,
    #[arg(long, default_value_t = 10_000)]
    pub terminals: u32,
    #[arg(long, default_value_t = 183)]
    pub days: u32,
}

#[derive(Subcommand)]
pub enum RiskCommand {
    /// Trains the fraud model on a period of labelled history and writes the model file.
    Train(TrainArgs),
    /// Replays a history, trains on the training period, scores the test period and prints
    /// ROC AUC, average precision and Card Precision@100 as JSON (the Handbook's protocols).
    Eval(EvalArgs),
    /// The model in force, and installing a new one without a restart (HTTP API).
    #[command(subcommand)]
    Model(ModelCommand),
    /// Metrics of a score vector read as JSON on standard input (conformance tests).
    #[command(hide = true)]
    Metrics,
}

#[derive(Subcommand)]
pub enum ModelCommand {
    /// The model in force (its inputs, training period and metrics; not its trees).
    Show {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Installs a model file (checked in full first; no restart).
    Install {
        #[command(flatten)]
        api: ApiArgs,
        file: PathBuf,
        /// Model score (0..=1000) from which an approval becomes a review.
        #[arg(long, default_value_t = 500)]
        review_at: u16,
        /// Model score from which the model declines on its own (default: never).
        #[arg(long)]
        decline_at: Option<u16>,
    },
}

/// Where the labelled history comes from.
#[derive(Args)]
pub struct HistoryArgs {
    /// A CSV in the Handbook's format (TX_FRAUD is the label), e.g. from `posguard sim
    /// handbook`; without it, the store's history (labels from closed cases).
    #[arg(long)]
    pub transactions: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Merchants' offset from UTC (minutes), for stored history.
    #[arg(long, default_value_t = 480)]
    pub utc_offset_minutes: i32,
    /// Inputs: "default" (the Handbook's 15 and posguard's own) or "handbook" (its 15).
    #[arg(long, default_value = "default")]
    pub inputs: String,
    /// Training settings as JSON (keys of the model file's "params"; the rest default).
    #[arg(long)]
    pub params: Option<String>,
}

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub history: HistoryArgs,
    /// First training day, YYYY-MM-DD (default: the last `--days` days of the history).
    #[arg(long)]
    pub from: Option<String>,
    /// Training days.
    #[arg(long, default_value_t = 7)]
    pub days: i64,
    /// The model file to write.
    #[arg(long, default_value = "fraud-model.json")]
    pub out: PathBuf,
}

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub history: HistoryArgs,
    /// "split" (chapter 3.4) or "prequential" (chapter 5.3's test folds).
    #[arg(long, default_value = "split")]
    pub protocol: String,
    /// First training day, YYYY-MM-DD (default: 2018-07-25 for "split", 2018-08-15 for
    /// "prequential", whose earlier folds start 7 days apart before it).
    #[arg(long)]
    pub train_start: Option<String>,
    #[arg(long, default_value_t = 7)]
    pub delta_train: i64,
    #[arg(long, default_value_t = 7)]
    pub delta_delay: i64,
    #[arg(long, default_value_t = 7)]
    pub delta_test: i64,
    /// Prequential folds.
    #[arg(long, default_value_t = 4)]
    pub folds: u32,
    /// Also write the (first split's) model file here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}
