//! Reads of the log: replays visiting records where they lie, in pages of short read
//! transactions, and the paged iterators of owned events.

use std::collections::VecDeque;
use std::ops::{Bound, ControlFlow};
use std::sync::Arc;

use heed::RoTxn;
use heed::types::Bytes;

use super::env::Shared;
use super::record::RecordView;
use super::tables::Dbs;
use super::tables::lmdb;
use super::tables::{corrupt, position_of, split_pair, stream_id_in, stream_key, u64_from};
use crate::error::{Error, Result};
use crate::store::{Direction, EventRef, Filter, RecordedEvent};

/// Events read per read transaction when iterating.
const PAGE: usize = 256;
/// Events replayed per read transaction by `replay_stream` (no copies are buffered, so a page
/// can be longer than an iterator's; 1,024 JSON events take about 0.2 ms).
const REPLAY_PAGE: usize = 1024;
/// Records looked at per read transaction when a filter skips most of them.
const SCAN_PAGE: usize = 4096;

/// How far one read transaction of a replay went.
pub(crate) struct Page {
    pub(crate) visited: usize,
    /// Where the next read transaction goes on (a version of the stream, a position of the
    /// log); `None` when the replay is over: the visitor stopped, or nothing more is there.
    pub(crate) resume: Option<u64>,
}

impl Shared {
    /// Replays in read transactions of at most [`REPLAY_PAGE`] visited events each, from `from`
    /// (at least 1), until `limit` events were visited or a page ends the replay.
    pub(crate) fn replay_paged(
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
pub(crate) fn replay_page<F>(
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
            Some(cursor) => Iterator::next(cursor).transpose().map_err(lmdb)?,
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
        let stopped = visit(view.event_ref(position))?.is_break();
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
pub(crate) fn replay_log_page(
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
    for entry in dbs.events.range(txn, &range).map_err(lmdb)? {
        let (key, bytes) = entry.map_err(lmdb)?;
        let position = position_of(key)?;
        scanned += 1;
        // The previous record's names: a run of one stream or type is checked for UTF-8 once.
        let view = RecordView::parse_known(bytes, stream, event_type)
            .map_err(|reason| corrupt("events", &position.to_string(), &reason))?;
        (stream, event_type) = (Some(view.stream), Some(view.event_type));
        if filter.matches(view.stream, view.event_type) {
            visited += 1;
            if visit(view.event_ref(position))?.is_break() {
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
    let Some(value) = dbs.stream_index.get(txn, &key).map_err(lmdb)? else {
        return Ok(None);
    };
    let (_, position) = index_entry(stream_id, (&key, value))?;
    let start = position.to_be_bytes();
    let range = (Bound::Included(&start[..]), Bound::Unbounded);
    let mut cursor = dbs.events.range(txn, &range).map_err(lmdb)?;
    match cursor.next().transpose().map_err(lmdb)? {
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
                return dbs.events.get(txn, &position.to_be_bytes()).map_err(lmdb);
            }
            // Two in a row: walk from here on.
            self.after_search = None;
            let start = position.to_be_bytes();
            let range = (Bound::Included(&start[..]), Bound::Unbounded);
            self.cursor = Some((position, dbs.events.range(txn, &range).map_err(lmdb)?));
        }
        let Some((next, cursor)) = self.cursor.as_mut() else {
            return Ok(None);
        };
        match cursor.next().transpose().map_err(lmdb)? {
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

pub(crate) struct StreamIter {
    shared: Arc<Shared>,
    stream_id: u64,
    /// The next version to read; `None` when the end is reached.
    next: Option<u64>,
    direction: Direction,
    remaining: usize,
    buffer: VecDeque<Result<RecordedEvent>>,
}

impl StreamIter {
    pub(crate) fn new(
        shared: Arc<Shared>,
        stream_id: u64,
        from: u64,
        direction: Direction,
        limit: usize,
    ) -> StreamIter {
        StreamIter {
            shared,
            stream_id,
            next: Some(from),
            direction,
            remaining: limit,
            buffer: VecDeque::new(),
        }
    }

    fn fill(&mut self) {
        let Some(from) = self.next else { return };
        let want = self.remaining.min(PAGE);
        let (stream_id, direction) = (self.stream_id, self.direction);
        let page = self.shared.read(|txn, dbs| {
            let mut page = Vec::new();
            let mut last = None;
            let mut log = LogWalk::default();
            let mut push = |entry: heed::Result<(&[u8], &[u8])>| -> Result<()> {
                let (version, position) = index_entry(stream_id, entry.map_err(lmdb)?)?;
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
                    for entry in dbs
                        .stream_index
                        .range(txn, &range)
                        .map_err(lmdb)?
                        .take(want)
                    {
                        push(entry)?;
                    }
                }
                Direction::Backward => {
                    let start = stream_key(stream_id, 0);
                    let end = stream_key(stream_id, from);
                    let range = (Bound::Included(&start[..]), Bound::Included(&end[..]));
                    for entry in dbs
                        .stream_index
                        .rev_range(txn, &range)
                        .map_err(lmdb)?
                        .take(want)
                    {
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

pub(crate) struct AllIter {
    shared: Arc<Shared>,
    filter: Filter,
    /// The next position to look at; `None` when the end is reached.
    next: Option<u64>,
    remaining: usize,
    buffer: VecDeque<Result<RecordedEvent>>,
}

impl AllIter {
    pub(crate) fn new(shared: Arc<Shared>, filter: Filter, from: u64, limit: usize) -> AllIter {
        AllIter {
            shared,
            filter,
            next: Some(from.max(1)),
            remaining: limit,
            buffer: VecDeque::new(),
        }
    }

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
                for entry in dbs.events.range(txn, &range).map_err(lmdb)? {
                    let (key, value) = entry.map_err(lmdb)?;
                    let position = position_of(key)?;
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
