//! Version modules (`v1`, `v2`, ...), one struct per event version, and the generated upcasters.

use std::collections::HashMap;

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use crate::model::{Conversion, Event, FieldSource, Schema, StepKind, Type, Version};

use super::doc_attrs;
use super::types::{Scope, data_struct, value_expr};

pub(crate) fn version_module_ident(number: u32) -> Ident {
    format_ident!("v{}", number)
}

/// `pub mod vN { ... }` for every version number any event has: its doc, its name and its
/// structs, made as they are taken.
pub(crate) fn version_modules(
    schema: &Schema,
) -> impl Iterator<
    Item = (
        TokenStream,
        Ident,
        Box<dyn Iterator<Item = TokenStream> + '_>,
    ),
> + '_ {
    let newest = schema.events.iter().map(Event::newest).max().unwrap_or(0);
    (1..=newest).map(|number| {
        let module = version_module_ident(number);
        let doc = doc_attrs(Some(&format!(
            "Version {number} of every event that has one."
        )));
        let structs = schema.events.iter().filter_map(move |event| {
            event
                .version(number)
                .map(|version| version_struct(event, version))
        });
        (
            doc,
            module,
            Box::new(structs) as Box<dyn Iterator<Item = TokenStream>>,
        )
    })
}

fn version_struct(event: &Event, version: &Version) -> TokenStream {
    let name = format_ident!("{}", event.name.text);
    let mut doc = event.doc.clone().unwrap_or_default();
    if !doc.is_empty() {
        doc.push_str("\n\n");
    }
    let status = if event.retired {
        " (retired: never written again, skipped by typed readers)"
    } else if version.number == event.newest() {
        " (newest)"
    } else {
        ""
    };
    doc.push_str(&format!(
        "Version {} of event `{}`{status}.",
        version.number, event.name.text
    ));
    let docs = doc_attrs(Some(&doc));
    data_struct(&docs, &name, &version.fields, Scope::Version)
}

/// Re-exports of each live event's newest version at the root: `pub use self::v3::MoneyDeposited;`.
pub(crate) fn newest_reexports(schema: &Schema) -> impl Iterator<Item = TokenStream> + '_ {
    schema.events.iter().filter(|e| !e.retired).map(|event| {
        let module = version_module_ident(event.newest());
        let name = format_ident!("{}", event.name.text);
        quote!(pub use self::#module::#name;)
    })
}

/// `impl Upcast<vN-1::X> for vN::X` for every automatic step of a live event.
pub(crate) fn upcast_impls(schema: &Schema) -> impl Iterator<Item = TokenStream> + '_ {
    schema
        .events
        .iter()
        .filter(|e| !e.retired)
        .flat_map(|event| {
            event.steps.iter().filter_map(move |step| {
                let StepKind::Automatic(sources) = &step.kind else {
                    return None;
                };
                let next = event.version(step.to)?;
                let previous = event.version(step.to - 1)?;
                Some(upcast_impl(event, previous, next, sources))
            })
        })
}

fn upcast_impl(
    event: &Event,
    previous: &Version,
    next: &Version,
    sources: &[FieldSource],
) -> TokenStream {
    let name = format_ident!("{}", event.name.text);
    let from_module = version_module_ident(previous.number);
    let to_module = version_module_ident(next.number);
    let uses_previous = sources
        .iter()
        .any(|s| matches!(s, FieldSource::Previous { .. }));
    let binding = if uses_previous {
        quote!(previous)
    } else {
        quote!(_previous)
    };
    // A previous field can feed several new ones (kept and also renamed): every use but the
    // last clones it, unless its type is `Copy`.
    let mut uses_left: HashMap<&str, usize> = HashMap::new();
    for source in sources {
        if let FieldSource::Previous { field, .. } = source {
            *uses_left.entry(field.as_str()).or_default() += 1;
        }
    }
    let inits: Vec<TokenStream> = next
        .fields
        .iter()
        .zip(sources)
        .map(|(field, source)| {
            let field_name = format_ident!("{}", field.name.text);
            let value = match source {
                FieldSource::Previous {
                    field: from,
                    conversion,
                } => {
                    let left = uses_left.entry(from.as_str()).or_default();
                    *left = left.saturating_sub(1);
                    let copy = previous.field(from).is_some_and(|f| is_copy(&f.ty));
                    let from = format_ident!("{}", from);
                    let value = if *left > 0 && !copy {
                        quote!(::core::clone::Clone::clone(&previous.#from))
                    } else {
                        quote!(previous.#from)
                    };
                    convert(value, conversion)
                }
                FieldSource::Default(value) => value_expr(&field.ty, value, Scope::Root),
                FieldSource::None => quote!(::core::option::Option::None),
            };
            quote!(#field_name: #value)
        })
        .collect();
    quote! {
        #[automatically_derived]
        impl ::esdsl_runtime::Upcast<self::#from_module::#name> for self::#to_module::#name {
            fn upcast(#binding: self::#from_module::#name) -> Self {
                Self {
                    #(#inits,)*
                }
            }
        }
    }
}

/// The expression converting `value` as `conversion` says.
fn convert(value: TokenStream, conversion: &Conversion) -> TokenStream {
    match conversion {
        Conversion::Identity => value,
        Conversion::WidenInt | Conversion::IntToFloat { lossy: false } => {
            let function = conversion_fn(conversion);
            quote!(#function(#value))
        }
        Conversion::IntToFloat { lossy: true } => quote!(#value as f64),
        Conversion::WrapSome(inner) => {
            let inner = convert(value, inner);
            quote!(::core::option::Option::Some(#inner))
        }
        Conversion::Option(inner) => {
            let function = element_fn(inner);
            quote!(#value.map(#function))
        }
        Conversion::List(inner) => {
            let function = element_fn(inner);
            quote!(#value.into_iter().map(#function).collect())
        }
        Conversion::Map(inner) => {
            let body = convert(quote!(value), inner);
            quote!(#value.into_iter().map(|(key, value)| (key, #body)).collect())
        }
    }
}

/// A function (path or closure) applying `conversion` to one element.
fn element_fn(conversion: &Conversion) -> TokenStream {
    match conversion {
        Conversion::WidenInt | Conversion::IntToFloat { lossy: false } => conversion_fn(conversion),
        other => {
            let body = convert(quote!(value), other);
            quote!(|value| #body)
        }
    }
}

/// The function path of a lossless scalar conversion.
fn conversion_fn(conversion: &Conversion) -> TokenStream {
    match conversion {
        Conversion::IntToFloat { .. } => quote!(<f64 as ::core::convert::From<_>>::from),
        _ => quote!(::core::convert::From::from),
    }
}

/// Whether the generated Rust type is `Copy` (moving it twice is fine).
fn is_copy(ty: &Type) -> bool {
    match ty {
        Type::Bool
        | Type::I32
        | Type::I64
        | Type::U32
        | Type::U64
        | Type::F64
        | Type::Uuid
        | Type::Timestamp
        | Type::Enum(_) => true,
        Type::Option(inner) => is_copy(inner),
        Type::String | Type::Bytes | Type::List(_) | Type::Map(_) | Type::Record(_) => false,
    }
}
