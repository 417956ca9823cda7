//! The event store contract: [`run_all`] and the promises it checks, one function each.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use uuid::Uuid;

use crate::codec::Codec;
use crate::error::Error;
use crate::store::{
    Direction, EventRef, EventStore, ExpectedVersion, Filter, Metadata, NewEvent, RecordedEvent,
    StreamAppend,
};

/// Runs every conformance test, each on a new store from `fresh`.
pub fn run_all<S: EventStore>(mut fresh: impl FnMut() -> S) {
    expected_version_semantics(&fresh());
    multi_event_appends_are_atomic(&fresh());
    multi_stream_appends_are_atomic(&fresh());
    envelope_fields_round_trip(&fresh());
    stream_reads(&fresh());
    stream_replays(&fresh());
    global_log_reads(&fresh());
    global_log_replays(&fresh());
    invalid_input_is_rejected(&fresh());
    catalog_counts(&fresh());
}

/// A JSON event of type `event_type` whose payload is `{"n": n}`.
pub fn event(event_type: &str, n: u64) -> NewEvent {
    NewEvent {
        event_type: event_type.to_owned().into(),
        schema_version: 1,
        codec: Codec::Json,
        payload: format!("{{\"n\":{n}}}").into_bytes(),
    }
}

fn append(
    store: &dyn EventStore,
    stream: &str,
    expected: ExpectedVersion,
    n: u64,
) -> crate::Result<u64> {
    let events = (1..=n).map(|i| event("Happened", i)).collect();
    store
        .append(stream, expected, events, &Metadata::default())
        .map(|done| done.version)
}

fn read(store: &dyn EventStore, stream: &str) -> Vec<RecordedEvent> {
    store
        .read_stream(stream, 1, Direction::Forward, usize::MAX)
        .expect("read starts")
        .collect::<Result<_, _>>()
        .expect("every event reads")
}

#[track_caller]
fn assert_conflict(
    result: crate::Result<u64>,
    stream: &str,
    expected: ExpectedVersion,
    actual: Option<u64>,
) {
    match result {
        Err(Error::Conflict {
            stream: s,
            expected: e,
            actual: a,
        }) => {
            assert_eq!(
                (s.as_str(), e, a),
                (stream, expected, actual),
                "conflict fields"
            );
        }
        other => panic!("expected a conflict on `{stream}` ({expected}), got {other:?}"),
    }
}

/// Every `ExpectedVersion` variant accepts and refuses what it promises.
pub fn expected_version_semantics(store: &dyn EventStore) {
    use ExpectedVersion::{Any, Exact, NoStream, StreamExists};
    assert_conflict(
        append(store, "T-1", StreamExists, 1),
        "T-1",
        StreamExists,
        None,
    );
    assert_conflict(append(store, "T-1", Exact(1), 1), "T-1", Exact(1), None);
    assert_eq!(
        append(store, "T-1", NoStream, 2).expect("NoStream on a new stream"),
        2
    );
    assert_conflict(append(store, "T-1", NoStream, 1), "T-1", NoStream, Some(2));
    assert_conflict(append(store, "T-1", Exact(1), 1), "T-1", Exact(1), Some(2));
    assert_conflict(append(store, "T-1", Exact(3), 1), "T-1", Exact(3), Some(2));
    assert_eq!(append(store, "T-1", Exact(2), 1).expect("Exact matches"), 3);
    assert_eq!(
        append(store, "T-1", StreamExists, 1).expect("StreamExists"),
        4
    );
    assert_eq!(
        append(store, "T-1", Any, 1).expect("Any on an existing stream"),
        5
    );
    assert_eq!(
        append(store, "T-2", Any, 1).expect("Any on a new stream"),
        1
    );
    assert_eq!(
        append(store, "T-3", Exact(0), 1).expect("Exact(0) on a new stream"),
        1
    );
    assert_eq!(store.stream_version("T-1").expect("reads"), Some(5));
    assert_eq!(store.stream_version("T-9").expect("reads"), None);
    assert_eq!(read(store, "T-1").len(), 5, "conflicts wrote nothing");
}

/// An append writes all its events, with dense versions and positions, or none.
pub fn multi_event_appends_are_atomic(store: &dyn EventStore) {
    let done = store
        .append(
            "A-1",
            ExpectedVersion::NoStream,
            (1..=3).map(|n| event("E", n)).collect(),
            &Metadata::default(),
        )
        .expect("appends");
    assert_eq!(done.version, 3);
    assert_eq!(
        (done.first_position, done.last_position),
        (Some(1), Some(3))
    );
    let refused = store.append(
        "A-1",
        ExpectedVersion::Exact(1),
        (4..=6).map(|n| event("E", n)).collect(),
        &Metadata::default(),
    );
    assert!(
        matches!(refused, Err(Error::Conflict { .. })),
        "{refused:?}"
    );
    assert_eq!(
        store.head_position().expect("reads"),
        3,
        "no event of a refused append is stored"
    );
    let versions: Vec<u64> = read(store, "A-1").iter().map(|e| e.version).collect();
    assert_eq!(versions, [1, 2, 3]);
    let empty = store
        .append(
            "A-1",
            ExpectedVersion::Exact(3),
            Vec::new(),
            &Metadata::default(),
        )
        .expect("an empty append checks and succeeds");
    assert_eq!((empty.version, empty.first_position), (3, None));
}

/// A multi-stream append writes every stream or none.
pub fn multi_stream_appends_are_atomic(store: &dyn EventStore) {
    append(store, "B-1", ExpectedVersion::NoStream, 1).expect("appends");
    let refused = store.append_multi(
        vec![
            StreamAppend {
                stream: "B-2".into(),
                expected: ExpectedVersion::NoStream,
                events: vec![event("E", 1)],
            },
            StreamAppend {
                stream: "B-1".into(),
                expected: ExpectedVersion::NoStream,
                events: vec![event("E", 2)],
            },
        ],
        &Metadata::default(),
    );
    assert!(
        matches!(&refused, Err(Error::Conflict { stream, .. }) if stream == "B-1"),
        "{refused:?}"
    );
    assert_eq!(
        store.stream_version("B-2").expect("reads"),
        None,
        "nothing of a refused multi-stream append is stored"
    );
    let done = store
        .append_multi(
            vec![
                StreamAppend {
                    stream: "B-2".into(),
                    expected: ExpectedVersion::NoStream,
                    events: vec![event("E", 1), event("E", 2)],
                },
                StreamAppend {
                    stream: "B-1".into(),
                    expected: ExpectedVersion::Exact(1),
                    events: vec![event("E", 3)],
                },
            ],
            &Metadata::default(),
        )
        .expect("both expectations hold");
    assert_eq!(done[0].version, 2);
    assert_eq!(done[1].version, 2);
    assert_eq!(done[0].first_position, Some(2));
    assert_eq!(done[1].first_position, Some(4));
    let twice = store.append_multi(
        vec![
            StreamAppend {
                stream: "B-3".into(),
                expected: ExpectedVersion::Any,
                events: vec![event("E", 1)],
            },
            StreamAppend {
                stream: "B-3".into(),
                expected: ExpectedVersion::Any,
                events: vec![event("E", 2)],
            },
        ],
        &Metadata::default(),
    );
    assert!(matches!(twice, Err(Error::InvalidInput(_))), "{twice:?}");
}

/// Every envelope field is stored and read back.
pub fn envelope_fields_round_trip(store: &dyn EventStore) {
    let metadata = Metadata {
        correlation_id: Some(Uuid::from_u128(7)),
        causation_id: Some(Uuid::from_u128(8)),
        user: BTreeMap::from([
            ("tenant".to_owned(), "acme".to_owned()),
            ("empty".to_owned(), String::new()),
        ]),
    };
    let before = chrono::Utc::now();
    let events = vec![
        NewEvent {
            event_type: "Opened".into(),
            schema_version: 3,
            codec: Codec::Postcard,
            payload: vec![0, 1, 2, 255],
        },
        NewEvent {
            event_type: "Noted".into(),
            schema_version: 1,
            codec: Codec::Json,
            payload: Vec::new(),
        },
    ];
    store
        .append("C-1", ExpectedVersion::NoStream, events.clone(), &metadata)
        .expect("appends");
    let after = chrono::Utc::now();
    let read = read(store, "C-1");
    assert_eq!(read.len(), 2);
    for (recorded, sent) in read.iter().zip(&events) {
        assert_eq!(recorded.stream, "C-1");
        assert_eq!(recorded.event_type, sent.event_type);
        assert_eq!(recorded.schema_version, sent.schema_version);
        assert_eq!(recorded.codec_id, sent.codec.id());
        assert_eq!(recorded.payload, sent.payload);
        assert_eq!(recorded.correlation_id, metadata.correlation_id);
        assert_eq!(recorded.causation_id, metadata.causation_id);
        assert_eq!(recorded.metadata, metadata.user);
        assert_eq!(
            recorded.event_id.get_version_num(),
            7,
            "event ids are UUID v7"
        );
        assert!(
            recorded.recorded_at >= before - chrono::Duration::seconds(1)
                && recorded.recorded_at <= after + chrono::Duration::seconds(1)
        );
    }
    assert_ne!(read[0].event_id, read[1].event_id);
    assert_eq!((read[0].version, read[0].position), (1, 1));
    assert_eq!((read[1].version, read[1].position), (2, 2));
    assert_eq!(read[0].category(), "C");
}

/// Streams read forward and backward from a version, with a limit, lazily.
pub fn stream_reads(store: &dyn EventStore) {
    append(store, "D-1", ExpectedVersion::NoStream, 600).expect("appends");
    append(store, "D-2", ExpectedVersion::NoStream, 3).expect("appends");
    let versions = |from, direction, limit| -> Vec<u64> {
        store
            .read_stream("D-1", from, direction, limit)
            .expect("read starts")
            .map(|e| e.expect("reads").version)
            .collect()
    };
    assert_eq!(
        versions(1, Direction::Forward, usize::MAX),
        (1..=600).collect::<Vec<_>>(),
        "pages join without gaps"
    );
    assert_eq!(versions(598, Direction::Forward, 10), [598, 599, 600]);
    assert_eq!(versions(5, Direction::Forward, 2), [5, 6]);
    assert_eq!(versions(u64::MAX, Direction::Backward, 3), [600, 599, 598]);
    assert_eq!(versions(3, Direction::Backward, 10), [3, 2, 1]);
    assert_eq!(
        versions(u64::MAX, Direction::Backward, usize::MAX).len(),
        600
    );
    assert_eq!(versions(601, Direction::Forward, 10), Vec::<u64>::new());
    assert_eq!(
        store
            .read_stream("nope", 1, Direction::Forward, 10)
            .expect("read starts")
            .count(),
        0
    );
    let streams = store.streams().expect("lists");
    let names: Vec<(&str, u64)> = streams
        .iter()
        .map(|s| (s.name.as_str(), s.version))
        .collect();
    assert_eq!(names, [("D-1", 600), ("D-2", 3)]);
}

/// What a replay shows of an event, to compare with a read.
type Seen = (
    String,
    u64,
    u64,
    String,
    u32,
    u8,
    Uuid,
    chrono::DateTime<chrono::Utc>,
    Vec<u8>,
);

/// A replay's visitor, as `replay_stream` and `replay_all` take it.
type Visitor<'v> = &'v mut dyn FnMut(EventRef<'_>) -> Result<ControlFlow<()>, Error>;

/// What `replay` hands its visitor, which breaks after the event `stop` picks.
fn visits(
    replay: impl FnOnce(Visitor<'_>) -> Result<(), Error>,
    stop: impl Fn(&EventRef<'_>) -> bool,
) -> Vec<Seen> {
    let mut out = Vec::new();
    replay(&mut |event| {
        out.push(seen(event));
        Ok(if stop(&event) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        })
    })
    .expect("replays");
    out
}

/// A visitor failing at its third event: the replay returns that error and visits no more.
fn a_visitors_error_ends_the_replay(replay: impl FnOnce(Visitor<'_>) -> Result<(), Error>) {
    let mut visited = 0;
    let failed = replay(&mut |_| {
        visited += 1;
        if visited == 3 {
            return Err(Error::InvalidInput("stop here".into()));
        }
        Ok(ControlFlow::Continue(()))
    });
    assert!(
        matches!(&failed, Err(Error::InvalidInput(why)) if why == "stop here"),
        "the visitor's error is returned: {failed:?}"
    );
    assert_eq!(visited, 3, "nothing is visited after the visitor's error");
}

fn seen(event: EventRef<'_>) -> Seen {
    (
        event.stream().to_owned(),
        event.version(),
        event.position(),
        event.event_type().to_owned(),
        event.schema_version(),
        event.codec_id(),
        event.event_id(),
        event.recorded_at(),
        event.payload().to_vec(),
    )
}

/// `replay_stream` visits exactly what `read_stream` reads forward, across pages, from a
/// version, up to a limit, and stops when the visitor says so or fails.
pub fn stream_replays(store: &dyn EventStore) {
    // E-1 in batches, with single events of E-2 between them: runs of consecutive positions
    // and jumps, over more events than one read transaction replays.
    for round in 0..7 {
        let events = (1..=200)
            .map(|i| event("Happened", round * 200 + i))
            .collect();
        store
            .append("E-1", ExpectedVersion::Any, events, &Metadata::default())
            .expect("appends");
        append(store, "E-2", ExpectedVersion::Any, 1).expect("appends");
    }
    for i in 1..=50 {
        append(store, "E-1", ExpectedVersion::Any, 1).expect("appends");
        if i % 3 == 0 {
            append(store, "E-2", ExpectedVersion::Any, 1).expect("appends");
        }
    }
    let replay = |stream: &str, from, limit, stop_at: Option<u64>| {
        visits(
            |visit| store.replay_stream(stream, from, limit, visit),
            |event| Some(event.version()) == stop_at,
        )
    };
    let read = |stream: &str, from, limit| -> Vec<Seen> {
        store
            .read_stream(stream, from, Direction::Forward, limit)
            .expect("read starts")
            .map(|e| seen(EventRef::from(&e.expect("reads"))))
            .collect()
    };
    let all = replay("E-1", 1, usize::MAX, None);
    assert_eq!(all.len(), 1450, "every event of the stream, once");
    assert_eq!(
        all,
        read("E-1", 1, usize::MAX),
        "replay shows what a read reads"
    );
    assert_eq!(
        replay("E-2", 1, usize::MAX, None),
        read("E-2", 1, usize::MAX)
    );
    assert_eq!(
        replay("E-1", 0, 3, None),
        read("E-1", 1, 3),
        "versions start at 1"
    );
    assert_eq!(replay("E-1", 1000, 300, None), read("E-1", 1000, 300));
    assert_eq!(replay("E-1", 1440, 100, None), read("E-1", 1440, 100));
    let stopped = replay("E-1", 5, usize::MAX, Some(1100));
    assert_eq!(
        stopped.iter().map(|s| s.1).collect::<Vec<_>>(),
        (5..=1100).collect::<Vec<_>>(),
        "a Break stops the replay after that event"
    );
    assert_eq!(replay("E-1", 1451, 10, None), Vec::new());
    assert_eq!(replay("nope", 1, 10, None), Vec::new());
    assert_eq!(replay("E-1", 1, 0, None), Vec::new());
    a_visitors_error_ends_the_replay(|visit| store.replay_stream("E-1", 1, usize::MAX, visit));
}

/// The global log is dense, ordered, filterable and read lazily.
pub fn global_log_reads(store: &dyn EventStore) {
    for round in 0..300 {
        let stream = format!(
            "{}-{}",
            if round % 3 == 0 { "Cart" } else { "Order" },
            round % 7
        );
        let kind = if round % 2 == 0 { "Even" } else { "Odd" };
        store
            .append(
                &stream,
                ExpectedVersion::Any,
                vec![event(kind, round)],
                &Metadata::default(),
            )
            .expect("appends");
    }
    let all: Vec<RecordedEvent> = store
        .read_all(1, &Filter::all(), usize::MAX)
        .expect("read starts")
        .collect::<Result<_, _>>()
        .expect("reads");
    assert_eq!(
        all.iter().map(|e| e.position).collect::<Vec<_>>(),
        (1..=300).collect::<Vec<_>>()
    );
    assert_eq!(store.head_position().expect("reads"), 300);
    let from: Vec<u64> = store
        .read_all(250, &Filter::all(), 5)
        .expect("starts")
        .map(|e| e.expect("reads").position)
        .collect();
    assert_eq!(from, [250, 251, 252, 253, 254]);
    let carts = store
        .read_all(0, &Filter::aggregate("Cart"), usize::MAX)
        .expect("starts")
        .count();
    assert_eq!(carts, 100);
    let filter = Filter {
        aggregate_types: vec!["Order".into()],
        event_types: vec!["Even".into()],
    };
    let even_orders: Vec<RecordedEvent> = store
        .read_all(1, &filter, usize::MAX)
        .expect("starts")
        .collect::<Result<_, _>>()
        .expect("reads");
    assert_eq!(even_orders.len(), 100);
    assert!(
        even_orders
            .iter()
            .all(|e| e.category() == "Order" && e.event_type == "Even")
    );
    assert!(
        even_orders
            .windows(2)
            .all(|w| w[0].position < w[1].position)
    );
}

/// `replay_all` visits exactly what `read_all` reads, across read transactions and runs of
/// positions the filter skips, from a position, up to a limit, and stops when the visitor says
/// so or fails.
pub fn global_log_replays(store: &dyn EventStore) {
    // Long runs of one stream between single events of others: more positions than one read
    // transaction looks at, and a filter that skips whole runs.
    for round in 0..6 {
        let events = (1..=1000)
            .map(|i| event("Bulk", round * 1000 + i))
            .collect();
        store
            .append(
                "Order-1",
                ExpectedVersion::Any,
                events,
                &Metadata::default(),
            )
            .expect("appends");
        for n in 0..3 {
            let kind = if n % 2 == 0 { "Even" } else { "Odd" };
            store
                .append(
                    &format!("Cart-{n}"),
                    ExpectedVersion::Any,
                    vec![event(kind, round * 3 + n)],
                    &Metadata::default(),
                )
                .expect("appends");
        }
    }
    // A run longer than one read transaction looks at, with nothing a Cart filter passes, then
    // one that it passes.
    let run = (1..=5000).map(|i| event("Bulk", 10_000 + i)).collect();
    store
        .append("Order-1", ExpectedVersion::Any, run, &Metadata::default())
        .expect("appends");
    store
        .append(
            "Cart-9",
            ExpectedVersion::Any,
            vec![event("Odd", 99)],
            &Metadata::default(),
        )
        .expect("appends");
    let replay = |from, filter: &Filter, limit, stop_at: Option<u64>| {
        visits(
            |visit| store.replay_all(from, filter, limit, visit),
            |event| Some(event.position()) == stop_at,
        )
    };
    let read = |from, filter: &Filter, limit| -> Vec<Seen> {
        store
            .read_all(from, filter, limit)
            .expect("read starts")
            .map(|e| seen(EventRef::from(&e.expect("reads"))))
            .collect()
    };
    let all = Filter::all();
    let carts = Filter::aggregate("Cart");
    let odd_carts = Filter {
        aggregate_types: vec!["Cart".into()],
        event_types: vec!["Odd".into()],
    };
    let everything = replay(0, &all, usize::MAX, None);
    assert_eq!(everything.len(), 11_019, "every event of the log, once");
    assert_eq!(
        everything,
        read(1, &all, usize::MAX),
        "replay shows what a read reads"
    );
    assert_eq!(replay(1, &carts, usize::MAX, None).len(), 19);
    assert_eq!(
        replay(6019, &carts, usize::MAX, None).last().map(|s| s.2),
        Some(11_019),
        "found past 5,000 positions the filter skips"
    );
    assert_eq!(
        replay(1, &all, 2000, None),
        read(1, &all, 2000),
        "a limit within a page"
    );
    assert_eq!(
        replay(1, &carts, usize::MAX, None),
        read(1, &carts, usize::MAX)
    );
    assert_eq!(
        replay(1, &odd_carts, usize::MAX, None),
        read(1, &odd_carts, usize::MAX)
    );
    assert_eq!(replay(2500, &all, 700, None), read(2500, &all, 700));
    assert_eq!(replay(2500, &carts, 4, None), read(2500, &carts, 4));
    let stopped = replay(10, &all, usize::MAX, Some(3000));
    assert_eq!(
        stopped.iter().map(|s| s.2).collect::<Vec<_>>(),
        (10..=3000).collect::<Vec<_>>(),
        "a Break stops the replay after that event"
    );
    let at_page_end = replay(1, &all, usize::MAX, Some(1024));
    assert_eq!(
        at_page_end.len(),
        1024,
        "a Break on a page's last visit ends the replay"
    );
    assert_eq!(replay(11_020, &all, 10, None), Vec::new());
    assert_eq!(replay(1, &all, 0, None), Vec::new());
    assert_eq!(replay(1, &Filter::aggregate("Nope"), 10, None), Vec::new());
    a_visitors_error_ends_the_replay(|visit| store.replay_all(1, &all, usize::MAX, visit));
}

/// Names that cannot be keys are refused before anything is written.
pub fn invalid_input_is_rejected(store: &dyn EventStore) {
    for stream in [String::new(), "x".repeat(401), "nul\0byte".to_owned()] {
        let refused = append(store, &stream, ExpectedVersion::Any, 1);
        assert!(
            matches!(refused, Err(Error::InvalidInput(_))),
            "stream {stream:?}: {refused:?}"
        );
    }
    let refused = store.append(
        "E-1",
        ExpectedVersion::Any,
        vec![event("", 1)],
        &Metadata::default(),
    );
    assert!(
        matches!(refused, Err(Error::InvalidInput(_))),
        "{refused:?}"
    );
    assert_eq!(store.head_position().expect("reads"), 0);
}

/// The catalog counts stored events by aggregate type, event type and version.
pub fn catalog_counts(store: &dyn EventStore) {
    let v2 = NewEvent {
        schema_version: 2,
        ..event("Opened", 1)
    };
    store
        .append(
            "Account-1",
            ExpectedVersion::Any,
            vec![event("Opened", 1), v2.clone(), v2],
            &Metadata::default(),
        )
        .expect("appends");
    store
        .append(
            "Account-2",
            ExpectedVersion::Any,
            vec![event("Closed", 1)],
            &Metadata::default(),
        )
        .expect("appends");
    store
        .append(
            "Cart-1",
            ExpectedVersion::Any,
            vec![event("Opened", 1)],
            &Metadata::default(),
        )
        .expect("appends");
    let mut catalog: Vec<(String, String, u32, u64)> = store
        .catalog()
        .expect("reads")
        .into_iter()
        .map(|e| (e.aggregate_type, e.event_type, e.schema_version, e.count))
        .collect();
    catalog.sort();
    assert_eq!(
        catalog,
        [
            ("Account".into(), "Closed".into(), 1, 1),
            ("Account".into(), "Opened".into(), 1, 1),
            ("Account".into(), "Opened".into(), 2, 2),
            ("Cart".into(), "Opened".into(), 1, 1),
        ]
    );
}
