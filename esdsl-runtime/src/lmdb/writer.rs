//! Group commit: the queue of appends, and the committer that writes them.
//!
//! Appends wait in one queue. Whoever holds the [`Committer`] takes the first, then everything
//! else already queued (up to `max_batch`), checks each append's expected versions inside one
//! LMDB write transaction, writes the appends that pass, commits once (one sync for the whole
//! batch) and answers each caller with its own result. A conflicting append fails alone;
//! `MDB_MAP_FULL` grows the map and retries the batch.
//!
//! Two kinds of thread commit: the writer thread, woken when an append is queued, and a
//! synchronous caller that finds no commit running, which commits its own append (with what
//! is queued) instead of handing it to the writer thread and waiting to be woken.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use heed::{MdbError, PutFlags, RwTxn};
use uuid::{ContextV7, Timestamp, Uuid};

use super::catalog;
use super::env::Shared;
use super::record::{self, Envelope};
use super::tables::Dbs;
use super::tables::lmdb;
use super::tables::{catalog_key_into, stream_key, u64_from};
use super::tables::{corrupt, is_map_error, is_mdb, last_position, mdb_error, stream_head_in};
use crate::error::{Error, Result};
use crate::store::{AppendResult, Metadata, StreamAppend, category};

/// The appends side of a store: its queue, and the committer whoever commits holds.
pub(crate) struct Appends {
    /// Appends waiting for a commit.
    pub(crate) queue: Queue,
    /// Held by whichever thread is committing appends.
    pub(crate) committer: Mutex<Committer>,
}

impl Appends {
    /// Appends committing at most `max_batch` appends at once.
    pub(crate) fn new(max_batch: usize) -> Appends {
        Appends {
            queue: Queue::default(),
            committer: Mutex::new(Committer::new(max_batch)),
        }
    }
}

pub(crate) struct Request {
    pub(crate) appends: Vec<StreamAppend>,
    pub(crate) metadata: Metadata,
    pub(crate) reply: oneshot::Sender<Result<Vec<AppendResult>>>,
}

/// Appends waiting for a commit.
#[derive(Default)]
pub(crate) struct Queue {
    pending: Mutex<Pending>,
    queued: Condvar,
}

#[derive(Default)]
struct Pending {
    requests: VecDeque<Request>,
    /// Set when the store closes: nothing more is queued, the writer thread finishes what is.
    closed: bool,
}

impl Queue {
    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `request` and wakes the writer thread.
    pub(crate) fn push(&self, request: Request) -> Result<()> {
        let mut pending = self.pending();
        if pending.closed {
            return Err(Error::WriterStopped);
        }
        pending.requests.push_back(request);
        drop(pending);
        self.queued.notify_one();
        Ok(())
    }

    /// Stops queueing; the writer thread ends once it has answered what is queued.
    pub(crate) fn close(&self) {
        self.pending().closed = true;
        self.queued.notify_all();
    }

    /// Closes the queue and drops what is in it: each waiting caller gets
    /// `Error::WriterStopped`.
    fn abandon(&self) {
        let mut pending = self.pending();
        pending.closed = true;
        pending.requests.clear();
    }

    /// Moves up to `max` queued requests, oldest first, to the end of `batch`.
    fn take(&self, max: usize, batch: &mut Vec<Request>) {
        let mut pending = self.pending();
        let n = max.min(pending.requests.len());
        batch.extend(pending.requests.drain(..n));
    }

    /// Waits until a request is queued; `false` once the queue is closed and empty.
    fn wait(&self) -> bool {
        let mut pending = self.pending();
        while pending.requests.is_empty() && !pending.closed {
            pending = self
                .queued
                .wait(pending)
                .unwrap_or_else(PoisonError::into_inner);
        }
        !pending.requests.is_empty()
    }
}

/// What committing needs besides the transaction: the clock for event ids and times, the
/// buffer records are encoded into, and the catalog's tail. One thread commits at a time,
/// holding it.
pub(crate) struct Committer {
    clock: Clock,
    buffer: Vec<u8>,
    tail: Option<catalog::Tail>,
    max_batch: usize,
}

impl Committer {
    /// A committer taking at most `max_batch` appends (at least 1) per commit.
    pub(crate) fn new(max_batch: usize) -> Committer {
        Committer {
            clock: Clock::default(),
            buffer: Vec::new(),
            tail: None,
            max_batch: max_batch.max(1),
        }
    }

    /// Whether a caller may commit its own append: not when a commit takes one append, or
    /// the caller's would keep jumping the queue.
    pub(crate) fn takes_callers(&self) -> bool {
        self.max_batch > 1
    }

    /// Commits what is queued (oldest first, up to `max_batch - 1`), then `own`, in one
    /// commit.
    pub(crate) fn commit_with_queued(&mut self, shared: &Shared, queue: &Queue, own: Request) {
        let mut batch = Vec::new();
        queue.take(self.max_batch - 1, &mut batch);
        batch.push(own);
        self.commit(shared, batch);
    }

    /// Commits `batch` (growing the map when it is full), answers each request with its own
    /// result and wakes the waiters for commits.
    fn commit(&mut self, shared: &Shared, batch: Vec<Request>) {
        let outcomes = commit_growing(shared, &batch, self);
        let committed = outcomes.iter().any(Result::is_ok);
        for (request, outcome) in batch.into_iter().zip(outcomes) {
            // A caller that stopped waiting is no reason to stop.
            let _ = request.reply.send(outcome);
        }
        if committed {
            shared.notify_commit();
        }
    }
}

/// The writer thread: commits what is queued until the queue closes.
pub(crate) fn run(shared: &Shared, appends: &Appends) {
    /// Should the thread die (a panic), nobody would answer the queue: close it, so that
    /// waiting and later appends fail with `Error::WriterStopped` instead of hanging.
    struct Abandon<'a>(&'a Queue);
    impl Drop for Abandon<'_> {
        fn drop(&mut self) {
            self.0.abandon();
        }
    }
    let _abandon = Abandon(&appends.queue);
    while appends.queue.wait() {
        let mut committer = appends
            .committer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // A caller's commit may have taken the queue meanwhile.
        let mut batch = Vec::new();
        appends.queue.take(committer.max_batch, &mut batch);
        if !batch.is_empty() {
            committer.commit(shared, batch);
        }
    }
}

/// Commits a batch, growing the map and retrying when it is full.
fn commit_growing(
    shared: &Shared,
    batch: &[Request],
    committer: &mut Committer,
) -> Vec<Result<Vec<AppendResult>>> {
    let mut resized_by_other = 0;
    let mut isolate = false;
    loop {
        match commit(shared, batch, committer, isolate) {
            Ok(Some(outcomes)) => return outcomes,
            // Writing one request failed: write each in a nested transaction of its own.
            Ok(None) => isolate = true,
            Err(error) if is_mdb(&error, MdbError::MapFull) => {
                if let Err(error) = shared.grow_map() {
                    return fail_all(batch, &error);
                }
            }
            Err(error) if is_mdb(&error, MdbError::MapResized) && resized_by_other < 3 => {
                resized_by_other += 1;
                if let Err(error) = shared.adopt_map_size() {
                    return fail_all(batch, &error);
                }
            }
            Err(error) => return fail_all(batch, &no_space_or(error, shared)),
        }
    }
}

/// LMDB reports a write cut short by a full disk as `EIO`, not `ENOSPC`: an I/O error while
/// the store's filesystem is (nearly) out of space is taken for a full disk.
fn no_space_or(error: Error, shared: &Shared) -> Error {
    let io_like = matches!(&error, Error::Io(_))
        || matches!(
            mdb_error(&error),
            Some(heed::Error::Io(_) | heed::Error::Mdb(MdbError::Other(_)))
        );
    if !io_like {
        return error;
    }
    match fs4::available_space(shared.path()) {
        Ok(free) if free < LOW_SPACE => Error::NoSpace(std::io::Error::new(
            std::io::ErrorKind::StorageFull,
            format!("{error}; {free} bytes free"),
        )),
        _ => error,
    }
}

/// Below this much free space, a failed write is taken for a full disk.
const LOW_SPACE: u64 = 4 << 20;

fn fail_all(batch: &[Request], error: &Error) -> Vec<Result<Vec<AppendResult>>> {
    batch.iter().map(|_| Err(duplicate(error))).collect()
}

/// The same error for every caller of a failed batch.
fn duplicate(error: &Error) -> Error {
    match (error, mdb_error(error)) {
        (_, Some(heed::Error::Mdb(mdb))) => lmdb(heed::Error::Mdb(*mdb)),
        (_, Some(heed::Error::Io(io))) | (Error::Io(io), _) => {
            Error::Io(std::io::Error::new(io.kind(), io.to_string()))
        }
        (Error::NoSpace(io), _) => Error::NoSpace(std::io::Error::new(io.kind(), io.to_string())),
        (Error::Corrupt { what, key, reason }, _) => Error::Corrupt {
            what,
            key: key.clone(),
            reason: reason.clone(),
        },
        (other, _) => Error::Io(std::io::Error::other(other.to_string())),
    }
}

/// Recorded times never go backwards within this store, even if the wall clock does.
struct Clock {
    last: Option<DateTime<Utc>>,
    /// This writer's v7 counter: ids stay ordered within a millisecond.
    ids: ContextV7,
}

impl Default for Clock {
    fn default() -> Clock {
        Clock {
            last: None,
            ids: ContextV7::new(),
        }
    }
}

impl Clock {
    fn now(&mut self) -> DateTime<Utc> {
        let now = Utc::now();
        let now = match self.last {
            Some(last) if last > now => last,
            _ => now,
        };
        self.last = Some(now);
        now
    }

    /// A new event id for an event recorded at `at` (a time from [`Clock::now`]): a UUID v7
    /// carrying the commit time, ordered after every id this writer made before. One clock
    /// reading per commit serves all its events.
    fn event_id(&self, at: DateTime<Utc>) -> Uuid {
        let secs = u64::try_from(at.timestamp()).unwrap_or(0);
        Uuid::new_v7(Timestamp::from_unix(
            &self.ids,
            secs,
            at.timestamp_subsec_nanos(),
        ))
    }
}

/// One stream's state as the batch sees it.
#[derive(Clone, Copy)]
struct Head {
    id: u64,
    version: u64,
}

/// Writes and commits a batch. Requests are written straight into the batch's transaction;
/// `None` when writing one of them failed (the checks made before the writer leave LMDB
/// little reason to refuse one): the caller then commits the batch again with `isolate`, each
/// request in a nested transaction, so the error fails that caller alone. Always nesting
/// costs much more: a nested transaction copies every page it touches that the batch has
/// already written.
fn commit(
    shared: &Shared,
    batch: &[Request],
    committer: &mut Committer,
    isolate: bool,
) -> Result<Option<Vec<Result<Vec<AppendResult>>>>> {
    let Committer {
        clock,
        buffer,
        tail,
        ..
    } = committer;
    let _shared_gate = shared.gate.read().unwrap_or_else(|p| p.into_inner());
    let dbs = shared.dbs;
    let mut txn = shared.env.write_txn().map_err(lmdb)?;
    let before = last_position(&txn, &dbs)?;
    let mut next_position = after(before, "event", "the log's last position")?;
    let mut next_stream_id = match dbs.meta.get(&txn, b"next_stream_id").map_err(lmdb)? {
        Some(bytes) => {
            u64_from(bytes).ok_or_else(|| corrupt("meta", "next_stream_id", "not 8 bytes"))?
        }
        None => 1,
    };
    let first_stream_id = next_stream_id;
    let now = clock.now();
    let mut catalog: HashMap<Vec<u8>, u64> = HashMap::new();
    let mut key = Vec::new();
    let mut outcomes = Vec::with_capacity(batch.len());

    for request in batch {
        // Check every stream of the request before writing any of it.
        let mut heads = Vec::with_capacity(request.appends.len());
        let mut conflict = None;
        for append in &request.appends {
            let head = read_head(&txn, &dbs, &append.stream)?;
            let actual = head.map(|h| h.version).filter(|v| *v > 0);
            if !append.expected.accepts(actual) {
                conflict = Some(Error::Conflict {
                    stream: append.stream.clone(),
                    expected: append.expected,
                    actual,
                });
                break;
            }
            heads.push(head);
        }
        if let Some(conflict) = conflict {
            outcomes.push(Err(conflict));
            continue;
        }

        let (position_before, stream_id_before) = (next_position, next_stream_id);
        let mut added: HashMap<Vec<u8>, u64> = HashMap::new();
        let written = {
            let mut cursor = Cursor {
                next_position: &mut next_position,
                next_stream_id: &mut next_stream_id,
                catalog: &mut added,
                buffer,
                key: &mut key,
                clock,
                now,
            };
            if isolate {
                // An error that belongs to this request fails this caller alone.
                let mut child = shared.env.nested_write_txn(&mut txn).map_err(lmdb)?;
                match write_request(&mut child, &dbs, request, &heads, &mut cursor) {
                    Ok(results) => child.commit().map(|()| results).map_err(lmdb),
                    Err(error) => Err(error),
                }
            } else {
                match write_request(&mut txn, &dbs, request, &heads, &mut cursor) {
                    Ok(results) => Ok(results),
                    Err(error) if is_map_error(&error) => return Err(error),
                    // The transaction holds part of this request: drop it, start again isolated.
                    Err(_) => return Ok(None),
                }
            }
        };
        match written {
            Ok(results) => {
                for (key, count) in added {
                    *catalog.entry(key).or_default() += count;
                }
                outcomes.push(Ok(results));
            }
            Err(error) if is_map_error(&error) => {
                return Err(error);
            }
            Err(error) => {
                next_position = position_before;
                next_stream_id = stream_id_before;
                outcomes.push(Err(error));
            }
        }
    }

    // The tail kept in memory is dropped unless this commit succeeds.
    let counted = catalog::add(
        &mut txn,
        &dbs,
        tail.take(),
        before,
        // `next_position` moved only past positions it assigned, each at least 1.
        next_position.saturating_sub(1),
        catalog,
    )?;
    if next_stream_id != first_stream_id {
        dbs.meta
            .put(&mut txn, b"next_stream_id", &next_stream_id.to_be_bytes())
            .map_err(lmdb)?;
    }
    txn.commit().map_err(lmdb)?;
    *tail = counted;
    Ok(Some(outcomes))
}

/// Where the batch's counters stand while a request is written.
struct Cursor<'a> {
    next_position: &'a mut u64,
    next_stream_id: &'a mut u64,
    catalog: &'a mut HashMap<Vec<u8>, u64>,
    buffer: &'a mut Vec<u8>,
    /// Scratch space for catalog keys.
    key: &'a mut Vec<u8>,
    clock: &'a Clock,
    now: DateTime<Utc>,
}

impl Cursor<'_> {
    /// Counts `count` events of one type and version in the catalog. The key is built in a
    /// reused buffer and copied only the first time the batch meets it.
    fn count(&mut self, category: &str, (event_type, schema_version, count): Run<'_>) {
        catalog_key_into(category, event_type, schema_version, self.key);
        match self.catalog.get_mut(self.key.as_slice()) {
            Some(counted) => *counted = counted.saturating_add(count),
            None => {
                self.catalog.insert(self.key.clone(), count);
            }
        }
    }
}

/// The number after `value`, a position, version or id read from the store: `u64::MAX` there
/// (a damaged or hostile store) leaves none, which is an [`Error::Corrupt`] naming `what` and
/// `key`, not an overflow.
fn after(value: u64, what: &'static str, key: &str) -> Result<u64> {
    value.checked_add(1).ok_or_else(|| Error::Corrupt {
        what,
        key: key.to_owned(),
        reason: format!("{value} leaves no number after it"),
    })
}

/// Consecutive events of an append with one type and version: the type, the version, how many.
type Run<'a> = (&'a str, u32, u64);

/// Writes one request whose expected versions were checked.
fn write_request(
    txn: &mut RwTxn<'_>,
    dbs: &Dbs,
    request: &Request,
    heads: &[Option<Head>],
    cursor: &mut Cursor<'_>,
) -> Result<Vec<AppendResult>> {
    let mut results = Vec::with_capacity(request.appends.len());
    for (append, head) in request.appends.iter().zip(heads) {
        if append.events.is_empty() {
            results.push(AppendResult {
                version: head.map_or(0, |h| h.version),
                first_position: None,
                last_position: None,
            });
            continue;
        }
        let head_before = head;
        let mut head = match head {
            Some(head) => *head,
            None => {
                let id = *cursor.next_stream_id;
                *cursor.next_stream_id = after(id, "store metadata", "next_stream_id")?;
                Head { id, version: 0 }
            }
        };
        let first_position = *cursor.next_position;
        // The index is keyed by stream id first, so the newest stream's entries go at its end:
        // they are appended, without a search and with full pages where one splits. (Were the
        // key not the last after all, LMDB would refuse it and this append alone would fail.)
        let index_flags = if head.id.checked_add(1) == Some(*cursor.next_stream_id) {
            PutFlags::APPEND
        } else {
            PutFlags::empty()
        };
        // Counted in the catalog per run of one type and version, not per event.
        let mut run: Option<Run<'_>> = None;
        let mut last_position = first_position;
        for event in &append.events {
            head.version = after(head.version, "stream index", &append.stream)?;
            let position = *cursor.next_position;
            *cursor.next_position = after(position, "event", "the log's last position")?;
            last_position = position;
            let envelope = Envelope {
                event_id: cursor.clock.event_id(cursor.now),
                recorded_at: cursor.now,
                stream: &append.stream,
                version: head.version,
                event_type: &event.event_type,
                schema_version: event.schema_version,
                codec: event.codec,
                correlation_id: request.metadata.correlation_id,
                causation_id: request.metadata.causation_id,
                metadata: &request.metadata.user,
            };
            record::encode(&envelope, &event.payload, cursor.buffer);
            let position_key = position.to_be_bytes();
            dbs.events
                .put_with_flags(txn, PutFlags::APPEND, &position_key, cursor.buffer)
                .map_err(lmdb)?;
            dbs.stream_index
                .put_with_flags(
                    txn,
                    index_flags,
                    &stream_key(head.id, head.version),
                    &position_key,
                )
                .map_err(lmdb)?;
            match &mut run {
                Some((event_type, version, count))
                    if *event_type == event.event_type && *version == event.schema_version =>
                {
                    *count += 1;
                }
                _ => {
                    if let Some(done) = run.take() {
                        cursor.count(category(&append.stream), done);
                    }
                    run = Some((&event.event_type, event.schema_version, 1));
                }
            }
        }
        if let Some(done) = run {
            cursor.count(category(&append.stream), done);
        }
        if head_before.is_none() {
            dbs.streams
                .put(txn, append.stream.as_bytes(), &head.id.to_be_bytes())
                .map_err(lmdb)?;
        }
        results.push(AppendResult {
            version: head.version,
            first_position: Some(first_position),
            last_position: Some(last_position),
        });
    }
    Ok(results)
}

fn read_head(txn: &RwTxn<'_>, dbs: &Dbs, stream: &str) -> Result<Option<Head>> {
    Ok(stream_head_in(txn, dbs, stream)?.map(|(id, version)| Head { id, version }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::event;
    use crate::lmdb::LmdbStore;
    use crate::store::{EventStore, ExpectedVersion};

    fn request(appends: &[(&str, ExpectedVersion, u64)]) -> Request {
        let (reply, _) = oneshot::channel();
        Request {
            appends: appends
                .iter()
                .map(|(stream, expected, n)| StreamAppend {
                    stream: (*stream).to_owned(),
                    expected: *expected,
                    events: (1..=*n).map(|i| event("Happened", i)).collect(),
                })
                .collect(),
            metadata: Metadata::default(),
            reply,
        }
    }

    /// What a batch leaves behind: each caller's answer and the stored log.
    type Outcome = (
        Vec<Result<Vec<AppendResult>, String>>,
        Vec<(String, u64, u64)>,
    );

    fn commit_batch(isolate: bool) -> Outcome {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LmdbStore::open(dir.path()).expect("opens");
        store
            .append(
                "A-1",
                ExpectedVersion::NoStream,
                vec![event("Happened", 0); 2],
                &Metadata::default(),
            )
            .expect("appends");
        let batch = [
            request(&[("A-1", ExpectedVersion::Exact(2), 3)]),
            // Sees the append before it in the batch.
            request(&[("A-1", ExpectedVersion::Exact(2), 1)]),
            request(&[("B-1", ExpectedVersion::NoStream, 2)]),
            request(&[
                ("C-1", ExpectedVersion::NoStream, 1),
                ("A-1", ExpectedVersion::Exact(5), 1),
            ]),
            request(&[("C-1", ExpectedVersion::Any, 0)]),
        ];
        let outcomes = commit(store.shared(), &batch, &mut Committer::new(1024), isolate)
            .expect("commits")
            .expect("no request fails while written");
        let answers = outcomes
            .into_iter()
            .map(|outcome| outcome.map_err(|e| e.to_string()))
            .collect();
        let log = store
            .read_all(1, &crate::store::Filter::all(), usize::MAX)
            .expect("reads")
            .map(|e| {
                let e = e.expect("reads");
                (e.stream, e.version, e.position)
            })
            .collect();
        (answers, log)
    }

    #[test]
    fn a_batch_commits_the_same_written_straight_or_isolated() {
        let straight = commit_batch(false);
        assert_eq!(straight, commit_batch(true));
        let done = |version, first, last| {
            Ok(AppendResult {
                version,
                first_position: first,
                last_position: last,
            })
        };
        assert_eq!(
            straight.0,
            [
                done(5, Some(3), Some(5)).map(|r| vec![r]),
                Err(
                    "wrong expected version for stream `A-1`: expected version 2, actual 5"
                        .to_owned()
                ),
                done(2, Some(6), Some(7)).map(|r| vec![r]),
                Ok(vec![
                    AppendResult {
                        version: 1,
                        first_position: Some(8),
                        last_position: Some(8)
                    },
                    AppendResult {
                        version: 6,
                        first_position: Some(9),
                        last_position: Some(9)
                    },
                ]),
                done(1, None, None).map(|r| vec![r]),
            ]
        );
        assert_eq!(straight.1.len(), 9);
    }

    #[test]
    fn event_ids_are_ordered_and_carry_the_commit_time() {
        let mut clock = Clock::default();
        let at = clock.now();
        let mut ids: Vec<Uuid> = (0..10_000).map(|_| clock.event_id(at)).collect();
        let later = clock.now();
        ids.extend((0..10).map(|_| clock.event_id(later)));
        assert!(
            ids.windows(2).all(|pair| pair[0] < pair[1]),
            "strictly ordered"
        );
        assert!(ids.iter().all(|id| id.get_version_num() == 7));
        let (secs, nanos) = ids[0]
            .get_timestamp()
            .expect("a v7 id has a time")
            .to_unix();
        assert_eq!(
            (secs, nanos / 1_000_000),
            (
                u64::try_from(at.timestamp()).expect("after 1970"),
                at.timestamp_subsec_millis()
            )
        );
    }

    fn commits(shared: &Shared) -> u64 {
        *shared.commits.lock().expect("not poisoned")
    }

    #[test]
    fn a_callers_commit_takes_what_is_queued_before_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LmdbStore::open(dir.path()).expect("opens");
        let (shared, appends) = (store.shared(), store.appends());
        // Holding the committer, as a caller committing its own append does: the writer
        // thread, woken by the pushes, waits for it.
        let mut committer = appends.committer.lock().expect("not poisoned");
        let mut receivers = Vec::new();
        for n in 1..=3 {
            let (reply, receiver) = oneshot::channel();
            let mut queued = request(&[(&format!("Q-{n}"), ExpectedVersion::NoStream, 1)]);
            queued.reply = reply;
            appends.queue.push(queued).expect("queues");
            receivers.push(receiver);
        }
        let (reply, own) = oneshot::channel();
        let mut first = request(&[("Own-1", ExpectedVersion::NoStream, 2)]);
        first.reply = reply;
        let before = commits(shared);
        committer.commit_with_queued(shared, &appends.queue, first);
        assert_eq!(
            commits(shared),
            before + 1,
            "one commit for all four appends"
        );
        drop(committer);
        for (n, receiver) in receivers.into_iter().enumerate() {
            let result = receiver.recv().expect("answered").expect("appends");
            assert_eq!(
                result[0].first_position,
                Some(1 + n as u64),
                "the queue first, in order"
            );
        }
        let own = own.recv().expect("answered").expect("appends");
        assert_eq!(own[0].first_position, Some(4), "then its own append");
        assert_eq!(store.head_position().expect("reads"), 5);
    }

    /// `threads` threads append `appends` single events each, to a stream of their own, with
    /// the expected version; returns every position they were given.
    fn append_from_threads(store: &LmdbStore, threads: u64, appends: u64) -> Vec<u64> {
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    scope.spawn(move || {
                        (0..appends)
                            .map(|n| {
                                let result = store
                                    .append(
                                        &format!("T-{t}"),
                                        ExpectedVersion::Exact(n),
                                        vec![event("Happened", n)],
                                        &Metadata::default(),
                                    )
                                    .expect("appends");
                                result.first_position.expect("a position")
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().expect("no panic"))
                .collect()
        })
    }

    #[test]
    fn concurrent_appenders_share_commits_and_get_dense_positions() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LmdbStore::open(dir.path()).expect("opens");
        let (threads, appends) = (8, 50);
        let before = commits(store.shared());
        let mut positions = append_from_threads(&store, threads, appends);
        positions.sort_unstable();
        let total = threads * appends;
        assert_eq!(
            positions,
            (1..=total).collect::<Vec<_>>(),
            "dense and unique"
        );
        let made = commits(store.shared()) - before;
        assert!(
            made < total,
            "appends that wait while another commits share the next commit ({made} commits)"
        );
    }

    #[test]
    fn with_one_append_per_commit_callers_queue_and_nobody_waits_forever() {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = crate::lmdb::StoreOptions::default().max_batch(1);
        let store = LmdbStore::open_with(dir.path(), options).expect("opens");
        let mut positions = append_from_threads(&store, 4, 20);
        positions.sort_unstable();
        assert_eq!(positions, (1..=80).collect::<Vec<_>>());
    }
}
