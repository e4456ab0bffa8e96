//! Named record trees (identity, packages, trust, the messenger's records)
//! as rows of one table keyed by (tree, key). Keys are `bytea`, so they
//! sort bytewise as on the embedded backend; scans read in pages.

use super::{Postgres, db_error, pool_error};
use crate::{Entries, Range, RecordStore, StoreError};
use std::collections::VecDeque;

/// Rows one page of a scan reads.
const PAGE: i64 = 256;

pub(crate) struct PgRecords {
    pg: Postgres,
    tree: &'static str,
}

impl PgRecords {
    pub(crate) fn new(pg: Postgres, tree: &'static str) -> PgRecords {
        PgRecords { pg, tree }
    }
}

/// The smallest key above every key that starts with `prefix`; none when
/// no such bound exists (an empty prefix, or one of only 0xFF bytes).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Puts applied after removes would lose a put; the embedded backend
/// applies puts then removes, and a key put twice keeps its last value.
pub(crate) fn dedup_puts(puts: Vec<(String, Vec<u8>)>) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut last = std::collections::BTreeMap::new();
    for (k, v) in puts {
        last.insert(k.into_bytes(), v);
    }
    last.into_iter().unzip()
}

/// A lazy scan over keys in [`lo`, `hi`), a page at a time.
struct Scan<'a> {
    pg: &'a Postgres,
    tree: &'static str,
    lo: Vec<u8>,
    hi: Option<Vec<u8>>,
    rev: bool,
    buf: VecDeque<(Vec<u8>, Vec<u8>)>,
    done: bool,
}

impl Scan<'_> {
    fn fill(&mut self) -> Result<(), StoreError> {
        let pool = self.pg.pool().clone();
        let (tree, lo, hi, rev) = (self.tree, self.lo.clone(), self.hi.clone(), self.rev);
        let rows: Vec<(Vec<u8>, Vec<u8>)> = self.pg.run(async move {
            let c = pool.get().await.map_err(pool_error)?;
            let sql = if rev {
                "SELECT key, value FROM records WHERE tree = $1 AND key >= $2
                 AND ($3::bytea IS NULL OR key < $3) ORDER BY key DESC LIMIT $4"
            } else {
                "SELECT key, value FROM records WHERE tree = $1 AND key >= $2
                 AND ($3::bytea IS NULL OR key < $3) ORDER BY key LIMIT $4"
            };
            let rows = c
                .query(sql, &[&tree, &lo, &hi, &PAGE])
                .await
                .map_err(db_error)?;
            Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
        })?;
        if (rows.len() as i64) < PAGE {
            self.done = true;
        }
        if let Some((k, _)) = rows.last() {
            if self.rev {
                self.hi = Some(k.clone());
            } else {
                let mut next = k.clone();
                next.push(0);
                self.lo = next;
            }
        }
        self.buf.extend(rows);
        Ok(())
    }
}

impl Iterator for Scan<'_> {
    type Item = Result<(String, Vec<u8>), StoreError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty()
            && !self.done
            && let Err(e) = self.fill()
        {
            self.done = true;
            return Some(Err(e));
        }
        let (k, v) = self.buf.pop_front()?;
        Some(Ok((String::from_utf8_lossy(&k).into_owned(), v)))
    }
}

impl PgRecords {
    /// The value `sql` (taking the tree and the key) returns, if a row.
    fn one_row(&self, sql: &'static str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let (tree, key) = (self.tree, key.as_bytes().to_vec());
        self.pg.query(move |c| {
            Box::pin(async move {
                let row = c.query_opt(sql, &[&tree, &key]).await?;
                Ok(row.map(|r| r.get(0)))
            })
        })
    }

    fn scan(&self, lo: Vec<u8>, hi: Option<Vec<u8>>, rev: bool) -> Entries<'_> {
        Box::new(Scan {
            pg: &self.pg,
            tree: self.tree,
            lo,
            hi,
            rev,
            buf: VecDeque::new(),
            done: false,
        })
    }
}

impl RecordStore for PgRecords {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.one_row(
            "SELECT value FROM records WHERE tree = $1 AND key = $2",
            key,
        )
    }

    fn insert(&self, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        self.apply(vec![(key.to_string(), value)], Vec::new())
    }

    fn remove(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.one_row(
            "DELETE FROM records WHERE tree = $1 AND key = $2 RETURNING value",
            key,
        )
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
    ) -> Result<bool, StoreError> {
        let pool = self.pg.pool().clone();
        let tree = self.tree;
        let key = key.as_bytes().to_vec();
        let expected = expected.map(<[u8]>::to_vec);
        self.pg.run(async move {
            let c = pool.get().await.map_err(pool_error)?;
            // Each case is one statement, so it is atomic on its own.
            let n = match (&expected, &new) {
                (None, Some(v)) => c
                    .execute(
                        "INSERT INTO records (tree, key, value) VALUES ($1, $2, $3)
                         ON CONFLICT (tree, key) DO NOTHING",
                        &[&tree, &key, v],
                    )
                    .await
                    .map_err(db_error)?,
                (Some(e), Some(v)) => c
                    .execute(
                        "UPDATE records SET value = $4 WHERE tree = $1 AND key = $2 AND value = $3",
                        &[&tree, &key, e, v],
                    )
                    .await
                    .map_err(db_error)?,
                (Some(e), None) => c
                    .execute(
                        "DELETE FROM records WHERE tree = $1 AND key = $2 AND value = $3",
                        &[&tree, &key, e],
                    )
                    .await
                    .map_err(db_error)?,
                (None, None) => {
                    let row = c
                        .query_opt(
                            "SELECT 1 FROM records WHERE tree = $1 AND key = $2",
                            &[&tree, &key],
                        )
                        .await
                        .map_err(db_error)?;
                    u64::from(row.is_none())
                }
            };
            Ok(n == 1)
        })
    }

    fn scan_prefix<'a>(&'a self, prefix: &str, rev: bool) -> Entries<'a> {
        let lo = prefix.as_bytes().to_vec();
        let hi = prefix_end(&lo);
        self.scan(lo, hi, rev)
    }

    fn range<'a>(&'a self, lo: &str, hi: &str, rev: bool) -> Entries<'a> {
        self.scan(lo.as_bytes().to_vec(), Some(hi.as_bytes().to_vec()), rev)
    }

    fn ranges(
        &self,
        ranges: &[(String, String)],
        limit: usize,
        rev: bool,
    ) -> Result<Vec<Range>, StoreError> {
        if ranges.is_empty() || limit == 0 {
            return Ok(vec![Vec::new(); ranges.len()]);
        }
        let (los, his): (Vec<Vec<u8>>, Vec<Vec<u8>>) = ranges
            .iter()
            .map(|(lo, hi)| (lo.as_bytes().to_vec(), hi.as_bytes().to_vec()))
            .unzip();
        let tree = self.tree;
        let limit = limit as i64;
        // Each range's rows by an index scan of its own (LATERAL ...
        // LIMIT), numbered so they come back grouped and in order.
        let sql = if rev {
            "SELECT r.n, x.key, x.value
             FROM unnest($2::bytea[], $3::bytea[]) WITH ORDINALITY AS r(lo, hi, n)
             CROSS JOIN LATERAL (SELECT key, value FROM records
                 WHERE tree = $1 AND key >= r.lo AND key < r.hi
                 ORDER BY key DESC LIMIT $4) x
             ORDER BY r.n, x.key DESC"
        } else {
            "SELECT r.n, x.key, x.value
             FROM unnest($2::bytea[], $3::bytea[]) WITH ORDINALITY AS r(lo, hi, n)
             CROSS JOIN LATERAL (SELECT key, value FROM records
                 WHERE tree = $1 AND key >= r.lo AND key < r.hi
                 ORDER BY key LIMIT $4) x
             ORDER BY r.n, x.key"
        };
        let rows: Vec<(i64, Vec<u8>, Vec<u8>)> = self.pg.query(move |c| {
            Box::pin(async move {
                let rows = c.query(sql, &[&tree, &los, &his, &limit]).await?;
                Ok(rows
                    .into_iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2)))
                    .collect())
            })
        })?;
        let mut out = vec![Vec::new(); ranges.len()];
        for (n, k, v) in rows {
            if let Some(group) = usize::try_from(n - 1).ok().and_then(|i| out.get_mut(i)) {
                group.push((String::from_utf8_lossy(&k).into_owned(), v));
            }
        }
        Ok(out)
    }

    fn apply(&self, puts: Vec<(String, Vec<u8>)>, removes: Vec<String>) -> Result<(), StoreError> {
        let pool = self.pg.pool().clone();
        let tree = self.tree;
        self.pg.run(async move {
            let mut c = pool.get().await.map_err(pool_error)?;
            let tx = c.transaction().await.map_err(db_error)?;
            write_records(&*tx, tree, puts, removes).await?;
            tx.commit().await.map_err(db_error)
        })
    }
}

/// Writes `puts` then `removes` into tree `tree` on `c` (inside the
/// caller's transaction).
pub(crate) async fn write_records(
    c: &impl tokio_postgres::GenericClient,
    tree: &str,
    puts: Vec<(String, Vec<u8>)>,
    removes: Vec<String>,
) -> Result<(), StoreError> {
    if !puts.is_empty() {
        let (keys, values) = dedup_puts(puts);
        c.execute(
            "INSERT INTO records (tree, key, value)
             SELECT $1, k, v FROM unnest($2::bytea[], $3::bytea[]) AS t(k, v)
             ON CONFLICT (tree, key) DO UPDATE SET value = excluded.value",
            &[&tree, &keys, &values],
        )
        .await
        .map_err(db_error)?;
    }
    if !removes.is_empty() {
        let keys: Vec<Vec<u8>> = removes.into_iter().map(String::into_bytes).collect();
        c.execute(
            "DELETE FROM records WHERE tree = $1 AND key = ANY($2)",
            &[&tree, &keys],
        )
        .await
        .map_err(db_error)?;
    }
    Ok(())
}
