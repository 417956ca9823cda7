//! The value format of an event row: envelope then payload.
//!
//! ```text
//! u8   format (1)
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
//! ...  payload: the rest of the value
//! ```
//!
//! All integers are big-endian. Decoding checks every length against the bytes that remain, so
//! a damaged record yields an error, never a large allocation or a panic.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::codec::Codec;
use crate::store::RecordedEvent;

pub(crate) const FORMAT: u8 = 1;
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
    for (key, value) in envelope.metadata {
        out.extend_from_slice(&(key.len() as u32).to_be_bytes());
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    out.extend_from_slice(payload);
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
    pub(crate) recorded_at: DateTime<Utc>,
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
        let mut r = Reader { bytes };
        let format = r.u8()?;
        if format != FORMAT {
            return Err(format!("unknown record format {format}"));
        }
        let codec_id = r.u8()?;
        let event_id = Uuid::from_bytes(r.array::<16>()?);
        let secs = i64::from_be_bytes(r.array()?);
        let nanos = u32::from_be_bytes(r.array()?);
        let recorded_at = DateTime::from_timestamp(secs, nanos)
            .ok_or_else(|| format!("recorded time {secs}.{nanos} is out of range"))?;
        let version = u64::from_be_bytes(r.array()?);
        let schema_version = u32::from_be_bytes(r.array()?);
        let flags = r.u8()?;
        if flags & !(HAS_CORRELATION | HAS_CAUSATION) != 0 {
            return Err(format!("unknown flags {flags:#04x}"));
        }
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
        let stream = r.str16("stream name")?;
        let event_type = r.str16("event type")?;
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
            recorded_at,
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

    pub(crate) fn to_recorded(&self, position: u64) -> RecordedEvent {
        let mut metadata = BTreeMap::new();
        let mut r = Reader {
            bytes: self.metadata,
        };
        for _ in 0..self.metadata_count {
            // Validated by `parse`.
            if let (Ok(key), Ok(value)) = (r.str32("key"), r.str32("value")) {
                metadata.insert(key.to_owned(), value.to_owned());
            }
        }
        RecordedEvent {
            event_id: self.event_id,
            stream: self.stream.to_owned(),
            version: self.version,
            position,
            recorded_at: self.recorded_at,
            event_type: self.event_type.to_owned(),
            schema_version: self.schema_version,
            codec_id: self.codec_id,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            metadata,
            payload: self.payload.to_vec(),
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.bytes.len() {
            return Err(format!(
                "truncated: needs {n} more bytes, {} left",
                self.bytes.len()
            ));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn str16(&mut self, what: &str) -> Result<&'a str, String> {
        let len = u16::from_be_bytes(self.array()?) as usize;
        std::str::from_utf8(self.take(len)?).map_err(|_| format!("{what} is not UTF-8"))
    }

    fn str32(&mut self, what: &str) -> Result<&'a str, String> {
        let len = u32::from_be_bytes(self.array()?) as usize;
        std::str::from_utf8(self.take(len)?).map_err(|_| format!("{what} is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_forged_metadata_count_is_rejected_without_allocating() {
        let mut bytes = sample();
        let count_at = bytes.len() - b"payload".len() - (4 + 4 + 6 + 4 + 4) - 4;
        bytes[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(RecordView::parse(&bytes).is_err());
    }
}
