//! The writer thread: group commit.
//!
//! Appends from every thread arrive on one channel. The writer takes the first, then everything
//! else already queued (up to `max_batch`), checks each append's expected versions inside one
//! LMDB write transaction, writes the appends that pass, commits once (one sync for the whole
//! batch) and answers each caller with its own result. A conflicting append fails alone;
//! `MDB_MAP_FULL` grows the map and retries the batch.

use std::collections::HashMap;
use std::sync::mpsc;

use chrono::{DateTime, Utc};
use heed::{MdbError, PutFlags, RwTxn};
use uuid::{ContextV7, Timestamp, Uuid};

use super::keys::{catalog_key_into, split_pair, stream_head, stream_key, u64_from};
use super::lmdb::{Dbs, Shared, corrupt, last_position};
use super::record::{self, Envelope};
use super::{AppendResult, Metadata, StreamAppend, category};
use crate::error::{Error, Result};

pub(crate) struct Request {
    pub(crate) appends: Vec<StreamAppend>,
    pub(crate) metadata: Metadata,
    pub(crate) reply: oneshot::Sender<Result<Vec<AppendResult>>>,
}

pub(crate) fn run(shared: &Shared, requests: &mpsc::Receiver<Request>, max_batch: usize) {
    let mut clock = Clock::default();
    let mut buffer = Vec::new();
    while let Ok(first) = requests.recv() {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match requests.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        let outcomes = commit_growing(shared, &batch, &mut clock, &mut buffer);
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

/// Commits a batch, growing the map and retrying when it is full.
fn commit_growing(
    shared: &Shared,
    batch: &[Request],
    clock: &mut Clock,
    buffer: &mut Vec<u8>,
) -> Vec<Result<Vec<AppendResult>>> {
    let mut resized_by_other = 0;
    let mut isolate = false;
    loop {
        match commit(shared, batch, clock, buffer, isolate) {
            Ok(Some(outcomes)) => return outcomes,
            // Writing one request failed: write each in a nested transaction of its own.
            Ok(None) => isolate = true,
            Err(Error::Lmdb(heed::Error::Mdb(MdbError::MapFull))) => {
                if let Err(error) = shared.grow_map() {
                    return fail_all(batch, &error);
                }
            }
            Err(Error::Lmdb(heed::Error::Mdb(MdbError::MapResized))) if resized_by_other < 3 => {
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
    let io_like = matches!(
        &error,
        Error::Lmdb(heed::Error::Io(_) | heed::Error::Mdb(MdbError::Other(_))) | Error::Io(_)
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
    match error {
        Error::Lmdb(heed::Error::Mdb(mdb)) => Error::Lmdb(heed::Error::Mdb(*mdb)),
        Error::NoSpace(io) => Error::NoSpace(std::io::Error::new(io.kind(), io.to_string())),
        Error::Lmdb(heed::Error::Io(io)) | Error::Io(io) => {
            Error::Io(std::io::Error::new(io.kind(), io.to_string()))
        }
        other => Error::Io(std::io::Error::other(other.to_string())),
    }
}

/// Recorded times never go backwards within this writer, even if the wall clock does.
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
    clock: &mut Clock,
    buffer: &mut Vec<u8>,
    isolate: bool,
) -> Result<Option<Vec<Result<Vec<AppendResult>>>>> {
    let _shared_gate = shared.gate.read().unwrap_or_else(|p| p.into_inner());
    let dbs = shared.dbs;
    let mut txn = shared.env.write_txn()?;
    let mut next_position = last_position(&txn, &dbs)? + 1;
    let mut next_stream_id = match dbs.meta.get(&txn, b"next_stream_id")? {
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
                let mut child = shared.env.nested_write_txn(&mut txn)?;
                match write_request(&mut child, &dbs, request, &heads, &mut cursor) {
                    Ok(results) => child.commit().map(|()| results).map_err(Error::from),
                    Err(error) => Err(error),
                }
            } else {
                match write_request(&mut txn, &dbs, request, &heads, &mut cursor) {
                    Ok(results) => Ok(results),
                    Err(
                        error @ Error::Lmdb(heed::Error::Mdb(
                            MdbError::MapFull | MdbError::MapResized,
                        )),
                    ) => return Err(error),
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
            Err(
                error @ Error::Lmdb(heed::Error::Mdb(MdbError::MapFull | MdbError::MapResized)),
            ) => {
                return Err(error);
            }
            Err(error) => {
                next_position = position_before;
                next_stream_id = stream_id_before;
                outcomes.push(Err(error));
            }
        }
    }

    for (key, added) in catalog {
        let count = match dbs.catalog.get(&txn, &key)? {
            Some(bytes) => {
                u64_from(bytes).ok_or_else(|| corrupt("catalog", "count", "not 8 bytes"))?
            }
            None => 0,
        };
        dbs.catalog
            .put(&mut txn, &key, &(count + added).to_be_bytes())?;
    }
    if next_stream_id != first_stream_id {
        dbs.meta
            .put(&mut txn, b"next_stream_id", &next_stream_id.to_be_bytes())?;
    }
    txn.commit()?;
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
            Some(counted) => *counted += count,
            None => {
                self.catalog.insert(self.key.clone(), count);
            }
        }
    }
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
        let mut head = head.unwrap_or_else(|| {
            let id = *cursor.next_stream_id;
            *cursor.next_stream_id += 1;
            Head { id, version: 0 }
        });
        let first_position = *cursor.next_position;
        // Counted in the catalog per run of one type and version, not per event.
        let mut run: Option<Run<'_>> = None;
        for event in &append.events {
            head.version += 1;
            let position = *cursor.next_position;
            *cursor.next_position += 1;
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
                .put_with_flags(txn, PutFlags::APPEND, &position_key, cursor.buffer)?;
            dbs.stream_index
                .put(txn, &stream_key(head.id, head.version), &position_key)?;
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
        dbs.streams.put(
            txn,
            append.stream.as_bytes(),
            &stream_head(head.id, head.version),
        )?;
        results.push(AppendResult {
            version: head.version,
            first_position: Some(first_position),
            last_position: Some(*cursor.next_position - 1),
        });
    }
    Ok(results)
}

fn read_head(txn: &RwTxn<'_>, dbs: &Dbs, stream: &str) -> Result<Option<Head>> {
    match dbs.streams.get(txn, stream.as_bytes())? {
        None => Ok(None),
        Some(bytes) => {
            let (id, version) =
                split_pair(bytes).ok_or_else(|| corrupt("streams", stream, "bad head value"))?;
            Ok(Some(Head { id, version }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::event;
    use crate::store::{EventStore, ExpectedVersion, LmdbStore};

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
        let outcomes = commit(
            store.shared(),
            &batch,
            &mut Clock::default(),
            &mut Vec::new(),
            isolate,
        )
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
}
