//! The example schemas, expanded twice: once by the `schema!` macro and once from the files
//! `cargo esdsl generate` wrote into `tests/generated/`. The integration tests in `tests/it`
//! check that both behave the same and that upcasting follows every rule.
#![deny(warnings)]

pub mod bank_derive;
pub mod upcasting_derive;

/// `schemas/bank.toml` through the `schema!` macro.
pub mod bank {
    esdsl_runtime::schema!("../schemas/bank.toml");

    /// The hand-written v2 -> v3 step: dollars to cents.
    impl esdsl_runtime::Upcast<v2::MoneyDeposited> for v3::MoneyDeposited {
        fn upcast(old: v2::MoneyDeposited) -> Self {
            Self {
                amount_cents: old.amount.saturating_mul(100),
                memo: old.memo,
            }
        }
    }
}

/// `schemas/bank.toml` through `cargo esdsl generate` (the checked-in `tests/generated/bank.rs`).
pub mod bank_generated {
    include!("../generated/bank.rs");

    impl esdsl_runtime::Upcast<v2::MoneyDeposited> for v3::MoneyDeposited {
        fn upcast(old: v2::MoneyDeposited) -> Self {
            Self {
                amount_cents: old.amount.saturating_mul(100),
                memo: old.memo,
            }
        }
    }
}

/// `schemas/upcasting.toml` through the `schema!` macro.
pub mod upcasting {
    esdsl_runtime::schema!("../schemas/upcasting.toml");

    /// The hand-written v3 -> v4 step: the sum of the numeric fields.
    impl esdsl_runtime::Upcast<v3::Reading> for v4::Reading {
        fn upcast(old: v3::Reading) -> Self {
            Self {
                label: old.label,
                total: old.a as f64 + old.b as f64 + old.d + old.scale,
            }
        }
    }
}

/// `schemas/upcasting.toml` through `cargo esdsl generate`.
pub mod upcasting_generated {
    include!("../generated/upcasting.rs");

    impl esdsl_runtime::Upcast<v3::Reading> for v4::Reading {
        fn upcast(old: v3::Reading) -> Self {
            Self {
                label: old.label,
                total: old.a as f64 + old.b as f64 + old.d + old.scale,
            }
        }
    }
}
