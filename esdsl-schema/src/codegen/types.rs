//! Field types, default values, record types and enums.

use heck::ToUpperCamelCase;
use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote};

use crate::model::{EnumType, Field, RecordType, Type, Value};

use super::{doc_attrs, serde_attrs};

/// Where generated code stands, which decides how it names the schema's named types.
#[derive(Clone, Copy)]
pub(crate) enum Scope {
    /// The module the schema expands into.
    Root,
    /// A version module `vN` inside it.
    Version,
}

impl Scope {
    fn prefix(self) -> TokenStream {
        match self {
            Scope::Root => quote!(self::),
            Scope::Version => quote!(super::),
        }
    }
}

/// The Rust type of a field type.
///
/// Written into one token stream front to back, generics first, then the innermost type, then
/// the closing `>`s: interpolating each level into the next (`quote!(Vec<#inner>)`) would copy
/// the inner tokens once per level, quadratic in the depth.
pub(crate) fn rust_type(ty: &Type, scope: Scope) -> TokenStream {
    let mut tokens = TokenStream::new();
    let mut open = 0;
    let mut ty = ty;
    loop {
        let inner = match ty {
            Type::Option(inner) => {
                tokens.extend(quote!(::core::option::Option<));
                inner
            }
            Type::List(inner) => {
                tokens.extend(quote!(::std::vec::Vec<));
                inner
            }
            Type::Map(inner) => {
                tokens.extend(quote!(::std::collections::BTreeMap < ::std::string::String,));
                inner
            }
            leaf => {
                tokens.extend(leaf_type(leaf, scope));
                break;
            }
        };
        open += 1;
        ty = inner;
    }
    for _ in 0..open {
        tokens.extend(quote!(>));
    }
    tokens
}

/// The Rust type of a field type that is not generic.
fn leaf_type(ty: &Type, scope: Scope) -> TokenStream {
    match ty {
        Type::Bool => quote!(bool),
        Type::I32 => quote!(i32),
        Type::I64 => quote!(i64),
        Type::U32 => quote!(u32),
        Type::U64 => quote!(u64),
        Type::F64 => quote!(f64),
        Type::String => quote!(::std::string::String),
        Type::Bytes => quote!(::std::vec::Vec<u8>),
        Type::Uuid => quote!(::esdsl_runtime::__private::uuid::Uuid),
        Type::Timestamp => quote!(
            ::esdsl_runtime::__private::chrono::DateTime<::esdsl_runtime::__private::chrono::Utc>
        ),
        Type::Record(name) | Type::Enum(name) => {
            let prefix = scope.prefix();
            let ident = format_ident!("{}", name);
            quote!(#prefix #ident)
        }
        // `rust_type` writes the generic ones.
        Type::Option(_) | Type::List(_) | Type::Map(_) => rust_type(ty, scope),
    }
}

/// An expression of type `ty` with the given (already type-checked) value.
pub(crate) fn value_expr(ty: &Type, value: &Value, scope: Scope) -> TokenStream {
    match (ty, value) {
        (Type::Bool, Value::Bool(b)) => quote!(#b),
        (Type::I32, Value::Int(n)) => int_literal(*n, Literal::i32_suffixed),
        (Type::I64, Value::Int(n)) => int_literal(*n, Literal::i64_suffixed),
        (Type::U32, Value::Int(n)) => int_literal(*n, Literal::u32_suffixed),
        (Type::U64, Value::Int(n)) => int_literal(*n, Literal::u64_suffixed),
        (Type::F64, Value::Float(f)) => {
            if f.is_nan() {
                quote!(f64::NAN)
            } else if f.is_infinite() && *f > 0.0 {
                quote!(f64::INFINITY)
            } else if f.is_infinite() {
                quote!(f64::NEG_INFINITY)
            } else {
                let lit = Literal::f64_suffixed(*f);
                quote!(#lit)
            }
        }
        (Type::String, Value::String(s)) => quote!(::std::string::String::from(#s)),
        (Type::Bytes, Value::Bytes(bytes)) => {
            let bytes = bytes.iter().map(|b| Literal::u8_suffixed(*b));
            quote!(::std::vec::Vec::from([#(#bytes),*]))
        }
        (Type::Uuid, Value::Uuid(uuid)) => {
            let bits = Literal::u128_suffixed(uuid.as_u128());
            quote!(::esdsl_runtime::__private::uuid::Uuid::from_u128(#bits))
        }
        (Type::Timestamp, Value::Timestamp { secs, nanos }) => {
            quote!(::esdsl_runtime::__private::timestamp(#secs, #nanos))
        }
        (Type::Option(inner), Value::Some(value)) => {
            let value = value_expr(inner, value, scope);
            quote!(::core::option::Option::Some(#value))
        }
        (Type::List(inner), Value::List(items)) => {
            let items = items.iter().map(|item| value_expr(inner, item, scope));
            quote!(::std::vec::Vec::from([#(#items),*]))
        }
        (Type::Map(inner), Value::Map(entries)) => {
            let entries = entries.iter().map(|(key, value)| {
                let value = value_expr(inner, value, scope);
                quote!((::std::string::String::from(#key), #value))
            });
            quote!(::std::collections::BTreeMap::from([#(#entries),*]))
        }
        (Type::Enum(name), Value::Variant(variant)) => {
            let prefix = scope.prefix();
            let ty = format_ident!("{}", name);
            let variant = format_ident!("{}", variant.to_upper_camel_case());
            quote!(#prefix #ty::#variant)
        }
        // Validation only lets through values that fit their type.
        _ => quote!(::core::default::Default::default()),
    }
}

fn int_literal<T: TryFrom<i128>>(n: i128, make: fn(T) -> Literal) -> TokenStream {
    match T::try_from(n) {
        Ok(n) => {
            let lit = make(n);
            quote!(#lit)
        }
        Err(_) => quote!(::core::default::Default::default()),
    }
}

fn fields(fields: &[Field], scope: Scope) -> Vec<TokenStream> {
    fields
        .iter()
        .map(|field| {
            let name = format_ident!("{}", field.name.text);
            let ty = rust_type(&field.ty, scope);
            let docs = doc_attrs(field.doc.as_deref());
            quote! {
                #docs
                pub #name: #ty
            }
        })
        .collect()
}

pub(crate) fn record(record: &RecordType) -> TokenStream {
    let name = format_ident!("{}", record.name.text);
    let default_doc = format!("The `{}` record type.", record.name.text);
    let docs = doc_attrs(Some(record.doc.as_deref().unwrap_or(&default_doc)));
    data_struct(&docs, &name, &record.fields, Scope::Root)
}

/// A struct of named fields, as a record type and each event version are generated: `docs`,
/// the derives of [`Derives::Data`], the serde attributes, then the fields.
pub(crate) fn data_struct(
    docs: &TokenStream,
    name: &Ident,
    fields: &[Field],
    scope: Scope,
) -> TokenStream {
    let derive = derive_attr(Derives::Data);
    let serde = serde_attrs();
    let fields = self::fields(fields, scope);
    quote! {
        #docs
        #derive
        #serde
        pub struct #name {
            #(#fields,)*
        }
    }
}

/// What a generated type derives besides `Debug`, `Clone`, `PartialEq` and serde's
/// `Serialize` and `Deserialize`.
#[derive(Clone, Copy)]
pub(crate) enum Derives {
    /// A struct of fields (a record, an event version): nothing more.
    Data,
    /// A value compared and ordered as a whole (an enum, an aggregate id): `Eq`, `Hash`,
    /// `PartialOrd` and `Ord`, and `Copy` when `copy` is set.
    Value {
        /// Whether the type is `Copy`.
        copy: bool,
    },
}

/// The `#[derive(..)]` attribute of a generated type, with absolute paths.
pub(crate) fn derive_attr(derives: Derives) -> TokenStream {
    let (copy, ordered) = match derives {
        Derives::Data => (false, false),
        Derives::Value { copy } => (copy, true),
    };
    let copy = copy.then(|| quote!(::core::marker::Copy,));
    let ordered = ordered.then(|| {
        quote! {
            ::core::cmp::Eq,
            ::core::hash::Hash,
            ::core::cmp::PartialOrd,
            ::core::cmp::Ord,
        }
    });
    quote! {
        #[derive(
            ::core::fmt::Debug,
            ::core::clone::Clone,
            #copy
            ::core::cmp::PartialEq,
            #ordered
            ::esdsl_runtime::__private::serde::Serialize,
            ::esdsl_runtime::__private::serde::Deserialize,
        )]
    }
}

pub(crate) fn enumeration(enumeration: &EnumType) -> TokenStream {
    let name = format_ident!("{}", enumeration.name.text);
    let default_doc = format!("The `{}` enum.", enumeration.name.text);
    let docs = doc_attrs(Some(enumeration.doc.as_deref().unwrap_or(&default_doc)));
    let serde = serde_attrs();
    let stored: Vec<&str> = enumeration
        .variants
        .iter()
        .map(|v| v.text.as_str())
        .collect();
    let idents: Vec<_> = stored
        .iter()
        .map(|v| format_ident!("{}", v.to_upper_camel_case()))
        .collect();
    let variant_docs = stored
        .iter()
        .map(|v| doc_attrs(Some(&format!("Stored as `{v}`."))));
    let count = stored.len();
    let derive = derive_attr(Derives::Value { copy: true });
    quote! {
        #docs
        #derive
        #serde
        pub enum #name {
            #(
                #variant_docs
                #[serde(rename = #stored)]
                #idents,
            )*
        }

        impl #name {
            /// Every variant, in declaration order.
            pub const ALL: [Self; #count] = [#(Self::#idents),*];

            /// The variant's stored name.
            pub const fn as_str(&self) -> &'static str {
                match self {
                    #(Self::#idents => #stored,)*
                }
            }
        }

        #[automatically_derived]
        impl ::core::fmt::Display for #name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Scope, rust_type};
    use crate::model::Type;

    /// Builds `list<option<map<...u32...>>>`, cycling through the generics, `depth` deep.
    fn nested(depth: usize) -> Type {
        (0..depth).fold(Type::U32, |ty, level| match level % 3 {
            0 => Type::Map(Box::new(ty)),
            1 => Type::Option(Box::new(ty)),
            _ => Type::List(Box::new(ty)),
        })
    }

    /// Drops a nested type level by level (the derived drop recurses).
    fn drop_flat(mut ty: Type) {
        while let Type::Option(inner) | Type::List(inner) | Type::Map(inner) = ty {
            ty = *inner;
        }
    }

    #[test]
    fn field_types_are_written_without_recursion_or_copies() {
        // Far deeper than the schema language allows (a model can be built in code): one pass,
        // so it takes no stack per level and no time per level beyond its own tokens.
        let depth = 10_000;
        let rendered = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let ty = nested(depth);
                let rendered = rust_type(&ty, Scope::Version).to_string();
                drop_flat(ty);
                rendered
            })
            .expect("thread starts")
            .join()
            .expect("no stack overflow");
        let mut expected = String::new();
        for level in (0..depth).rev() {
            expected.push_str(match level % 3 {
                0 => ":: std :: collections :: BTreeMap < :: std :: string :: String , ",
                1 => ":: core :: option :: Option < ",
                _ => ":: std :: vec :: Vec < ",
            });
        }
        expected.push_str("u32");
        expected.push_str(&" >".repeat(depth));
        assert_eq!(rendered, expected);
    }

    #[test]
    fn named_types_are_named_from_the_scope() {
        let ty = Type::Option(Box::new(Type::Record("Address".into())));
        assert_eq!(
            rust_type(&ty, Scope::Version).to_string(),
            ":: core :: option :: Option < super :: Address >"
        );
        assert_eq!(
            rust_type(&ty, Scope::Root).to_string(),
            ":: core :: option :: Option < self :: Address >"
        );
    }
}
