//! The store's error type, [`StoreError`], and the one place where database errors are mapped
//! onto it.
//!
//! Messages never contain stored values, secrets or database passwords: unique violations name
//! the constraint only, and backend messages are scrubbed of the connection password.

/// What a store operation can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// No such row (or no such row in the state the operation needs, e.g. a live session).
    #[error("not found")]
    NotFound,
    /// The change clashes with what is stored: a unique key already taken, an invite that is no
    /// longer pending, the last owner of a workspace, ...
    #[error("conflict: {0}")]
    Conflict(String),
    /// The input is not acceptable to the store (empty name, NUL byte in text, bad URL, ...).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The database failed or returned something the store cannot read.
    #[error("storage backend error: {0}")]
    Backend(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) => {
                use sqlx::error::ErrorKind;
                let what = db
                    .constraint()
                    .map(str::to_owned)
                    .unwrap_or_else(|| db.message().to_owned());
                match db.kind() {
                    ErrorKind::UniqueViolation => {
                        Self::Conflict(format!("already exists ({what})"))
                    }
                    // A row refers to something that does not exist (we never delete a row that
                    // is still referred to: children cascade).
                    ErrorKind::ForeignKeyViolation => StoreError::NotFound,
                    ErrorKind::CheckViolation | ErrorKind::NotNullViolation => {
                        Self::Invalid(format!("rejected by the schema ({what})"))
                    }
                    _ => StoreError::Backend(db.message().to_owned()),
                }
            }
            sqlx::Error::Migrate(m) => StoreError::Backend(format!("migration failed: {m}")),
            other => StoreError::Backend(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_not_found_maps_to_not_found() {
        assert_eq!(
            StoreError::from(sqlx::Error::RowNotFound),
            StoreError::NotFound
        );
    }

    #[test]
    fn display_forms() {
        assert_eq!(StoreError::NotFound.to_string(), "not found");
        assert_eq!(StoreError::Conflict("x".into()).to_string(), "conflict: x");
    }
}
