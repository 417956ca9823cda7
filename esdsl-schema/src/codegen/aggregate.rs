//! Per aggregate: the id type, the event enum and its `Event` implementation.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::model::{Aggregate, Event, IdType, Schema};

use super::doc_attrs;
use super::events::version_module_ident;

pub(crate) fn aggregate(schema: &Schema, aggregate: &Aggregate) -> TokenStream {
    let events: Vec<&Event> = schema.events_of(&aggregate.name.text).collect();
    let id = id_type(aggregate);
    let event_enum = event_enum(aggregate, &events);
    quote! {
        #id
        #event_enum
    }
}

fn id_type(aggregate: &Aggregate) -> TokenStream {
    let name = format_ident!("{}Id", aggregate.name.text);
    let event_enum = format_ident!("{}Event", aggregate.name.text);
    let aggregate_name = &aggregate.name.text;
    let doc = format!("Identifies one `{aggregate_name}`; its stream is `{aggregate_name}-<id>`.");
    let (inner, copy, extra) = match aggregate.id {
        IdType::Uuid => (
            quote!(::esdsl_runtime::__private::uuid::Uuid),
            quote!(::core::marker::Copy,),
            quote! {
                impl #name {
                    /// A new, time-ordered id (UUID v7).
                    pub fn now_v7() -> Self {
                        Self(::esdsl_runtime::__private::uuid::Uuid::now_v7())
                    }
                }
            },
        ),
        IdType::String => (quote!(::std::string::String), quote!(), quote!()),
        IdType::U64 => (quote!(u64), quote!(::core::marker::Copy,), quote!()),
        IdType::I64 => (quote!(i64), quote!(::core::marker::Copy,), quote!()),
    };
    let doc = doc_attrs(Some(&doc));
    quote! {
        #doc
        #[derive(
            ::core::fmt::Debug,
            ::core::clone::Clone,
            #copy
            ::core::cmp::PartialEq,
            ::core::cmp::Eq,
            ::core::hash::Hash,
            ::core::cmp::PartialOrd,
            ::core::cmp::Ord,
            ::esdsl_runtime::__private::serde::Serialize,
            ::esdsl_runtime::__private::serde::Deserialize,
        )]
        #[serde(crate = "::esdsl_runtime::__private::serde", transparent)]
        pub struct #name(pub #inner);

        #extra

        #[automatically_derived]
        impl ::core::fmt::Display for #name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::fmt::Display::fmt(&self.0, f)
            }
        }

        #[automatically_derived]
        impl ::core::convert::From<#inner> for #name {
            fn from(id: #inner) -> Self {
                Self(id)
            }
        }

        #[automatically_derived]
        impl ::core::str::FromStr for #name {
            type Err = <#inner as ::core::str::FromStr>::Err;

            fn from_str(text: &str) -> ::core::result::Result<Self, Self::Err> {
                <#inner as ::core::str::FromStr>::from_str(text).map(Self)
            }
        }

        #[automatically_derived]
        impl ::esdsl_runtime::AggregateId for #name {
            const AGGREGATE: &'static str = #aggregate_name;
            type Event = #event_enum;
        }
    }
}

fn event_enum(aggregate: &Aggregate, events: &[&Event]) -> TokenStream {
    let name = format_ident!("{}Event", aggregate.name.text);
    let aggregate_name = &aggregate.name.text;
    let mut doc =
        format!("The events of aggregate `{aggregate_name}`, each at its newest version.");
    if let Some(aggregate_doc) = &aggregate.doc {
        doc = format!("{doc}\n\n`{aggregate_name}`: {aggregate_doc}");
    }
    let live: Vec<&Event> = events.iter().copied().filter(|e| !e.retired).collect();
    let variants: Vec<_> = live
        .iter()
        .map(|e| format_ident!("{}", e.name.text))
        .collect();
    let stored: Vec<&str> = live.iter().map(|e| e.name.text.as_str()).collect();
    let newest: Vec<u32> = live.iter().map(|e| e.newest()).collect();
    let variant_docs = live.iter().map(|e| {
        let doc = e
            .doc
            .clone()
            .unwrap_or_else(|| format!("The `{}` event.", e.name.text));
        doc_attrs(Some(&doc))
    });
    let type_infos = events.iter().map(|e| {
        let stored = &e.name.text;
        let renamed = e.renamed_from.iter().map(|n| n.text.as_str());
        let newest = e.newest();
        let retired = e.retired;
        quote! {
            ::esdsl_runtime::EventTypeInfo {
                name: #stored,
                renamed_from: &[#(#renamed),*],
                newest_version: #newest,
                retired: #retired,
            }
        }
    });
    let decode_arms = events.iter().map(|e| decode_arm(e));

    let (type_body, version_body, encode_body) = if live.is_empty() {
        (
            quote!(match *self {}),
            quote!(match *self {}),
            quote!(match *self {}),
        )
    } else {
        (
            quote!(match self { #(Self::#variants(_) => #stored,)* }),
            quote!(match self { #(Self::#variants(_) => #newest,)* }),
            quote!(match self { #(Self::#variants(event) => codec.encode(event),)* }),
        )
    };
    let codec_param = if live.is_empty() {
        quote!(_codec)
    } else {
        quote!(codec)
    };

    let doc = doc_attrs(Some(&doc));
    quote! {
        #doc
        #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::cmp::PartialEq)]
        pub enum #name {
            #(
                #variant_docs
                #variants(self::#variants),
            )*
        }

        #(
            #[automatically_derived]
            impl ::core::convert::From<self::#variants> for #name {
                fn from(event: self::#variants) -> Self {
                    Self::#variants(event)
                }
            }
        )*

        #[automatically_derived]
        impl ::esdsl_runtime::Event for #name {
            const AGGREGATE: &'static str = #aggregate_name;
            const EVENT_TYPES: &'static [::esdsl_runtime::EventTypeInfo] = &[#(#type_infos),*];

            fn event_type(&self) -> &'static str {
                #type_body
            }

            fn event_version(&self) -> u32 {
                #version_body
            }

            fn encode(
                &self,
                #codec_param: ::esdsl_runtime::Codec,
            ) -> ::core::result::Result<::std::vec::Vec<u8>, ::esdsl_runtime::CodecError> {
                #encode_body
            }

            fn decode(
                event_type: &str,
                version: u32,
                payload: &[u8],
                codec: ::esdsl_runtime::Codec,
            ) -> ::core::result::Result<
                ::esdsl_runtime::Decoded<Self>,
                ::esdsl_runtime::DecodeError,
            > {
                match event_type {
                    #(#decode_arms)*
                    _ => ::core::result::Result::Err(
                        ::esdsl_runtime::__private::unknown_type(event_type, version),
                    ),
                }
            }
        }
    }
}

/// The arm of `decode` for one event: decode the stored version, then upcast step by step.
fn decode_arm(event: &Event) -> TokenStream {
    let names = std::iter::once(event.name.text.as_str())
        .chain(event.renamed_from.iter().map(|n| n.text.as_str()));
    if event.retired {
        return quote! {
            #(#names)|* => ::core::result::Result::Ok(::esdsl_runtime::Decoded::Skipped),
        };
    }
    let name = format_ident!("{}", event.name.text);
    let newest = event.newest();
    let version_arms = event.versions.iter().map(|version| {
        let number = version.number;
        let module = version_module_ident(number);
        let mut expr = quote! {
            ::esdsl_runtime::__private::decode_payload::<self::#module::#name>(
                codec, payload, event_type, #number,
            )?
        };
        for to in number + 1..=newest {
            let from_module = version_module_ident(to - 1);
            let to_module = version_module_ident(to);
            expr = quote! {
                <self::#to_module::#name as ::esdsl_runtime::Upcast<self::#from_module::#name>>::upcast(
                    #expr
                )
            };
        }
        quote!(#number => #expr,)
    });
    quote! {
        #(#names)|* => {
            let event = match version {
                #(#version_arms)*
                _ => {
                    return ::core::result::Result::Err(
                        ::esdsl_runtime::__private::unknown_version(event_type, version, #newest),
                    );
                }
            };
            ::core::result::Result::Ok(::esdsl_runtime::Decoded::Event(Self::#name(event)))
        }
    }
}
