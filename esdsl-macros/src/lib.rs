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
