//! `#[derive(Aggregate)]`: binds an aggregate's state to its name, id type and events, and
//! implements `Aggregate` by calling the state's own `apply` and `handle`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};

use super::attr::{self, Errors};
use super::event::option_string;
use crate::codegen::id_type;
use crate::diag::{Span, did_you_mean};
use crate::model::{self, IdType};

const KEYS: [&str; 6] = [
    "name",
    "id",
    "events",
    "command",
    "error",
    "snapshot_version",
];

pub(crate) fn expand(input: &syn::DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let state = &input.ident;
    attr::no_generics(&input.generics, "Aggregate", &mut errors);
    if !matches!(input.data, syn::Data::Struct(_)) {
        errors.at(
            state,
            "`#[derive(Aggregate)]` applies to the struct that holds the aggregate's state",
            "write `#[derive(Default, Aggregate)] struct Account { ... }`",
        );
    }
    let mut name = state.to_string();
    let mut id: Option<IdType> = None;
    let mut id_seen = false;
    let mut events: Option<syn::Type> = None;
    let mut command: Option<syn::Type> = None;
    let mut error: Option<syn::Type> = None;
    let mut snapshot_version: Option<syn::LitInt> = None;
    attr::read(
        &input.attrs,
        "aggregate",
        &KEYS,
        &[],
        &mut errors,
        |key, meta, errors| {
            match key {
                "name" => {
                    let text = attr::string(meta)?;
                    if crate::validate::type_name_problem(&text.value()).is_none() {
                        name = text.value();
                    } else {
                        super::event::name_problem(&text, "aggregate", errors);
                    }
                }
                "id" => {
                    id_seen = true;
                    let value = meta.value()?;
                    let (text, at): (String, TokenStream) = if value.peek(syn::LitStr) {
                        let text: syn::LitStr = value.parse()?;
                        (text.value(), quote!(#text))
                    } else {
                        let ident: syn::Ident = value.parse()?;
                        (ident.to_string(), quote!(#ident))
                    };
                    match IdType::ALL.into_iter().find(|t| t.as_str() == text) {
                        Some(kind) => id = Some(kind),
                        None => {
                            let kinds = IdType::ALL.map(IdType::as_str);
                            let help = match did_you_mean(&text, kinds) {
                                Some(near) => format!("did you mean `{near}`?"),
                                None => format!("an id is {}", attr::list(&kinds)),
                            };
                            errors.at(&at, &format!("unknown id type `{text}`"), &help);
                        }
                    }
                }
                "events" => events = Some(meta.value()?.parse()?),
                "command" => command = Some(meta.value()?.parse()?),
                "error" => error = Some(meta.value()?.parse()?),
                _ => snapshot_version = Some(meta.value()?.parse()?),
            }
            Ok(())
        },
    );
    if !id_seen {
        errors.at(
            state,
            &format!("`#[derive(Aggregate)]` needs the id type of `{name}`"),
            "add `#[aggregate(id = uuid)]` (or `string`, `u64`, `i64`)",
        );
    }
    match (&command, &error) {
        (Some(_), None) | (None, Some(_)) => errors.at(
            state,
            "`command` and `error` go together",
            "name both to implement `Aggregate` through the state's own `apply` and `handle`, \
             or neither to write `impl Aggregate` yourself",
        ),
        _ => {}
    }
    let snapshot_version = match snapshot_version.map(|v| v.base10_parse::<u32>()) {
        Some(Ok(version)) => Some(version),
        Some(Err(e)) => {
            errors.push(e);
            None
        }
        None => None,
    };
    let events = events.unwrap_or_else(|| {
        let ident = format_ident!("{}Event", state);
        syn::parse_quote!(#ident)
    });
    let aggregate = model::Aggregate {
        name: model::Name::new(name.clone(), Span::default()),
        id: id.unwrap_or(IdType::Uuid),
        doc: attr::doc(&input.attrs),
    };
    let vis = &input.vis;
    let id_type = id_type(&aggregate, &quote!(#vis), &quote!(#events));
    if !errors.is_empty() {
        // The id type still stands, so code that names it reports nothing more.
        let errors = errors.to_compile_errors();
        return quote! {
            #errors
            #id_type

            #[automatically_derived]
            impl ::esdsl_runtime::describe::Describe for #state {
                fn describe(_: &mut ::esdsl_runtime::describe::SchemaDescriptor) {}
            }
        };
    }
    let id_name = format_ident!("{}Id", name);
    let implementation = match (command, error) {
        (Some(command), Some(error)) => aggregate_impl(state, &id_name, &events, &command, &error),
        _ => TokenStream::new(),
    };
    let snapshot = snapshot_version.map(|version| {
        quote! {
            #[automatically_derived]
            impl ::esdsl_runtime::SnapshotState for #state {
                const STATE_VERSION: u32 = #version;
            }
        }
    });
    let id_kind = aggregate.id.as_str();
    let mismatch = format!(
        "`{state}` is aggregate `{name}`, but its events say another aggregate: make \
         `#[event(aggregate = \"...\")]` and `#[aggregate(name = \"...\")]` agree"
    );
    let events_span = syn::spanned::Spanned::span(&events);
    let same_aggregate = quote_spanned! {events_span=>
        const _: () = ::core::assert!(
            ::esdsl_runtime::__private::str_eq(
                <#events as ::esdsl_runtime::Event>::AGGREGATE,
                #name,
            ),
            #mismatch,
        );
    };
    let doc = option_string(aggregate.doc.as_deref());
    quote! {
        #id_type
        #implementation
        #snapshot
        #same_aggregate

        #[automatically_derived]
        impl ::esdsl_runtime::describe::Describe for #state {
            fn describe(schema: &mut ::esdsl_runtime::describe::SchemaDescriptor) {
                schema.aggregate(::esdsl_runtime::describe::AggregateDescriptor {
                    name: ::std::borrow::ToOwned::to_owned(#name),
                    id: #id_kind,
                    doc: #doc,
                });
                <#events as ::esdsl_runtime::describe::Describe>::describe(schema);
            }
        }
    }
}

/// `impl Aggregate`, calling the state's inherent `apply` and `handle`. The calls stand in a
/// module that imports nothing, where `Aggregate`'s own methods are not in scope: a missing
/// inherent method is a compile error, never a call of the trait method by itself.
fn aggregate_impl(
    state: &syn::Ident,
    id: &syn::Ident,
    events: &syn::Type,
    command: &syn::Type,
    error: &syn::Type,
) -> TokenStream {
    let module = format_ident!("__esdsl_aggregate_{}", state);
    let span = state.span();
    let call_apply = quote_spanned!(span=> super::#state::apply(state, event));
    let call_handle = quote_spanned!(span=> super::#state::handle(state, command));
    quote! {
        #[doc(hidden)]
        #[allow(non_snake_case)]
        mod #module {
            pub(super) fn apply(
                state: &mut super::#state,
                event: &<super::#state as ::esdsl_runtime::Aggregate>::Event,
            ) {
                #call_apply
            }

            pub(super) fn handle(
                state: &super::#state,
                command: &<super::#state as ::esdsl_runtime::Aggregate>::Command,
            ) -> ::core::result::Result<
                ::std::vec::Vec<<super::#state as ::esdsl_runtime::Aggregate>::Event>,
                <super::#state as ::esdsl_runtime::Aggregate>::Error,
            > {
                #call_handle
            }
        }

        #[automatically_derived]
        impl ::esdsl_runtime::Aggregate for #state {
            type Id = #id;
            type Event = #events;
            type Command = #command;
            type Error = #error;

            fn apply(&mut self, event: &Self::Event) {
                #module::apply(self, event)
            }

            fn handle(
                &self,
                command: &Self::Command,
            ) -> ::core::result::Result<::std::vec::Vec<Self::Event>, Self::Error> {
                #module::handle(self, command)
            }
        }
    }
}
