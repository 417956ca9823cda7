//! The bank example: typed events generated from `schemas/bank.toml`, written with a codec and
//! read back through the upcasters.

use esdsl_runtime::{Codec, Decoded, Event};

mod bank {
    esdsl_runtime::schema!("../../schemas/bank.toml");

    /// `manual_upcasts = [3]`: the v2 -> v3 step of `MoneyDeposited` turns dollars into cents.
    impl esdsl_runtime::Upcast<v2::MoneyDeposited> for v3::MoneyDeposited {
        fn upcast(old: v2::MoneyDeposited) -> Self {
            Self {
                amount_cents: old.amount.saturating_mul(100),
                memo: old.memo,
            }
        }
    }
}

use bank::{AccountEvent, AccountOpened, Currency, MoneyDeposited};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let account = bank::AccountId::now_v7();
    println!("account {account}");

    let events: Vec<AccountEvent> = vec![
        AccountOpened {
            owner: "Ada".into(),
            currency: Currency::Eur,
        }
        .into(),
        MoneyDeposited {
            amount_cents: 12_50,
            memo: Some("salary".into()),
        }
        .into(),
    ];
    for event in &events {
        let bytes = event.encode(Codec::Json)?;
        println!(
            "write {} v{}: {}",
            event.event_type(),
            event.event_version(),
            String::from_utf8_lossy(&bytes)
        );
    }

    // Payloads stored years ago, in older shapes and under an old name.
    let stored: [(&str, u32, &[u8]); 4] = [
        ("MoneyDeposited", 1, br#"{"amount":40}"#),
        ("AccountOpened", 1, br#"{"owner":"Grace"}"#),
        ("AccountShut", 1, b"{}"),
        ("LegacyAudit", 1, br#"{"note":"checked"}"#),
    ];
    for (event_type, version, payload) in stored {
        match AccountEvent::decode(event_type, version, payload, Codec::Json)? {
            Decoded::Event(event) => println!("read {event_type} v{version} as {event:?}"),
            Decoded::Skipped => println!("skip {event_type} v{version} (retired)"),
        }
    }

    match AccountEvent::decode("MoneyDeposited", 9, b"{}", Codec::Json) {
        Ok(event) => println!("unexpected: {event:?}"),
        Err(error) => println!("a version from the future is a typed error: {error}"),
    }
    Ok(())
}
