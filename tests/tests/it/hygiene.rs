//! Generated code uses absolute paths only: it compiles with the prelude's names shadowed and
//! under `#![deny(warnings)]` (serde's `test_gen.rs` does the same).

#[deny(warnings)]
#[allow(dead_code, non_camel_case_types)]
mod shadowed {
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
