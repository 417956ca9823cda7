//! [`LmdbStore`]: the event store on an LMDB environment (through `heed`).
//!
//! Databases (all keys and integers big-endian):
//!
//! | database | key | value |
//! | --- | --- | --- |
//! | `events` | global position `u64` | the record: envelope then payload (see `record.rs`) |
//! | `stream_index` | stream id `u64`, version `u64` | global position `u64` |
//! | `streams` | stream name | stream id `u64` (format 1: and a head version, no longer read) |
//! | `catalog` | aggregate, NUL, event type, NUL, version `u32` | count `u64` up to `catalog_through` |
//! | `meta` | name | `format` (`u32`), `next_stream_id` (`u64`), `catalog_through` (`u64`) |

use std::collections::VecDeque;
use std::ops::{Bound, ControlFlow};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use heed::types::Bytes;
use heed::{Database, Env, EnvFlags, EnvOpenOptions, MdbError, RoTxn, RwTxn, WithoutTls};

use super::keys::{split_pair, stream_key, u64_from};
use super::record::RecordView;
use super::writer::{self, Committer, Queue, Request};
use super::{
    AppendResult, CatalogEntry, Direction, EventRef, EventStore, Events, Filter, Metadata,
    RecordedEvent, Snapshot, StreamAppend, StreamInfo, validate_append, validate_consumer_name,
    validate_metadata,
};
use crate::error::{Error, Result};

/// The store format this version writes. Format 2 (stream heads from the stream index, the
/// catalog's tail) reads every store of format 1, and an open upgrades one in place: a program
/// that knows only format 1 then refuses it instead of writing heads and counts the old way.
pub(crate) const FORMAT_VERSION: u32 = 2;
/// The oldest format this version opens.
pub(crate) const OLDEST_FORMAT: u32 = 1;
/// Events read per read transaction when iterating.
const PAGE: usize = 256;
/// Events replayed per read transaction by `replay_stream` (no copies are buffered, so a page
/// can be longer than an iterator's; 1,024 JSON events take about 0.2 ms).
const REPLAY_PAGE: usize = 1024;
/// Records looked at per read transaction when a filter skips most of them.
const SCAN_PAGE: usize = 4096;
/// How often a waiting subscriber looks for commits made by another process.
pub(crate) const CROSS_PROCESS_POLL: Duration = Duration::from_millis(50);
/// Snapshots kept per stream.
const KEPT_SNAPSHOTS: usize = 3;

thread_local! {
    /// Set while this thread runs a write transaction's closure (a projection handler).
    static INSIDE_WRITE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the current thread as inside a write transaction until dropped.
struct InsideWrite;

impl InsideWrite {
    fn enter() -> InsideWrite {
        INSIDE_WRITE.with(|inside| inside.set(true));
        InsideWrite
    }
}

impl Drop for InsideWrite {
    fn drop(&mut self) {
        INSIDE_WRITE.with(|inside| inside.set(false));
    }
}

/// LMDB has one write lock: an append or a second write transaction started from inside a
/// write transaction (a store projection's handler) would wait for itself forever.
pub(crate) fn refuse_inside_write() -> Result<()> {
    if INSIDE_WRITE.with(std::cell::Cell::get) {
        return Err(Error::InvalidInput(
            "the store cannot be written from inside a store projection's handler (LMDB's \
             single write lock is held there); write through the `ReadModel` instead"
                .into(),
        ));
    }
    Ok(())
}

/// `snapshots` key: stream name, NUL, version.
fn snapshot_key(stream: &str, version: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(stream.len() + 9);
    key.extend_from_slice(stream.as_bytes());
    key.push(0);
    key.extend_from_slice(&version.to_be_bytes());
    key
}

/// How durable an acknowledged append is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// The default: `append` returns `Ok` only after the commit is synced to disk. Acknowledged
    /// events survive a process crash, an OS crash and a power loss.
    #[default]
    Durable,
    /// One sync per commit instead of two (LMDB's `MDB_NOMETASYNC`: data pages are synced, the
    /// meta page is written but not synced). Acknowledged events survive a process crash; an OS
    /// crash or power loss can undo the most recent commits, but the store stays consistent and
    /// reopens at an earlier commit.
    Relaxed,
    /// No sync at all (LMDB's `MDB_NOSYNC`). Acknowledged events survive a process crash, but
    /// LMDB documents that an OS crash or power loss can lose recent commits **or corrupt the
    /// store**. Use only for data you can rebuild: tests, caches, scratch stores.
    NoSync,
}

/// Options for [`LmdbStore::open_with`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreOptions {
    /// Whether appends wait for the disk. Default [`Durability::Durable`].
    pub durability: Durability,
    /// The memory map size to start with, in bytes; it doubles whenever it fills. Default 1 GiB.
    pub initial_map_size: usize,
    /// The most appends one group commit takes. Default 1024.
    pub max_batch: usize,
    /// Unix permission bits for the store directory when it is created. Default `0o700`
    /// (the data files are always created `0o600`).
    pub dir_mode: u32,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            durability: Durability::Durable,
            initial_map_size: 1 << 30,
            max_batch: 1024,
            dir_mode: 0o700,
        }
    }
}

impl StoreOptions {
    /// Sets the durability.
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> StoreOptions {
        self.durability = durability;
        self
    }

    /// Sets the initial map size (rounded up to whole pages).
    #[must_use]
    pub fn initial_map_size(mut self, bytes: usize) -> StoreOptions {
        self.initial_map_size = bytes;
        self
    }
}

#[derive(Clone, Copy)]
pub(crate) struct Dbs {
    pub(crate) events: Database<'static, Bytes, Bytes>,
    pub(crate) stream_index: Database<'static, Bytes, Bytes>,
    pub(crate) streams: Database<'static, Bytes, Bytes>,
    pub(crate) catalog: Database<'static, Bytes, Bytes>,
    pub(crate) meta: Database<'static, Bytes, Bytes>,
    pub(crate) read_models: Database<'static, Bytes, Bytes>,
    pub(crate) checkpoints: Database<'static, Bytes, Bytes>,
    pub(crate) parked: Database<'static, Bytes, Bytes>,
    pub(crate) snapshots: Database<'static, Bytes, Bytes>,
}

/// How a [`Shared::write_or_abort`] transaction ends.
pub(crate) enum Finish<T> {
    Commit(T),
    Abort(T),
}

/// What the handles, the committing threads and the iterators share.
pub(crate) struct Shared {
    pub(crate) env: Env<WithoutTls>,
    pub(crate) dbs: Dbs,
    /// Held shared by every transaction of this process, exclusively to resize the map
    /// (LMDB requires that no transaction be open then).
    pub(crate) gate: RwLock<()>,
    /// Counts commits; waiters are woken on each.
    pub(crate) commits: Mutex<u64>,
    pub(crate) committed: Condvar,
    /// Appends waiting for a commit.
    pub(crate) queue: Queue,
    /// Held by whichever thread is committing appends.
    pub(crate) committer: Mutex<Committer>,
    path: PathBuf,
}

impl Shared {
    /// Runs `f` in a short read transaction.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&RoTxn<'_, WithoutTls>, &Dbs) -> Result<T>,
    ) -> Result<T> {
        let mut attempts = 0;
        loop {
            let guard = self.gate.read().unwrap_or_else(|p| p.into_inner());
            match self.env.read_txn() {
                Ok(txn) => {
                    let out = f(&txn, &self.dbs);
                    drop(txn);
                    drop(guard);
                    return out;
                }
                Err(heed::Error::Mdb(MdbError::MapResized)) if attempts < 3 => {
                    drop(guard);
                    self.adopt_map_size()?;
                    attempts += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Runs `f` in a write transaction of its own and commits it. LMDB lets one write
    /// transaction run at a time (across threads and processes), so this waits for the writer
    /// thread's current commit. A full map is grown and `f` runs again: `f` must have no effects
    /// outside the transaction.
    pub(crate) fn write<T>(
        &self,
        mut f: impl FnMut(&Env<WithoutTls>, &mut RwTxn<'_>, &Dbs) -> Result<T>,
    ) -> Result<T> {
        self.write_or_abort(|env, txn, dbs| f(env, txn, dbs).map(Finish::Commit))
    }

    /// Like [`Shared::write`], but `f` decides whether the transaction commits: with
    /// [`Finish::Abort`] everything it wrote is rolled back and its value returned.
    pub(crate) fn write_or_abort<T>(
        &self,
        mut f: impl FnMut(&Env<WithoutTls>, &mut RwTxn<'_>, &Dbs) -> Result<Finish<T>>,
    ) -> Result<T> {
        refuse_inside_write()?;
        let mut attempts = 0;
        loop {
            let guard = self.gate.read().unwrap_or_else(|p| p.into_inner());
            let mut txn = match self.env.write_txn() {
                Ok(txn) => txn,
                Err(heed::Error::Mdb(MdbError::MapResized)) if attempts < 3 => {
                    drop(guard);
                    self.adopt_map_size()?;
                    attempts += 1;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let result = {
                let _inside = InsideWrite::enter();
                f(&self.env, &mut txn, &self.dbs)
            }
            .and_then(|finish| match finish {
                Finish::Commit(out) => {
                    txn.commit()?;
                    Ok(out)
                }
                Finish::Abort(out) => {
                    txn.abort();
                    Ok(out)
                }
            });
            drop(guard);
            match result {
                Err(Error::Lmdb(heed::Error::Mdb(MdbError::MapFull))) if attempts < 32 => {
                    self.grow_map()?;
                    attempts += 1;
                }
                other => return other,
            }
        }
    }

    /// Waits until the log's head is past `after` or `timeout` passes; returns the head.
    /// Commits of this process wake the wait at once; commits of another process are seen
    /// within `poll`.
    ///
    /// With `stop`, the wait also ends once the flag is set: checked under the lock that
    /// [`Shared::wake_waiters`] takes, so a stop asked at any moment before or during the wait
    /// ends it.
    pub(crate) fn wait_for_commit(
        &self,
        after: u64,
        timeout: Duration,
        poll: Duration,
        stop: Option<&AtomicBool>,
    ) -> Result<u64> {
        let stopped = || stop.is_some_and(|flag| flag.load(Ordering::SeqCst));
        let start = Instant::now();
        let deadline = start.checked_add(timeout);
        loop {
            // Read the commit counter before the head, so a commit in between is not missed.
            let seen = *self.commits.lock().unwrap_or_else(|p| p.into_inner());
            let head = self.read(|txn, dbs| last_position(txn, dbs))?;
            let now = Instant::now();
            let left = deadline.map_or(poll, |d| d.saturating_duration_since(now));
            if head > after || left.is_zero() || stopped() {
                return Ok(head);
            }
            let commits = self.commits.lock().unwrap_or_else(|p| p.into_inner());
            let (commits, _) = self
                .committed
                .wait_timeout_while(commits, left.min(poll), |count| {
                    *count == seen && !stopped()
                })
                .unwrap_or_else(|p| p.into_inner());
            if *commits != seen || stopped() {
                // Woken: by a commit (the caller reads it) or by `wake_waiters` (a stop).
                drop(commits);
                return self.read(|txn, dbs| last_position(txn, dbs));
            }
        }
    }

    /// Wakes every `wait_for_commit` (to stop a subscription, say).
    pub(crate) fn wake_waiters(&self) {
        self.notify_commit();
    }

    /// Another process grew the map: take its size (LMDB's `mdb_env_set_mapsize(0)`).
    pub(crate) fn adopt_map_size(&self) -> Result<()> {
        let _exclusive = self.gate.write().unwrap_or_else(|p| p.into_inner());
        // SAFETY: the exclusive gate guarantees no transaction of this process is open.
        #[allow(unsafe_code)]
        unsafe {
            self.env.resize(0)?;
        }
        Ok(())
    }

    /// Doubles the map after `MDB_MAP_FULL`.
    pub(crate) fn grow_map(&self) -> Result<()> {
        let _exclusive = self.gate.write().unwrap_or_else(|p| p.into_inner());
        let current = self.env.info().map_size;
        let page = page_size();
        let doubled = current.saturating_mul(2).div_ceil(page) * page;
        // SAFETY: the exclusive gate guarantees no transaction of this process is open.
        #[allow(unsafe_code)]
        unsafe {
            self.env.resize(doubled)?;
        }
        Ok(())
    }

    /// The store's directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn notify_commit(&self) {
        let mut commits = self.commits.lock().unwrap_or_else(|p| p.into_inner());
        *commits += 1;
        self.committed.notify_all();
    }
}

fn page_size() -> usize {
    4096
}

struct Inner {
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the queue ends the writer after it has answered every queued append.
        self.shared.queue.close();
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
/// use esdsl_runtime::store::{Direction, EventStore, ExpectedVersion, LmdbStore, Metadata, NewEvent};
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
            .field("path", &self.inner.shared.path)
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
        create_dir(dir, options.dir_mode)?;
        let mut env_options = EnvOpenOptions::new().read_txn_without_tls();
        let page = page_size();
        env_options
            .map_size(options.initial_map_size.max(page).div_ceil(page) * page)
            .max_dbs(16)
            .max_readers(1024);
        let mut flags = EnvFlags::empty();
        match options.durability {
            Durability::Durable => {}
            Durability::Relaxed => flags |= EnvFlags::NO_META_SYNC,
            Durability::NoSync => flags |= EnvFlags::NO_SYNC,
        }
        // SAFETY: `flags` holds at most NO_META_SYNC or NO_SYNC, whose risks are documented on
        // `Durability`;
        // `open` is unsafe because the memory map must not be modified by other means than
        // LMDB, which holds for a store directory owned by esdsl.
        #[allow(unsafe_code)]
        let env = unsafe {
            env_options.flags(flags);
            env_options.open(dir)
        }
        .map_err(|e| match e {
            heed::Error::EnvAlreadyOpened => Error::AlreadyOpen(dir.display().to_string()),
            other => Error::from(other),
        })?;

        let names = [
            "events",
            "stream_index",
            "streams",
            "catalog",
            "meta",
            "read_models",
            "checkpoints",
            "parked",
            "snapshots",
        ];
        let [
            events,
            stream_index,
            streams,
            catalog,
            meta,
            read_models,
            checkpoints,
            parked,
            snapshots,
        ] = env
            .create_databases_and_commit(env.write_txn()?, |opener, txn| {
                let mut databases = Vec::with_capacity(names.len());
                for name in names {
                    databases.push(opener.create_database::<Bytes, Bytes>(txn, Some(name))?);
                }
                let databases: [Database<'_, Bytes, Bytes>; 9] = databases
                    .try_into()
                    .map_err(|_| Error::InvalidInput("database count".into()))?;
                Ok::<_, Error>(heed::CommitOrAbort::<_, ()>::Commit(databases))
            })?
            .unwrap_commit();
        let dbs = Dbs {
            events,
            stream_index,
            streams,
            catalog,
            meta,
            read_models,
            checkpoints,
            parked,
            snapshots,
        };
        {
            let mut txn = env.write_txn()?;
            match dbs.meta.get(&txn, b"format")? {
                None => dbs
                    .meta
                    .put(&mut txn, b"format", &FORMAT_VERSION.to_be_bytes())?,
                Some(bytes) => {
                    let found =
                        bytes
                            .try_into()
                            .map(u32::from_be_bytes)
                            .map_err(|_| Error::Corrupt {
                                table: "meta",
                                key: "format".into(),
                                reason: format!("{} bytes instead of 4", bytes.len()),
                            })?;
                    if !(OLDEST_FORMAT..=FORMAT_VERSION).contains(&found) {
                        return Err(Error::FormatVersion {
                            found,
                            supported: FORMAT_VERSION,
                        });
                    }
                    if found < FORMAT_VERSION {
                        dbs.meta
                            .put(&mut txn, b"format", &FORMAT_VERSION.to_be_bytes())?;
                    }
                }
            }
            txn.commit()?;
        }

        let shared = Arc::new(Shared {
            env,
            dbs,
            gate: RwLock::new(()),
            commits: Mutex::new(0),
            committed: Condvar::new(),
            queue: Queue::default(),
            committer: Mutex::new(Committer::new(options.max_batch)),
            path: dir.to_path_buf(),
        });
        let writer = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("esdsl-writer".into())
                .spawn(move || writer::run(&shared))?
        };
        Ok(LmdbStore {
            inner: Arc::new(Inner {
                shared,
                writer: Some(writer),
            }),
        })
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.inner.shared.path
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    /// Sends an append to the writer; the receiver resolves when its group commit is done.
    pub(crate) fn submit(
        &self,
        appends: Vec<StreamAppend>,
        metadata: &Metadata,
    ) -> Result<oneshot::Receiver<Result<Vec<AppendResult>>>> {
        let (request, receiver) = request(appends, metadata)?;
        self.inner.shared.queue.push(request)?;
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
        expected: super::ExpectedVersion,
        events: Vec<super::NewEvent>,
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

    /// Syncs the environment to disk (meaningful with [`Durability::Relaxed`] and
    /// [`Durability::NoSync`]).
    ///
    /// # Errors
    ///
    /// LMDB errors.
    pub fn sync(&self) -> Result<()> {
        self.inner.shared.env.force_sync().map_err(Error::from)
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
        let shared = &self.inner.shared;
        let committer = match shared.committer.try_lock() {
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
                committer.commit_with_queued(shared, request);
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
        Ok(Box::new(StreamIter {
            shared: Arc::clone(&self.inner.shared),
            stream_id,
            next: Some(from),
            direction,
            remaining: limit,
            buffer: VecDeque::new(),
        }))
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
        Ok(Box::new(AllIter {
            shared: Arc::clone(&self.inner.shared),
            filter: filter.clone(),
            next: Some(from.max(1)),
            remaining: limit,
            buffer: VecDeque::new(),
        }))
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
            for entry in dbs.streams.iter(txn)? {
                let (name, value) = entry?;
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
                .get(txn, name.as_bytes())?
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
                .put(txn, name.as_bytes(), &position.to_be_bytes())?;
            Ok(())
        })
    }

    fn save_snapshot(&self, snapshot: &Snapshot) -> Result<()> {
        super::validate_stream_name(&snapshot.stream)?;
        let key = snapshot_key(&snapshot.stream, snapshot.version);
        let mut value = Vec::with_capacity(8 + snapshot.state.len());
        value.extend_from_slice(&snapshot.fingerprint.to_be_bytes());
        value.extend_from_slice(&snapshot.state);
        self.inner.shared.write(|_, txn, dbs| {
            dbs.snapshots.put(txn, &key, &value)?;
            // Keep the newest few per stream: older ones serve time travel, the rest is waste.
            let start = snapshot_key(&snapshot.stream, 0);
            let range = (Bound::Included(&start[..]), Bound::Excluded(&key[..]));
            let older: Vec<Vec<u8>> = dbs
                .snapshots
                .rev_range(txn, &range)?
                .skip(KEPT_SNAPSHOTS - 1)
                .map(|entry| entry.map(|(k, _)| k.to_vec()))
                .collect::<heed::Result<_>>()?;
            for old in older {
                dbs.snapshots.delete(txn, &old)?;
            }
            Ok(())
        })
    }

    fn load_snapshot(&self, stream: &str, at_most: u64) -> Result<Option<Snapshot>> {
        super::validate_stream_name(stream)?;
        self.inner.shared.read(|txn, dbs| {
            let start = snapshot_key(stream, 0);
            let end = snapshot_key(stream, at_most);
            let range = (Bound::Included(&start[..]), Bound::Included(&end[..]));
            for entry in dbs.snapshots.rev_range(txn, &range)? {
                let (key, value) = entry?;
                if key.len() != stream.len() + 9 {
                    continue;
                }
                let version = u64_from(&key[stream.len() + 1..]).filter(|v| *v <= at_most);
                let fingerprint = value.get(..8).and_then(u64_from);
                if let (Some(version), Some(fingerprint)) = (version, fingerprint) {
                    return Ok(Some(Snapshot {
                        stream: stream.to_owned(),
                        version,
                        fingerprint,
                        state: value[8..].to_vec(),
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

pub(crate) fn last_position(txn: &RoTxn<'_>, dbs: &Dbs) -> Result<u64> {
    match dbs.events.last(txn)? {
        None => Ok(0),
        Some((key, _)) => u64_from(key)
            .ok_or_else(|| corrupt("events", &format!("{key:?}"), "key is not 8 bytes")),
    }
}

pub(crate) fn corrupt(table: &'static str, key: &str, reason: &str) -> Error {
    Error::Corrupt {
        table,
        key: key.to_owned(),
        reason: reason.to_owned(),
    }
}

/// The stream's id and head version. The `streams` table maps a name to its stream id, written
/// once when the stream is created; the head version is the stream index's last version for
/// that id. So an append to an existing stream leaves the `streams` table alone, and a commit
/// writes one B-tree fewer.
pub(crate) fn stream_head_in(
    txn: &RoTxn<'_>,
    dbs: &Dbs,
    stream: &str,
) -> Result<Option<(u64, u64)>> {
    let Some(id) = stream_id_in(txn, dbs, stream)? else {
        return Ok(None);
    };
    Ok(Some((id, head_version(txn, dbs, id)?)))
}

/// The stream's id.
fn stream_id_in(txn: &RoTxn<'_>, dbs: &Dbs, stream: &str) -> Result<Option<u64>> {
    let Some(value) = dbs.streams.get(txn, stream.as_bytes())? else {
        return Ok(None);
    };
    stream_id_value(value)
        .map(Some)
        .ok_or_else(|| corrupt("streams", stream, "bad stream id"))
}

/// The stream id in a `streams` value: 8 bytes, or 16 in a store written before heads moved to
/// the stream index (the id, then a head version no longer read).
pub(crate) fn stream_id_value(value: &[u8]) -> Option<u64> {
    match value.len() {
        8 => u64_from(value),
        16 => split_pair(value).map(|(id, _)| id),
        _ => None,
    }
}

/// The last version of stream `id` in the stream index; 0 when it has none.
pub(crate) fn head_version(txn: &RoTxn<'_>, dbs: &Dbs, id: u64) -> Result<u64> {
    let Some((key, _)) = dbs
        .stream_index
        .get_lower_than_or_equal_to(txn, &stream_key(id, u64::MAX))?
    else {
        return Ok(0);
    };
    match split_pair(key) {
        Some((found, version)) if found == id => Ok(version),
        Some(_) => Ok(0),
        None => Err(corrupt("stream_index", &format!("{key:?}"), "bad key")),
    }
}

/// How far one read transaction of a replay went.
struct Page {
    visited: usize,
    /// Where the next read transaction goes on (a version of the stream, a position of the
    /// log); `None` when the replay is over: the visitor stopped, or nothing more is there.
    resume: Option<u64>,
}

impl Shared {
    /// Replays in read transactions of at most [`REPLAY_PAGE`] visited events each, from `from`
    /// (at least 1), until `limit` events were visited or a page ends the replay.
    fn replay_paged(
        &self,
        from: u64,
        limit: usize,
        mut page: impl FnMut(&RoTxn<'_>, &Dbs, u64, usize) -> Result<Page>,
    ) -> Result<()> {
        let mut from = from.max(1);
        let mut remaining = limit;
        while remaining > 0 {
            let want = remaining.min(REPLAY_PAGE);
            let done = self.read(|txn, dbs| page(txn, dbs, from, want))?;
            remaining -= done.visited;
            match done.resume {
                Some(next) => from = next,
                None => return Ok(()),
            }
        }
        Ok(())
    }
}

/// Replays at most `want` events of `stream` from version `from` in one read transaction,
/// decoding each record where it lies in the map.
///
/// A record holds its stream name and version, and an append puts a stream's events at
/// consecutive positions. So after each event the log's next record is looked at first: when
/// it is this stream's next version, it is the event (the stream index, written in the same
/// transaction, points at it). Only where it is not (another stream's event, the log's end, a
/// damaged record) is the next version looked up in the stream index, with the index's
/// errors. A stream written in batches is read in one walk of the log, like a raw scan.
fn replay_page<F>(
    txn: &RoTxn<'_>,
    dbs: &Dbs,
    stream: &str,
    from: u64,
    want: usize,
    visit: &mut F,
) -> Result<Page>
where
    F: FnMut(EventRef<'_>) -> Result<ControlFlow<()>>,
{
    let mut visited = 0;
    let Some(stream_id) = stream_id_in(txn, dbs, stream)? else {
        return Ok(Page {
            visited,
            resume: None,
        });
    };
    // Positioned after the last record visited.
    let mut log = None;
    let mut event_type = None;
    let mut version = from;
    // The walk ends where the stream index has no next version (no head is looked up first).
    while visited < want {
        let next = match log.as_mut() {
            Some(cursor) => Iterator::next(cursor).transpose()?,
            None => None,
        };
        let walked = next.and_then(|(key, bytes)| {
            let position = u64_from(key)?;
            let view = RecordView::parse_known(bytes, Some(stream), event_type).ok()?;
            // `parse_known` hands back `stream` itself when the stored name has its bytes, so
            // comparing addresses is comparing names.
            (view.version == version && std::ptr::eq(view.stream, stream))
                .then_some((position, view))
        });
        let (position, view) = match walked {
            Some(found) => found,
            None => {
                let Some((position, bytes, cursor)) = indexed(txn, dbs, stream_id, version)? else {
                    return Ok(Page {
                        visited,
                        resume: None,
                    });
                };
                log = Some(cursor);
                let view = RecordView::parse_known(bytes, Some(stream), event_type)
                    .map_err(|reason| corrupt("events", &position.to_string(), &reason))?;
                (position, view)
            }
        };
        event_type = Some(view.event_type);
        visited += 1;
        let stopped = visit(EventRef::from_view(&view, position))?.is_break();
        match version.checked_add(1) {
            Some(after) if !stopped => version = after,
            _ => {
                return Ok(Page {
                    visited,
                    resume: None,
                });
            }
        }
    }
    Ok(Page {
        visited,
        resume: Some(version),
    })
}

/// Visits at most `want` events that pass `filter` from position `from` in one read
/// transaction, each where it lies in the map, looking at no more than [`SCAN_PAGE`]
/// positions.
fn replay_log_page(
    txn: &RoTxn<'_>,
    dbs: &Dbs,
    from: u64,
    filter: &Filter,
    want: usize,
    visit: &mut dyn FnMut(EventRef<'_>) -> Result<ControlFlow<()>>,
) -> Result<Page> {
    let mut visited = 0;
    let start = from.to_be_bytes();
    let range = (Bound::Included(&start[..]), Bound::Unbounded);
    let (mut stream, mut event_type) = (None, None);
    let mut scanned = 0;
    for entry in dbs.events.range(txn, &range)? {
        let (key, bytes) = entry?;
        let position = u64_from(key)
            .ok_or_else(|| corrupt("events", &format!("{key:?}"), "key is not 8 bytes"))?;
        scanned += 1;
        // The previous record's names: a run of one stream or type is checked for UTF-8 once.
        let view = RecordView::parse_known(bytes, stream, event_type)
            .map_err(|reason| corrupt("events", &position.to_string(), &reason))?;
        (stream, event_type) = (Some(view.stream), Some(view.event_type));
        if filter.matches(view.stream, view.event_type) {
            visited += 1;
            if visit(EventRef::from_view(&view, position))?.is_break() {
                return Ok(Page {
                    visited,
                    resume: None,
                });
            }
        }
        if visited == want || scanned == SCAN_PAGE {
            return Ok(Page {
                visited,
                resume: position.checked_add(1),
            });
        }
    }
    // The log's end.
    Ok(Page {
        visited,
        resume: None,
    })
}

/// Finds `version` of a stream through the stream index: its position, its record and a
/// cursor on the log just after it. `None` when the index has no such version.
#[allow(clippy::type_complexity)]
fn indexed<'t>(
    txn: &'t RoTxn<'_>,
    dbs: &Dbs,
    stream_id: u64,
    version: u64,
) -> Result<Option<(u64, &'t [u8], heed::RoRange<'t, Bytes, Bytes>)>> {
    let key = stream_key(stream_id, version);
    let Some(value) = dbs.stream_index.get(txn, &key)? else {
        return Ok(None);
    };
    let (_, position) = index_entry(stream_id, (&key, value))?;
    let start = position.to_be_bytes();
    let range = (Bound::Included(&start[..]), Bound::Unbounded);
    let mut cursor = dbs.events.range(txn, &range)?;
    match cursor.next().transpose()? {
        Some((key, bytes)) if key == start => Ok(Some((position, bytes, cursor))),
        _ => Err(missing_record(stream_id, version, position)),
    }
}

/// The version and position of a `stream_index` entry.
fn index_entry(stream_id: u64, (key, value): (&[u8], &[u8])) -> Result<(u64, u64)> {
    let (_, version) =
        split_pair(key).ok_or_else(|| corrupt("stream_index", &format!("{key:?}"), "bad key"))?;
    let position = u64_from(value).ok_or_else(|| {
        corrupt(
            "stream_index",
            &format!("{stream_id}/{version}"),
            "bad value",
        )
    })?;
    Ok((version, position))
}

fn missing_record(stream_id: u64, version: u64, position: u64) -> Error {
    corrupt(
        "stream_index",
        &format!("{stream_id}/{version}"),
        &format!("points at missing position {position}"),
    )
}

/// Finds the records a stream's index points at. A batch append puts a stream's events at
/// consecutive positions, so where two lookups follow each other the log is walked with a
/// cursor instead of being searched from its root; where positions jump (streams written
/// interleaved with others, backward reads), each record is searched as before.
#[derive(Default)]
struct LogWalk<'t> {
    /// The position the cursor yields next, and the cursor.
    cursor: Option<(u64, heed::RoRange<'t, Bytes, Bytes>)>,
    /// The position after the record the last search found.
    after_search: Option<u64>,
}

impl<'t> LogWalk<'t> {
    /// The record at `position`, `None` when there is none.
    fn record(&mut self, txn: &'t RoTxn<'_>, dbs: &Dbs, position: u64) -> Result<Option<&'t [u8]>> {
        let walking = matches!(&self.cursor, Some((next, _)) if *next == position);
        if !walking {
            self.cursor = None;
            if self.after_search != Some(position) {
                self.after_search = position.checked_add(1);
                return Ok(dbs.events.get(txn, &position.to_be_bytes())?);
            }
            // Two in a row: walk from here on.
            self.after_search = None;
            let start = position.to_be_bytes();
            let range = (Bound::Included(&start[..]), Bound::Unbounded);
            self.cursor = Some((position, dbs.events.range(txn, &range)?));
        }
        let Some((next, cursor)) = self.cursor.as_mut() else {
            return Ok(None);
        };
        match cursor.next().transpose()? {
            Some((key, value)) if key == position.to_be_bytes() => {
                match position.checked_add(1) {
                    Some(after) => *next = after,
                    None => self.cursor = None,
                }
                Ok(Some(value))
            }
            _ => {
                self.cursor = None;
                Ok(None)
            }
        }
    }
}

/// Reads the record at `position` into an owned event.
pub(crate) fn record_at(position: u64, bytes: &[u8]) -> Result<RecordedEvent> {
    RecordView::parse(bytes)
        .map(|view| view.to_recorded(position))
        .map_err(|reason| corrupt("events", &position.to_string(), &reason))
}

struct StreamIter {
    shared: Arc<Shared>,
    stream_id: u64,
    /// The next version to read; `None` when the end is reached.
    next: Option<u64>,
    direction: Direction,
    remaining: usize,
    buffer: VecDeque<Result<RecordedEvent>>,
}

impl StreamIter {
    fn fill(&mut self) {
        let Some(from) = self.next else { return };
        let want = self.remaining.min(PAGE);
        let (stream_id, direction) = (self.stream_id, self.direction);
        let page = self.shared.read(|txn, dbs| {
            let mut page = Vec::new();
            let mut last = None;
            let mut log = LogWalk::default();
            let mut push = |entry: heed::Result<(&[u8], &[u8])>| -> Result<()> {
                let (version, position) = index_entry(stream_id, entry?)?;
                last = Some(version);
                let item = match log.record(txn, dbs, position)? {
                    Some(bytes) => record_at(position, bytes),
                    None => Err(missing_record(stream_id, version, position)),
                };
                page.push(item);
                Ok(())
            };
            match direction {
                Direction::Forward => {
                    let start = stream_key(stream_id, from);
                    let end = stream_key(stream_id, u64::MAX);
                    let range = (Bound::Included(&start[..]), Bound::Included(&end[..]));
                    for entry in dbs.stream_index.range(txn, &range)?.take(want) {
                        push(entry)?;
                    }
                }
                Direction::Backward => {
                    let start = stream_key(stream_id, 0);
                    let end = stream_key(stream_id, from);
                    let range = (Bound::Included(&start[..]), Bound::Included(&end[..]));
                    for entry in dbs.stream_index.rev_range(txn, &range)?.take(want) {
                        push(entry)?;
                    }
                }
            }
            Ok((page, last))
        });
        match page {
            Ok((page, last)) => {
                let full = page.len() == want;
                self.remaining -= page.len();
                self.buffer.extend(page);
                self.next = match (full && self.remaining > 0, last, self.direction) {
                    (true, Some(v), Direction::Forward) => v.checked_add(1),
                    (true, Some(v), Direction::Backward) => v.checked_sub(1).filter(|v| *v > 0),
                    _ => None,
                };
            }
            Err(error) => {
                self.buffer.push_back(Err(error));
                self.next = None;
            }
        }
    }
}

impl Iterator for StreamIter {
    type Item = Result<RecordedEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buffer.is_empty() && self.remaining > 0 {
            self.fill();
        }
        self.buffer.pop_front()
    }
}

struct AllIter {
    shared: Arc<Shared>,
    filter: Filter,
    /// The next position to look at; `None` when the end is reached.
    next: Option<u64>,
    remaining: usize,
    buffer: VecDeque<Result<RecordedEvent>>,
}

impl AllIter {
    fn fill(&mut self) {
        while self.buffer.is_empty() && self.remaining > 0 {
            let Some(from) = self.next else { return };
            let want = self.remaining.min(PAGE);
            let filter = &self.filter;
            let page = self.shared.read(|txn, dbs| {
                let mut page = Vec::new();
                let mut scanned = 0;
                let mut last = None;
                let start = from.to_be_bytes();
                let range = (Bound::Included(&start[..]), Bound::Unbounded);
                for entry in dbs.events.range(txn, &range)? {
                    let (key, value) = entry?;
                    let position = u64_from(key).ok_or_else(|| {
                        corrupt("events", &format!("{key:?}"), "key is not 8 bytes")
                    })?;
                    last = Some(position);
                    scanned += 1;
                    match RecordView::parse(value) {
                        Ok(view) => {
                            if filter.matches(view.stream, view.event_type) {
                                page.push(Ok(view.to_recorded(position)));
                            }
                        }
                        Err(reason) => {
                            page.push(Err(corrupt("events", &position.to_string(), &reason)))
                        }
                    }
                    if page.len() == want || scanned == SCAN_PAGE {
                        return Ok((page, last, false));
                    }
                }
                Ok((page, last, true))
            });
            match page {
                Ok((page, last, exhausted)) => {
                    self.remaining -= page.len();
                    self.buffer.extend(page);
                    self.next = if exhausted {
                        None
                    } else {
                        last.and_then(|p| p.checked_add(1))
                    };
                }
                Err(error) => {
                    self.buffer.push_back(Err(error));
                    self.next = None;
                }
            }
        }
    }
}

impl Iterator for AllIter {
    type Item = Result<RecordedEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buffer.is_empty() {
            self.fill();
        }
        self.buffer.pop_front()
    }
}

fn create_dir(dir: &Path, mode: u32) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, mode);
    #[cfg(not(unix))]
    let _ = mode;
    builder.create(dir)?;
    Ok(())
}
