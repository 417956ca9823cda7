//! The limits esdsl works against, measured on the same disk in the same run: an `fdatasync`
//! loop, the same operations hand-written on heed (raw key/value puts and cursor scans, no
//! envelope, no codec), and a codec-only decode loop over the same payloads.

use std::io::Write;
use std::ops::Bound;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use esdsl_runtime::Codec;
use heed::types::Bytes;
use heed::{Database, Env, PutFlags};

use crate::domain::{Account, decode_apply};
use crate::measure::{self, Deadline, Rng, Sample, fresh_dir, repeat, share, timed_sample};

/// The physical limit: one small write and one `fdatasync` per acknowledged event, appended
/// to a growing file (each sync also records the new size), or `in_place` over a file written
/// and synced beforehand (the cheapest sync this disk offers, as a reused WAL gets).
pub(crate) fn fdatasync_loop(
    base: &Path,
    ops: usize,
    in_place: bool,
    budget: Duration,
) -> Result<Sample> {
    use std::io::{Seek, SeekFrom};

    let dir = fresh_dir(base)?;
    let mut file = std::fs::File::create(dir.path().join("sync"))?;
    const SLOTS: u64 = 256;
    if in_place {
        file.write_all(&vec![0u8; (SLOTS * 4096) as usize])?;
        file.sync_all()?;
    }
    let record = [7u8; 128];
    let mut slot = 0;
    timed_sample(ops, 1, Deadline::after(budget), |_| {
        if in_place {
            file.seek(SeekFrom::Start(slot % SLOTS * 4096))?;
            slot += 1;
        }
        file.write_all(&record)?;
        file.sync_data()?;
        Ok(())
    })
}

/// A heed environment with one database of raw bytes, durable like esdsl's default (LMDB's
/// default flags: data pages and meta page synced at each commit).
pub(crate) struct RawHeed {
    pub(crate) env: Env,
    pub(crate) db: Database<'static, Bytes, Bytes>,
    _dir: tempfile::TempDir,
}

impl RawHeed {
    pub(crate) fn open(base: &Path) -> Result<RawHeed> {
        let dir = fresh_dir(base)?;
        // SAFETY: a fresh directory that only this environment uses.
        #[allow(unsafe_code)]
        let env = unsafe {
            heed::EnvOpenOptions::new()
                .map_size(4 << 30)
                .max_dbs(1)
                .open(dir.path())?
        };
        let db = env
            .create_databases_and_commit(env.write_txn()?, |opener, txn| {
                opener
                    .create_database::<Bytes, Bytes>(txn, Some("events"))
                    .map(heed::CommitOrAbort::<_, ()>::Commit)
            })?
            .unwrap_commit();
        Ok(RawHeed { env, db, _dir: dir })
    }
}

/// `(stream id, version)` big-endian: the one key a hand-written store needs per event.
pub(crate) fn stream_key(stream: u64, version: u64) -> [u8; 16] {
    let mut key = [0; 16];
    key[..8].copy_from_slice(&stream.to_be_bytes());
    key[8..].copy_from_slice(&version.to_be_bytes());
    key
}

/// The key of the `n`th event of appender `thread`, which writes to its own 16 streams in
/// turn: the streams esdsl's appenders write to in the same scenario.
fn appender_key(thread: usize, n: usize) -> [u8; 16] {
    stream_key((thread * 16 + n % 16) as u64, (n / 16) as u64 + 1)
}

/// One put and one durable commit per event, keyed by `(stream, version)`.
pub(crate) fn heed_single_commits(
    base: &Path,
    payloads: &[Vec<u8>],
    budget: Duration,
) -> Result<Sample> {
    let raw = RawHeed::open(base)?;
    timed_sample(payloads.len(), 1, Deadline::after(budget), |n| {
        let mut txn = raw.env.write_txn()?;
        raw.db.put(&mut txn, &appender_key(0, n), &payloads[n])?;
        txn.commit()?;
        Ok(())
    })
}

/// Group commit by hand: `threads` appenders hand their event to one writer thread, which
/// takes everything queued, puts it in one transaction, commits once and acknowledges each
/// appender. Keyed by `(stream, version)` (each appender on its own 16 streams), or with
/// `log_only` by a global position: no per-stream placement at all.
pub(crate) fn heed_group_commit(
    base: &Path,
    payloads: &[Vec<u8>],
    threads: usize,
    log_only: bool,
    budget: Duration,
) -> Result<Sample> {
    let raw = RawHeed::open(base)?;
    type Ack = oneshot::Sender<heed::Result<()>>;
    let (sender, receiver) = mpsc::channel::<([u8; 16], &[u8], Ack)>();
    std::thread::scope(|scope| -> Result<Sample> {
        let raw = &raw;
        let writer = scope.spawn(move || -> heed::Result<()> {
            let mut position = 0u64;
            let mut batch = Vec::new();
            while let Ok(first) = receiver.recv() {
                batch.push(first);
                while batch.len() < 1024 {
                    match receiver.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let mut txn = raw.env.write_txn()?;
                for (key, payload, _) in &batch {
                    if log_only {
                        position += 1;
                        let key = position.to_be_bytes();
                        raw.db
                            .put_with_flags(&mut txn, PutFlags::APPEND, &key, payload)?;
                    } else {
                        raw.db.put(&mut txn, key, payload)?;
                    }
                }
                txn.commit()?;
                for (_, _, ack) in batch.drain(..) {
                    let _ = ack.send(Ok(()));
                }
            }
            Ok(())
        });
        let (appenders, per_appender) = share(payloads.len(), threads);
        let sample = measure::writers(
            appenders,
            per_appender,
            Deadline::after(budget),
            |_| Ok(sender.clone()),
            |sender, thread, n| {
                let (ack, done) = oneshot::channel();
                let payload = payloads[thread * per_appender + n].as_slice();
                sender
                    .send((appender_key(thread, n), payload, ack))
                    .map_err(|_| anyhow::anyhow!("the writer stopped"))?;
                done.recv().context("the writer stopped")??;
                Ok(())
            },
        );
        drop(sender);
        writer
            .join()
            .map_err(|_| anyhow::anyhow!("the writer panicked"))??;
        sample
    })
}

/// Batches of `payloads.len()` events, one durable commit each, keyed by `(stream, version)`:
/// `streams_per_batch` 1 keeps every batch in one stream, more spreads it over that many
/// streams picked at random among `stream_pool` (pre-filled with one event each).
pub(crate) fn heed_batches(
    base: &Path,
    payloads: &[Vec<u8>],
    batches: usize,
    spread: Option<usize>,
    seed: u64,
    budget: Duration,
) -> Result<Sample> {
    let raw = RawHeed::open(base)?;
    let mut versions = vec![0u64; spread.unwrap_or(1)];
    if let Some(pool) = spread {
        let mut txn = raw.env.write_txn()?;
        for (stream, version) in versions.iter_mut().enumerate().take(pool) {
            *version = 1;
            raw.db
                .put(&mut txn, &stream_key(stream as u64, 1), &payloads[0])?;
        }
        txn.commit()?;
    }
    let mut rng = Rng::new(seed);
    timed_sample(batches, payloads.len(), Deadline::after(budget), |_| {
        let streams = match spread {
            Some(pool) => rng.distinct(payloads.len(), pool),
            None => vec![0; payloads.len()],
        };
        let mut txn = raw.env.write_txn()?;
        for (payload, stream) in payloads.iter().zip(streams) {
            versions[stream] += 1;
            raw.db.put(
                &mut txn,
                &stream_key(stream as u64, versions[stream]),
                payload,
            )?;
        }
        txn.commit()?;
        Ok(())
    })
}

/// A stream of `payloads` under raw `(stream, version)` keys, loaded by a cursor scan with the
/// codec decode and the same fold as an aggregate.
pub(crate) struct HeedStream {
    raw: RawHeed,
    codec: Codec,
}

impl HeedStream {
    pub(crate) fn create(base: &Path, payloads: &[Vec<u8>], codec: Codec) -> Result<HeedStream> {
        let raw = RawHeed::open(base)?;
        let mut txn = raw.env.write_txn()?;
        for (n, payload) in payloads.iter().enumerate() {
            raw.db.put_with_flags(
                &mut txn,
                PutFlags::APPEND,
                &stream_key(1, n as u64 + 1),
                payload,
            )?;
        }
        txn.commit()?;
        Ok(HeedStream { raw, codec })
    }

    pub(crate) fn load(&self) -> Result<Account> {
        let txn = self.raw.env.read_txn()?;
        let (start, end) = (stream_key(1, 1), stream_key(1, u64::MAX));
        let range = (Bound::Included(&start[..]), Bound::Included(&end[..]));
        let mut state = Account::default();
        for entry in self.raw.db.range(&txn, &range)? {
            let (_, payload) = entry?;
            decode_apply(self.codec, payload, &mut state)?;
        }
        Ok(state)
    }
}

/// Loads of a `payloads.len()`-event stream by cursor scan and decode, repeated for
/// `min_time`.
pub(crate) fn heed_scan_decode(
    base: &Path,
    payloads: &[Vec<u8>],
    codec: Codec,
    min_time: Duration,
) -> Result<Sample> {
    let stream = HeedStream::create(base, payloads, codec)?;
    repeat(min_time, 3, || Ok(stream.load()?.events))
}

/// Decoding and folding the same payloads from memory, repeated for `min_time`: what no store
/// can beat.
pub(crate) fn decode_only(
    payloads: &[Vec<u8>],
    codec: Codec,
    min_time: Duration,
) -> Result<Sample> {
    repeat(min_time, 3, || {
        let mut state = Account::default();
        for payload in payloads {
            decode_apply(codec, payload, &mut state)?;
        }
        Ok(state.events)
    })
}

/// A log of `payloads` under raw position keys, in one commit.
pub(crate) fn heed_log(base: &Path, payloads: &[Vec<u8>]) -> Result<RawHeed> {
    let raw = RawHeed::open(base)?;
    let mut txn = raw.env.write_txn()?;
    for (n, payload) in payloads.iter().enumerate() {
        raw.db.put_with_flags(
            &mut txn,
            PutFlags::APPEND,
            &(n as u64 + 1).to_be_bytes(),
            payload,
        )?;
    }
    txn.commit()?;
    Ok(raw)
}

/// One cursor scan over a raw log, touching every value: the read side of catch-up without
/// an envelope or a codec.
pub(crate) fn heed_log_scan(raw: &RawHeed) -> Result<Sample> {
    let start = Instant::now();
    let txn = raw.env.read_txn()?;
    let mut events = 0u64;
    let mut bytes = 0usize;
    for entry in raw.db.iter(&txn)? {
        let (_, payload) = entry?;
        bytes = bytes.wrapping_add(payload.len() + payload.first().map_or(0, |b| usize::from(*b)));
        events += 1;
    }
    std::hint::black_box(bytes);
    Ok(Sample::new(events, start.elapsed()))
}
