//! Round trips: stored payloads of old versions decode to the newest version, following each
//! upcast rule of the schema language.

use std::collections::BTreeMap;

use esdsl_runtime::{Codec, Decodability, DecodeError, Decoded, Event, Upcast};
use esdsl_tests::{bank, bank_generated, upcasting};
use serde_json::json;

fn decode_json<E: Event>(event_type: &str, version: u32, payload: serde_json::Value) -> Decoded<E> {
    let bytes = serde_json::to_vec(&payload).expect("a JSON value serializes");
    E::decode(event_type, version, &bytes, Codec::Json).expect("payload decodes")
}

#[test]
fn money_deposited_v1_widens_then_runs_the_manual_step() {
    let decoded = decode_json::<bank::AccountEvent>("MoneyDeposited", 1, json!({ "amount": 12 }));
    assert_eq!(
        decoded,
        Decoded::Event(bank::AccountEvent::MoneyDeposited(bank::MoneyDeposited {
            amount_cents: 1200,
            memo: None,
        }))
    );
}

#[test]
fn money_deposited_v2_keeps_its_memo_through_the_manual_step() {
    let decoded = decode_json::<bank::AccountEvent>(
        "MoneyDeposited",
        2,
        json!({ "amount": 7_000_000_000i64, "memo": "rent" }),
    );
    assert_eq!(
        decoded,
        Decoded::Event(bank::AccountEvent::MoneyDeposited(bank::MoneyDeposited {
            amount_cents: 700_000_000_000,
            memo: Some("rent".into()),
        }))
    );
}

#[test]
fn account_opened_v1_gets_the_enum_default() {
    let decoded = decode_json::<bank::AccountEvent>("AccountOpened", 1, json!({ "owner": "ada" }));
    assert_eq!(
        decoded,
        Decoded::Event(bank::AccountEvent::AccountOpened(bank::AccountOpened {
            owner: "ada".into(),
            currency: bank::Currency::Eur,
        }))
    );
}

#[test]
fn a_renamed_event_decodes_under_its_old_name() {
    let decoded = decode_json::<bank::AccountEvent>("AccountShut", 1, json!({}));
    assert_eq!(
        decoded,
        Decoded::Event(bank::AccountEvent::AccountClosed(bank::AccountClosed {}))
    );
}

#[test]
fn a_retired_event_is_skipped_without_decoding() {
    // Even a payload that would not decode is skipped: typed readers never look at it.
    let decoded = bank::AccountEvent::decode("LegacyAudit", 1, b"not json", Codec::Json);
    assert!(matches!(decoded, Ok(Decoded::Skipped)), "{decoded:?}");
    assert_eq!(
        bank::AccountEvent::decodability("LegacyAudit", 1),
        Decodability::Skipped
    );
}

#[test]
fn unknown_types_versions_and_corrupt_payloads_are_typed_errors() {
    let unknown = bank::AccountEvent::decode("AccountFrozen", 1, b"{}", Codec::Json);
    assert!(
        matches!(&unknown, Err(DecodeError::UnknownType { event_type, version: 1 }) if event_type == "AccountFrozen"),
        "{unknown:?}"
    );
    for version in [0, 4] {
        let newer = bank::AccountEvent::decode("MoneyDeposited", version, b"{}", Codec::Json);
        assert!(
            matches!(&newer, Err(DecodeError::UnknownVersion { event_type, version: v, newest: 3 }) if event_type == "MoneyDeposited" && *v == version),
            "{newer:?}"
        );
    }
    let corrupt =
        bank::AccountEvent::decode("MoneyDeposited", 2, b"{\"amount\": \"ten\"}", Codec::Json);
    assert!(
        matches!(&corrupt, Err(DecodeError::Payload { event_type, version: 2, .. }) if event_type == "MoneyDeposited"),
        "{corrupt:?}"
    );
    let truncated = bank::AccountEvent::decode("MoneyDeposited", 3, &[0x80], Codec::Postcard);
    assert!(
        matches!(&truncated, Err(DecodeError::Payload { version: 3, .. })),
        "{truncated:?}"
    );
    assert_eq!(
        bank::AccountEvent::decodability("MoneyDeposited", 4),
        Decodability::UnknownVersion { newest: 3 }
    );
    assert_eq!(
        bank::AccountEvent::decodability("Nope", 1),
        Decodability::UnknownType
    );
    assert_eq!(
        bank::AccountEvent::decodability("AccountShut", 1),
        Decodability::Decodable
    );
}

#[test]
fn newest_events_round_trip_through_both_codecs() {
    let events = [
        bank::AccountEvent::from(bank::AccountOpened {
            owner: "grace".into(),
            currency: bank::Currency::Gbp,
        }),
        bank::MoneyDeposited {
            amount_cents: -5,
            memo: Some("fee".into()),
        }
        .into(),
        bank::AccountClosed {}.into(),
    ];
    for codec in [Codec::Json, Codec::Postcard] {
        for event in &events {
            let bytes = event.encode(codec).expect("encodes");
            let back = bank::AccountEvent::decode(
                event.event_type(),
                event.event_version(),
                &bytes,
                codec,
            )
            .expect("decodes");
            assert_eq!(back, Decoded::Event(event.clone()), "codec {codec}");
        }
    }
    assert_eq!(events[0].event_type(), "AccountOpened");
    assert_eq!(events[0].event_version(), 2);
    assert_eq!(events[1].event_version(), 3);
    assert_eq!(
        events[0].encode(Codec::Json).expect("encodes"),
        br#"{"owner":"grace","currency":"gbp"}"#
    );
}

#[test]
fn old_versions_decode_from_postcard_too() {
    let stored = bank::v1::MoneyDeposited { amount: -4 };
    let bytes = Codec::Postcard.encode(&stored).expect("encodes");
    let decoded = bank::AccountEvent::decode("MoneyDeposited", 1, &bytes, Codec::Postcard);
    assert_eq!(
        decoded.expect("decodes"),
        Decoded::Event(bank::AccountEvent::MoneyDeposited(bank::MoneyDeposited {
            amount_cents: -400,
            memo: None,
        }))
    );
}

pub(crate) fn reading_v1() -> upcasting::v1::Reading {
    upcasting::v1::Reading {
        label: "probe".into(),
        a: -7,
        b: 4_000_000_000,
        c: 3_000_000_000,
        d: -2,
        e: 9,
        f: i64::MAX,
        g: u64::MAX,
        h: "hello".into(),
        samples: vec![1, -2, i32::MAX],
        peak: Some(i32::MIN),
        by_channel: BTreeMap::from([("x".into(), 1), ("y".into(), -1)]),
        wrapped: 42,
        title: "kitchen".into(),
        obsolete: true,
        nested: vec![Some(u32::MAX), None],
    }
}

#[test]
fn every_automatic_rule_applies_in_the_v1_to_v2_step() {
    let v2 = upcasting::v2::Reading::upcast(reading_v1());
    // The same field, the same type.
    assert_eq!(v2.label, "probe");
    // Integer widenings.
    assert_eq!(v2.a, -7i64);
    assert_eq!(v2.b, 4_000_000_000u64);
    assert_eq!(v2.c, 3_000_000_000i64);
    // Integers to f64, exact from 32 bits, rounded from 64 bits.
    assert_eq!(v2.d, -2.0);
    assert_eq!(v2.e, 9.0);
    assert_eq!(v2.f, i64::MAX as f64);
    assert_eq!(v2.g, u64::MAX as f64);
    // T -> option<T>.
    assert_eq!(v2.h.as_deref(), Some("hello"));
    // Element-wise inside list, option and map, and T -> option<wider T>.
    assert_eq!(v2.samples, vec![1i64, -2, i64::from(i32::MAX)]);
    assert_eq!(v2.peak, Some(i64::from(i32::MIN)));
    assert_eq!(
        v2.by_channel,
        BTreeMap::from([("x".into(), 1i64), ("y".into(), -1)])
    );
    assert_eq!(v2.wrapped, Some(42i64));
    assert_eq!(v2.nested, vec![Some(u64::from(u32::MAX)), None]);
    // renamed_from, twice from the same field.
    assert_eq!(v2.name, "kitchen");
    assert_eq!(v2.heading, "kitchen");
    // New option without default: None.
    assert_eq!(v2.note, None);
    assert_eq!(v2.location, None);
    // New fields with defaults, one of each kind.
    assert!(v2.enabled);
    assert_eq!(v2.offset, -3);
    assert_eq!(v2.scale, 1.5);
    assert_eq!(v2.unit, upcasting::Unit::Celsius);
    assert_eq!(v2.tags, vec!["raw".to_owned(), "v1".to_owned()]);
    assert_eq!(
        v2.limits,
        BTreeMap::from([("high".into(), 9u32), ("low".into(), 1)])
    );
    assert_eq!(v2.fallback.as_deref(), Some("none given"));
    assert_eq!(v2.site.to_string(), "67e55044-10b1-426f-9247-bb680e5fe0c8");
    assert_eq!(v2.calibrated_at.to_rfc3339(), "2020-01-02T03:04:05+00:00");
    assert_eq!(v2.magic, vec![0xde, 0xad, 0xbe, 0xef]);
}

#[test]
fn the_v2_to_v3_step_widens_inside_maps_and_keeps_the_rest() {
    let v2 = upcasting::v2::Reading::upcast(reading_v1());
    let v3 = upcasting::v3::Reading::upcast(v2.clone());
    assert_eq!(v3.offset, -3i64);
    assert_eq!(
        v3.limits,
        BTreeMap::from([("high".into(), 9u64), ("low".into(), 1)])
    );
    assert_eq!(v3.name, v2.name);
    assert_eq!(v3.magic, v2.magic);
}

#[test]
fn stored_v1_v2_and_v3_readings_all_decode_to_v4() {
    let v1 = reading_v1();
    let v2 = upcasting::v2::Reading::upcast(v1.clone());
    let v3 = upcasting::v3::Reading::upcast(v2.clone());
    let expected = upcasting::v4::Reading::upcast(v3.clone());
    // The manual step: a + b + d + scale.
    assert_eq!(expected.total, -7.0 + 4_000_000_000.0 + -2.0 + 1.5);
    for codec in [Codec::Json, Codec::Postcard] {
        let stored = [
            (1, codec.encode(&v1).expect("encodes")),
            (2, codec.encode(&v2).expect("encodes")),
            (3, codec.encode(&v3).expect("encodes")),
        ];
        for (version, bytes) in stored {
            let decoded = upcasting::SensorEvent::decode("Reading", version, &bytes, codec)
                .expect("decodes")
                .into_event();
            assert_eq!(
                decoded,
                Some(upcasting::SensorEvent::Reading(expected.clone())),
                "v{version} with {codec}"
            );
        }
    }
}

#[test]
fn id_types_follow_the_schema() {
    let sensor = upcasting::SensorId::from("s-1".to_owned());
    assert_eq!(sensor.to_string(), "s-1");
    let counter: upcasting::CounterId = "18446744073709551615".parse().expect("a u64");
    assert_eq!(counter.0, u64::MAX);
    let ledger: upcasting::LedgerId = "-5".parse().expect("an i64");
    assert_eq!(ledger.0, -5);
    let account = bank::AccountId::now_v7();
    let parsed: bank::AccountId = account.to_string().parse().expect("a uuid");
    assert_eq!(parsed, account);
    assert_eq!(
        <bank::AccountId as esdsl_runtime::AggregateId>::AGGREGATE,
        "Account"
    );
    assert_eq!(<bank::AccountEvent as Event>::AGGREGATE, "Account");
}

#[test]
fn enums_are_stored_by_their_schema_names() {
    assert_eq!(upcasting::Unit::KelvinScale.as_str(), "kelvin-scale");
    assert_eq!(
        serde_json::to_string(&upcasting::Unit::KelvinScale).expect("serializes"),
        "\"kelvin-scale\""
    );
    assert_eq!(upcasting::Unit::ALL.len(), 3);
}

#[test]
fn macro_and_generated_file_decode_identically() {
    let payloads: [(&str, u32, serde_json::Value); 5] = [
        ("AccountOpened", 1, json!({ "owner": "ada" })),
        (
            "AccountOpened",
            2,
            json!({ "owner": "bob", "currency": "usd" }),
        ),
        ("MoneyDeposited", 1, json!({ "amount": 3 })),
        ("MoneyDeposited", 2, json!({ "amount": 4, "memo": null })),
        ("AccountShut", 1, json!({})),
    ];
    for (event_type, version, payload) in payloads {
        let from_macro = decode_json::<bank::AccountEvent>(event_type, version, payload.clone())
            .into_event()
            .expect("not skipped");
        let from_file = decode_json::<bank_generated::AccountEvent>(event_type, version, payload)
            .into_event()
            .expect("not skipped");
        assert_eq!(from_macro.event_type(), from_file.event_type());
        assert_eq!(from_macro.event_version(), from_file.event_version());
        for codec in [Codec::Json, Codec::Postcard] {
            assert_eq!(
                from_macro.encode(codec).expect("encodes"),
                from_file.encode(codec).expect("encodes")
            );
        }
    }
    assert_eq!(
        bank::AccountEvent::EVENT_TYPES,
        bank_generated::AccountEvent::EVENT_TYPES
    );
}
