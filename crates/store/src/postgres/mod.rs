//! The server backend: PostgreSQL through the synchronous `postgres` crate.

mod migrations;
mod rows;
mod write;

use crate::error::StoreError;
use crate::pool::{Pool, lock};
use crate::reads::{Backend, Sql};
use ::postgres::{Client, Config, IsolationLevel, NoTls};
use model::Write;
use rows::{PgSql, Stmts, error};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

/// Reader connections beside the writer; opened on first use.
const PG_READERS: usize = 2;
/// Connect timeout when the URL does not set `connect_timeout`.
const PG_CONNECT_TIMEOUT_MS: u64 = 5_000;

pub(crate) struct PgStore {
    writer: Mutex<Session>,
    readers: Pool<Session>,
}

/// One connection that reconnects on the next call after it broke. The call that saw
/// it break fails with `Unavailable`; the store never retries a write by itself,
/// since it cannot know whether the commit reached the server.
struct Session {
    config: Config,
    schema: Option<String>,
    client: Option<Client>,
    stmts: Stmts,
}

impl Drop for Session {
    /// `postgres::Client`'s drop blocks on a runtime of its own, which panics when the
    /// dropping thread drives an async runtime (a host whose start fails after it opened
    /// its store drops it there). A thread of its own may always block.
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // A panic while closing is the connection's own; nothing is left to undo.
            let _ = std::thread::spawn(move || drop(client)).join();
        }
    }
}

impl Session {
    fn new(config: Config, schema: Option<String>) -> Session {
        Session {
            config,
            schema,
            client: None,
            stmts: Stmts::default(),
        }
    }

    fn with<T>(
        &mut self,
        f: impl FnOnce(&mut Client, &mut Stmts) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let client = match &mut self.client {
            Some(c) if !c.is_closed() => c,
            slot => {
                self.stmts = Stmts::default();
                slot.insert(connect(&self.config, self.schema.as_deref())?)
            }
        };
        let out = f(client, &mut self.stmts);
        if out.is_err() && client.is_closed() {
            self.client = None;
        }
        out
    }
}

fn connect(config: &Config, schema: Option<&str>) -> Result<Client, StoreError> {
    let mut client = config.connect(NoTls).map_err(|e| error("connect", e))?;
    // Durability must not depend on the server's or the role's default.
    let mut setup = String::from("SET synchronous_commit = on;");
    if let Some(s) = schema {
        // `s` is checked to be [a-z_][a-z0-9_]* by the URL parser.
        setup.push_str(&format!("SET search_path TO {s};"));
    }
    client
        .batch_execute(&setup)
        .map_err(|e| error("set up session", e))?;
    Ok(client)
}

impl PgStore {
    pub(crate) fn open(conninfo: &str, schema: Option<String>) -> Result<PgStore, StoreError> {
        let mut config = Config::from_str(conninfo)
            .map_err(|_| StoreError::invalid("postgres url does not parse"))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_millis(PG_CONNECT_TIMEOUT_MS));
        }
        let mut writer = Session::new(config.clone(), schema.clone());
        writer.with(|client, _| migrations::run(client, schema.as_deref()))?;
        let readers = (0..PG_READERS).map(|_| Session::new(config.clone(), schema.clone()));
        Ok(PgStore {
            writer: Mutex::new(writer),
            readers: Pool::new(readers.collect()),
        })
    }
}

impl Backend for PgStore {
    const NAME: &'static str = "postgres";

    fn read<T>(
        &self,
        snapshot: bool,
        f: impl FnOnce(&mut dyn Sql) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.readers.get().with(|client, stmts| {
            if !snapshot {
                return f(&mut PgSql { client, stmts });
            }
            let mut tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .map_err(|e| error("begin read", e))?;
            let out = f(&mut PgSql {
                client: &mut tx,
                stmts,
            })?;
            tx.commit().map_err(|e| error("end read", e))?;
            Ok(out)
        })
    }

    fn commit(&self, batch: &[Write]) -> Result<(), StoreError> {
        let plan = write::Plan::of(batch)?;
        lock(&self.writer).with(|client, stmts| write::commit(client, stmts, &plan))
    }

    fn meta_set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        lock(&self.writer).with(|client, stmts| {
            let stmt = stmts.get(
                client,
                "INSERT INTO meta (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?;
            client
                .execute(&stmt, &[&key, &value])
                .map(drop)
                .map_err(|e| error("set meta", e))
        })
    }
}

/// See `crate::sweep_test_schemas`.
pub(crate) fn sweep_test_schemas(base_url: &str) -> Result<u32, StoreError> {
    let conninfo = match crate::url::parse(base_url)? {
        crate::url::Target::Postgres { conninfo, .. } => conninfo,
        crate::url::Target::Sqlite(_) => return Ok(0),
    };
    let mut client =
        Client::connect(&conninfo, NoTls).map_err(|e| error("connect to sweep test schemas", e))?;
    let rows = client
        .query(
            "SELECT schema_name::text FROM information_schema.schemata",
            &[],
        )
        .map_err(|e| error("list schemas", e))?;
    let mut dropped = 0;
    for row in rows {
        let name: String = row.get(0);
        let mut parts = name.rsplitn(3, '_');
        let (Some(n), Some(pid), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let shaped = !tag.is_empty()
            && tag.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            && !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit());
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if !shaped || std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        // The name was checked to be [a-z_]+_[0-9]+_[0-9]+: safe to quote as is.
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
            .map_err(|e| error("drop a test schema", e))?;
        dropped += 1;
    }
    Ok(dropped)
}
