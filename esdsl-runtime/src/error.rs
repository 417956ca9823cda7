//! The runtime's error type.

use crate::codec::CodecError;
use crate::event::DecodeError;
use crate::store::expected::ExpectedVersion;

/// Everything that can go wrong in the runtime.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An append's expected version did not match the stream. Nothing of that append was written.
    #[error("wrong expected version for stream `{stream}`: expected {expected}, actual {}", display_version(*actual))]
    Conflict {
        /// The stream.
        stream: String,
        /// What the append expected.
        expected: ExpectedVersion,
        /// The stream's version when the append was checked (`None`: the stream does not exist).
        actual: Option<u64>,
    },

    /// A stored event's payload could not be decoded into the program's types. The store is
    /// unchanged and every other event stays readable.
    #[error(
        "cannot decode `{event_type}` v{schema_version} at position {position} \
         (stream `{stream}`, version {stream_version})"
    )]
    Decode {
        /// The stream.
        stream: String,
        /// The event's global position.
        position: u64,
        /// The event's version in its stream.
        stream_version: u64,
        /// The stored type name.
        event_type: String,
        /// The stored schema version.
        schema_version: u32,
        /// Why it failed: unknown type, unknown version or a payload that does not decode.
        #[source]
        source: DecodeError,
    },

    /// A stored event names a codec this program does not know.
    #[error(
        "unknown codec id {codec_id} for `{event_type}` v{schema_version} at position {position} \
         (stream `{stream}`)"
    )]
    UnknownCodec {
        /// The stream.
        stream: String,
        /// The event's global position.
        position: u64,
        /// The stored type name.
        event_type: String,
        /// The stored schema version.
        schema_version: u32,
        /// The stored codec id.
        codec_id: u8,
    },

    /// Something stored does not have the expected layout (damaged on disk, or written by a
    /// newer esdsl).
    #[error("corrupt {what} at {key}: {reason}")]
    Corrupt {
        /// What is damaged: `event` (a record of the log), `stream index`, `stream`,
        /// `catalog`, `store metadata`, `checkpoint`, `parked event`, `snapshot` or
        /// `read model`.
        what: &'static str,
        /// Which one: the event's global position, the stream, the key.
        key: String,
        /// What is wrong.
        reason: String,
    },

    /// The store's data file is damaged where LMDB's own structure lives (meta pages, B-tree
    /// pages, overflow runs) or is shorter than its meta page says: found by reading the file
    /// before LMDB maps it, so the damage is this error instead of a `SIGBUS` or `SIGSEGV`.
    /// Also returned by a backup that refuses a store with broken invariants.
    #[error("damaged store file `{file}`{}: {problem}", display_place(*page, *offset))]
    Damaged {
        /// The damaged file (the store's `data.mdb`).
        file: String,
        /// The page the damage was found on, when it is on one.
        page: Option<u64>,
        /// The byte offset in the file where that page (or the cut) starts.
        offset: Option<u64>,
        /// What is wrong.
        problem: String,
    },

    /// No store here: the directory is missing, or holds no `data.mdb`, or an empty one. Only
    /// opens that never create a store (the read-only ones) return it.
    #[error("no store here: `{path}` is not an esdsl store ({reason})")]
    NoStore {
        /// The directory.
        path: String,
        /// What is missing.
        reason: String,
    },

    /// The store holds events that the program's schema cannot decode.
    #[error(
        "the store holds events of `{aggregate}` that this program cannot decode: {}",
        list_undecodable(entries)
    )]
    Undecodable {
        /// The aggregate type.
        aggregate: String,
        /// Each undecodable (type, version) with its count.
        entries: Vec<Undecodable>,
    },

    /// An argument was not acceptable (an empty stream name, a name too long for a key, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// An event could not be encoded.
    #[error("cannot encode `{event_type}`")]
    Encode {
        /// The event's type name.
        event_type: String,
        /// What the codec reported.
        #[source]
        source: CodecError,
    },

    /// The store's directory is already open in this process.
    #[error("the store at `{0}` is already open in this process: clone the existing handle")]
    AlreadyOpen(String),

    /// The store was written by an incompatible version of esdsl.
    #[error("the store format version is {found}, this program reads version {supported}")]
    FormatVersion {
        /// The version on disk.
        found: u32,
        /// The version this program reads.
        supported: u32,
    },

    /// A projection parked an event that failed every attempt and stopped, as configured.
    #[error(
        "projection `{projection}` stopped at position {position} (`{event_type}` in stream \
         `{stream}`)"
    )]
    ProjectionStopped {
        /// The projection.
        projection: String,
        /// The parked event's position.
        position: u64,
        /// The parked event's stream.
        stream: String,
        /// The parked event's type.
        event_type: String,
        /// The handler's last error (for a damaged record, the store's error reading it).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The disk (or filesystem) holding the store is full. Nothing of the failed commit was
    /// written; the store stays readable, and appends succeed again once space is freed.
    #[error("no space left for the store")]
    NoSpace(#[source] std::io::Error),

    /// The storage engine under the store failed; the engine's own error is the source.
    #[error("the storage engine failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),

    /// A filesystem operation failed.
    #[error("i/o error")]
    Io(#[from] std::io::Error),

    /// The store's writer stopped (the store is shutting down, or its thread failed).
    #[error("the store's writer has stopped")]
    WriterStopped,

    /// The async runtime shut down before a piece of store work it was given off the executor
    /// could run (see [`AsyncEventStore`](crate::store::AsyncEventStore)).
    #[error("the async runtime is shutting down: the store work was cancelled")]
    Cancelled,
}

/// One (type, version) stored but not decodable by the program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undecodable {
    /// The stored type name.
    pub event_type: String,
    /// The stored version.
    pub schema_version: u32,
    /// How many such events are stored.
    pub count: u64,
    /// Why the program cannot decode it.
    pub reason: String,
}

fn display_version(version: Option<u64>) -> String {
    match version {
        None => "no stream".to_owned(),
        Some(v) => v.to_string(),
    }
}

fn display_place(page: Option<u64>, offset: Option<u64>) -> String {
    match (page, offset) {
        (Some(page), Some(offset)) => format!(" at page {page} (byte {offset})"),
        (Some(page), None) => format!(" at page {page}"),
        (None, Some(offset)) => format!(" at byte {offset}"),
        (None, None) => String::new(),
    }
}

fn list_undecodable(entries: &[Undecodable]) -> String {
    entries
        .iter()
        .map(|e| {
            format!(
                "`{}` v{} ({} stored; {})",
                e.event_type, e.schema_version, e.count, e.reason
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `Result` with the runtime's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_cross_threads_and_live_anywhere() {
        fn assert_send_sync_static<T: Send + Sync + 'static>() {}
        assert_send_sync_static::<Error>();
    }

    #[test]
    fn a_wrapped_error_is_the_source_and_not_repeated_in_the_message() {
        use std::error::Error as _;
        let io = std::io::Error::from_raw_os_error(20);
        let error = Error::Io(io);
        assert_eq!(error.to_string(), "i/o error");
        assert!(
            error
                .source()
                .is_some_and(|s| s.to_string().contains("os error 20"))
        );
    }
}
