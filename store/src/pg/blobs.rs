//! Installed apps' components and UI sections as rows in the database, so
//! every host serves the same files; each host still compiles components
//! into its own local cache.

use super::Postgres;
use crate::blobs::check_name;
use crate::{BlobStore, StoreError};

pub(crate) struct PgBlobs {
    pg: Postgres,
}

impl PgBlobs {
    pub(crate) fn new(pg: Postgres) -> PgBlobs {
        PgBlobs { pg }
    }
}

impl BlobStore for PgBlobs {
    fn put(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        check_name(name)?;
        let (name, bytes) = (name.to_string(), bytes.to_vec());
        self.pg.query(move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO blobs (name, bytes) VALUES ($1, $2)
                     ON CONFLICT (name) DO UPDATE SET bytes = excluded.bytes",
                    &[&name, &bytes],
                )
                .await
                .map(|_| ())
            })
        })
    }

    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check_name(name)?;
        let name = name.to_string();
        self.pg.query(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt("SELECT bytes FROM blobs WHERE name = $1", &[&name])
                    .await?;
                Ok(row.map(|r| r.get(0)))
            })
        })
    }

    fn read_at(&self, name: &str, offset: u64, len: usize) -> Result<Option<Vec<u8>>, StoreError> {
        check_name(name)?;
        let (shown, name) = (name.to_string(), name.to_string());
        // SQL's substring counts from 1.
        let from = i64::try_from(offset).unwrap_or(i64::MAX).saturating_add(1);
        let want = i64::try_from(len).unwrap_or(i64::MAX);
        let row: Option<(Vec<u8>, i64)> = self.pg.query(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        "SELECT substring(bytes FROM $2::bigint::integer FOR $3::bigint::integer),
                                octet_length(bytes)::bigint
                         FROM blobs WHERE name = $1",
                        &[&name, &from, &want],
                    )
                    .await?;
                Ok(row.map(|r| (r.get(0), r.get(1))))
            })
        })?;
        match row {
            None => Ok(None),
            Some((bytes, _)) if bytes.len() == len => Ok(Some(bytes)),
            Some((_, total)) => Err(StoreError::Io(format!(
                "{shown}: {len} bytes at {offset} are past the end ({total} bytes)"
            ))),
        }
    }

    fn remove(&self, name: &str) -> Result<bool, StoreError> {
        check_name(name)?;
        let name = name.to_string();
        self.pg.query(move |c| {
            Box::pin(async move {
                let n = c
                    .execute("DELETE FROM blobs WHERE name = $1", &[&name])
                    .await?;
                Ok(n == 1)
            })
        })
    }
}
