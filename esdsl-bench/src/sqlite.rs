//! The SQLite peer: the event table a user would write instead of an event store.
//!
//! WAL journal, `synchronous=FULL` (every commit syncs the WAL, so an acknowledged append
//! survives power loss, like esdsl's default), a unique `(stream, version)` index, and an
//! append that reads the stream's head and inserts in one `BEGIN IMMEDIATE` transaction.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use esdsl_runtime::Codec;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::domain::{Account, EVENT_TYPE, decode_apply};
use crate::measure::{self, Deadline, Rng, Sample, fresh_dir, repeat, share, timed_sample};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    position       INTEGER PRIMARY KEY,
    stream         TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    event_type     TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    recorded_at    INTEGER NOT NULL,
    payload        BLOB    NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_stream_version ON events (stream, version);
CREATE TABLE IF NOT EXISTS checkpoints (
    name     TEXT    PRIMARY KEY,
    position INTEGER NOT NULL
);
";

/// A database file in a fresh directory.
pub(crate) struct Db {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Db {
    pub(crate) fn create(base: &Path) -> Result<Db> {
        let dir = fresh_dir(base)?;
        let path = dir.path().join("events.db");
        let db = Db { path, _dir: dir };
        db.connect()?.execute_batch(SCHEMA)?;
        Ok(db)
    }

    /// A connection: WAL, `synchronous=FULL`, waiting up to a minute for the write lock.
    pub(crate) fn connect(&self) -> Result<Connection> {
        let conn = Connection::open(&self.path)
            .with_context(|| format!("opening {}", self.path.display()))?;
        conn.busy_timeout(Duration::from_secs(60))?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
        anyhow::ensure!(mode.eq_ignore_ascii_case("wal"), "journal mode {mode}");
        conn.execute_batch("PRAGMA synchronous=FULL;")?;
        Ok(conn)
    }
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// Appends `payloads` to `stream` inside `tx`, after its current head.
fn append(tx: &rusqlite::Transaction<'_>, stream: &str, payloads: &[&[u8]]) -> Result<()> {
    let head: i64 = tx
        .prepare_cached("SELECT MAX(version) FROM events WHERE stream = ?1")?
        .query_row([stream], |row| row.get::<_, Option<i64>>(0))?
        .unwrap_or(0);
    let mut insert = tx.prepare_cached(
        "INSERT INTO events (stream, version, event_type, schema_version, recorded_at, payload)
         VALUES (?1, ?2, ?3, 3, ?4, ?5)",
    )?;
    let at = now_micros();
    for (n, payload) in payloads.iter().enumerate() {
        insert.execute(params![
            stream,
            head + 1 + n as i64,
            EVENT_TYPE,
            at,
            payload
        ])?;
    }
    Ok(())
}

/// One durable transaction appending to one or more streams.
fn commit(conn: &mut Connection, appends: &[(&str, Vec<&[u8]>)]) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for (stream, payloads) in appends {
        append(&tx, stream, payloads)?;
    }
    tx.commit()?;
    Ok(())
}

/// Single-event durable appends from `threads` threads, one connection each (SQLite lets one
/// writer in at a time; the others wait in `busy_timeout`).
pub(crate) fn appends(
    base: &Path,
    payloads: &[Vec<u8>],
    threads: usize,
    budget: Duration,
) -> Result<Sample> {
    let db = Db::create(base)?;
    let (writers, per_writer) = share(payloads.len(), threads);
    measure::writers(
        writers,
        per_writer,
        Deadline::after(budget),
        |_| db.connect(),
        |conn, t, n| {
            let payload = payloads[t * per_writer + n].as_slice();
            let stream = format!("Account-{t}-{}", n % 16);
            commit(conn, &[(&stream, vec![payload])])
        },
    )
}

/// Transactions of `payloads.len()` events: to one stream, or (`spread`) one event to each of
/// that many streams picked at random among a pool pre-filled with one event each.
pub(crate) fn batches(
    base: &Path,
    payloads: &[Vec<u8>],
    batches: usize,
    spread: Option<usize>,
    seed: u64,
    budget: Duration,
) -> Result<Sample> {
    let db = Db::create(base)?;
    let mut conn = db.connect()?;
    let names: Vec<String> = (0..spread.unwrap_or(1))
        .map(|n| format!("Account-{n}"))
        .collect();
    if spread.is_some() {
        for chunk in names.chunks(1000) {
            let appends: Vec<(&str, Vec<&[u8]>)> = chunk
                .iter()
                .map(|name| (name.as_str(), vec![payloads[0].as_slice()]))
                .collect();
            commit(&mut conn, &appends)?;
        }
    }
    let mut rng = Rng::new(seed);
    timed_sample(batches, payloads.len(), Deadline::after(budget), |_| {
        let appends: Vec<(&str, Vec<&[u8]>)> = match spread {
            None => vec![(
                names[0].as_str(),
                payloads.iter().map(Vec::as_slice).collect(),
            )],
            Some(pool) => rng
                .distinct(payloads.len(), pool)
                .into_iter()
                .zip(payloads)
                .map(|(stream, payload)| (names[stream].as_str(), vec![payload.as_slice()]))
                .collect(),
        };
        commit(&mut conn, &appends)
    })
}

/// Fills `db` with `payloads` in transactions of 10,000, 1,000 events per stream in turn
/// over `streams` streams.
fn fill(db: &Db, payloads: &[Vec<u8>], streams: usize) -> Result<()> {
    let mut conn = db.connect()?;
    for (n, group) in payloads.chunks(10_000).enumerate() {
        let names: Vec<String> = (0..group.len().div_ceil(1000))
            .map(|k| format!("Account-{}", (n * 10 + k) % streams))
            .collect();
        let appends: Vec<(&str, Vec<&[u8]>)> = group
            .chunks(1000)
            .zip(&names)
            .map(|(chunk, name)| (name.as_str(), chunk.iter().map(Vec::as_slice).collect()))
            .collect();
        commit(&mut conn, &appends)?;
    }
    Ok(())
}

/// Loads of one stream of `payloads`: select the rows in version order, decode each payload
/// with the same codec and fold, repeated for `min_time`.
pub(crate) fn loads(
    base: &Path,
    payloads: &[Vec<u8>],
    codec: Codec,
    min_time: Duration,
) -> Result<Sample> {
    let db = Db::create(base)?;
    fill(&db, payloads, 1)?;
    let conn = db.connect()?;
    repeat(min_time, 3, || {
        let mut select = conn.prepare_cached(
            "SELECT event_type, schema_version, payload FROM events
             WHERE stream = ?1 ORDER BY version",
        )?;
        let mut rows = select.query(["Account-0"])?;
        let mut state = Account::default();
        while let Some(row) = rows.next()? {
            let event_type = row.get_ref(0)?.as_str()?;
            let version: i64 = row.get(1)?;
            anyhow::ensure!(event_type == EVENT_TYPE && version == 3, "unexpected row");
            decode_apply(codec, row.get_ref(2)?.as_blob()?, &mut state)?;
        }
        Ok(state.events)
    })
}

/// A database of `payloads` in 1,000 streams, for catch-up.
pub(crate) fn log(base: &Path, payloads: &[Vec<u8>]) -> Result<Db> {
    let db = Db::create(base)?;
    fill(&db, payloads, 1000)?;
    Ok(db)
}

/// Catch-up like esdsl's `StoreRunner`: pages of `batch` events (its default batch) in
/// position order, each decoded and counted, and the checkpoint committed durably after each
/// page.
pub(crate) fn catch_up(db: &Db, codec: Codec, expected: u64, batch: usize) -> Result<Sample> {
    let mut conn = db.connect()?;
    let start = Instant::now();
    let mut state = Account::default();
    let mut checkpoint: i64 = conn
        .query_row(
            "SELECT position FROM checkpoints WHERE name = 'bench-count'",
            [],
            |row| row.get(0),
        )
        .optional()?
        .unwrap_or(0);
    loop {
        let mut last = checkpoint;
        {
            let mut select = conn.prepare_cached(
                "SELECT position, stream, event_type, schema_version, payload FROM events
                 WHERE position > ?1 ORDER BY position LIMIT ?2",
            )?;
            let mut rows = select.query([checkpoint, i64::try_from(batch)?])?;
            while let Some(row) = rows.next()? {
                last = row.get(0)?;
                let _stream = row.get_ref(1)?.as_str()?;
                let event_type = row.get_ref(2)?.as_str()?;
                let version: i64 = row.get(3)?;
                anyhow::ensure!(event_type == EVENT_TYPE && version == 3, "unexpected row");
                decode_apply(codec, row.get_ref(4)?.as_blob()?, &mut state)?;
            }
        }
        if last == checkpoint {
            break;
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT OR REPLACE INTO checkpoints (name, position) VALUES ('bench-count', ?1)",
            [last],
        )?;
        tx.commit()?;
        checkpoint = last;
    }
    let elapsed = start.elapsed();
    anyhow::ensure!(
        state.events == expected,
        "read {} of {expected}",
        state.events
    );
    Ok(Sample::new(state.events, elapsed))
}
