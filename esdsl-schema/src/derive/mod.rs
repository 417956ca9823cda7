//! The derives: `#[derive(Event)]`, `#[derive(Aggregate)]`, `#[derive(Record)]` and
//! `#[derive(Enum)]`, declaring in Rust what a schema file declares in TOML.
//!
//! Each function takes the derive's input and returns the items to emit: the same runtime
//! trait implementations the schema generator writes (the `Event` impl comes from the same
//! code generation function), plus a schema descriptor (`esdsl_runtime::describe`) equal to
//! the model of the equivalent schema file. Attribute errors are collected, each spanned at
//! its token with a help line; on error, fallback impls keep follow-on errors away.
//! [`docs/derive.md`] is the user's reference.
//!
//! [`docs/derive.md`]: https://github.com/esdsl/esdsl/blob/main/docs/derive.md

mod aggregate;
mod attr;
mod enumeration;
mod event;
mod record;

use proc_macro2::TokenStream;
use quote::quote;

/// `#[derive(Event)]` on an enum of events.
pub fn event(input: &syn::DeriveInput) -> TokenStream {
    event::expand(input)
}

/// `#[derive(Aggregate)]` on an aggregate's state.
pub fn aggregate(input: &syn::DeriveInput) -> TokenStream {
    aggregate::expand(input)
}

/// `#[derive(Record)]` on a version struct or a record type.
pub fn record(input: &syn::DeriveInput) -> TokenStream {
    record::expand(input)
}

/// `#[derive(Enum)]` on an enum of unit variants.
pub fn enumeration(input: &syn::DeriveInput) -> TokenStream {
    enumeration::expand(input)
}

/// A named field type's part of the widening table: the same type, and into an `Option`.
fn widen_identity(name: &syn::Ident) -> TokenStream {
    quote! {
        #[automatically_derived]
        impl ::esdsl_runtime::__private::Widen<#name> for #name {
            fn widen(from: #name) -> Self {
                from
            }
        }

        #[automatically_derived]
        impl<U: ::esdsl_runtime::__private::Widen<#name>> ::esdsl_runtime::__private::Widen<#name>
            for ::core::option::Option<U>
        {
            fn widen(from: #name) -> Self {
                ::core::option::Option::Some(U::widen(from))
            }
        }
    }
}
