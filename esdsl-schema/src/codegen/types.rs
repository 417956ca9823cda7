//! Field types, default values, record types and enums.

use heck::ToUpperCamelCase;
use proc_macro2::{Literal, TokenStream};
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

pub(crate) fn rust_type(ty: &Type, scope: Scope) -> TokenStream {
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
        Type::Option(inner) => {
            let inner = rust_type(inner, scope);
            quote!(::core::option::Option<#inner>)
        }
        Type::List(inner) => {
            let inner = rust_type(inner, scope);
            quote!(::std::vec::Vec<#inner>)
        }
        Type::Map(inner) => {
            let inner = rust_type(inner, scope);
            quote!(::std::collections::BTreeMap<::std::string::String, #inner>)
        }
        Type::Record(name) | Type::Enum(name) => {
            let prefix = scope.prefix();
            let ident = format_ident!("{}", name);
            quote!(#prefix #ident)
        }
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

pub(crate) fn fields(fields: &[Field], scope: Scope) -> Vec<TokenStream> {
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
    let serde = serde_attrs();
    let fields = fields(&record.fields, Scope::Root);
    quote! {
        #docs
        #[derive(
            ::core::fmt::Debug,
            ::core::clone::Clone,
            ::core::cmp::PartialEq,
            ::esdsl_runtime::__private::serde::Serialize,
            ::esdsl_runtime::__private::serde::Deserialize,
        )]
        #serde
        pub struct #name {
            #(#fields,)*
        }
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
    quote! {
        #docs
        #[derive(
            ::core::fmt::Debug,
            ::core::clone::Clone,
            ::core::marker::Copy,
            ::core::cmp::PartialEq,
            ::core::cmp::Eq,
            ::core::hash::Hash,
            ::core::cmp::PartialOrd,
            ::core::cmp::Ord,
            ::esdsl_runtime::__private::serde::Serialize,
            ::esdsl_runtime::__private::serde::Deserialize,
        )]
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
