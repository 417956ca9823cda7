//! `#[derive(Record)]`: a struct of fields, either one version of an event or a record type
//! used as a field type; with `upcast_from`, the step from the previous version, field by field.

use std::collections::HashMap;

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::attr::{self, Errors};
use super::event::option_string;

const STRUCT_KEYS: [&str; 1] = ["upcast_from"];
const FIELD_KEYS: [&str; 2] = ["renamed_from", "default"];
/// serde keys that change neither the stored bytes nor which bytes decode.
const SERDE_STRUCT_KEYS: [&str; 1] = ["crate"];

/// Where a field of a newer version takes its value from.
enum Source {
    /// The previous version's field of this name.
    Previous(syn::Ident),
    /// `Default::default()`.
    Default,
    /// The given expression.
    Value(syn::Expr),
}

struct FieldDecl<'a> {
    field: &'a syn::Field,
    ident: &'a syn::Ident,
    /// The stored name: the identifier without `r#`.
    stored: String,
    source: Source,
    renamed_from: Option<syn::LitStr>,
}

pub(crate) fn expand(input: &syn::DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let name = &input.ident;
    attr::no_generics(&input.generics, "Record", &mut errors);
    let fields = match &input.data {
        syn::Data::Struct(syn::DataStruct {
            fields: syn::Fields::Named(fields),
            ..
        }) => Some(&fields.named),
        syn::Data::Struct(data) => {
            let help = "write `struct Name {}` (with braces, even with no fields): a unit or \
                        tuple struct is not stored as a record";
            if matches!(data.fields, syn::Fields::Unit) {
                errors.at(
                    name,
                    &format!("`#[derive(Record)]` needs named fields: `{name}` is a unit struct"),
                    help,
                );
            } else {
                errors.at(
                    &data.fields,
                    &format!("`#[derive(Record)]` needs named fields: `{name}` is a tuple struct"),
                    help,
                );
            }
            None
        }
        _ => {
            errors.at(
                name,
                "`#[derive(Record)]` applies to a struct with named fields",
                "use `#[derive(esdsl_runtime::Enum)]` for an enum of named values",
            );
            None
        }
    };

    let mut upcast_from: Option<syn::Type> = None;
    attr::read(
        &input.attrs,
        "record",
        &STRUCT_KEYS,
        &[],
        &mut errors,
        |_, meta, _| {
            upcast_from = Some(meta.value()?.parse()?);
            Ok(())
        },
    );
    check_serde(&input.attrs, &SERDE_STRUCT_KEYS, &mut errors);

    let fields: Vec<FieldDecl<'_>> = fields
        .into_iter()
        .flatten()
        .filter_map(|field| field_decl(field, upcast_from.is_some(), &mut errors))
        .collect();
    if !errors.is_empty() {
        return fallback(name, &errors, input, upcast_from.as_ref());
    }
    let describe = describe(name, &fields);
    let upcast = upcast_from
        .as_ref()
        .map(|previous| upcast(name, previous, &fields));
    quote! {
        #describe
        #upcast
    }
}

fn field_decl<'a>(
    field: &'a syn::Field,
    has_previous: bool,
    errors: &mut Errors,
) -> Option<FieldDecl<'a>> {
    let ident = field.ident.as_ref()?;
    let stored = syn::ext::IdentExt::unraw(ident).to_string();
    if let Some(problem) = crate::validate::field_name_problem(&stored) {
        errors.at(
            ident,
            &format!("field name `{stored}` is not usable: {problem}"),
            "a stored field is named in snake_case and is not a Rust keyword: rename it",
        );
    }
    let mut source = None;
    let mut said = false;
    let mut renamed_from: Option<syn::LitStr> = None;
    attr::read(
        &field.attrs,
        "record",
        &FIELD_KEYS,
        &[],
        errors,
        |key, meta, errors| {
            said = true;
            let taken = if key == "renamed_from" {
                let from = attr::string(meta)?;
                let Ok(mut previous) = syn::parse_str::<syn::Ident>(&from.value()) else {
                    errors.at(
                        &from,
                        &format!("`{}` is not a field name", from.value()),
                        "name the previous version's field: `renamed_from = \"amount\"`",
                    );
                    return Ok(());
                };
                previous.set_span(from.span());
                renamed_from = Some(from);
                source.replace(Source::Previous(previous))
            } else if meta.input.peek(syn::Token![=]) {
                source.replace(Source::Value(meta.value()?.parse()?))
            } else {
                source.replace(Source::Default)
            };
            if taken.is_some() {
                errors.at(
                &meta.path,
                &format!("field `{ident}` takes its value from two places"),
                "keep one of `renamed_from` and `default`: a field either comes from a field of \
                 the previous version or is new",
            );
            }
            Ok(())
        },
    );
    if !has_previous && said {
        let stray = field.attrs.iter().find(|a| a.path().is_ident("record"));
        if let Some(stray) = stray {
            errors.at(
                stray,
                &format!("field `{ident}` says where its value comes from, but the struct has no previous version"),
                "add `#[record(upcast_from = path::to::PreviousVersion)]` to the struct, or \
                 remove the field's `#[record(...)]`",
            );
        }
    }
    check_serde(&field.attrs, &[], errors);
    check_byte(&field.ty, false, errors);
    Some(FieldDecl {
        field,
        ident,
        stored,
        source: source.unwrap_or_else(|| Source::Previous(ident.clone())),
        renamed_from,
    })
}

/// Rejects serde attributes that change how the struct is stored or read: the schema would
/// no longer describe the bytes.
pub(crate) fn check_serde(attrs: &[syn::Attribute], allowed: &[&str], errors: &mut Errors) {
    for (key, span, _) in attr::serde_keys(attrs) {
        if !allowed.contains(&key.as_str()) {
            errors.at_span(
                span,
                &format!("`#[serde({key})]` changes how the payload is stored, which the schema cannot describe"),
                "remove it: stored names are the Rust names; to rename a field, add a version \
                 whose field says `#[record(renamed_from = \"old_name\")]`",
            );
        }
    }
}

/// `u8` is a schema type only inside `Vec<u8>` (bytes).
fn check_byte(ty: &syn::Type, in_vec: bool, errors: &mut Errors) {
    let syn::Type::Path(path) = ty else { return };
    let Some(last) = path.path.segments.last() else {
        return;
    };
    if last.ident == "u8" && !in_vec {
        errors.at(
            ty,
            "`u8` is not a schema field type",
            "bytes are `Vec<u8>`; for a number use `u32`",
        );
    }
    if let syn::PathArguments::AngleBracketed(args) = &last.arguments {
        let is_vec = last.ident == "Vec";
        for arg in &args.args {
            if let syn::GenericArgument::Type(inner) = arg {
                check_byte(inner, is_vec, errors);
            }
        }
    }
}

/// `DescribeFields`, `SchemaType` and the identity conversions of the record.
fn describe(name: &syn::Ident, fields: &[FieldDecl<'_>]) -> TokenStream {
    let stored = name.to_string();
    let widen = super::widen_identity(name);
    let names = fields.iter().map(|decl| &decl.stored);
    let field_names = quote! {
        #[automatically_derived]
        impl ::esdsl_runtime::__private::FieldNames for #name {
            const FIELD_NAMES: &'static [&'static str] = &[#(#names),*];
        }
    };
    let descriptors = fields.iter().map(|decl| {
        let field_name = &decl.stored;
        let ty = &decl.field.ty;
        let doc = option_string(attr::doc(&decl.field.attrs).as_deref());
        let renamed = option_string(decl.renamed_from.as_ref().map(syn::LitStr::value).as_deref());
        let default = match &decl.source {
            Source::Previous(_) => quote!(::core::option::Option::None),
            Source::Default => quote! {
                ::esdsl_runtime::__private::default_value(&<#ty as ::core::default::Default>::default())
            },
            Source::Value(value) => quote! {{
                let value: #ty = #value;
                ::esdsl_runtime::__private::default_value(&value)
            }},
        };
        quote_spanned! {ty.span()=>
            ::esdsl_runtime::describe::FieldDescriptor {
                name: ::std::borrow::ToOwned::to_owned(#field_name),
                ty: <#ty as ::esdsl_runtime::describe::SchemaType>::schema_type(schema),
                default: #default,
                renamed_from: #renamed,
                doc: #doc,
            }
        }
    });
    quote! {
        #[automatically_derived]
        impl ::esdsl_runtime::describe::DescribeFields for #name {
            fn describe_fields(
                schema: &mut ::esdsl_runtime::describe::SchemaDescriptor,
            ) -> ::std::vec::Vec<::esdsl_runtime::describe::FieldDescriptor> {
                ::std::vec![#(#descriptors),*]
            }
        }

        #[automatically_derived]
        impl ::esdsl_runtime::describe::SchemaType for #name {
            fn schema_type(
                schema: &mut ::esdsl_runtime::describe::SchemaDescriptor,
            ) -> ::esdsl_runtime::describe::FieldType {
                schema.record::<Self>(
                    #stored,
                    <Self as ::esdsl_runtime::describe::DescribeFields>::describe_fields,
                )
            }
        }

        #widen

        #field_names
    }
}

/// `impl Upcast<previous>`: each field from the previous version's field of the same (or
/// `renamed_from`) name, converted along the widening table, or from its default.
fn upcast(name: &syn::Ident, previous: &syn::Type, fields: &[FieldDecl<'_>]) -> TokenStream {
    let mut uses_left: HashMap<String, usize> = HashMap::new();
    for decl in fields {
        if let Source::Previous(from) = &decl.source {
            *uses_left.entry(from.to_string()).or_default() += 1;
        }
    }
    let inits = fields.iter().map(|decl| {
        let ident = decl.ident;
        let ty = &decl.field.ty;
        let value = match &decl.source {
            Source::Previous(from) => {
                let left = uses_left.entry(from.to_string()).or_default();
                *left = left.saturating_sub(1);
                let value = if *left > 0 {
                    quote_spanned!(from.span()=> ::core::clone::Clone::clone(&previous.#from))
                } else {
                    quote_spanned!(from.span()=> previous.#from)
                };
                quote_spanned! {ty.span()=>
                    <_ as ::esdsl_runtime::__private::WidenInto<#ty>>::widen_into(#value)
                }
            }
            Source::Default => {
                quote_spanned!(ty.span()=> <#ty as ::core::default::Default>::default())
            }
            Source::Value(value) => quote_spanned!(value.span()=> #value),
        };
        quote!(#ident: #value)
    });
    // A default where the previous version has the field would drop the stored value, where a
    // schema file with the same fields keeps it: refuse it at compile time.
    let shadowing = fields
        .iter()
        .filter(|decl| matches!(decl.source, Source::Default | Source::Value(_)))
        .map(|decl| {
            let stored = &decl.stored;
            let message = format!(
                "field `{stored}` says `#[record(default)]`, but the previous version has \
                 `{stored}` too: the upcast would drop its value; remove `default` to keep it, \
                 or give the new field another name"
            );
            quote_spanned! {decl.ident.span()=>
                const _: () = ::core::assert!(
                    !::esdsl_runtime::__private::contains(
                        <#previous as ::esdsl_runtime::__private::FieldNames>::FIELD_NAMES,
                        #stored,
                    ),
                    #message,
                );
            }
        });
    let uses_previous = fields
        .iter()
        .any(|decl| matches!(decl.source, Source::Previous(_)));
    let binding = if uses_previous {
        quote!(previous)
    } else {
        quote!(_previous)
    };
    quote! {
        #[automatically_derived]
        impl ::esdsl_runtime::Upcast<#previous> for #name {
            fn upcast(#binding: #previous) -> Self {
                Self {
                    #(#inits,)*
                }
            }
        }

        #[automatically_derived]
        impl ::esdsl_runtime::__private::FieldUpcast<#previous> for #name {}

        #(#shadowing)*
    }
}

/// When the attributes are wrong: the errors, and placeholder impls (an empty descriptor, the
/// upcast it was asked for) so uses of the struct add no errors of their own.
fn fallback(
    name: &syn::Ident,
    errors: &Errors,
    input: &syn::DeriveInput,
    upcast_from: Option<&syn::Type>,
) -> TokenStream {
    let errors = errors.to_compile_errors();
    if !input.generics.params.is_empty() || !matches!(input.data, syn::Data::Struct(_)) {
        return errors;
    }
    let upcast = upcast_from.map(|previous| {
        quote! {
            #[automatically_derived]
            impl ::esdsl_runtime::Upcast<#previous> for #name {
                fn upcast(_: #previous) -> Self {
                    ::core::unreachable!()
                }
            }

            #[automatically_derived]
            impl ::esdsl_runtime::__private::FieldUpcast<#previous> for #name {}
        }
    });
    let widen = super::widen_identity(name);
    quote! {
        #errors
        #upcast
        #widen

        #[automatically_derived]
        impl ::esdsl_runtime::__private::FieldNames for #name {
            const FIELD_NAMES: &'static [&'static str] = &[];
        }

        #[automatically_derived]
        impl ::esdsl_runtime::describe::DescribeFields for #name {
            fn describe_fields(
                _: &mut ::esdsl_runtime::describe::SchemaDescriptor,
            ) -> ::std::vec::Vec<::esdsl_runtime::describe::FieldDescriptor> {
                ::std::vec::Vec::new()
            }
        }

        #[automatically_derived]
        impl ::esdsl_runtime::describe::SchemaType for #name {
            fn schema_type(
                _: &mut ::esdsl_runtime::describe::SchemaDescriptor,
            ) -> ::esdsl_runtime::describe::FieldType {
                ::esdsl_runtime::describe::FieldType::Record(::std::borrow::ToOwned::to_owned(""))
            }
        }
    }
}
