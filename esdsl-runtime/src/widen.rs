//! The conversions a derived field-level upcast may make: the schema's widening table
//! (`Conversion::between` in `esdsl-schema`), expressed as trait impls so the compiler picks
//! the conversion from the two field types.

use std::collections::BTreeMap;

use crate::event::Upcast;

/// Builds a field of a newer version from the same field of the version before.
///
/// Implemented for the same type, integer widenings (`i32`->`i64`, `u32`->`u64`, `u32`->`i64`,
/// any integer->`f64`), `T`->`Option<T>`, and the same rules inside `Option`, `Vec` and
/// `BTreeMap<String, _>`: exactly the automatic upcasts of a schema file.
#[diagnostic::on_unimplemented(
    message = "no automatic upcast from `{From}` to `{Self}`",
    label = "this field's type changed in a way the field-level upcast cannot convert",
    note = "automatic steps keep the type, widen an integer (i32->i64, u32->u64, u32->i64, \
            any integer->f64), wrap it in `Option`, or do the same inside `Option`, `Vec` and \
            `BTreeMap`; for anything else write the step by hand: `upcast(vN = manual)` on the \
            event variant and `impl esdsl_runtime::Upcast<Old> for New`"
)]
pub trait Widen<From> {
    /// Converts the older field's value.
    fn widen(from: From) -> Self;
}

/// [`Widen`] from the side of the older value. Generated code calls
/// `<_ as WidenInto<New>>::widen_into(old)`, so the compiler takes the older type from the
/// value and a change the table does not allow is reported as a missing `Widen` impl, with
/// its note, rather than as a type mismatch.
pub trait WidenInto<T> {
    /// Converts the older field's value.
    fn widen_into(self) -> T;
}

impl<F, T: Widen<F>> WidenInto<T> for F {
    fn widen_into(self) -> T {
        T::widen(self)
    }
}

/// Marks a version struct whose step from `From` was derived field by field
/// (`#[record(upcast_from = ...)]`), so that `#[derive(Event)]` can tell a derived step from a
/// hand-written one.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no field-level upcast from `{From}`",
    label = "the event lists this step as derived field by field",
    note = "derive `esdsl_runtime::Record` on `{Self}` with `#[record(upcast_from = {From})]`, \
            or name how the step upcasts on the variant: `upcast(vN = from)`, \
            `upcast(vN = with(path::to::function))` or `upcast(vN = manual)`"
)]
pub trait FieldUpcast<From>: Upcast<From> {}

macro_rules! identity {
    ($($ty:ty),* $(,)?) => {
        $(
            impl Widen<$ty> for $ty {
                fn widen(from: $ty) -> $ty {
                    from
                }
            }
            impl<U: Widen<$ty>> Widen<$ty> for Option<U> {
                fn widen(from: $ty) -> Option<U> {
                    Some(U::widen(from))
                }
            }
        )*
    };
}

identity!(
    bool,
    i32,
    i64,
    u32,
    u64,
    f64,
    u8,
    String,
    uuid::Uuid,
    chrono::DateTime<chrono::Utc>,
);

macro_rules! widen {
    ($($from:ty => $to:ty: |$x:ident| $body:expr),* $(,)?) => {
        $(impl Widen<$from> for $to {
            fn widen($x: $from) -> $to {
                $body
            }
        })*
    };
}

widen! {
    i32 => i64: |x| i64::from(x),
    u32 => u64: |x| u64::from(x),
    u32 => i64: |x| i64::from(x),
    i32 => f64: |x| f64::from(x),
    u32 => f64: |x| f64::from(x),
    // Lossy, as in a schema file (the evolution check warns: `field_type_lossy`).
    i64 => f64: |x| x as f64,
    u64 => f64: |x| x as f64,
}

impl<T, U: Widen<T>> Widen<Option<T>> for Option<U> {
    fn widen(from: Option<T>) -> Option<U> {
        from.map(U::widen)
    }
}

impl<T, U: Widen<T>> Widen<Vec<T>> for Vec<U> {
    fn widen(from: Vec<T>) -> Vec<U> {
        from.into_iter().map(U::widen).collect()
    }
}

impl<T, U: Widen<T>> Widen<BTreeMap<String, T>> for BTreeMap<String, U> {
    fn widen(from: BTreeMap<String, T>) -> BTreeMap<String, U> {
        from.into_iter().map(|(k, v)| (k, U::widen(v))).collect()
    }
}

impl<T, U: Widen<Vec<T>>> Widen<Vec<T>> for Option<U> {
    fn widen(from: Vec<T>) -> Option<U> {
        Some(U::widen(from))
    }
}

impl<T, U: Widen<BTreeMap<String, T>>> Widen<BTreeMap<String, T>> for Option<U> {
    fn widen(from: BTreeMap<String, T>) -> Option<U> {
        Some(U::widen(from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert<F, T: Widen<F>>(from: F) -> T {
        T::widen(from)
    }

    #[test]
    fn the_widening_table() {
        assert_eq!(convert::<i32, i64>(-3), -3);
        assert_eq!(convert::<u32, i64>(u32::MAX), i64::from(u32::MAX));
        assert_eq!(convert::<u64, f64>(2), 2.0);
        assert_eq!(convert::<i32, Option<i64>>(5), Some(5));
        assert_eq!(
            convert::<Vec<i32>, Option<Vec<f64>>>(vec![1, 2]),
            Some(vec![1.0, 2.0])
        );
        assert_eq!(
            convert::<Option<u32>, Option<Option<u64>>>(Some(1)),
            Some(Some(1))
        );
        let map = BTreeMap::from([("a".to_owned(), 1u32)]);
        assert_eq!(
            convert::<_, BTreeMap<String, u64>>(map),
            BTreeMap::from([("a".to_owned(), 1u64)])
        );
    }
}
