//! Payloads written to hurt: a recursive record nested far deeper than any real event, read
//! through a generated decoder and through the store, on a thread with a small stack.

use esdsl_runtime::lmdb::LmdbStore;
use esdsl_runtime::serde::{Deserialize, Serialize};
use esdsl_runtime::store::{EventStore, ExpectedVersion, Metadata, NewEvent};
use esdsl_runtime::{Codec, CodecError, DecodeError, Error, Event, Record};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
#[serde(crate = "esdsl_runtime::serde")]
struct Node {
    children: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
#[serde(crate = "esdsl_runtime::serde")]
struct Planted {
    root: Node,
}

#[derive(Debug, Clone, PartialEq, Event)]
#[event(aggregate = "Tree")]
enum TreeEvent {
    Planted(Planted),
}

/// A `Planted` event in postcard whose tree is `levels` deep: each level a list of one child.
fn deep_postcard(levels: usize) -> Vec<u8> {
    let mut bytes = vec![1; levels];
    bytes.push(0);
    bytes
}

fn on_a_2_mib_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .expect("spawns")
        .join()
        .expect("no stack overflow")
}

fn too_deep(error: &DecodeError) -> bool {
    matches!(
        error,
        DecodeError::Payload {
            source: CodecError::TooDeep { .. },
            ..
        }
    )
}

#[test]
fn a_generated_decoder_refuses_a_postcard_tree_30000_deep() {
    let decoded = on_a_2_mib_stack(|| {
        TreeEvent::decode("Planted", 1, &deep_postcard(30_000), Codec::Postcard).map(|_| ())
    });
    assert!(decoded.as_ref().is_err_and(too_deep), "{decoded:?}");
    let shallow = TreeEvent::decode("Planted", 1, &deep_postcard(10), Codec::Postcard);
    assert!(shallow.is_ok(), "{shallow:?}");
}

#[test]
fn a_stored_hostile_payload_is_a_typed_error_and_the_stream_stays_usable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LmdbStore::open(dir.path()).expect("opens");
    let hostile = NewEvent {
        event_type: "Planted".into(),
        schema_version: 1,
        codec: Codec::Postcard,
        payload: deep_postcard(30_000),
    };
    store
        .append(
            "Tree-1",
            ExpectedVersion::NoStream,
            vec![hostile],
            &Metadata::default(),
        )
        .expect("appends");
    let fine = NewEvent::encode(
        &TreeEvent::Planted(Planted {
            root: Node {
                children: vec![Node {
                    children: Vec::new(),
                }],
            },
        }),
        Codec::Postcard,
    )
    .expect("encodes");
    store
        .append(
            "Tree-1",
            ExpectedVersion::Exact(1),
            vec![fine],
            &Metadata::default(),
        )
        .expect("appends");
    let outcomes = on_a_2_mib_stack(move || {
        store
            .read_stream("Tree-1", 1, esdsl_runtime::store::Direction::Forward, 10)
            .expect("reads")
            .map(|event| event.expect("a record").decode::<TreeEvent>().map(|_| ()))
            .collect::<Vec<_>>()
    });
    assert_eq!(outcomes.len(), 2);
    assert!(
        matches!(
            &outcomes[0],
            Err(Error::Decode { position: 1, stream_version: 1, source, .. }) if too_deep(source)
        ),
        "{:?}",
        outcomes[0]
    );
    assert!(
        outcomes[1].is_ok(),
        "the next event decodes: {:?}",
        outcomes[1]
    );
}

#[test]
fn the_generator_and_the_runtime_agree_on_the_decode_depth_limit() {
    assert_eq!(
        esdsl_schema::codegen::DECODE_DEPTH_LIMIT,
        esdsl_runtime::MAX_DECODE_DEPTH
    );
}
