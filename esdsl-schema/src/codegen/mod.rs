//! Stage 4: the model to Rust code, one function per generated item.
//!
//! The same tokens serve the `schema!` macro (expanded in place) and `cargo esdsl generate`
//! (formatted with prettyplease and written to a file).

mod aggregate;
mod depth;
mod events;
mod types;

use std::collections::HashMap;

use proc_macro2::{Ident, TokenStream};
use quote::quote;

use crate::model::{Event, Schema};

pub(crate) use aggregate::{Family, FamilyEvent, event_impl, id_type};
pub use depth::DECODE_DEPTH_LIMIT;

/// The Rust items for a validated schema.
///
/// The items are meant to stand in their own module (the version modules are named `v1`,
/// `v2`, ...). Paths are absolute, so the code compiles whatever the surrounding module
/// imports or shadows.
pub fn generate(schema: &Schema) -> TokenStream {
    let mut out = TokenStream::new();
    for part in parts(schema) {
        match part {
            Part::Items(items) => out.extend(items),
            Part::Module { doc, name, items } => {
                let items = items.collect::<Vec<_>>();
                out.extend(quote! {
                    #doc
                    pub mod #name {
                        #(#items)*
                    }
                });
            }
        }
    }
    out
}

/// The generated file in the order [`generate`] emits it: runs of top-level items, and modules
/// whose items come one at a time.
enum Part<'a> {
    Items(Box<dyn Iterator<Item = TokenStream> + 'a>),
    Module {
        doc: TokenStream,
        name: Ident,
        items: Box<dyn Iterator<Item = TokenStream> + 'a>,
    },
}

fn parts(schema: &Schema) -> Vec<Part<'_>> {
    let mut by_aggregate: HashMap<&str, Vec<&Event>> = HashMap::new();
    for event in &schema.events {
        by_aggregate
            .entry(event.aggregate.text.as_str())
            .or_default()
            .push(event);
    }
    let depths = depth::Depths::new(schema);
    let aggregates = schema.aggregates.iter().map(move |a| {
        let events = by_aggregate
            .get(a.name.text.as_str())
            .map_or(&[][..], Vec::as_slice);
        aggregate::aggregate(a, events, &depths)
    });
    let mut parts = vec![
        Part::Items(Box::new(aggregates)),
        Part::Items(Box::new(events::newest_reexports(schema))),
    ];
    parts.extend(
        events::version_modules(schema).map(|(doc, name, items)| Part::Module { doc, name, items }),
    );
    parts.push(Part::Items(Box::new(events::upcast_impls(schema))));
    parts.push(Part::Items(Box::new(
        schema.types.iter().map(types::record),
    )));
    parts.push(Part::Items(Box::new(
        schema.enums.iter().map(types::enumeration),
    )));
    parts
}

/// Formats generated items as a source file: prettyplease output under a `// @generated`
/// header naming the schema it came from.
///
/// # Errors
///
/// Fails only if the tokens do not parse as a Rust file, which would be a bug in the
/// generator; the message says so.
pub fn format_file(tokens: TokenStream, source_path: &str) -> Result<String, String> {
    let mut out = header(source_path);
    out.push_str(&unparse(tokens)?);
    Ok(out)
}

/// The file [`format_file`] makes of [`generate`]'s tokens, formatted a few items at a time:
/// the tokens and syntax tree of a whole large schema took gigabytes at once.
///
/// # Errors
///
/// As [`format_file`]: only if the generated code does not parse, a bug in the generator.
pub fn format_schema(schema: &Schema, source_path: &str) -> Result<String, String> {
    /// Items formatted together: enough to amortise the work per call.
    const BATCH: usize = 64;
    let mut out = header(source_path);
    for part in parts(schema) {
        match part {
            Part::Items(mut items) => loop {
                let batch: TokenStream = items.by_ref().take(BATCH).collect();
                if batch.is_empty() {
                    break;
                }
                out.push_str(&unparse(batch)?);
            },
            Part::Module {
                doc,
                name,
                mut items,
            } => {
                // Each batch is formatted inside the module, so that it is indented and
                // wrapped as it is there; the module's opening and closing lines are kept once.
                let mut first = true;
                loop {
                    let batch: Vec<TokenStream> = items.by_ref().take(BATCH).collect();
                    if batch.is_empty() && !first {
                        break;
                    }
                    let text = unparse(quote! {
                        #doc
                        pub mod #name {
                            #(#batch)*
                        }
                    })?;
                    let opening = format!("pub mod {name} {{\n");
                    let (head, body) = text
                        .split_once(&opening)
                        .ok_or("internal error: a formatted module has no opening line")?;
                    let body = body
                        .strip_suffix("}\n")
                        .ok_or("internal error: a formatted module has no closing line")?;
                    if first {
                        out.push_str(head);
                        out.push_str(&opening);
                        first = false;
                    }
                    out.push_str(body);
                    if batch.len() < BATCH {
                        break;
                    }
                }
                out.push_str("}\n");
            }
        }
    }
    Ok(out)
}

/// The module (and file) name `cargo esdsl generate` gives the code of a schema file with this
/// stem: ASCII letters and digits lowercased, anything else `_`; a leading `_` when it would
/// start with a digit, and a trailing `_` when it is a Rust keyword (`type.toml` gives
/// `type_.rs`, declared `mod type_;`; `mod.toml` gives `mod_.rs`, since a `mod.rs` is its
/// directory's own module file).
///
/// ```
/// use esdsl_schema::codegen::module_name;
/// assert_eq!(module_name("Bank-Accounts"), "bank_accounts");
/// assert_eq!(module_name("type"), "type_");
/// assert_eq!(module_name("mod"), "mod_");
/// assert_eq!(module_name("2024"), "_2024");
/// ```
pub fn module_name(stem: &str) -> String {
    let mut name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    if crate::validate::KEYWORDS.contains(&name.as_str()) {
        name.push('_');
    }
    name
}

fn header(source_path: &str) -> String {
    format!(
        "// @generated by `cargo esdsl generate` from {source_path}: do not edit.\n\
         // Change the schema and run `cargo esdsl generate` again.\n\n"
    )
}

fn unparse(tokens: TokenStream) -> Result<String, String> {
    let file: syn::File = syn::parse2(tokens)
        .map_err(|e| format!("internal error: generated code does not parse: {e}"))?;
    Ok(prettyplease::unparse(&file))
}

pub(crate) fn doc_attrs(doc: Option<&str>) -> TokenStream {
    let Some(doc) = doc else {
        return TokenStream::new();
    };
    let lines = doc.lines().map(|line| {
        if line.is_empty() {
            String::new()
        } else {
            format!(" {line}")
        }
    });
    quote!(#(#[doc = #lines])*)
}

pub(crate) fn serde_attrs() -> TokenStream {
    quote!(#[serde(crate = "::esdsl_runtime::__private::serde")])
}
