//! The LMDB environment: opening it (databases, format check and upgrade, read-only opens),
//! the state every handle shares, and its read, write and wait primitives.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use heed::types::Bytes;
use heed::{Env, EnvFlags, EnvOpenOptions, MdbError, RoTxn, RwTxn, WithoutTls};

use super::options::{Durability, StoreOptions};
use super::pages::{self, Walk};
use super::tables::lmdb;
use super::tables::{DATABASES, Dbs, corrupt, is_mdb, last_position};
use super::upgrade;
use crate::error::{Error, Result};
use crate::projection::backend::Finish;

/// The store format this version writes. Format 2 (stream heads from the stream index, the
/// catalog's tail) reads every store of format 1; format 3 (a checksum on every record and
/// snapshot) reads every store of formats 1 and 2. An open for writing upgrades an older store
/// in place (see `super::upgrade`): a program that knows only an older format then refuses it
/// instead of writing the old way.
pub(crate) const FORMAT_VERSION: u32 = 3;
/// The oldest format this version opens.
pub(crate) const OLDEST_FORMAT: u32 = 1;
/// How often a waiting subscriber looks for commits made by another process.
pub(crate) const CROSS_PROCESS_POLL: Duration = Duration::from_millis(50);
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
                Err(e) => return Err(lmdb(e)),
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
                Err(e) => return Err(lmdb(e)),
            };
            let result = {
                let _inside = InsideWrite::enter();
                f(&self.env, &mut txn, &self.dbs)
            }
            .and_then(|finish| match finish {
                Finish::Commit(out) => {
                    txn.commit().map_err(lmdb)?;
                    Ok(out)
                }
                Finish::Abort(out) => {
                    txn.abort();
                    Ok(out)
                }
            });
            drop(guard);
            match result {
                Err(error) if is_mdb(&error, MdbError::MapFull) && attempts < 32 => {
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
            self.env.resize(0).map_err(lmdb)?;
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
            self.env.resize(doubled).map_err(lmdb)?;
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

impl Shared {
    /// Opens (creating if needed) the environment in `dir`: its databases, and the format
    /// checked (and a format 1 store upgraded in place).
    pub(crate) fn open(dir: &Path, options: &StoreOptions) -> Result<Shared> {
        pages::check_before_open(dir)?;
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
        .map_err(|e| already_open(dir, e))?;
        let databases = env
            .create_databases_and_commit(env.write_txn().map_err(lmdb)?, |opener, txn| {
                let mut databases = [None; DATABASES.len()];
                for (slot, name) in databases.iter_mut().zip(DATABASES) {
                    *slot = Some(opener.create_database::<Bytes, Bytes>(txn, Some(name))?);
                }
                Ok::<_, heed::Error>(heed::CommitOrAbort::<_, ()>::Commit(databases))
            })
            .map_err(lmdb)?
            .unwrap_commit();
        let dbs = Dbs::from_array(databases.map(|database| {
            database.ok_or_else(|| Error::InvalidInput("a database was not created".into()))
        }))?;
        let upgrading = {
            let mut txn = env.write_txn().map_err(lmdb)?;
            let stored = match dbs.meta.get(&txn, b"format").map_err(lmdb)? {
                None => None,
                Some(bytes) => Some(check_format(bytes)?),
            };
            if stored != Some(FORMAT_VERSION) {
                dbs.meta
                    .put(&mut txn, b"format", &FORMAT_VERSION.to_be_bytes())
                    .map_err(lmdb)?;
            }
            if stored.is_some_and(|found| found < 3) {
                upgrade::begin(&mut txn, &dbs)?;
            }
            let upgrading = dbs
                .meta
                .get(&txn, upgrade::CHECKSUM_FROM)
                .map_err(lmdb)?
                .is_some();
            txn.commit().map_err(lmdb)?;
            upgrading
        };
        let shared = Shared::new(env, dbs, dir);
        if upgrading {
            // An upgrade begun now, or interrupted before: a chunk per transaction (a full map
            // is grown by `write`, and the chunk runs again).
            while shared.write(|_, txn, dbs| upgrade::checksum_chunk(txn, dbs))? {}
        }
        Ok(shared)
    }

    fn new(env: Env<WithoutTls>, dbs: Dbs, dir: &Path) -> Shared {
        Shared {
            env,
            dbs,
            gate: RwLock::new(()),
            commits: Mutex::new(0),
            committed: Condvar::new(),
            path: dir.to_path_buf(),
        }
    }
}

/// The format in a `meta` `format` value, checked to be one this version reads.
fn check_format(bytes: &[u8]) -> Result<u32> {
    let found = bytes.try_into().map(u32::from_be_bytes).map_err(|_| {
        corrupt(
            "meta",
            "format",
            &format!("{} bytes instead of 4", bytes.len()),
        )
    })?;
    if !(OLDEST_FORMAT..=FORMAT_VERSION).contains(&found) {
        return Err(Error::FormatVersion {
            found,
            supported: FORMAT_VERSION,
        });
    }
    Ok(found)
}

fn already_open(dir: &Path, error: heed::Error) -> Error {
    match error {
        heed::Error::EnvAlreadyOpened => Error::AlreadyOpen(dir.display().to_string()),
        other => lmdb(other),
    }
}

/// A store opened read-only: nothing is written (not even the map size), no write lock is taken
/// and no writer started, so processes running the store are not disturbed. LMDB readers of
/// several processes coexist with the writer; this one registers in the lock file like any
/// reader.
///
/// Before LMDB reads anything but the meta pages, the data file is checked and walked with
/// plain reads ([`pages::walk`]), so a damaged store is an [`Error::Damaged`], never a signal;
/// only the databases that exist are opened.
pub(crate) struct ReadOnly {
    env: Env<WithoutTls>,
    dbs: Dbs,
    walk: Walk,
}

impl ReadOnly {
    /// Opens the store in `dir` read-only and runs `f` in one read transaction, opening again
    /// (up to three times) when another process grew the map meanwhile.
    pub(crate) fn read<T>(
        dir: &Path,
        mut f: impl FnMut(&RoTxn<'_, WithoutTls>, &Dbs) -> Result<T>,
    ) -> Result<T> {
        ReadOnly::with(dir, |store| store.in_txn(&mut f))
    }

    /// Opens the store in `dir` read-only and runs `f` on it, opening again (up to three
    /// times) when another process grew the map meanwhile.
    pub(crate) fn with<T>(dir: &Path, mut f: impl FnMut(&ReadOnly) -> Result<T>) -> Result<T> {
        let mut attempts = 0;
        loop {
            match ReadOnly::open(dir).and_then(|store| f(&store)) {
                Err(error) if is_mdb(&error, MdbError::MapResized) && attempts < 3 => {
                    attempts += 1;
                }
                other => return other,
            }
        }
    }

    /// Runs `f` in one read transaction.
    pub(crate) fn in_txn<T>(
        &self,
        f: impl FnOnce(&RoTxn<'_, WithoutTls>, &Dbs) -> Result<T>,
    ) -> Result<T> {
        let txn = self.env.read_txn().map_err(lmdb)?;
        f(&txn, &self.dbs)
    }

    /// What the walk of the data file found when the store was opened.
    pub(crate) fn walk(&self) -> &Walk {
        &self.walk
    }

    /// The environment, for a copy.
    pub(crate) fn env(&self) -> &Env<WithoutTls> {
        &self.env
    }

    pub(crate) fn open(dir: &Path) -> Result<ReadOnly> {
        pages::check_existing(dir)?;
        let mut options = EnvOpenOptions::new().read_txn_without_tls();
        options.max_dbs(16);
        // SAFETY: `READ_ONLY` is none of the flags heed calls unsafe (`NO_SYNC`,
        // `NO_META_SYNC`, `NO_LOCK`): readers keep using the lock file. `open` is unsafe
        // because the map must be changed only through LMDB, which holds for a store
        // directory owned by esdsl.
        #[allow(unsafe_code)]
        let env = unsafe {
            options.flags(EnvFlags::READ_ONLY);
            options.open(dir)
        }
        .map_err(|e| already_open(dir, e))?;
        // The walk runs with a read transaction open, so no page it reads is reused by a
        // writer meanwhile; LMDB itself has read nothing but the meta pages yet.
        let walk = {
            let pin = env.read_txn().map_err(lmdb)?;
            let walk = pages::walk(dir)?;
            drop(pin);
            walk
        };
        let mut missing = DATABASES
            .into_iter()
            .filter(|name| !walk.databases.iter().any(|found| found == name));
        if let Some(name) = missing.next() {
            return Err(Error::InvalidInput(format!(
                "`{}` is not an esdsl store (no `{name}` database)",
                dir.display()
            )));
        }
        let found = env
            .open_databases_and_commit(env.read_txn().map_err(lmdb)?, |opener, txn| {
                let mut found = [None; DATABASES.len()];
                for (slot, name) in found.iter_mut().zip(DATABASES) {
                    *slot = opener.open_database::<Bytes, Bytes>(txn, Some(name))?;
                }
                Ok::<_, heed::Error>(heed::CommitOrAbort::<_, ()>::Commit(found))
            })
            .map_err(lmdb)?
            .unwrap_commit();
        let mut names = DATABASES.into_iter();
        let dbs = Dbs::from_array(found.map(|database| {
            let name = names.next().unwrap_or_default();
            database.ok_or_else(|| {
                Error::InvalidInput(format!(
                    "`{}` is not an esdsl store (no `{name}` database)",
                    dir.display()
                ))
            })
        }))?;
        {
            let txn = env.read_txn().map_err(lmdb)?;
            let format = dbs
                .meta
                .get(&txn, b"format")
                .map_err(lmdb)?
                .ok_or_else(|| corrupt("meta", "format", "missing"))?;
            // Every format this version opens reads the same for reads.
            check_format(format)?;
        }
        Ok(ReadOnly { env, dbs, walk })
    }
}

pub(crate) fn page_size() -> usize {
    4096
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
