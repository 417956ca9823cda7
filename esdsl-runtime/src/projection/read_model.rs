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

    /// Every (key, value) of the read model, sorted by key.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn entries(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let name = self.name.as_str();
        self.store.read(&mut |read| {
            let generation = read.state(StateKey::Generation(name))?.unwrap_or(0);
            read.model_entries(ModelScope { name, generation }, None, usize::MAX)
        })
    }
}
