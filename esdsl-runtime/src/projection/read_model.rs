//! Read models kept in the store: a key-value space per projection and generation, written
//! inside a runner's transaction ([`ReadModel`]) and read from outside it
//! ([`ReadModelView`]).

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::backend::{ModelScope, ProjectionStore, ProjectionTxn, StateKey};
use crate::error::{Error, Result};

/// A projection's read model inside the transaction that also moves its checkpoint.
///
/// Keys are bytes or strings, values bytes or JSON. Everything written here commits together
/// with the checkpoint, or not at all.
pub struct ReadModel<'m> {
    txn: &'m mut dyn ProjectionTxn,
    scope: ModelScope<'m>,
    /// Puts and deletes made, which a store runner counts toward its batch's byte bound.
    writes: usize,
}

impl std::fmt::Debug for ReadModel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadModel")
            .field("projection", &self.scope.name)
            .field("generation", &self.scope.generation)
            .finish_non_exhaustive()
    }
}

impl<'m> ReadModel<'m> {
    pub(crate) fn new(txn: &'m mut dyn ProjectionTxn, scope: ModelScope<'m>) -> ReadModel<'m> {
        ReadModel {
            txn,
            scope,
            writes: 0,
        }
    }

    pub(crate) fn writes(&self) -> usize {
        self.writes
    }

    /// The longest key this projection can use: the backend's key limit less the
    /// projection's name and generation, which prefix every key.
    pub fn max_key_len(&self) -> usize {
        self.txn.max_model_key(self.scope)
    }

    /// The value under `key`.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if key.len() > self.max_key_len() {
            return Ok(None);
        }
        self.txn.model_get(self.scope, key)
    }

    /// Sets `key` to `value`.
    ///
    /// # Errors
    ///
    /// Storage errors; a key longer than [`ReadModel::max_key_len`] is
    /// [`Error::InvalidInput`].
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        if key.len() > self.max_key_len() {
            return Err(Error::InvalidInput(format!(
                "read model key of {} bytes, the limit for this projection is {}",
                key.len(),
                self.max_key_len()
            )));
        }
        self.writes += 1;
        self.txn.model_put(self.scope, key, value)
    }

    /// Removes `key`; returns whether it was there.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn delete(&mut self, key: &[u8]) -> Result<bool> {
        self.writes += 1;
        self.txn.model_delete(self.scope, key)
    }

    /// The JSON value under `key`, decoded.
    ///
    /// # Errors
    ///
    /// Storage errors; a value that does not decode as `T` is [`Error::Corrupt`].
    pub fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        self.get(key.as_bytes())?
            .map(|bytes| decode_json(key, &bytes))
            .transpose()
    }

    /// Sets `key` to `value` as JSON.
    ///
    /// # Errors
    ///
    /// Storage errors, or a value JSON cannot encode.
    pub fn put_json<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value).map_err(|e| Error::InvalidInput(e.to_string()))?;
        self.put(key.as_bytes(), &bytes)
    }
}

fn decode_json<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corrupt {
        what: "read model",
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

/// Reads a projection's active read model (the generation the last rebuild switched to).
#[derive(Debug, Clone)]
pub struct ReadModelView<S> {
    store: S,
    name: String,
}

impl<S: ProjectionStore> ReadModelView<S> {
    /// The read model of the projection named `name`.
    pub fn new(store: &S, name: &str) -> ReadModelView<S> {
        ReadModelView {
            store: store.clone(),
            name: name.to_owned(),
        }
    }

    /// The value under `key`.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let name = self.name.as_str();
        self.store.read(&mut |read| {
            let generation = read.state(StateKey::Generation(name))?.unwrap_or(0);
            read.model_get(ModelScope { name, generation }, key)
        })
    }

    /// The JSON value under `key`, decoded.
    ///
    /// # Errors
    ///
    /// Storage errors; a value that does not decode as `T` is [`Error::Corrupt`].
    pub fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        self.get(key.as_bytes())?
            .map(|bytes| decode_json(key, &bytes))
            .transpose()
    }

    /// Every (key, value) of the read model, sorted by key. For a large read model, page
    /// through it with [`ReadModelView::page`] or [`ReadModelView::page_json`] instead.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn entries(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.page(None, usize::MAX)
    }

    /// At most `limit` (key, value) pairs after the key `after` (from the first with `None`),
    /// sorted by key, in one short read.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn page(&self, after: Option<&[u8]>, limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let name = self.name.as_str();
        self.store.read(&mut |read| {
            let generation = read.state(StateKey::Generation(name))?.unwrap_or(0);
            read.model_entries(ModelScope { name, generation }, after, limit)
        })
    }

    /// At most `limit` entries written with [`ReadModel::put_json`] after the key `after`
    /// (from the first with `None`), decoded, sorted by key; [`Page::next`] is where the next
    /// page starts.
    ///
    /// ```
    /// use esdsl_runtime::lmdb::LmdbStore;
    /// use esdsl_runtime::projection::ReadModelView;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = LmdbStore::open(dir.path())?;
    /// let view = ReadModelView::new(&store, "stock");
    /// let page = view.page_json::<u64>(None, 100)?;
    /// assert!(page.entries.is_empty() && page.next.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Storage errors; a key that is not UTF-8 or a value that does not decode as `T` is
    /// [`Error::Corrupt`].
    pub fn page_json<T: DeserializeOwned>(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<T>> {
        let raw = self.page(after.map(str::as_bytes), limit)?;
        let full = raw.len() == limit && limit > 0;
        let entries = raw
            .into_iter()
            .map(|(key, value)| {
                let key = String::from_utf8(key).map_err(|e| Error::Corrupt {
                    what: "read model",
                    key: String::from_utf8_lossy(e.as_bytes()).into_owned(),
                    reason: "the key is not UTF-8".to_owned(),
                })?;
                let value = decode_json(&key, &value)?;
                Ok((key, value))
            })
            .collect::<Result<Vec<_>>>()?;
        let next = if full {
            entries.last().map(|(key, _)| key.clone())
        } else {
            None
        };
        Ok(Page { entries, next })
    }
}

/// A page of a read model's JSON entries ([`ReadModelView::page_json`]); it serializes as
/// `{"entries": [[key, value], ...], "next": key or null}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page<T> {
    /// The entries, sorted by key.
    pub entries: Vec<(String, T)>,
    /// The key to pass as `after` for the next page; `None` on the last page.
    pub next: Option<String>,
}

/// The async reads of a view: each runs on tokio's blocking pool.
#[cfg(feature = "tokio")]
impl<S: ProjectionStore> ReadModelView<S> {
    /// [`ReadModelView::get`] for async code.
    ///
    /// # Errors
    ///
    /// As [`ReadModelView::get`].
    pub async fn get_async(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let (view, key) = (self.clone(), key.to_vec());
        crate::task::off_executor(move || view.get(&key)).await
    }

    /// [`ReadModelView::get_json`] for async code.
    ///
    /// # Errors
    ///
    /// As [`ReadModelView::get_json`].
    pub async fn get_json_async<T: DeserializeOwned + Send + 'static>(
        &self,
        key: &str,
    ) -> Result<Option<T>> {
        let (view, key) = (self.clone(), key.to_owned());
        crate::task::off_executor(move || view.get_json(&key)).await
    }

    /// [`ReadModelView::page_json`] for async code.
    ///
    /// # Errors
    ///
    /// As [`ReadModelView::page_json`].
    pub async fn page_json_async<T: DeserializeOwned + Send + 'static>(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<T>> {
        let (view, after) = (self.clone(), after.map(str::to_owned));
        crate::task::off_executor(move || view.page_json(after.as_deref(), limit)).await
    }
}
