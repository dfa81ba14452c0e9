//! Reading typed values out of `sqlx::any::AnyRow`s, and printing byte fields in `Debug`
//! without their contents. Flags are stored as integers 0/1 and read back as `bool`.

use std::fmt;
use std::str::FromStr;

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::StoreError;

fn unreadable(col: &str, e: impl fmt::Display) -> StoreError {
    StoreError::Backend(format!("cannot read column {col}: {e}"))
}

pub(crate) fn text(row: &AnyRow, col: &str) -> Result<String, StoreError> {
    row.try_get::<String, _>(col)
        .map_err(|e| unreadable(col, e))
}

pub(crate) fn opt_text(row: &AnyRow, col: &str) -> Result<Option<String>, StoreError> {
    row.try_get::<Option<String>, _>(col)
        .map_err(|e| unreadable(col, e))
}

pub(crate) fn bytes(row: &AnyRow, col: &str) -> Result<Vec<u8>, StoreError> {
    row.try_get::<Vec<u8>, _>(col)
        .map_err(|e| unreadable(col, e))
}

pub(crate) fn opt_bytes(row: &AnyRow, col: &str) -> Result<Option<Vec<u8>>, StoreError> {
    row.try_get::<Option<Vec<u8>>, _>(col)
        .map_err(|e| unreadable(col, e))
}

pub(crate) fn int(row: &AnyRow, col: &str) -> Result<i64, StoreError> {
    row.try_get::<i64, _>(col).map_err(|e| unreadable(col, e))
}

pub(crate) fn opt_int(row: &AnyRow, col: &str) -> Result<Option<i64>, StoreError> {
    row.try_get::<Option<i64>, _>(col)
        .map_err(|e| unreadable(col, e))
}

pub(crate) fn flag(row: &AnyRow, col: &str) -> Result<bool, StoreError> {
    Ok(int(row, col)? != 0)
}

pub(crate) fn parsed<T: FromStr>(row: &AnyRow, col: &str) -> Result<T, StoreError> {
    let s = text(row, col)?;
    s.parse()
        .map_err(|_| unreadable(col, "not a valid value for its type"))
}

pub(crate) fn opt_parsed<T: FromStr>(row: &AnyRow, col: &str) -> Result<Option<T>, StoreError> {
    match opt_text(row, col)? {
        None => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| unreadable(col, "not a valid value for its type")),
    }
}

pub(crate) fn array<const N: usize>(row: &AnyRow, col: &str) -> Result<[u8; N], StoreError> {
    bytes(row, col)?
        .try_into()
        .map_err(|_| unreadable(col, format_args!("expected {N} bytes")))
}

/// A count from the database as `u64`.
pub(crate) fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A flag as the integer stored for it.
pub(crate) fn flag_value(b: bool) -> i64 {
    i64::from(b)
}

/// Shows a byte field in `Debug` as its length only.
pub(crate) struct Redacted<'a>(pub(crate) &'a [u8]);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0.len())
    }
}

/// Shows an optional byte field in `Debug` as its length only.
pub(crate) struct RedactedOpt<'a>(pub(crate) Option<&'a [u8]>);

impl fmt::Debug for RedactedOpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("None"),
            Some(b) => write!(f, "Some(<{} bytes>)", b.len()),
        }
    }
}
