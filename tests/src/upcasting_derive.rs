//! `schemas/upcasting.toml`, declared with derives: every field-level upcast rule of the schema
//! language, and a manual step. `tests/it/derive.rs` checks it against the schema file.

use std::collections::BTreeMap;

use esdsl_runtime::chrono::{DateTime, Utc};
use esdsl_runtime::serde::{Deserialize, Serialize};
use esdsl_runtime::uuid::Uuid;
use esdsl_runtime::{Aggregate, Enum, Event, Record};

/// A sensor that reports readings.
#[derive(Debug, Default, Aggregate)]
#[aggregate(id = string, events = SensorEvent)]
pub struct Sensor {}

#[derive(Debug, Default, Aggregate)]
#[aggregate(id = u64, events = CounterEvent)]
pub struct Counter {}

#[derive(Debug, Default, Aggregate)]
#[aggregate(id = "i64", events = LedgerEvent)]
pub struct Ledger {}

/// A sensor's events.
#[derive(Debug, Clone, PartialEq, Event)]
#[event(aggregate = "Sensor")]
pub enum SensorEvent {
    /// A sensor reported a reading.
    #[event(
        history(v1::Reading, v2::Reading, v3::Reading),
        upcast(v4 = manual)
    )]
    Reading(v4::Reading),
}

/// A counter's events.
#[derive(Debug, Clone, PartialEq, Event)]
#[event(aggregate = "Counter")]
pub enum CounterEvent {
    Reset(Reset),
}

/// A ledger's events.
#[derive(Debug, Clone, PartialEq, Event)]
#[event(aggregate = "Ledger")]
pub enum LedgerEvent {
    Posted(Posted),
}

/// `Reset` v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
#[serde(crate = "esdsl_runtime::serde")]
pub struct Reset {}

/// `Posted` v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
#[serde(crate = "esdsl_runtime::serde")]
pub struct Posted {
    pub cents: i64,
}

/// A place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
#[serde(crate = "esdsl_runtime::serde")]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
    pub tags: BTreeMap<String, String>,
}

/// A unit of measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Enum)]
#[serde(crate = "esdsl_runtime::serde", rename_all = "kebab-case")]
pub enum Unit {
    Celsius,
    Fahrenheit,
    KelvinScale,
}

/// Version 1.
pub mod v1 {
    use super::*;

    /// `Reading` v1.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
    #[serde(crate = "esdsl_runtime::serde")]
    pub struct Reading {
        pub label: String,
        pub a: i32,
        pub b: u32,
        pub c: u32,
        pub d: i32,
        pub e: u32,
        pub f: i64,
        pub g: u64,
        pub h: String,
        pub samples: Vec<i32>,
        pub peak: Option<i32>,
        pub by_channel: BTreeMap<String, i32>,
        pub wrapped: i32,
        pub title: String,
        pub obsolete: bool,
        pub nested: Vec<Option<u32>>,
    }
}

/// Version 2: every automatic rule.
pub mod v2 {
    use super::*;

    /// `Reading` v2.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
    #[serde(crate = "esdsl_runtime::serde")]
    #[record(upcast_from = super::v1::Reading)]
    pub struct Reading {
        pub label: String,
        pub a: i64,
        pub b: u64,
        pub c: i64,
        pub d: f64,
        pub e: f64,
        pub f: f64,
        pub g: f64,
        pub h: Option<String>,
        pub samples: Vec<i64>,
        pub peak: Option<i64>,
        pub by_channel: BTreeMap<String, i64>,
        pub wrapped: Option<i64>,
        /// Was `title` in v1.
        #[record(renamed_from = "title")]
        pub name: String,
        #[record(renamed_from = "title")]
        pub heading: String,
        pub nested: Vec<Option<u64>>,
        #[record(default)]
        pub note: Option<String>,
        #[record(default = true)]
        pub enabled: bool,
        #[record(default = -3)]
        pub offset: i32,
        #[record(default = 1.5)]
        pub scale: f64,
        #[record(default = Unit::Celsius)]
        pub unit: Unit,
        #[record(default = vec!["raw".into(), "v1".into()])]
        pub tags: Vec<String>,
        #[record(default = BTreeMap::from([("low".into(), 1), ("high".into(), 9)]))]
        pub limits: BTreeMap<String, u32>,
        #[record(default = Some("none given".into()))]
        pub fallback: Option<String>,
        #[record(default = Uuid::from_u128(0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8))]
        pub site: Uuid,
        #[record(default = DateTime::from_timestamp(1_577_934_245, 0).unwrap_or_default())]
        pub calibrated_at: DateTime<Utc>,
        #[record(default = vec![222, 173, 190, 239])]
        pub magic: Vec<u8>,
        #[record(default)]
        pub location: Option<Location>,
    }
}

/// Version 3: one more widening.
pub mod v3 {
    use super::*;

    /// `Reading` v3.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
    #[serde(crate = "esdsl_runtime::serde")]
    #[record(upcast_from = super::v2::Reading)]
    pub struct Reading {
        pub label: String,
        pub a: i64,
        pub b: u64,
        pub c: i64,
        pub d: f64,
        pub e: f64,
        pub f: f64,
        pub g: f64,
        pub h: Option<String>,
        pub samples: Vec<i64>,
        pub peak: Option<i64>,
        pub by_channel: BTreeMap<String, i64>,
        pub wrapped: Option<i64>,
        pub name: String,
        pub nested: Vec<Option<u64>>,
        pub note: Option<String>,
        pub enabled: bool,
        pub offset: i64,
        pub scale: f64,
        pub unit: Unit,
        pub tags: Vec<String>,
        pub limits: BTreeMap<String, u64>,
        pub fallback: Option<String>,
        pub site: Uuid,
        pub calibrated_at: DateTime<Utc>,
        pub magic: Vec<u8>,
        pub location: Option<Location>,
    }
}

/// Version 4: written by hand.
pub mod v4 {
    use super::*;

    /// `Reading` v4.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Record)]
    #[serde(crate = "esdsl_runtime::serde")]
    pub struct Reading {
        pub label: String,
        pub total: f64,
    }

    /// The hand-written v3 -> v4 step, as for the schema file: the sum of the numeric fields.
    impl esdsl_runtime::Upcast<super::v3::Reading> for Reading {
        fn upcast(old: super::v3::Reading) -> Self {
            Self {
                label: old.label,
                total: old.a as f64 + old.b as f64 + old.d + old.scale,
            }
        }
    }
}
