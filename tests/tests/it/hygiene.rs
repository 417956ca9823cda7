//! Generated code uses absolute paths only: it compiles with the prelude's names shadowed and
//! under `#![deny(warnings)]` (serde's `test_gen.rs` does the same).

/// Items that shadow the prelude, `core`, `serde`, `esdsl_runtime` and the traits generated
/// code implements: code that still compiles next to them names everything by absolute path.
macro_rules! shadow_prelude {
    () => {
        type Result = ();
        type Option = ();
        type String = ();
        type Vec = ();
        type Box = ();
        struct Ok;
        struct Err;
        struct Some;
        struct None;
        mod core {}
        mod serde {}
        mod esdsl_runtime {}
        trait Into {}
        trait From {}
        trait Default {}
        trait Debug {}
        trait Clone {}
        trait Widen {}
        trait Upcast {}
    };
}

#[deny(warnings)]
#[allow(dead_code, non_camel_case_types)]
mod shadowed {
    shadow_prelude!();

    ::esdsl_runtime::schema!("../schemas/upcasting.toml");

    impl ::esdsl_runtime::Upcast<v3::Reading> for v4::Reading {
        fn upcast(old: v3::Reading) -> Self {
            Self {
                label: old.label,
                total: old.d,
            }
        }
    }
}

#[test]
fn generated_code_compiles_with_shadowed_names_and_still_decodes() {
    use esdsl_runtime::{Codec, Event};
    let decoded = shadowed::SensorEvent::decode("Posted", 1, br#"{"cents":5}"#, Codec::Json);
    assert!(decoded.is_err(), "`Posted` belongs to Ledger, not Sensor");
    let decoded = shadowed::LedgerEvent::decode("Posted", 1, br#"{"cents":5}"#, Codec::Json)
        .expect("decodes")
        .into_event();
    assert_eq!(
        decoded,
        ::core::option::Option::Some(shadowed::LedgerEvent::Posted(shadowed::Posted { cents: 5 }))
    );
}

/// The derives' expansions, too: the prelude's names, `core`, `serde` and `esdsl_runtime`
/// shadowed, the user's own code naming everything by absolute path.
#[deny(warnings)]
#[allow(dead_code, non_camel_case_types)]
mod shadowed_derives {
    shadow_prelude!();

    #[derive(::core::fmt::Debug, ::core::default::Default, ::esdsl_runtime::Aggregate)]
    #[aggregate(id = string, events = TankEvent, command = Fill, error = Full, snapshot_version = 2)]
    #[derive(::esdsl_runtime::serde::Serialize, ::esdsl_runtime::serde::Deserialize)]
    #[serde(crate = "::esdsl_runtime::serde")]
    pub(super) struct Tank {
        level: u64,
    }

    #[derive(::core::fmt::Debug)]
    pub(super) struct Fill(pub(super) u64);

    #[derive(::core::fmt::Debug)]
    pub(super) struct Full;

    impl ::core::fmt::Display for Full {
        fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
            f.write_str("full")
        }
    }

    impl ::std::error::Error for Full {}

    impl Tank {
        fn apply(&mut self, event: &TankEvent) {
            let TankEvent::Filled(filled) = event;
            self.level += filled.litres;
        }

        fn handle(
            &self,
            command: &Fill,
        ) -> ::core::result::Result<::std::vec::Vec<TankEvent>, Full> {
            ::core::result::Result::Ok(::std::vec![
                Filled {
                    litres: command.0,
                    unit: Unit::Litre,
                    note: ::core::option::Option::None,
                }
                .into()
            ])
        }
    }

    #[derive(
        ::core::fmt::Debug, ::core::clone::Clone, ::core::cmp::PartialEq, ::esdsl_runtime::Event,
    )]
    #[event(aggregate = "Tank", retired(name = "Drained", versions(FilledV1)))]
    pub(super) enum TankEvent {
        #[event(history(FilledV1))]
        Filled(Filled),
    }

    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::esdsl_runtime::serde::Serialize,
        ::esdsl_runtime::serde::Deserialize,
        ::esdsl_runtime::Record,
    )]
    #[serde(crate = "::esdsl_runtime::serde")]
    pub(super) struct FilledV1 {
        litres: u32,
    }

    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::esdsl_runtime::serde::Serialize,
        ::esdsl_runtime::serde::Deserialize,
        ::esdsl_runtime::Record,
    )]
    #[serde(crate = "::esdsl_runtime::serde")]
    #[record(upcast_from = FilledV1)]
    pub(super) struct Filled {
        pub(super) litres: u64,
        #[record(default = Unit::Litre)]
        pub(super) unit: Unit,
        #[record(default)]
        pub(super) note: ::core::option::Option<::std::string::String>,
    }

    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::marker::Copy,
        ::core::cmp::PartialEq,
        ::esdsl_runtime::serde::Serialize,
        ::esdsl_runtime::serde::Deserialize,
        ::esdsl_runtime::Enum,
    )]
    #[serde(crate = "::esdsl_runtime::serde", rename_all = "lowercase")]
    pub(super) enum Unit {
        Litre,
    }
}

#[test]
fn derived_code_compiles_with_shadowed_names_and_still_decodes() {
    use esdsl_runtime::{Aggregate, Codec, Event};
    let decoded = shadowed_derives::TankEvent::decode("Filled", 1, br#"{"litres":5}"#, Codec::Json)
        .expect("decodes")
        .into_event()
        .expect("an event");
    let mut tank = shadowed_derives::Tank::default();
    tank.apply(&decoded);
    let events = tank.handle(&shadowed_derives::Fill(2)).expect("accepted");
    assert_eq!(events.len(), 1);
    assert_eq!(
        esdsl_runtime::describe::SchemaDescriptor::of::<shadowed_derives::Tank>().events[1].name,
        "Drained"
    );
}

/// Without the prelude at all.
#[no_implicit_prelude]
#[allow(dead_code)]
mod without_prelude {
    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::esdsl_runtime::serde::Serialize,
        ::esdsl_runtime::serde::Deserialize,
        ::esdsl_runtime::Record,
    )]
    #[serde(crate = "::esdsl_runtime::serde")]
    pub(super) struct CountedV1 {
        n: u32,
    }

    #[derive(
        ::core::fmt::Debug,
        ::core::clone::Clone,
        ::core::cmp::PartialEq,
        ::esdsl_runtime::serde::Serialize,
        ::esdsl_runtime::serde::Deserialize,
        ::esdsl_runtime::Record,
    )]
    #[serde(crate = "::esdsl_runtime::serde")]
    #[record(upcast_from = CountedV1)]
    pub(super) struct Counted {
        pub(super) n: u64,
        #[record(default = ::core::option::Option::Some(::std::borrow::ToOwned::to_owned("x")))]
        pub(super) note: ::core::option::Option<::std::string::String>,
    }

    #[derive(
        ::core::fmt::Debug, ::core::clone::Clone, ::core::cmp::PartialEq, ::esdsl_runtime::Event,
    )]
    #[event(aggregate = "Counter")]
    pub(super) enum CounterEvent {
        #[event(history(CountedV1))]
        Counted(Counted),
    }

    #[derive(::core::fmt::Debug, ::core::default::Default, ::esdsl_runtime::Aggregate)]
    #[aggregate(id = u64, events = CounterEvent)]
    pub(super) struct Counter {}
}

#[test]
fn derived_code_compiles_without_the_prelude() {
    use esdsl_runtime::{Codec, Event};
    let decoded = without_prelude::CounterEvent::decode("Counted", 1, br#"{"n":7}"#, Codec::Json)
        .expect("decodes")
        .into_event()
        .expect("an event");
    let without_prelude::CounterEvent::Counted(counted) = decoded;
    assert_eq!((counted.n, counted.note.as_deref()), (7, Some("x")));
}
