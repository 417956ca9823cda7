//! Parity: `schemas/bank.toml` declared with derives (`esdsl_tests::bank_derive`) stores the
//! same bytes, upcasts stored payloads to the same events and describes the same schema as the
//! schema file expanded by `schema!` (`esdsl_tests::bank`).

use esdsl_runtime::describe::SchemaDescriptor;
use esdsl_runtime::lmdb::LmdbStore;
use esdsl_runtime::store::EventStore;
use esdsl_runtime::store::{Direction, ExpectedVersion, Metadata, NewEvent};
use esdsl_runtime::{Codec, Decodability, Decoded, Event, Repository};
use esdsl_schema::Schema;
use esdsl_tests::{bank, bank_derive};
use serde_json::json;

/// The same events through both declarations, as (TOML, derive) pairs.
fn pairs() -> Vec<(bank::AccountEvent, bank_derive::AccountEvent)> {
    vec![
        (
            bank::AccountOpened {
                owner: "Ada \"the first\"".into(),
                currency: bank::Currency::Gbp,
            }
            .into(),
            bank_derive::v2::AccountOpened {
                owner: "Ada \"the first\"".into(),
                currency: bank_derive::Currency::Gbp,
            }
            .into(),
        ),
        (
            bank::MoneyDeposited {
                amount_cents: -42,
                memo: Some("rent".into()),
            }
            .into(),
            bank_derive::v3::MoneyDeposited {
                amount_cents: -42,
                memo: Some("rent".into()),
            }
            .into(),
        ),
        (
            bank::MoneyWithdrawn {
                amount_cents: i64::MAX,
                memo: None,
            }
            .into(),
            bank_derive::v1::MoneyWithdrawn {
                amount_cents: i64::MAX,
                memo: None,
            }
            .into(),
        ),
        (
            bank::AccountClosed {}.into(),
            bank_derive::v1::AccountClosed {}.into(),
        ),
    ]
}

#[test]
fn both_declarations_encode_identical_bytes() {
    for (toml, derived) in pairs() {
        assert_eq!(toml.event_type(), derived.event_type());
        assert_eq!(toml.event_version(), derived.event_version());
        for codec in [Codec::Json, Codec::Postcard] {
            assert_eq!(
                toml.encode(codec).expect("encodes"),
                derived.encode(codec).expect("encodes"),
                "{} with {codec:?}",
                toml.event_type()
            );
        }
    }
    assert_eq!(
        bank::AccountEvent::EVENT_TYPES,
        bank_derive::AccountEvent::EVENT_TYPES
    );
    assert_eq!(
        bank::AccountEvent::AGGREGATE,
        bank_derive::AccountEvent::AGGREGATE
    );
}

/// Decodes a stored payload with both families and returns each result re-encoded as JSON
/// (the newest version), or the error's text.
fn decode_both(event_type: &str, version: u32, payload: &[u8], codec: Codec) -> (String, String) {
    fn one<E: Event>(event_type: &str, version: u32, payload: &[u8], codec: Codec) -> String {
        match E::decode(event_type, version, payload, codec) {
            Ok(Decoded::Event(event)) => {
                let bytes = event.encode(Codec::Json).expect("encodes");
                format!(
                    "{}: {}",
                    event.event_type(),
                    String::from_utf8_lossy(&bytes)
                )
            }
            Ok(Decoded::Newer { stored_version, .. }) => format!("newer: v{stored_version}"),
            Ok(Decoded::Skipped) => "skipped".to_owned(),
            Err(error) => format!("error: {error}"),
        }
    }
    (
        one::<bank::AccountEvent>(event_type, version, payload, codec),
        one::<bank_derive::AccountEvent>(event_type, version, payload, codec),
    )
}

#[test]
fn stored_old_versions_upcast_alike() {
    let stored = [
        ("AccountOpened", 1, json!({ "owner": "ada" })),
        (
            "AccountOpened",
            2,
            json!({ "owner": "ada", "currency": "usd" }),
        ),
        ("MoneyDeposited", 1, json!({ "amount": -12 })),
        (
            "MoneyDeposited",
            2,
            json!({ "amount": 7_000_000_000i64, "memo": "rent" }),
        ),
        (
            "MoneyDeposited",
            3,
            json!({ "amount_cents": 5, "memo": null }),
        ),
        (
            "MoneyWithdrawn",
            1,
            json!({ "amount_cents": 9, "memo": "atm" }),
        ),
        ("AccountShut", 1, json!({})),
        ("AccountClosed", 1, json!({})),
        ("LegacyAudit", 1, json!({ "note": "x" })),
        // What neither can read fails alike.
        ("MoneyDeposited", 4, json!({})),
        ("MoneyDeposited", 1, json!({ "amount": "twelve" })),
        ("Unheard", 1, json!({})),
    ];
    let mut decoded = 0;
    for (event_type, version, payload) in stored {
        let bytes = serde_json::to_vec(&payload).expect("serializes");
        let (toml, derived) = decode_both(event_type, version, &bytes, Codec::Json);
        assert_eq!(toml, derived, "{event_type} v{version}");
        decoded += usize::from(!toml.starts_with("error") && toml != "skipped");
        assert_eq!(
            bank::AccountEvent::decodability(event_type, version),
            bank_derive::AccountEvent::decodability(event_type, version)
        );
    }
    assert_eq!(decoded, 8, "every readable payload decoded to an event");
    assert_eq!(
        decode_both("MoneyDeposited", 1, br#"{"amount":12}"#, Codec::Json).1,
        r#"MoneyDeposited: {"amount_cents":1200,"memo":null}"#
    );
    assert_eq!(
        bank_derive::AccountEvent::decodability("LegacyAudit", 1),
        Decodability::Skipped
    );

    // postcard: v1 and v2 payloads written by the TOML types' structs.
    let v1 = Codec::Postcard
        .encode(&bank::v1::MoneyDeposited { amount: 3 })
        .expect("encodes");
    let v2 = Codec::Postcard
        .encode(&bank::v2::MoneyDeposited {
            amount: 4,
            memo: Some("m".into()),
        })
        .expect("encodes");
    for (version, payload) in [(1, v1), (2, v2)] {
        let (toml, derived) = decode_both("MoneyDeposited", version, &payload, Codec::Postcard);
        assert!(toml.starts_with("MoneyDeposited: "), "{toml}");
        assert_eq!(toml, derived);
    }
}

/// Spans locate diagnostics only; these two are the model's own span fields.
fn without_spans(mut schema: Schema) -> Schema {
    for event in &mut schema.events {
        for version in &mut event.versions {
            version.span = Default::default();
            for field in &mut version.fields {
                field.ty_span = Default::default();
            }
        }
    }
    for record in &mut schema.types {
        for field in &mut record.fields {
            field.ty_span = Default::default();
        }
    }
    schema
}

#[test]
fn the_descriptor_equals_the_schema_file() {
    let descriptor =
        SchemaDescriptor::of::<bank_derive::Account>().with_type::<bank_derive::Address>();
    let text = descriptor.to_toml();
    let derived = esdsl_schema::parse_schema("derive", &text)
        .unwrap_or_else(|report| panic!("{}\n{text}", report.render()));
    let source =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/bank.toml"))
            .expect("schemas/bank.toml is readable");
    let toml = esdsl_schema::parse_schema("bank.toml", &source).expect("bank.toml is valid");
    assert_eq!(without_spans(derived), without_spans(toml), "{text}");
}

#[test]
fn a_derived_repository_writes_what_the_schema_file_reads() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LmdbStore::open(dir.path()).expect("opens");
    let accounts = Repository::<bank_derive::Account>::new(store.clone()).expect("repository");
    let id = bank_derive::AccountId::now_v7();
    accounts
        .execute(&id, &bank_derive::Command::Open("ada".into()))
        .expect("opens");
    accounts
        .execute(&id, &bank_derive::Command::Deposit(250))
        .expect("deposits");
    accounts
        .execute(&id, &bank_derive::Command::Close)
        .expect("closes");
    assert!(matches!(
        accounts.execute(&id, &bank_derive::Command::Deposit(1)),
        Err(esdsl_runtime::ExecuteError::Domain(bank_derive::Refused))
    ));
    let state = accounts.load(&id).expect("loads").state;
    assert_eq!((state.balance_cents, state.closed), (250, true));

    // An old v1 deposit, written as the schema file's v1 struct, reads through the derives.
    let old = NewEvent {
        event_type: "MoneyDeposited".into(),
        schema_version: 1,
        codec: Codec::Json,
        payload: Codec::Json
            .encode(&bank::v1::MoneyDeposited { amount: 2 })
            .expect("encodes"),
    };
    let stream = format!("Account-{id}");
    store
        .append(
            &stream,
            ExpectedVersion::Exact(3),
            vec![old],
            &Metadata::default(),
        )
        .expect("appends");
    assert_eq!(accounts.load(&id).expect("loads").state.balance_cents, 450);

    // The stored bytes decode with the schema file's types to the same events.
    let records: Vec<_> = store
        .read_stream(&stream, 1, Direction::Forward, usize::MAX)
        .expect("reads")
        .collect::<Result<_, _>>()
        .expect("reads");
    assert_eq!(records.len(), 4);
    for (record, (toml, _)) in records.iter().zip(pairs_in_store_order()) {
        let decoded = record.decode::<bank::AccountEvent>().expect("decodes");
        assert_eq!(decoded.into_event(), Some(toml));
    }
}

fn pairs_in_store_order() -> Vec<(bank::AccountEvent, ())> {
    vec![
        (
            bank::AccountOpened {
                owner: "ada".into(),
                currency: bank::Currency::Usd,
            }
            .into(),
            (),
        ),
        (
            bank::MoneyDeposited {
                amount_cents: 250,
                memo: None,
            }
            .into(),
            (),
        ),
        (bank::AccountClosed {}.into(), ()),
        (
            bank::MoneyDeposited {
                amount_cents: 200,
                memo: None,
            }
            .into(),
            (),
        ),
    ]
}

#[test]
fn the_upcasting_descriptor_equals_the_schema_file() {
    use esdsl_tests::upcasting_derive::{Counter, Ledger, Sensor};
    let descriptor = SchemaDescriptor::of::<Sensor>()
        .with::<Counter>()
        .with::<Ledger>();
    let text = descriptor.to_toml();
    let derived = esdsl_schema::parse_schema("derive", &text)
        .unwrap_or_else(|report| panic!("{}\n{text}", report.render()));
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schemas/upcasting.toml"
    ))
    .expect("schemas/upcasting.toml is readable");
    let toml = esdsl_schema::parse_schema("upcasting.toml", &source).expect("valid");
    assert_eq!(without_spans(derived), without_spans(toml), "{text}");
}

/// Every field-level rule: stored v1, v2 and v3 readings (written by the schema file's
/// structs) decode to the same v4 through the derives, and each derived step gives the same
/// version as the generated one.
#[test]
fn every_field_level_rule_upcasts_like_the_schema_file() {
    use esdsl_runtime::Upcast;
    use esdsl_tests::{upcasting, upcasting_derive};

    let v1 = super::upcast::reading_v1();
    let v2 = upcasting::v2::Reading::upcast(v1.clone());
    let v3 = upcasting::v3::Reading::upcast(v2.clone());
    for codec in [Codec::Json, Codec::Postcard] {
        let stored = [
            (1, codec.encode(&v1).expect("encodes")),
            (2, codec.encode(&v2).expect("encodes")),
            (3, codec.encode(&v3).expect("encodes")),
        ];
        for (version, bytes) in &stored {
            let toml = upcasting::SensorEvent::decode("Reading", *version, bytes, codec)
                .expect("decodes")
                .into_event()
                .expect("an event");
            let derived = upcasting_derive::SensorEvent::decode("Reading", *version, bytes, codec)
                .expect("decodes")
                .into_event()
                .expect("an event");
            assert_eq!(
                toml.encode(codec).expect("encodes"),
                derived.encode(codec).expect("encodes"),
                "v{version} with {codec:?}"
            );
        }
        // Step by step: the derived v2 and v3 store the same bytes as the generated ones.
        let derived_v1: upcasting_derive::v1::Reading =
            codec.decode(&stored[0].1).expect("decodes");
        let derived_v2 = upcasting_derive::v2::Reading::upcast(derived_v1);
        assert_eq!(
            codec.encode(&derived_v2).expect("encodes"),
            codec.encode(&v2).expect("encodes")
        );
        let derived_v3 = upcasting_derive::v3::Reading::upcast(derived_v2);
        assert_eq!(
            codec.encode(&derived_v3).expect("encodes"),
            codec.encode(&v3).expect("encodes")
        );
    }
}

/// One aggregate's events at three points in time, declared with derives.
mod shop {
    use esdsl_runtime::serde::{Deserialize, Serialize};
    use esdsl_runtime::{Aggregate, Event, Record};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
    #[serde(crate = "esdsl_runtime::serde")]
    pub(super) struct ItemAddedV1 {
        pub(super) sku: String,
        pub(super) quantity: u32,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
    #[serde(crate = "esdsl_runtime::serde")]
    pub(super) struct CartClosed {}

    pub(super) mod before {
        use super::*;

        #[derive(Debug, Default, Aggregate)]
        #[aggregate(name = "Cart", id = uuid, events = CartEvent)]
        pub(crate) struct Cart {}

        #[derive(Debug, Clone, PartialEq, Event)]
        #[event(aggregate = "Cart")]
        pub(crate) enum CartEvent {
            ItemAdded(ItemAddedV1),
            CartClosed(CartClosed),
        }
    }

    /// Allowed: a new version with a widened field and a new optional one.
    pub(super) mod evolved {
        use super::*;

        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
        #[serde(crate = "esdsl_runtime::serde")]
        #[record(upcast_from = ItemAddedV1)]
        pub(crate) struct ItemAddedV2 {
            pub(crate) sku: String,
            pub(crate) quantity: u64,
            #[record(default)]
            pub(crate) note: Option<String>,
        }

        #[derive(Debug, Default, Aggregate)]
        #[aggregate(name = "Cart", id = uuid, events = CartEvent)]
        pub(crate) struct Cart {}

        #[derive(Debug, Clone, PartialEq, Event)]
        #[event(aggregate = "Cart")]
        pub(crate) enum CartEvent {
            #[event(history(ItemAddedV1))]
            ItemAdded(ItemAddedV2),
            CartClosed(CartClosed),
        }
    }

    /// Denied: version 1 edited in place, and `CartClosed` deleted instead of retired.
    pub(super) mod broken {
        use super::*;

        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
        #[serde(crate = "esdsl_runtime::serde")]
        pub(crate) struct ItemAddedV1 {
            pub(crate) sku: u64,
            pub(crate) quantity: u32,
        }

        #[derive(Debug, Default, Aggregate)]
        #[aggregate(name = "Cart", id = uuid, events = CartEvent)]
        pub(crate) struct Cart {}

        #[derive(Debug, Clone, PartialEq, Event)]
        #[event(aggregate = "Cart")]
        pub(crate) enum CartEvent {
            ItemAdded(ItemAddedV1),
        }
    }
}

#[test]
fn the_evolution_check_runs_on_derive_declared_events() {
    use esdsl_schema::evolve::{LockMode, check_descriptor};

    let dir = tempfile::tempdir().expect("temp dir");
    let lock = dir.path().join("esdsl.lock");
    let before = SchemaDescriptor::of::<shop::before::Cart>().to_toml();
    let evolved = SchemaDescriptor::of::<shop::evolved::Cart>().to_toml();
    let broken = SchemaDescriptor::of::<shop::broken::Cart>().to_toml();
    let codes = |check: &esdsl_schema::evolve::DescriptorCheck| -> Vec<(String, Option<String>, Option<u32>)> {
        check
            .findings
            .iter()
            .map(|f| (f.diagnostic.code.to_owned(), f.event.clone(), f.version))
            .collect()
    };

    // No lock yet: the check says so; an update writes it.
    let missing = check_descriptor("shop", &before, &lock, LockMode::Check).expect("runs");
    assert_eq!(
        codes(&missing),
        [("lock_out_of_date".to_owned(), None, None)]
    );
    assert!(
        missing.rendered.contains("ESDSL_UPDATE_LOCK=1"),
        "{}",
        missing.rendered
    );
    let written = check_descriptor("shop", &before, &lock, LockMode::Update).expect("runs");
    assert!(written.appended > 0 && !written.has_deny());
    let clean = check_descriptor("shop", &before, &lock, LockMode::Check).expect("runs");
    assert!(clean.findings.is_empty(), "{}", clean.rendered);

    // A compatible new version: only the lock is behind, until it is updated.
    let behind = check_descriptor("shop", &evolved, &lock, LockMode::Check).expect("runs");
    assert_eq!(
        codes(&behind),
        [(
            "lock_out_of_date".to_owned(),
            Some("ItemAdded".to_owned()),
            Some(2)
        )]
    );
    check_descriptor("shop", &evolved, &lock, LockMode::Update).expect("runs");
    let current = check_descriptor("shop", &evolved, &lock, LockMode::Check).expect("runs");
    assert!(current.findings.is_empty(), "{}", current.rendered);

    // Edited in place and deleted: denied, located in the descriptor, and not locked.
    let lock_text = std::fs::read_to_string(&lock).expect("reads the lock");
    let denied = check_descriptor("shop", &broken, &lock, LockMode::Update).expect("runs");
    let found = codes(&denied);
    assert!(
        found.contains(&(
            "version_modified".to_owned(),
            Some("ItemAdded".to_owned()),
            Some(1)
        )),
        "{found:?}"
    );
    assert!(
        found.contains(&(
            "event_removed".to_owned(),
            Some("CartClosed".to_owned()),
            None
        )),
        "{found:?}"
    );
    assert!(denied.has_deny());
    assert_eq!(denied.appended, 0);
    assert_eq!(std::fs::read_to_string(&lock).expect("reads"), lock_text);
    assert!(
        denied.rendered.contains("shop (derive descriptor)"),
        "{}",
        denied.rendered
    );
}

#[test]
#[should_panic(expected = "would strand stored events")]
fn assert_compatible_fails_a_test_on_a_breaking_change() {
    let dir = tempfile::tempdir().expect("temp dir");
    let lock = dir.path().join("esdsl.lock");
    let before = SchemaDescriptor::of::<shop::before::Cart>().to_toml();
    esdsl_schema::evolve::check_descriptor(
        "shop",
        &before,
        &lock,
        esdsl_schema::evolve::LockMode::Update,
    )
    .expect("locks");
    esdsl_schema::evolve::assert_compatible("shop", &before, &lock);
    let broken = SchemaDescriptor::of::<shop::broken::Cart>().to_toml();
    esdsl_schema::evolve::assert_compatible("shop", &broken, &lock);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// Whatever text a doc comment or a string default holds, the descriptor's schema file reads
    /// back to the same text (escaping is total).
    #[test]
    fn descriptor_text_round_trips(doc in "\\PC*", value in ".*", control in "[\\x00-\\x1f\\x7f\"\\\\]{0,8}") {
        use esdsl_runtime::describe::{AggregateDescriptor, EventDescriptor, FieldDescriptor, FieldType};
        let doc = format!("{doc}{control}");
        let mut descriptor = SchemaDescriptor::new();
        descriptor.aggregate(AggregateDescriptor { name: "Cart".into(), id: "uuid", doc: Some(doc.clone()) });
        let field = |default: Option<serde_json::Value>| FieldDescriptor {
            name: "label".into(),
            ty: FieldType::String,
            default,
            renamed_from: None,
            doc: Some(doc.clone()),
        };
        descriptor.event(EventDescriptor {
            name: "Labelled".into(),
            aggregate: "Cart".into(),
            doc: Some(doc.clone()),
            renamed_from: Vec::new(),
            retired: false,
            manual_upcasts: Vec::new(),
            compatibility: "backward".into(),
            codecs: Vec::new(),
            versions: vec![vec![], vec![field(Some(serde_json::Value::String(value.clone())))]],
        });
        let text = descriptor.to_toml();
        let schema = esdsl_schema::parse_schema("derive", &text)
            .unwrap_or_else(|report| panic!("{}\n{text}", report.render()));
        proptest::prop_assert_eq!(schema.aggregates[0].doc.as_deref(), Some(doc.as_str()));
        proptest::prop_assert_eq!(schema.events[0].doc.as_deref(), Some(doc.as_str()));
        let field = &schema.events[0].versions[1].fields[0];
        proptest::prop_assert_eq!(field.doc.as_deref(), Some(doc.as_str()));
        proptest::prop_assert_eq!(
            field.default.clone(),
            Some(esdsl_schema::model::Value::String(value))
        );
    }
}

/// Two record types of one name in different modules: both reach the descriptor, and reading
/// it reports the clash instead of one hiding the other from the lock.
mod same_name {
    use esdsl_runtime::serde::{Deserialize, Serialize};
    use esdsl_runtime::{Event, Record};

    pub(super) mod old {
        use super::*;
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
        #[serde(crate = "esdsl_runtime::serde")]
        pub(crate) struct Address {
            pub(crate) street: String,
        }
    }

    pub(super) mod new {
        use super::*;
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
        #[serde(crate = "esdsl_runtime::serde")]
        pub(crate) struct Address {
            pub(crate) street: u64,
        }
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
    #[serde(crate = "esdsl_runtime::serde")]
    pub(super) struct MovedV1 {
        pub(super) to: old::Address,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
    #[serde(crate = "esdsl_runtime::serde")]
    pub(super) struct Moved {
        pub(super) to: new::Address,
    }

    impl esdsl_runtime::Upcast<MovedV1> for Moved {
        fn upcast(_: MovedV1) -> Self {
            Moved {
                to: new::Address { street: 0 },
            }
        }
    }

    #[derive(Debug, Clone, PartialEq, Event)]
    #[event(aggregate = "Customer")]
    pub(super) enum CustomerEvent {
        #[event(history(MovedV1), upcast(v2 = manual))]
        Moved(Moved),
    }
}

#[test]
fn two_types_of_one_name_are_a_clash_not_a_loss() {
    let descriptor = SchemaDescriptor::of::<same_name::CustomerEvent>();
    assert_eq!(descriptor.records.len(), 2, "{descriptor:?}");
    let text = descriptor.to_toml();
    let report = esdsl_schema::parse_schema("derive", &text).expect_err("the clash is an error");
    let rendered = report.render();
    assert!(
        rendered.contains("duplicate key") && rendered.contains("[types.Address]"),
        "{rendered}"
    );
}
