//! Randomized bad input: payload bytes into typed decoding, odd names into the store. Nothing
//! panics; everything is a typed error or a success. `ESDSL_FUZZ_CASES` raises the case count.

use esdsl_runtime::lmdb::LmdbStore;
use esdsl_runtime::lmdb::{Durability, StoreOptions};
use esdsl_runtime::store::{Direction, EventStore, ExpectedVersion, Filter, Metadata, NewEvent};
use esdsl_runtime::{Codec, DecodeError, Error, Event};
use proptest::prelude::*;

use crate::bank::AccountEvent;

fn cases(default: u32) -> u32 {
    std::env::var("ESDSL_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(3_000)))]

    /// Any bytes, any stored type and version, either codec: a typed result, never a panic.
    #[test]
    fn random_payloads_decode_or_fail_typed(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        event_type in prop_oneof![
            Just("MoneyDeposited".to_owned()),
            Just("AccountOpened".to_owned()),
            Just("AccountShut".to_owned()),
            Just("LegacyAudit".to_owned()),
            "[A-Za-z]{0,12}",
        ],
        version in 0u32..6,
        postcard in any::<bool>(),
    ) {
        let codec = if postcard { Codec::Postcard } else { Codec::Json };
        match AccountEvent::decode(&event_type, version, &bytes, codec) {
            Ok(_) => {}
            Err(DecodeError::UnknownType { .. } | DecodeError::UnknownVersion { .. } | DecodeError::Payload { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected error {other:?}"),
        }
    }

    /// Postcard lengths claiming gigabytes do not allocate them.
    #[test]
    fn huge_length_prefixes_are_refused(prefix in 1u64..u64::MAX) {
        let mut bytes = Vec::new();
        let mut n = prefix;
        while n >= 0x80 {
            bytes.push((n as u8) | 0x80);
            n >>= 7;
        }
        bytes.push(n as u8);
        bytes.extend_from_slice(b"tail");
        // v1 AccountOpened is one string: its length prefix comes first.
        let decoded = AccountEvent::decode("AccountOpened", 1, &bytes, Codec::Postcard);
        prop_assert!(decoded.is_err() || prefix == 4);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(300)))]

    /// Odd stream and type names are refused or stored; reading them back never panics.
    #[test]
    fn odd_names_are_refused_or_stored(
        stream in prop_oneof!["\\PC{0,20}", "[\\x00-\\x7f]{0,8}", Just("x".repeat(401))],
        event_type in prop_oneof!["\\PC{0,10}", Just(String::new()), Just("t".repeat(256))],
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LmdbStore::open_with(dir.path(), StoreOptions::default().durability(Durability::NoSync)).expect("opens");
        let event = NewEvent { event_type: event_type.clone().into(), schema_version: 1, codec: Codec::Json, payload: b"{}".to_vec() };
        match store.append(&stream, ExpectedVersion::Any, vec![event], &Metadata::default()) {
            Ok(done) => {
                prop_assert_eq!(done.version, 1);
                let read: Vec<_> = store.read_stream(&stream, 1, Direction::Forward, 10).expect("starts").collect::<Result<_, _>>().expect("reads");
                prop_assert_eq!(&read[0].event_type, &event_type);
                prop_assert!(store.verify().expect("verifies").is_ok());
            }
            Err(Error::InvalidInput(_)) => {
                prop_assert!(stream.is_empty() || stream.len() > 400 || stream.contains('\0') || event_type.is_empty() || event_type.len() > 255 || event_type.contains('\0'));
                prop_assert_eq!(store.read_all(1, &Filter::all(), 10).expect("starts").count(), 0);
            }
            Err(other) => prop_assert!(false, "unexpected error {other:?}"),
        }
    }
}
