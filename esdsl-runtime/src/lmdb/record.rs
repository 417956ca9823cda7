//! The value format of an event row: envelope, payload, checksum.
//!
//! ```text
//! u8   format (2; 1 for a record written before checksums, which has no checksum at the end)
//! u8   codec id
//! [16] event id (UUID v7)
//! i64  recorded at, seconds since the Unix epoch (UTC)
//! u32  recorded at, nanoseconds
//! u64  version in the stream
//! u32  schema version
//! u8   flags: bit 0 correlation id present, bit 1 causation id present
//! [16] correlation id, if present
//! [16] causation id, if present
//! u16  stream name length, then the name (UTF-8)
//! u16  event type length, then the name (UTF-8)
//! u32  metadata entry count, then per entry: u32 key length, key, u32 value length, value
//! ...  payload: the bytes up to the checksum
//! u32  checksum: CRC-32 (ISO-HDLC, as zlib's `crc32`) of every byte before it
//! ```
//!
//! All integers are big-endian. Every read checks the checksum first, so a flipped bit anywhere
//! in a record is an error naming the checksum rather than a wrong value or a payload that does
//! not decode; then decoding checks every length against the bytes that remain, so a damaged
//! record yields an error, never a large allocation or a panic. A store whose records are of
//! format 1 gets checksums in place when it is opened for writing (`super::upgrade`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::codec::Codec;
use crate::store::{EventRef, MetadataEntries, MetadataRef, RecordedEvent, encode_metadata};

/// The record format written: with a checksum at the end.
pub(crate) const FORMAT: u8 = 2;
/// The record format written before checksums: the same layout without the checksum.
pub(crate) const UNCHECKED_FORMAT: u8 = 1;
/// The checksum's size at the end of a record of [`FORMAT`].
const CHECKSUM: usize = 4;
/// The bytes from the format to the flags.
const FIXED: usize = 43;
const HAS_CORRELATION: u8 = 1;
const HAS_CAUSATION: u8 = 2;

/// The envelope fields written with a new event.
pub(crate) struct Envelope<'a> {
    pub(crate) event_id: Uuid,
    pub(crate) recorded_at: DateTime<Utc>,
    pub(crate) stream: &'a str,
    pub(crate) version: u64,
    pub(crate) event_type: &'a str,
    pub(crate) schema_version: u32,
    pub(crate) codec: Codec,
    pub(crate) correlation_id: Option<Uuid>,
    pub(crate) causation_id: Option<Uuid>,
    pub(crate) metadata: &'a BTreeMap<String, String>,
}

pub(crate) fn encode(envelope: &Envelope<'_>, payload: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.push(FORMAT);
    out.push(envelope.codec.id());
    out.extend_from_slice(envelope.event_id.as_bytes());
    out.extend_from_slice(&envelope.recorded_at.timestamp().to_be_bytes());
    out.extend_from_slice(&envelope.recorded_at.timestamp_subsec_nanos().to_be_bytes());
    out.extend_from_slice(&envelope.version.to_be_bytes());
    out.extend_from_slice(&envelope.schema_version.to_be_bytes());
    let flags = if envelope.correlation_id.is_some() {
        HAS_CORRELATION
    } else {
        0
    } | if envelope.causation_id.is_some() {
        HAS_CAUSATION
    } else {
        0
    };
    out.push(flags);
    for id in [envelope.correlation_id, envelope.causation_id]
        .into_iter()
        .flatten()
    {
        out.extend_from_slice(id.as_bytes());
    }
    // Lengths were checked against their limits before the write began.
    put_str16(out, envelope.stream);
    put_str16(out, envelope.event_type);
    out.extend_from_slice(&(envelope.metadata.len() as u32).to_be_bytes());
    encode_metadata(
        envelope
            .metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
        out,
    );
    out.extend_from_slice(payload);
    let checksum = crc32fast::hash(out);
    out.extend_from_slice(&checksum.to_be_bytes());
}

/// The record without its checksum, once the checksum is found to match; a record of
/// [`UNCHECKED_FORMAT`] as it is.
#[inline(always)]
fn checked(bytes: &[u8]) -> Result<&[u8], String> {
    match bytes.first() {
        Some(&FORMAT) => match bytes.split_last_chunk::<CHECKSUM>() {
            Some((body, stored)) => {
                let stored = u32::from_be_bytes(*stored);
                let computed = crc32fast::hash(body);
                if stored == computed {
                    Ok(body)
                } else {
                    Err(checksum_mismatch(stored, computed))
                }
            }
            None => Err(format!(
                "truncated: needs a {CHECKSUM}-byte checksum, {} bytes given",
                bytes.len()
            )),
        },
        // Parsed as it stands; the parse names what is wrong with any other format byte.
        _ => Ok(bytes),
    }
}

#[cold]
fn checksum_mismatch(stored: u32, computed: u32) -> String {
    format!("checksum mismatch: stored {stored:#010x}, the bytes give {computed:#010x}")
}

/// A record of format 1 with a checksum added, as format 2; `None` for a record that is not
/// of format 1 or does not parse (a damaged record keeps no checksum that would vouch for it).
pub(crate) fn with_checksum(record: &[u8]) -> Option<Vec<u8>> {
    if record.first() != Some(&UNCHECKED_FORMAT) || RecordView::parse(record).is_err() {
        return None;
    }
    let mut out = Vec::with_capacity(record.len() + CHECKSUM);
    out.push(FORMAT);
    out.extend_from_slice(&record[1..]);
    let checksum = crc32fast::hash(&out);
    out.extend_from_slice(&checksum.to_be_bytes());
    Some(out)
}

fn put_str16(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u16).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// A decoded record borrowing its strings and payload from the stored bytes.
#[derive(Debug)]
pub(crate) struct RecordView<'a> {
    pub(crate) codec_id: u8,
    pub(crate) event_id: Uuid,
    /// The recorded time as stored (checked to be in range; see [`RecordView::recorded_at`]).
    pub(crate) recorded_secs: i64,
    pub(crate) recorded_nanos: u32,
    pub(crate) version: u64,
    pub(crate) schema_version: u32,
    pub(crate) correlation_id: Option<Uuid>,
    pub(crate) causation_id: Option<Uuid>,
    pub(crate) stream: &'a str,
    pub(crate) event_type: &'a str,
    metadata: &'a [u8],
    metadata_count: u32,
    pub(crate) payload: &'a [u8],
}

impl<'a> RecordView<'a> {
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<RecordView<'a>, String> {
        RecordView::parse_known(bytes, None, None)
    }

    /// Like [`RecordView::parse`], given the names a replay expects: when the stored stream
    /// name or event type has the same bytes as `stream` or `event_type`, that `&str` is used
    /// instead of checking the bytes for UTF-8 again. Any other record parses (and fails)
    /// exactly as with `parse`.
    #[inline(always)]
    pub(crate) fn parse_known(
        bytes: &'a [u8],
        stream: Option<&'a str>,
        event_type: Option<&'a str>,
    ) -> Result<RecordView<'a>, String> {
        let bytes = checked(bytes)?;
        let Some((fixed, rest)) = bytes.split_first_chunk::<FIXED>() else {
            return Err(short_record(bytes));
        };
        // Read at fixed offsets: no length checks left to make.
        let format = fixed[0];
        if format != FORMAT && format != UNCHECKED_FORMAT {
            return Err(unknown_format(format));
        }
        let codec_id = fixed[1];
        let event_id = Uuid::from_bytes(field(fixed, 2));
        let secs = i64::from_be_bytes(field(fixed, 18));
        let nanos = u32::from_be_bytes(field(fixed, 26));
        check_time(secs, nanos)?;
        let version = u64::from_be_bytes(field(fixed, 30));
        let schema_version = u32::from_be_bytes(field(fixed, 38));
        let flags = fixed[42];
        if flags & !(HAS_CORRELATION | HAS_CAUSATION) != 0 {
            return Err(format!("unknown flags {flags:#04x}"));
        }
        let mut r = Reader { bytes: rest };
        let correlation_id = if flags & HAS_CORRELATION != 0 {
            Some(Uuid::from_bytes(r.array()?))
        } else {
            None
        };
        let causation_id = if flags & HAS_CAUSATION != 0 {
            Some(Uuid::from_bytes(r.array()?))
        } else {
            None
        };
        let stream = r.str16(stream, "stream name")?;
        let event_type = r.str16(event_type, "event type")?;
        let metadata_count = u32::from_be_bytes(r.array()?);
        let metadata_start = r.bytes;
        for _ in 0..metadata_count {
            // Each entry needs at least 8 bytes, so a forged count ends at the data's end.
            r.str32("metadata key")?;
            r.str32("metadata value")?;
        }
        let metadata_len = metadata_start.len() - r.bytes.len();
        Ok(RecordView {
            codec_id,
            event_id,
            recorded_secs: secs,
            recorded_nanos: nanos,
            version,
            schema_version,
            correlation_id,
            causation_id,
            stream,
            event_type,
            metadata: &metadata_start[..metadata_len],
            metadata_count,
            payload: r.bytes,
        })
    }

    /// The user metadata entries, checked by the parse.
    #[inline]
    pub(crate) fn metadata(&self) -> MetadataEntries<'a> {
        MetadataEntries::new(self.metadata, self.metadata_count)
    }

    /// The record as the event at `position`, borrowed where it lies.
    #[inline]
    pub(crate) fn event_ref(&self, position: u64) -> EventRef<'a> {
        EventRef {
            stream: self.stream,
            position,
            version: self.version,
            event_type: self.event_type,
            schema_version: self.schema_version,
            codec_id: self.codec_id,
            event_id: self.event_id,
            recorded_secs: self.recorded_secs,
            recorded_nanos: self.recorded_nanos,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            metadata: MetadataRef::stored(self.metadata()),
            payload: self.payload,
        }
    }

    /// The record as an owned event at `position`.
    pub(crate) fn to_recorded(&self, position: u64) -> RecordedEvent {
        self.event_ref(position).to_recorded()
    }
}

/// `N` bytes of the fixed fields from `at` (the offsets are constants, so this compiles to a
/// plain load).
#[inline]
fn field<const N: usize>(fixed: &[u8; FIXED], at: usize) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&fixed[at..at + N]);
    out
}

/// Why a record shorter than its fixed fields does not parse: they are read one by one as
/// the format lays them out, so the error names the field where the bytes end (or the format
/// or time found wrong before it).
fn short_record(bytes: &[u8]) -> String {
    let mut r = Reader { bytes };
    let mut read = || -> Result<(), String> {
        let format = r.u8()?;
        if format != FORMAT && format != UNCHECKED_FORMAT {
            return Err(unknown_format(format));
        }
        r.u8()?;
        r.array::<16>()?;
        let secs = i64::from_be_bytes(r.array()?);
        let nanos = u32::from_be_bytes(r.array()?);
        check_time(secs, nanos)?;
        r.array::<8>()?;
        r.array::<4>()?;
        r.u8()?;
        Ok(())
    };
    match read() {
        Err(reason) => reason,
        Ok(()) => format!("truncated: needs {FIXED} bytes, {} given", bytes.len()),
    }
}

#[cold]
fn unknown_format(format: u8) -> String {
    format!("unknown record format {format}")
}

/// Seconds this far from the epoch (about 139,000 years) are in chrono's range whatever the
/// nanoseconds below one second: such times need no calendar arithmetic to be checked.
const PLAIN_SECS: i64 = 1 << 42;

/// Fails for a time [`DateTime::from_timestamp`] refuses.
#[inline(always)]
fn check_time(secs: i64, nanos: u32) -> Result<(), String> {
    if nanos < 1_000_000_000 && (-PLAIN_SECS..=PLAIN_SECS).contains(&secs) {
        Ok(())
    } else {
        check_far_time(secs, nanos)
    }
}

/// [`check_time`] for a time far from the epoch or with bad nanoseconds, which no clock of
/// this era writes.
#[cold]
fn check_far_time(secs: i64, nanos: u32) -> Result<(), String> {
    match DateTime::from_timestamp(secs, nanos) {
        Some(_) => Ok(()),
        None => Err(format!("recorded time {secs}.{nanos} is out of range")),
    }
}

/// Why a read of a field failed; made into the record's error message by the caller, so the
/// reads themselves stay small enough to inline.
#[derive(Debug)]
enum Bad {
    Truncated { needed: usize, left: usize },
    NotUtf8(&'static str),
}

impl From<Bad> for String {
    fn from(bad: Bad) -> String {
        match bad {
            Bad::Truncated { needed, left } => {
                format!("truncated: needs {needed} more bytes, {left} left")
            }
            Bad::NotUtf8(what) => format!("{what} is not UTF-8"),
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], Bad> {
        match self.bytes.split_at_checked(n) {
            Some((head, rest)) => {
                self.bytes = rest;
                Ok(head)
            }
            None => Err(Bad::Truncated {
                needed: n,
                left: self.bytes.len(),
            }),
        }
    }

    #[inline]
    fn u8(&mut self) -> Result<u8, Bad> {
        let [byte] = self.array()?;
        Ok(byte)
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], Bad> {
        match self.bytes.split_first_chunk::<N>() {
            Some((head, rest)) => {
                self.bytes = rest;
                Ok(*head)
            }
            None => Err(Bad::Truncated {
                needed: N,
                left: self.bytes.len(),
            }),
        }
    }

    /// A string with a `u16` length; when it is likely `known`, equal bytes need no UTF-8
    /// check.
    #[inline(always)]
    fn str16(&mut self, known: Option<&'a str>, what: &'static str) -> Result<&'a str, Bad> {
        let len = u16::from_be_bytes(self.array()?) as usize;
        let bytes = self.take(len)?;
        match known {
            Some(known) if bytes == known.as_bytes() => Ok(known),
            _ => std::str::from_utf8(bytes).map_err(|_| Bad::NotUtf8(what)),
        }
    }

    #[inline]
    fn str32(&mut self, what: &'static str) -> Result<&'a str, Bad> {
        let len = u32::from_be_bytes(self.array()?) as usize;
        std::str::from_utf8(self.take(len)?).map_err(|_| Bad::NotUtf8(what))
    }
}

/// What can be read of a damaged record's envelope, in layout order: the first field that does
/// not fit (or is not UTF-8) and every field after it are unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Readable {
    pub(crate) stream_version: Option<u64>,
    pub(crate) schema_version: Option<u32>,
    pub(crate) stream: Option<String>,
    pub(crate) event_type: Option<String>,
}

/// Reads the envelope fields a filter and a parked entry need from a record that may be
/// damaged (the runners' retry and parking of damaged records), leniently: each field is read
/// only while the bytes before it fit the layout above.
pub(crate) fn readable_envelope(bytes: &[u8]) -> Readable {
    let mut out = Readable::default();
    let mut r = Lenient { rest: bytes };
    // Format, codec id, event id, seconds, nanoseconds.
    let Some(head) = r.take(1 + 1 + 16 + 8 + 4) else {
        return out;
    };
    if head[0] != FORMAT && head[0] != UNCHECKED_FORMAT {
        // Another layout, or a damaged format byte: nothing after it can be trusted.
        return out;
    }
    let Some(version) = r.array() else {
        return out;
    };
    out.stream_version = Some(u64::from_be_bytes(version));
    let Some(schema_version) = r.array() else {
        return out;
    };
    out.schema_version = Some(u32::from_be_bytes(schema_version));
    let Some([flags]) = r.array::<1>() else {
        return out;
    };
    if flags & !0b11 != 0 {
        // Unknown flags: where the names start is unknown.
        return out;
    }
    let ids = 16 * (usize::from(flags & 1) + usize::from((flags >> 1) & 1));
    if r.take(ids).is_none() {
        return out;
    }
    let Some(stream) = r.text() else {
        return out;
    };
    out.stream = stream;
    if let Some(event_type) = r.text() {
        out.event_type = event_type;
    }
    out
}

/// A reader that answers `None` where the bytes end.
struct Lenient<'a> {
    rest: &'a [u8],
}

impl<'a> Lenient<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.rest.split_at_checked(n)?;
        self.rest = tail;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    /// A `u16`-length string: `None` when it does not fit, `Some(None)` when it is not UTF-8.
    fn text(&mut self) -> Option<Option<String>> {
        let len = u16::from_be_bytes(self.array()?);
        let bytes = self.take(usize::from(len))?;
        Some(std::str::from_utf8(bytes).ok().map(str::to_owned))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn damaged_sample(correlated: bool) -> Vec<u8> {
        let metadata = BTreeMap::from([("tenant".to_owned(), "acme".to_owned())]);
        let mut out = Vec::new();
        encode(
            &Envelope {
                event_id: Uuid::now_v7(),
                recorded_at: Utc::now(),
                stream: "Account-7",
                version: 42,
                event_type: "MoneyDeposited",
                schema_version: 3,
                codec: Codec::Json,
                correlation_id: correlated.then(Uuid::now_v7),
                causation_id: None,
                metadata: &metadata,
            },
            b"{}",
            &mut out,
        );
        out
    }

    /// The readable envelope of `damaged_sample`.
    pub(crate) fn full() -> Readable {
        Readable {
            stream_version: Some(42),
            schema_version: Some(3),
            stream: Some("Account-7".into()),
            event_type: Some("MoneyDeposited".into()),
        }
    }

    #[test]
    fn a_record_with_a_damaged_tail_shows_its_whole_envelope() {
        for correlated in [false, true] {
            let mut bytes = damaged_sample(correlated);
            assert_eq!(readable_envelope(&bytes), full());
            // Cut inside the metadata entry (payload `{}`, then back over value, value length,
            // key, key length): the record no longer parses, the envelope still reads.
            let entry = bytes.len() - 2 - 4 - 4 - 6 - 4;
            bytes.truncate(entry + 3);
            assert!(RecordView::parse(&bytes).is_err());
            assert_eq!(readable_envelope(&bytes), full(), "correlated {correlated}");
        }
    }

    #[test]
    fn each_cut_loses_exactly_the_fields_after_it() {
        let bytes = damaged_sample(false);
        let names = 1 + 1 + 16 + 8 + 4 + 8 + 4 + 1;
        let cases = [
            (10, Readable::default()),
            (
                38,
                Readable {
                    stream_version: Some(42),
                    ..Readable::default()
                },
            ),
            (
                names,
                Readable {
                    stream: None,
                    event_type: None,
                    ..full()
                },
            ),
            (
                names + 2 + 9,
                Readable {
                    event_type: None,
                    ..full()
                },
            ),
            (
                names + 2 + 9 + 2 + 5,
                Readable {
                    event_type: None,
                    ..full()
                },
            ),
        ];
        for (cut, expected) in cases {
            assert_eq!(readable_envelope(&bytes[..cut]), expected, "cut at {cut}");
        }
    }

    #[test]
    fn a_bad_format_byte_or_unknown_flags_hide_everything_after_them() {
        let mut bytes = damaged_sample(false);
        bytes[0] = 9;
        assert_eq!(readable_envelope(&bytes), Readable::default());
        let mut bytes = damaged_sample(false);
        bytes[42] = 0x80;
        assert_eq!(
            readable_envelope(&bytes),
            Readable {
                stream: None,
                event_type: None,
                ..full()
            }
        );
        // A stream name that is not UTF-8 is unknown; the type after it still reads.
        let mut bytes = damaged_sample(false);
        bytes[45] = 0xff;
        assert_eq!(
            readable_envelope(&bytes),
            Readable {
                stream: None,
                ..full()
            }
        );
    }

    fn sample() -> Vec<u8> {
        let metadata = BTreeMap::from([("tenant".to_owned(), "acme".to_owned())]);
        let envelope = Envelope {
            event_id: Uuid::now_v7(),
            recorded_at: DateTime::from_timestamp(1_700_000_000, 123).expect("in range"),
            stream: "Account-1",
            version: 7,
            event_type: "MoneyDeposited",
            schema_version: 3,
            codec: Codec::Postcard,
            correlation_id: Some(Uuid::from_u128(1)),
            causation_id: None,
            metadata: &metadata,
        };
        let mut out = Vec::new();
        encode(&envelope, b"payload", &mut out);
        out
    }

    #[test]
    fn every_field_round_trips() {
        let bytes = sample();
        let view = RecordView::parse(&bytes).expect("parses");
        let recorded = view.to_recorded(42);
        assert_eq!(recorded.stream, "Account-1");
        assert_eq!(recorded.version, 7);
        assert_eq!(recorded.position, 42);
        assert_eq!(recorded.event_type, "MoneyDeposited");
        assert_eq!(recorded.schema_version, 3);
        assert_eq!(recorded.codec_id, Codec::Postcard.id());
        assert_eq!(recorded.correlation_id, Some(Uuid::from_u128(1)));
        assert_eq!(recorded.causation_id, None);
        assert_eq!(recorded.recorded_at.timestamp_subsec_nanos(), 123);
        assert_eq!(recorded.metadata["tenant"], "acme");
        assert_eq!(recorded.payload, b"payload");
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = sample();
        let header_len = bytes.len() - b"payload".len();
        for cut in 0..header_len {
            assert!(RecordView::parse(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    fn fuzz_cases() -> u32 {
        std::env::var("ESDSL_FUZZ_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(2_000)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(fuzz_cases()))]

        /// The quick time check agrees with chrono's.
        #[test]
        fn the_time_check_agrees_with_chrono(secs in proptest::prelude::any::<i64>(), nanos in proptest::prelude::any::<u32>()) {
            proptest::prop_assert_eq!(
                check_time(secs, nanos).is_ok(),
                DateTime::from_timestamp(secs, nanos).is_some()
            );
            let near = secs % (PLAIN_SECS * 2);
            proptest::prop_assert_eq!(
                check_time(near, nanos).is_ok(),
                DateTime::from_timestamp(near, nanos).is_some()
            );
        }

        /// Random bytes never panic the record decoder.
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            if let Ok(view) = RecordView::parse(&bytes) {
                let _ = view.to_recorded(1);
            }
        }

        /// A valid record with bytes flipped, cut or inserted decodes or fails, never panics.
        #[test]
        fn mutated_records_never_panic(
            at in 0usize..200,
            byte in proptest::prelude::any::<u8>(),
            mode in 0u8..3,
        ) {
            let mut bytes = sample();
            let at = at % bytes.len();
            match mode {
                0 => bytes[at] ^= byte | 1,
                1 => bytes.truncate(at),
                _ => bytes.insert(at, byte),
            }
            if let Ok(view) = RecordView::parse(&bytes) {
                let recorded = view.to_recorded(1);
                proptest::prop_assert!(recorded.payload.len() <= bytes.len());
            }
        }
    }

    /// `record` as a record of format 1, written before checksums.
    fn unchecked(record: &[u8]) -> Vec<u8> {
        let mut bytes = record[..record.len() - CHECKSUM].to_vec();
        bytes[0] = UNCHECKED_FORMAT;
        bytes
    }

    #[test]
    fn a_truncated_record_names_the_field_where_it_ends() {
        // Without a checksum, the parse itself finds where the bytes end.
        let bytes = unchecked(&sample());
        let reason = |cut: usize| match RecordView::parse(&bytes[..cut]) {
            Ok(_) => panic!("a record cut at {cut} parsed"),
            Err(reason) => reason,
        };
        assert_eq!(reason(0), "truncated: needs 1 more bytes, 0 left");
        assert_eq!(reason(3), "truncated: needs 16 more bytes, 1 left");
        assert_eq!(reason(30), "truncated: needs 8 more bytes, 0 left");
        assert_eq!(reason(42), "truncated: needs 1 more bytes, 0 left");
        assert_eq!(reason(44), "truncated: needs 16 more bytes, 1 left");
        let mut bad = bytes.clone();
        bad[0] = 3;
        for cut in [5, bad.len()] {
            assert_eq!(
                RecordView::parse(&bad[..cut]).map(|_| ()),
                Err("unknown record format 3".to_owned())
            );
        }
    }

    #[test]
    fn a_record_of_the_current_format_cut_anywhere_fails_its_checksum() {
        let bytes = sample();
        for cut in CHECKSUM..bytes.len() {
            let reason = match RecordView::parse(&bytes[..cut]) {
                Ok(_) => panic!("a record cut at {cut} parsed"),
                Err(reason) => reason,
            };
            assert!(
                reason.starts_with("checksum mismatch: stored 0x"),
                "cut at {cut}: {reason}"
            );
        }
        assert_eq!(
            RecordView::parse(&bytes[..3]).map(|_| ()),
            Err("truncated: needs a 4-byte checksum, 3 bytes given".to_owned())
        );
    }

    #[test]
    fn every_single_bit_flip_is_caught_by_the_checksum() {
        let bytes = sample();
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            match RecordView::parse(&flipped) {
                Ok(_) => panic!("bit {bit} flipped and the record still parsed"),
                // A flip of the format byte makes it another format; every other one is a
                // checksum mismatch.
                Err(reason) if bit < 8 => assert!(
                    reason.starts_with("checksum mismatch") || reason.contains("record format"),
                    "bit {bit}: {reason}"
                ),
                Err(reason) => assert!(
                    reason.starts_with("checksum mismatch"),
                    "bit {bit}: {reason}"
                ),
            }
        }
    }

    #[test]
    fn a_record_of_format_1_reads_the_same_and_gains_its_checksum() {
        let checked = sample();
        let unchecked = unchecked(&checked);
        let old = RecordView::parse(&unchecked)
            .expect("format 1 parses")
            .to_recorded(9);
        let new = RecordView::parse(&checked)
            .expect("format 2 parses")
            .to_recorded(9);
        assert_eq!(old, new);
        assert_eq!(with_checksum(&unchecked), Some(checked.clone()));
        // A record that already has one, or does not parse, is left as it is.
        assert_eq!(with_checksum(&checked), None);
        assert_eq!(with_checksum(&unchecked[..unchecked.len() - 12]), None);
    }

    #[test]
    fn times_are_checked_as_chrono_checks_them() {
        let limits = [
            0,
            1,
            -1,
            PLAIN_SECS,
            -PLAIN_SECS,
            PLAIN_SECS + 1,
            -PLAIN_SECS - 1,
            DateTime::<Utc>::MAX_UTC.timestamp(),
            DateTime::<Utc>::MAX_UTC.timestamp() + 1,
            DateTime::<Utc>::MIN_UTC.timestamp(),
            DateTime::<Utc>::MIN_UTC.timestamp() - 1,
            59,
            i64::MAX,
            i64::MIN,
        ];
        for secs in limits {
            for nanos in [
                0,
                999_999_999,
                1_000_000_000,
                1_999_999_999,
                2_000_000_000,
                u32::MAX,
            ] {
                assert_eq!(
                    check_time(secs, nanos).is_ok(),
                    DateTime::from_timestamp(secs, nanos).is_some(),
                    "{secs}.{nanos}"
                );
            }
        }
    }

    #[test]
    fn a_known_name_is_used_only_when_the_bytes_are_equal() {
        let bytes = sample();
        let view = RecordView::parse_known(&bytes, Some("Account-2"), Some("MoneyDeposited"))
            .expect("parses");
        assert_eq!(
            (view.stream, view.event_type),
            ("Account-1", "MoneyDeposited")
        );
        let view =
            RecordView::parse_known(&bytes, Some("Account-1"), Some("Opened")).expect("parses");
        assert_eq!(
            (view.stream, view.event_type),
            ("Account-1", "MoneyDeposited")
        );
    }

    #[test]
    fn a_forged_metadata_count_is_rejected_without_allocating() {
        let mut bytes = sample();
        let count_at = bytes.len() - b"payload".len() - (4 + 4 + 6 + 4 + 4) - 4;
        bytes[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(RecordView::parse(&bytes).is_err());
    }
}
