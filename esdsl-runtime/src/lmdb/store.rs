//! [`LmdbStore`]: the event store on an LMDB environment (through `heed`), and its
//! [`EventStore`] implementation.

use std::ops::{Bound, ControlFlow};
use std::path::Path;
use std::sync::{Arc, TryLockError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::env::{CROSS_PROCESS_POLL, ReadOnly, Shared, refuse_inside_write};
use super::options::StoreOptions;
use super::reads::{AllIter, StreamIter, replay_log_page, replay_page};
use super::tables::lmdb;
use super::tables::{
    MAX_KEY, corrupt, head_version, last_position, snapshot_key, stream_head_in, stream_id_value,
    u64_from,
};
use super::writer::{self, Appends, Request};
use crate::error::{Error, Result};
use crate::store::{
    AppendResult, CatalogEntry, Direction, EventRef, EventStore, Events, Filter, Metadata,
    Snapshot, StreamAppend, StreamInfo, category, validate_append, validate_consumer_name,
    validate_metadata, validate_stream_name,
};

/// Checks that each (category, event type) fits a `catalog` key: the category, the type and 6
/// more bytes, at most [`MAX_KEY`].
fn catalog_keys_fit(appends: &[StreamAppend]) -> Result<()> {
    for append in appends {
        for event in &append.events {
            let key = category(&append.stream).len() + event.event_type.len() + 6;
            if key > MAX_KEY {
                return Err(Error::InvalidInput(format!(
                    "stream category `{}` and event type `{}` are {key} bytes together with \
                     their separators, the limit is {MAX_KEY}",
                    category(&append.stream),
                    event.event_type
                )));
            }
        }
    }
    Ok(())
}

/// Snapshots kept per stream.
const KEPT_SNAPSHOTS: usize = 3;

struct Inner {
    shared: Arc<Shared>,
    appends: Arc<Appends>,
    writer: Option<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the queue ends the writer after it has answered every queued append.
        self.appends.queue.close();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// Checks an append and makes its request to the committer, with the receiver of its answer.
fn request(
    appends: Vec<StreamAppend>,
    metadata: &Metadata,
) -> Result<(Request, oneshot::Receiver<Result<Vec<AppendResult>>>)> {
    refuse_inside_write()?;
    validate_append(&appends)?;
    catalog_keys_fit(&appends)?;
    validate_metadata(metadata)?;
    let (reply, receiver) = oneshot::channel();
    let request = Request {
        appends,
        metadata: metadata.clone(),
        reply,
    };
    Ok((request, receiver))
}

/// An event store in a directory, on LMDB. Cheap to clone; all clones share one environment
/// and one group commit: an append commits on the calling thread when no commit is running,
/// and appends that arrive meanwhile are committed together by the next one (or by the
/// store's writer thread).
///
/// ```
/// use esdsl_runtime::store::{Direction, EventStore, ExpectedVersion, Metadata, NewEvent};
/// use esdsl_runtime::lmdb::LmdbStore;
/// use esdsl_runtime::Codec;
///
/// let dir = tempfile::tempdir()?;
/// let store = LmdbStore::open(dir.path())?;
/// let event = NewEvent {
///     event_type: "Opened".into(),
///     schema_version: 1,
///     codec: Codec::Json,
///     payload: br#"{"owner":"ada"}"#.to_vec(),
/// };
/// let done = store.append("Account-1", ExpectedVersion::NoStream, vec![event], &Metadata::default())?;
/// assert_eq!(done.version, 1);
/// let events: Vec<_> = store
///     .read_stream("Account-1", 1, Direction::Forward, 100)?
///     .collect::<Result<_, _>>()?;
/// assert_eq!(events[0].payload, br#"{"owner":"ada"}"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct LmdbStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LmdbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LmdbStore")
            .field("path", &self.inner.shared.path())
            .finish_non_exhaustive()
    }
}

impl LmdbStore {
    /// Opens (creating if needed) the store in `dir`, durable by default.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyOpen`] when this process has the store open already (clone that handle
    /// instead); [`Error::FormatVersion`] for a store of an incompatible format; I/O and LMDB
    /// errors.
    pub fn open(dir: impl AsRef<Path>) -> Result<LmdbStore> {
        LmdbStore::open_with(dir, StoreOptions::default())
    }

    /// Opens (creating if needed) the store in `dir` with options.
    ///
    /// # Errors
    ///
    /// As [`LmdbStore::open`].
    pub fn open_with(dir: impl AsRef<Path>, options: StoreOptions) -> Result<LmdbStore> {
        let dir = dir.as_ref();
        let shared = Arc::new(Shared::open(dir, &options)?);
        let appends = Arc::new(Appends::new(options.max_batch));
        let writer = {
            let (shared, appends) = (Arc::clone(&shared), Arc::clone(&appends));
            std::thread::Builder::new()
                .name("esdsl-writer".into())
                .spawn(move || writer::run(&shared, &appends))?
        };
        Ok(LmdbStore {
            inner: Arc::new(Inner {
                shared,
                appends,
                writer: Some(writer),
            }),
        })
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        self.inner.shared.path()
    }

    /// The catalog ([`EventStore::catalog`]) of the store in `dir`, opened read-only: nothing
    /// is written, no database created, and the data file is walked first, so a damaged store
    /// is an error, not a crash (`cargo esdsl check --against-store`).
    ///
    /// # Errors
    ///
    /// [`Error::NoStore`] when `dir` holds no store; [`Error::Damaged`] when LMDB's structure
    /// is damaged; [`Error::AlreadyOpen`] when this process has the store open;
    /// [`Error::FormatVersion`] for a store of another format; storage errors.
    pub fn read_only_catalog(dir: impl AsRef<Path>) -> Result<Vec<CatalogEntry>> {
        ReadOnly::read(dir.as_ref(), |txn, dbs| super::catalog::entries(txn, dbs))
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    #[cfg(test)]
    pub(crate) fn appends(&self) -> &Appends {
        &self.inner.appends
    }

    /// Sends an append to the writer; the receiver resolves when its group commit is done.
    pub(crate) fn submit(
        &self,
        appends: Vec<StreamAppend>,
        metadata: &Metadata,
    ) -> Result<oneshot::Receiver<Result<Vec<AppendResult>>>> {
        let (request, receiver) = request(appends, metadata)?;
        self.inner.appends.queue.push(request)?;
        Ok(receiver)
    }

    /// Like [`EventStore::append_multi`], for async code: awaits the group commit without
    /// blocking an executor thread. Reads stay synchronous (they are memory-mapped and short).
    ///
    /// # Errors
    ///
    /// As [`EventStore::append_multi`].
    #[cfg(feature = "tokio")]
    pub async fn append_multi_async(
        &self,
        appends: Vec<StreamAppend>,
        metadata: &Metadata,
    ) -> Result<Vec<AppendResult>> {
        let receiver = self.submit(appends, metadata)?;
        receiver.await.map_err(|_| Error::WriterStopped)?
    }

    /// Like [`EventStore::append`], for async code: awaits the group commit without blocking an
    /// executor thread.
    ///
    /// # Errors
    ///
    /// As [`EventStore::append`].
    #[cfg(feature = "tokio")]
    pub async fn append_async(
        &self,
        stream: &str,
        expected: crate::store::ExpectedVersion,
        events: Vec<crate::store::NewEvent>,
        metadata: &Metadata,
    ) -> Result<AppendResult> {
        let appends = vec![StreamAppend {
            stream: stream.to_owned(),
            expected,
            events,
        }];
        let mut results = self.append_multi_async(appends, metadata).await?;
        results.pop().ok_or(Error::WriterStopped)
    }

    /// Syncs the environment to disk (meaningful with [`Durability::Relaxed`](super::Durability::Relaxed) and
    /// [`Durability::NoSync`](super::Durability::NoSync)).
    ///
    /// # Errors
    ///
    /// LMDB errors.
    pub fn sync(&self) -> Result<()> {
        self.inner.shared.env.force_sync().map_err(lmdb)
    }

    fn stream_id(&self, stream: &str) -> Result<Option<(u64, u64)>> {
        self.inner
            .shared
            .read(|txn, dbs| stream_head_in(txn, dbs, stream))
    }
}

impl EventStore for LmdbStore {
    fn append_multi(
        &self,
        appends: Vec<StreamAppend>,
        metadata: &Metadata,
    ) -> Result<Vec<AppendResult>> {
        let (shared, queue) = (&self.inner.shared, &self.inner.appends);
        let committer = match queue.committer.try_lock() {
            Ok(committer) => Some(committer),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        };
        let receiver = match committer {
            // No commit is running: commit on this thread, after what is queued, rather than
            // hand the append to the writer thread and wait to be woken (two thread switches
            // per append). Appends that arrive meanwhile queue for the next commit.
            Some(mut committer) if committer.takes_callers() => {
                let (request, receiver) = request(appends, metadata)?;
                committer.commit_with_queued(shared, &queue.queue, request);
                receiver
            }
            other => {
                // Let go of the committer before waiting for the writer thread, which needs it.
                drop(other);
                self.submit(appends, metadata)?
            }
        };
        receiver.recv().map_err(|_| Error::WriterStopped)?
    }

    fn read_stream(
        &self,
        stream: &str,
        from: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Events<'_>> {
        let Some((stream_id, _)) = self.stream_id(stream)? else {
            return Ok(Box::new(std::iter::empty()));
        };
        Ok(Box::new(StreamIter::new(
            Arc::clone(&self.inner.shared),
            stream_id,
            from,
            direction,
            limit,
        )))
    }

    fn replay_stream(
        &self,
        stream: &str,
        from: u64,
        limit: usize,
        visit: &mut dyn FnMut(EventRef<'_>) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        self.replay_stream_with(stream, from, limit, visit)
    }

    fn replay_stream_with<F>(
        &self,
        stream: &str,
        from: u64,
        limit: usize,
        mut visit: F,
    ) -> Result<()>
    where
        F: FnMut(EventRef<'_>) -> Result<ControlFlow<()>>,
    {
        self.inner
            .shared
            .replay_paged(from, limit, |txn, dbs, from, want| {
                replay_page(txn, dbs, stream, from, want, &mut visit)
            })
    }

    fn read_all(&self, from: u64, filter: &Filter, limit: usize) -> Result<Events<'_>> {
        Ok(Box::new(AllIter::new(
            Arc::clone(&self.inner.shared),
            filter.clone(),
            from,
            limit,
        )))
    }

    fn replay_all(
        &self,
        from: u64,
        filter: &Filter,
        limit: usize,
        visit: &mut dyn FnMut(EventRef<'_>) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        self.inner
            .shared
            .replay_paged(from, limit, |txn, dbs, from, want| {
                replay_log_page(txn, dbs, from, filter, want, visit)
            })
    }

    fn stream_version(&self, stream: &str) -> Result<Option<u64>> {
        Ok(self.stream_id(stream)?.map(|(_, version)| version))
    }

    fn streams(&self) -> Result<Vec<StreamInfo>> {
        self.inner.shared.read(|txn, dbs| {
            let mut out = Vec::new();
            for entry in dbs.streams.iter(txn).map_err(lmdb)? {
                let (name, value) = entry.map_err(lmdb)?;
                let name = String::from_utf8_lossy(name).into_owned();
                let id = stream_id_value(value)
                    .ok_or_else(|| corrupt("streams", &name, "bad stream id"))?;
                let version = head_version(txn, dbs, id)?;
                out.push(StreamInfo { name, version });
            }
            Ok(out)
        })
    }

    fn head_position(&self) -> Result<u64> {
        self.inner.shared.read(|txn, dbs| last_position(txn, dbs))
    }

    fn wait_for_commit(&self, after: u64, timeout: Duration) -> Result<u64> {
        self.inner
            .shared
            .wait_for_commit(after, timeout, CROSS_PROCESS_POLL, None)
    }

    fn load_checkpoint(&self, name: &str) -> Result<Option<u64>> {
        validate_consumer_name(name)?;
        self.inner.shared.read(|txn, dbs| {
            dbs.checkpoints
                .get(txn, name.as_bytes())
                .map_err(lmdb)?
                .map(|bytes| {
                    u64_from(bytes).ok_or_else(|| corrupt("checkpoints", name, "not 8 bytes"))
                })
                .transpose()
        })
    }

    fn save_checkpoint(&self, name: &str, position: u64) -> Result<()> {
        validate_consumer_name(name)?;
        self.inner.shared.write(|_, txn, dbs| {
            dbs.checkpoints
                .put(txn, name.as_bytes(), &position.to_be_bytes())
                .map_err(lmdb)?;
            Ok(())
        })
    }

    fn save_snapshot(&self, snapshot: &Snapshot) -> Result<()> {
        validate_stream_name(&snapshot.stream)?;
        let key = snapshot_key(&snapshot.stream, snapshot.version);
        let mut value = Vec::with_capacity(8 + snapshot.state.len() + 4);
        value.extend_from_slice(&snapshot.fingerprint.to_be_bytes());
        value.extend_from_slice(&snapshot.state);
        let checksum = crc32fast::hash(&value);
        value.extend_from_slice(&checksum.to_be_bytes());
        self.inner.shared.write(|_, txn, dbs| {
            dbs.snapshots.put(txn, &key, &value).map_err(lmdb)?;
            // Keep the newest few per stream: older ones serve time travel, the rest is waste.
            let start = snapshot_key(&snapshot.stream, 0);
            let range = (Bound::Included(&start[..]), Bound::Excluded(&key[..]));
            let older: Vec<Vec<u8>> = dbs
                .snapshots
                .rev_range(txn, &range)
                .map_err(lmdb)?
                .skip(KEPT_SNAPSHOTS - 1)
                .map(|entry| entry.map(|(k, _)| k.to_vec()))
                .collect::<heed::Result<_>>()
                .map_err(lmdb)?;
            for old in older {
                dbs.snapshots.delete(txn, &old).map_err(lmdb)?;
            }
            Ok(())
        })
    }

    fn load_snapshot(&self, stream: &str, at_most: u64) -> Result<Option<Snapshot>> {
        validate_stream_name(stream)?;
        self.inner.shared.read(|txn, dbs| {
            let start = snapshot_key(stream, 0);
            let end = snapshot_key(stream, at_most);
            let range = (Bound::Included(&start[..]), Bound::Included(&end[..]));
            for entry in dbs.snapshots.rev_range(txn, &range).map_err(lmdb)? {
                let (key, value) = entry.map_err(lmdb)?;
                if key.len() != stream.len() + 9 {
                    continue;
                }
                let version = u64_from(&key[stream.len() + 1..]).filter(|v| *v <= at_most);
                // A snapshot whose checksum does not match is passed over like one of another
                // state type: an older one, or the events, give the state instead.
                if let (Some(version), Some((fingerprint, state))) = (version, snapshot_of(value)) {
                    return Ok(Some(Snapshot {
                        stream: stream.to_owned(),
                        version,
                        fingerprint,
                        state: state.to_vec(),
                    }));
                }
            }
            Ok(None)
        })
    }

    fn catalog(&self) -> Result<Vec<CatalogEntry>> {
        self.inner
            .shared
            .read(|txn, dbs| super::catalog::entries(txn, dbs))
    }
}

/// The fingerprint and state of a stored snapshot (fingerprint `u64`, state, then a CRC-32 of
/// both, as an event record's), or `None` when its checksum does not match.
pub(crate) fn snapshot_of(value: &[u8]) -> Option<(u64, &[u8])> {
    let (body, stored) = value.split_last_chunk::<4>()?;
    if crc32fast::hash(body) != u32::from_be_bytes(*stored) {
        return None;
    }
    let (fingerprint, state) = body.split_first_chunk::<8>()?;
    Some((u64::from_be_bytes(*fingerprint), state))
}

/// Appends await the group commit without a thread; the rest runs on tokio's blocking pool.
#[cfg(feature = "tokio")]
impl crate::store::AsyncEventStore for LmdbStore {
    fn append_async(
        &self,
        stream: &str,
        expected: crate::store::ExpectedVersion,
        events: Vec<crate::store::NewEvent>,
        metadata: &Metadata,
    ) -> impl std::future::Future<Output = Result<AppendResult>> + Send {
        LmdbStore::append_async(self, stream, expected, events, metadata)
    }
}
