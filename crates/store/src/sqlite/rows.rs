//! rusqlite glue: column access, parameters and error kinds.

use crate::error::{StoreError, StoreErrorKind};
use crate::query::Param;
use crate::reads::{RowFn, Sql};
use crate::rows::Cols;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, Row, ToSql};

impl Cols for Row<'_> {
    fn text(&self, i: usize) -> Result<String, StoreError> {
        self.get(i).map_err(|e| column_error(i, &e))
    }

    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.get(i).map_err(|e| column_error(i, &e))
    }

    fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.get(i).map_err(|e| column_error(i, &e))
    }

    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.get(i).map_err(|e| column_error(i, &e))
    }

    /// Flags are stored as 0 or 1; anything else is corruption, not "true".
    fn flag(&self, i: usize) -> Result<bool, StoreError> {
        match self.get_ref(i).map_err(|e| column_error(i, &e))? {
            ValueRef::Integer(0) => Ok(false),
            ValueRef::Integer(1) => Ok(true),
            _ => Err(StoreError::corrupt(format!("column {i} is not a 0/1 flag"))),
        }
    }
}

/// A column that does not read as its declared type is corruption. The message names
/// the column position and the failure kind, never the value.
fn column_error(i: usize, e: &rusqlite::Error) -> StoreError {
    let why = match e {
        rusqlite::Error::InvalidColumnType(..) => "has the wrong type",
        rusqlite::Error::IntegralValueOutOfRange(..) => "is out of range",
        rusqlite::Error::FromSqlConversionFailure(..) => "does not convert",
        _ => "cannot be read",
    };
    StoreError::corrupt(format!("column {i} {why}"))
}

impl ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Param::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Param::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
        })
    }
}

/// Maps a rusqlite failure to a kind, with `doing` saying what was being done.
pub(super) fn error(doing: &str, e: rusqlite::Error) -> StoreError {
    let kind = match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::ConstraintViolation
                if matches!(
                    f.extended_code,
                    rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                        | rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                ) =>
            {
                StoreErrorKind::Conflict
            }
            ErrorCode::ConstraintViolation => StoreErrorKind::Invalid,
            ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => StoreErrorKind::Corrupt,
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => StoreErrorKind::Unavailable,
            _ => StoreErrorKind::Io,
        },
        rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::FromSqlConversionFailure(..) => StoreErrorKind::Corrupt,
        _ => StoreErrorKind::Io,
    };
    // SQLite's messages name tables and columns ("UNIQUE constraint failed:
    // txns.idem_key"), never values.
    StoreError::new(kind, format!("{doing}: {e}"))
}

/// A connection (or open transaction) seen through the shared read interface.
pub(super) struct SqliteSql<'a>(pub(super) &'a Connection);

impl Sql for SqliteSql<'_> {
    fn each_row(
        &mut self,
        sql: &str,
        params: &[Param],
        each: &mut RowFn<'_>,
    ) -> Result<(), StoreError> {
        let mut stmt = self
            .0
            .prepare_cached(sql)
            .map_err(|e| error("prepare query", e))?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params))
            .map_err(|e| error("run query", e))?;
        while let Some(row) = rows.next().map_err(|e| error("read row", e))? {
            each(row)?;
        }
        Ok(())
    }
}
