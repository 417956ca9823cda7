//! Procedural macros of esdsl. Use them through `esdsl_runtime`, which re-exports them.

use proc_macro::TokenStream;

/// Expands a TOML schema into typed events, version structs and upcasters, in place.
///
/// The path is relative to the crate's `Cargo.toml`; editing the file rebuilds the crate.
///
/// ```ignore
/// mod bank {
///     esdsl_runtime::schema!("schemas/bank.toml");
/// }
/// ```
///
/// A schema error becomes a compile error pointing at the path, showing the TOML file, line
/// and column of every problem.
#[proc_macro]
pub fn schema(input: TokenStream) -> TokenStream {
    let path = syn::parse_macro_input!(input as syn::LitStr);
    let Ok(manifest_dir) = std::env::var("CARGO_MANIFEST_DIR") else {
        return syn::Error::new(
            path.span(),
            "`CARGO_MANIFEST_DIR` is not set: build with cargo",
        )
        .to_compile_error()
        .into();
    };
    match esdsl_schema::expand_schema_macro(manifest_dir.as_ref(), &path.value()) {
        Ok(tokens) => tokens.into(),
        Err(messages) => messages
            .into_iter()
            .map(|message| syn::Error::new(path.span(), message).to_compile_error())
            .collect::<proc_macro2::TokenStream>()
            .into(),
    }
}

/// Implements `esdsl_runtime::Event` for an enum of events; see [`docs/derive.md`].
///
/// ```ignore
/// #[derive(Debug, Clone, PartialEq, esdsl_runtime::Event)]
/// #[event(aggregate = "Account")]
/// pub enum AccountEvent {
///     #[event(history(v1::AccountOpened))]
///     AccountOpened(v2::AccountOpened),
///     MoneyWithdrawn(v1::MoneyWithdrawn),
/// }
/// ```
///
/// [`docs/derive.md`]: https://github.com/esdsl/esdsl/blob/main/docs/derive.md
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    esdsl_schema::derive::event(&input).into()
}

/// Binds an aggregate's state to its name, id type and events, and implements
/// `esdsl_runtime::Aggregate` through the state's own `apply` and `handle`; see
/// [`docs/derive.md`].
///
/// [`docs/derive.md`]: https://github.com/esdsl/esdsl/blob/main/docs/derive.md
#[proc_macro_derive(Aggregate, attributes(aggregate))]
pub fn derive_aggregate(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    esdsl_schema::derive::aggregate(&input).into()
}

/// Describes a version struct or record type, and derives the upcast from the previous version
/// field by field (`#[record(upcast_from = ...)]`); see [`docs/derive.md`].
///
/// [`docs/derive.md`]: https://github.com/esdsl/esdsl/blob/main/docs/derive.md
#[proc_macro_derive(Record, attributes(record))]
pub fn derive_record(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    esdsl_schema::derive::record(&input).into()
}

/// Describes an enum of named values stored by name (serde's names); see [`docs/derive.md`].
///
/// [`docs/derive.md`]: https://github.com/esdsl/esdsl/blob/main/docs/derive.md
#[proc_macro_derive(Enum)]
pub fn derive_enum(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    esdsl_schema::derive::enumeration(&input).into()
}
