//! Read models kept in the store: a key-value space per projection and generation.

use heed::RwTxn;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::lmdb::LmdbStore;
use crate::lmdb::env::{Dbs, Shared};

/// A projection's read model inside the write transaction that also moves its checkpoint.
///
/// Keys are bytes or strings, values bytes or JSON. Everything written here commits together
/// with the checkpoint, or not at all.
pub struct ReadModel<'t, 'e> {
    pub(crate) txn: &'t mut RwTxn<'e>,
    pub(crate) dbs: &'t Dbs,
    pub(crate) prefix: &'t [u8],
    /// Puts and deletes made, which a store runner counts toward its batch's byte bound.
    pub(crate) writes: usize,
}

impl std::fmt::Debug for ReadModel<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadModel").finish_non_exhaustive()
    }
}

impl ReadModel<'_, '_> {
    fn key(&self, key: &[u8]) -> Vec<u8> {
        [self.prefix, key].concat()
    }

    /// The longest key this projection can use: LMDB's 511 bytes less the projection's name
    /// and generation, which prefix every key.
    pub fn max_key_len(&self) -> usize {
        511usize.saturating_sub(self.prefix.len())
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
        Ok(self
            .dbs
            .read_models
            .get(self.txn, &self.key(key))?
            .map(<[u8]>::to_vec))
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
        let key = self.key(key);
        self.writes += 1;
        self.dbs.read_models.put(self.txn, &key, value)?;
        Ok(())
    }

    /// Removes `key`; returns whether it was there.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn delete(&mut self, key: &[u8]) -> Result<bool> {
        let key = self.key(key);
        self.writes += 1;
        Ok(self.dbs.read_models.delete(self.txn, &key)?)
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
        table: "read_models",
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

/// Reads a projection's active read model (the generation the last rebuild switched to).
#[derive(Debug, Clone)]
pub struct ReadModelView {
    store: LmdbStore,
    name: String,
}

impl ReadModelView {
    /// The read model of the projection named `name`.
    pub fn new(store: &LmdbStore, name: &str) -> ReadModelView {
        ReadModelView {
            store: store.clone(),
            name: name.to_owned(),
        }
    }

    fn shared(&self) -> &Shared {
        self.store.shared()
    }

    /// The value under `key`.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.shared().read(|txn, dbs| {
            let generation = super::runner::active_generation(txn, dbs, &self.name)?;
            let full = [
                super::runner::model_prefix(&self.name, generation).as_slice(),
                key,
            ]
            .concat();
            Ok(dbs.read_models.get(txn, &full)?.map(<[u8]>::to_vec))
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
        self.shared().read(|txn, dbs| {
            let generation = super::runner::active_generation(txn, dbs, &self.name)?;
            let prefix = super::runner::model_prefix(&self.name, generation);
            let mut out = Vec::new();
            for entry in dbs.read_models.prefix_iter(txn, &prefix)? {
                let (key, value) = entry?;
                out.push((key[prefix.len()..].to_vec(), value.to_vec()));
            }
            Ok(out)
        })
    }
}
