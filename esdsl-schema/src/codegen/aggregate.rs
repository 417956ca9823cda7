//! Per aggregate: the id type, the event enum and its `Event` implementation.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use crate::model::{Aggregate, Compatibility, Event, IdType};

use super::depth::Depths;
use super::doc_attrs;
use super::events::version_module_ident;
use super::types::{Derives, derive_attr};

/// `events`: the aggregate's events, in source order.
pub(crate) fn aggregate(
    aggregate: &Aggregate,
    events: &[&Event],
    depths: &Depths<'_>,
) -> TokenStream {
    let enum_name = format_ident!("{}Event", aggregate.name.text);
    let id = id_type(aggregate, &quote!(pub), &quote!(#enum_name));
    let event_enum = event_enum(aggregate, events, depths);
    quote! {
        #id
        #event_enum
    }
}

/// The id type `<Aggregate>Id` with visibility `vis`, bound to the event family `event_enum`.
pub(crate) fn id_type(
    aggregate: &Aggregate,
    vis: &TokenStream,
    event_enum: &TokenStream,
) -> TokenStream {
    let name = format_ident!("{}Id", aggregate.name.text);
    let aggregate_name = &aggregate.name.text;
    let doc = format!("Identifies one `{aggregate_name}`; its stream is `{aggregate_name}-<id>`.");
    let (inner, copy, extra) = match aggregate.id {
        IdType::Uuid => (
            quote!(::esdsl_runtime::__private::uuid::Uuid),
            true,
            quote! {
                impl #name {
                    /// A new, time-ordered id (UUID v7).
                    pub fn now_v7() -> Self {
                        Self(::esdsl_runtime::__private::uuid::Uuid::now_v7())
                    }
                }
            },
        ),
        IdType::String => (quote!(::std::string::String), false, quote!()),
        IdType::U64 => (quote!(u64), true, quote!()),
        IdType::I64 => (quote!(i64), true, quote!()),
    };
    let doc = doc_attrs(Some(&doc));
    let derive = derive_attr(Derives::Value { copy });
    quote! {
        #doc
        #derive
        #[serde(crate = "::esdsl_runtime::__private::serde", transparent)]
        #vis struct #name(pub #inner);

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

fn event_enum(aggregate: &Aggregate, events: &[&Event], depths: &Depths<'_>) -> TokenStream {
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
    let variant_docs = live.iter().map(|e| {
        let doc = e
            .doc
            .clone()
            .unwrap_or_else(|| format!("The `{}` event.", e.name.text));
        doc_attrs(Some(&doc))
    });
    let family = Family {
        name: quote!(#name),
        aggregate: aggregate_name.clone(),
        events: events
            .iter()
            .map(|e| {
                let variant = format_ident!("{}", e.name.text);
                FamilyEvent {
                    payload: quote!(self::#variant),
                    versions: e
                        .versions
                        .iter()
                        .map(|v| {
                            let module = version_module_ident(v.number);
                            quote!(self::#module::#variant)
                        })
                        .collect(),
                    bounded: e
                        .versions
                        .iter()
                        .map(|v| depths.bounded(&v.fields))
                        .collect(),
                    variant,
                    stored: e.name.text.clone(),
                    renamed_from: e.renamed_from.iter().map(|n| n.text.clone()).collect(),
                    retired: e.retired,
                    compatibility: e.compatibility,
                }
            })
            .collect(),
    };
    let event_impl = event_impl(&family);

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

        #event_impl
    }
}

/// A family of events as code generation needs it, whether declared in a schema file or with
/// `#[derive(Event)]`: the enum, and for each event its variant, stored names and the Rust
/// type of every version.
pub(crate) struct Family {
    /// The enum's type.
    pub(crate) name: TokenStream,
    /// The aggregate's name.
    pub(crate) aggregate: String,
    /// Every event, live and retired, in declaration order.
    pub(crate) events: Vec<FamilyEvent>,
}

/// One event of a [`Family`].
pub(crate) struct FamilyEvent {
    /// The enum variant (unused for a retired event).
    pub(crate) variant: Ident,
    /// The type the variant wraps: the newest version.
    pub(crate) payload: TokenStream,
    /// The stored type name.
    pub(crate) stored: String,
    /// Older stored names.
    pub(crate) renamed_from: Vec<String>,
    /// Retired: skipped on decode, not a variant.
    pub(crate) retired: bool,
    /// The Rust type of each version, oldest first.
    pub(crate) versions: Vec<TokenStream>,
    /// For each version, whether the schema bounds its nesting within the runtime's decode
    /// limit, so its decoder need not count (see `depth.rs`); empty when unknown (derives).
    pub(crate) bounded: Vec<bool>,
    /// Its compatibility mode: whether (and how far, with which codecs) its decoder reads
    /// versions newer than its newest.
    pub(crate) compatibility: Compatibility,
}

/// `From<payload>` for each live event and the `Event` implementation of a family.
pub(crate) fn event_impl(family: &Family) -> TokenStream {
    let name = &family.name;
    let aggregate_name = &family.aggregate;
    let live: Vec<&FamilyEvent> = family.events.iter().filter(|e| !e.retired).collect();
    let variants: Vec<&Ident> = live.iter().map(|e| &e.variant).collect();
    let payloads: Vec<&TokenStream> = live.iter().map(|e| &e.payload).collect();
    let stored: Vec<&str> = live.iter().map(|e| e.stored.as_str()).collect();
    let newest: Vec<u32> = live.iter().map(|e| newest_version(e)).collect();
    let type_infos = family.events.iter().map(|e| {
        let stored = &e.stored;
        let renamed = &e.renamed_from;
        let newest = newest_version(e);
        let retired = e.retired;
        let reads_ahead = reads_ahead(e);
        quote! {
            ::esdsl_runtime::EventTypeInfo {
                name: #stored,
                renamed_from: &[#(#renamed),*],
                newest_version: #newest,
                retired: #retired,
                reads_ahead: #reads_ahead,
            }
        }
    });
    let decode_arms = family.events.iter().map(decode_arm);

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

    quote! {
        #(
            #[automatically_derived]
            impl ::core::convert::From<#payloads> for #name {
                fn from(event: #payloads) -> Self {
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

/// The event's `ReadsAhead`: `NONE` unless its schema declares it forward compatible.
fn reads_ahead(event: &FamilyEvent) -> TokenStream {
    let compatibility = &event.compatibility;
    if event.retired || !compatibility.is_forward() {
        return quote!(::esdsl_runtime::ReadsAhead::NONE);
    }
    let versions = compatibility.reads_ahead();
    let (json, postcard) = (compatibility.json, compatibility.postcard);
    quote! {
        ::esdsl_runtime::ReadsAhead {
            versions: #versions,
            json: #json,
            postcard: #postcard,
        }
    }
}

fn newest_version(event: &FamilyEvent) -> u32 {
    u32::try_from(event.versions.len()).unwrap_or(u32::MAX)
}

/// The arm of `decode` for one event: decode the stored version, then upcast step by step.
fn decode_arm(event: &FamilyEvent) -> TokenStream {
    let names =
        std::iter::once(event.stored.as_str()).chain(event.renamed_from.iter().map(String::as_str));
    if event.retired {
        return quote! {
            #(#names)|* => ::core::result::Result::Ok(::esdsl_runtime::Decoded::Skipped),
        };
    }
    let variant = &event.variant;
    let newest = newest_version(event);
    let version_arms = event.versions.iter().enumerate().map(|(index, ty)| {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let read = if event.bounded.get(index).copied().unwrap_or(false) {
            quote!(Bounded)
        } else {
            quote!(Counted)
        };
        let mut expr = quote! {
            ::esdsl_runtime::__private::decode_payload::<#ty>(
                ::esdsl_runtime::__private::Read::#read, codec, payload, event_type, #number,
            )?
        };
        for (previous, next) in event.versions[index..]
            .iter()
            .zip(&event.versions[index + 1..])
        {
            expr = quote! {
                <#next as ::esdsl_runtime::Upcast<#previous>>::upcast(
                    #expr
                )
            };
        }
        quote!(#number => #expr,)
    });
    // A forward-compatible event reads a newer version as its newest: the evolution check
    // proved that the newest's fields are there, by name (JSON) or at the front (postcard).
    let newer = event.compatibility.is_forward().then(|| {
        let reads_ahead = reads_ahead(event);
        let ty = event.versions.last();
        quote! {
            const READS_AHEAD: ::esdsl_runtime::ReadsAhead = #reads_ahead;
            if READS_AHEAD.allows(#newest, version, codec) {
                let event = ::esdsl_runtime::__private::decode_payload::<#ty>(
                    ::esdsl_runtime::__private::Read::Newer, codec, payload, event_type, version,
                )?;
                return ::core::result::Result::Ok(::esdsl_runtime::Decoded::Newer {
                    event: Self::#variant(event),
                    stored_version: version,
                });
            }
        }
    });
    quote! {
        #(#names)|* => {
            let event = match version {
                #(#version_arms)*
                _ => {
                    #newer
                    return ::core::result::Result::Err(
                        ::esdsl_runtime::__private::unknown_version(event_type, version, #newest),
                    );
                }
            };
            ::core::result::Result::Ok(::esdsl_runtime::Decoded::Event(Self::#variant(event)))
        }
    }
}
