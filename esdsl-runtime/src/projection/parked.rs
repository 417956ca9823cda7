//! Parked events: what both runners keep of an event that failed every attempt, its encoding
//! (JSON, the same on every backend), and the walk over them that `replay_parked` does.

use chrono::{DateTime, Utc};

use super::HandlerError;
use super::backend::{Damaged, Item, ProjectionRead, ProjectionStore, ProjectionTxn};
use crate::error::{Error, Result};

/// An event that failed every attempt, or a damaged record the runner could not rule out.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParkedEvent {
    /// Its global position.
    pub position: u64,
    /// Its stream (empty when the record is damaged and its stream name unreadable).
    pub stream: String,
    /// Its stored type name (empty when the record is damaged and its type unreadable).
    pub event_type: String,
    /// Its version in the stream (`None`: unreadable in a damaged record).
    pub stream_version: Option<u64>,
    /// Its schema version (`None`: unreadable in a damaged record).
    pub schema_version: Option<u32>,
    /// Whether the record itself was damaged (an [`Error::Corrupt`] read), rather than a
    /// handler or decoding failure.
    pub damaged: bool,
    /// The last error.
    pub error: String,
    /// How many attempts were made.
    pub attempts: u32,
    /// When it was parked.
    pub parked_at: DateTime<Utc>,
}

/// What replaying parked events did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Parked events handled successfully now (and removed from the parked list).
    pub handled: u64,
    /// Parked events that failed again (and stay parked).
    pub failed: u64,
}

impl ParkedEvent {
    /// The parked entry for `item`, after `attempts` attempts that ended with `error`.
    pub(crate) fn of(item: &Item, error: &str, attempts: u32) -> ParkedEvent {
        let (stream, event_type, stream_version, schema_version, damaged) = match item {
            Item::Event(event) => (
                event.stream.clone(),
                event.event_type.clone(),
                Some(event.version),
                Some(event.schema_version),
                false,
            ),
            Item::Damaged(Damaged {
                stream,
                event_type,
                stream_version,
                schema_version,
                ..
            }) => (
                stream.clone().unwrap_or_default(),
                event_type.clone().unwrap_or_default(),
                *stream_version,
                *schema_version,
                true,
            ),
        };
        ParkedEvent {
            position: item.position(),
            stream,
            event_type,
            stream_version,
            schema_version,
            damaged,
            error: error.to_owned(),
            attempts,
            parked_at: Utc::now(),
        }
    }

    /// The error a runner stops with after parking this under
    /// [`OnFailure::Stop`](super::OnFailure::Stop).
    pub(crate) fn stopped(&self, projection: &str, source: HandlerError) -> Error {
        Error::ProjectionStopped {
            projection: projection.to_owned(),
            position: self.position,
            stream: self.stream.clone(),
            event_type: self.event_type.clone(),
            source,
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        serde_json::json!({
            "stream": self.stream,
            "event_type": self.event_type,
            "stream_version": self.stream_version,
            "schema_version": self.schema_version,
            "damaged": self.damaged,
            "error": self.error,
            "attempts": self.attempts,
            "parked_at": self.parked_at.to_rfc3339(),
        })
        .to_string()
        .into_bytes()
    }

    fn decode(name: &str, position: u64, bytes: &[u8]) -> Result<ParkedEvent> {
        let bad = |reason: &str| Error::Corrupt {
            what: "parked event",
            key: format!("{name}/{position}"),
            reason: reason.to_owned(),
        };
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| bad(&e.to_string()))?;
        let text = |field: &str| {
            value[field]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| bad(field))
        };
        Ok(ParkedEvent {
            position,
            stream: text("stream")?,
            event_type: text("event_type")?,
            // Absent in entries parked before these fields existed.
            stream_version: value["stream_version"].as_u64(),
            schema_version: value["schema_version"]
                .as_u64()
                .and_then(|v| u32::try_from(v).ok()),
            damaged: value["damaged"].as_bool().unwrap_or(false),
            error: text("error")?,
            attempts: value["attempts"]
                .as_u64()
                .and_then(|a| u32::try_from(a).ok())
                .ok_or_else(|| bad("attempts"))?,
            parked_at: DateTime::parse_from_rfc3339(&text("parked_at")?)
                .map_err(|e| bad(&e.to_string()))?
                .with_timezone(&Utc),
        })
    }
}

/// The events parked for projection `name`, oldest first.
pub(crate) fn parked(read: &dyn ProjectionRead, name: &str) -> Result<Vec<ParkedEvent>> {
    read.parked(name)?
        .into_iter()
        .map(|(position, bytes)| ParkedEvent::decode(name, position, &bytes))
        .collect()
}

/// Removes the parked entries of the positions a runner has just applied (`applied`, in
/// position order): an event parked under `Stop` and applied by a later run, once its cause
/// was fixed, must not be applied again by `replay_parked`. One range lookup; other
/// partitions' parked entries in the range are left alone.
pub(crate) fn unpark(txn: &mut dyn ProjectionTxn, name: &str, applied: &[u64]) -> Result<()> {
    let (Some(first), Some(last)) = (applied.first(), applied.last()) else {
        return Ok(());
    };
    for position in txn.parked_between(name, *first, *last)? {
        if applied.binary_search(&position).is_ok() {
            txn.delete_parked(name, position)?;
        }
    }
    Ok(())
}

/// Runs `retry` on every parked event of `name`, in position order, counting what it handled
/// (`Ok(true)`: it succeeded and removed the entry) and what failed again: the loop both
/// runners' `replay_parked` share.
pub(crate) fn replay<S: ProjectionStore>(
    store: &S,
    name: &str,
    mut retry: impl FnMut(&ParkedEvent) -> Result<bool>,
) -> Result<ReplayReport> {
    let mut report = ReplayReport::default();
    for entry in store.read(&mut |read| parked(read, name))? {
        if retry(&entry)? {
            report.handled += 1;
        } else {
            report.failed += 1;
        }
    }
    Ok(report)
}
