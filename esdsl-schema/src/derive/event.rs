//! `#[derive(Event)]`: an enum of events, each variant wrapping the newest version's struct.

use std::collections::BTreeMap;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::attr::{self, Errors};
use crate::codegen::{Family, FamilyEvent, event_impl};
use crate::model::Compatibility;

const ENUM_KEYS: [&str; 4] = ["aggregate", "retired", "compatibility", "codecs"];
const VARIANT_KEYS: [&str; 7] = [
    "name",
    "renamed_from",
    "version",
    "history",
    "upcast",
    "compatibility",
    "codecs",
];
const RETIRED_KEYS: [&str; 4] = ["name", "versions", "renamed_from", "doc"];
const STEP_KINDS: [&str; 4] = ["fields", "from", "with", "manual"];

/// How one step (from version `n - 1` to `n`) upcasts.
enum StepKind {
    /// Derived field by field on the newer struct (`#[record(upcast_from = ...)]`).
    Fields,
    /// `From<previous>` implemented for the newer struct.
    From,
    /// A named function `fn(previous) -> newer`.
    With(syn::Path),
    /// An `Upcast` impl written by hand.
    Manual,
}

/// One event as the attributes declare it.
struct EventDecl {
    variant: syn::Ident,
    stored: String,
    stored_span: Span,
    renamed_from: Vec<syn::LitStr>,
    retired: bool,
    doc: Option<String>,
    /// Every version's type, oldest first.
    versions: Vec<syn::Type>,
    /// Steps not derived field by field, by the version they lead to.
    steps: BTreeMap<u32, StepKind>,
    /// `compatibility = ".."` and `codecs(..)` on the variant, if given.
    compatibility: CompatAttr,
}

/// `compatibility = "forward"` and `codecs("json")`, as written on the enum or a variant.
#[derive(Default)]
struct CompatAttr {
    mode: Option<syn::LitStr>,
    codecs: Vec<syn::LitStr>,
}

impl CompatAttr {
    /// The mode these attributes declare, or `None` when they declare none (or a bad one,
    /// reported to `errors`).
    fn resolve(&self, errors: &mut Errors) -> Option<Compatibility> {
        let Some(mode) = &self.mode else {
            if let Some(first) = self.codecs.first() {
                errors.at(
                    first,
                    "`codecs(..)` needs a forward `compatibility`",
                    "add `compatibility = \"forward\"` next to it",
                );
            }
            return None;
        };
        let found = Compatibility::from_name(&mode.value());
        if found.is_none() {
            errors.at(
                mode,
                &format!("unknown compatibility mode `{}`", mode.value()),
                &format!("use one of {}", attr::list(&crate::compat::MODES)),
            );
        }
        // Every codec is checked even when the mode is unknown: all errors in one compile.
        let (mut json, mut postcard) = (self.codecs.is_empty(), self.codecs.is_empty());
        for codec in &self.codecs {
            match codec.value().as_str() {
                "json" => json = true,
                "postcard" => postcard = true,
                other => errors.at(
                    codec,
                    &format!("unknown codec `{other}`"),
                    &format!("use {}", attr::list(&crate::compat::CODECS)),
                ),
            }
        }
        let mut compatibility = found?;
        if !self.codecs.is_empty() && !compatibility.is_forward() {
            errors.at(
                mode,
                "`codecs(..)` only applies to a forward promise",
                "remove `codecs(..)`, or choose `forward` or `full`",
            );
        }
        if json || postcard {
            compatibility.json = json;
            compatibility.postcard = postcard;
        }
        if !compatibility.is_forward() {
            compatibility = Compatibility {
                transitive: compatibility.transitive,
                ..Compatibility::BACKWARD
            };
        }
        Some(compatibility)
    }
}

pub(crate) fn expand(input: &syn::DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let name = &input.ident;
    attr::no_generics(&input.generics, "Event", &mut errors);
    let syn::Data::Enum(data) = &input.data else {
        errors.at(
            name,
            "`#[derive(Event)]` applies to an enum of events",
            "write `enum AccountEvent { Opened(Opened), ... }`, each variant wrapping the \
             struct of the event's newest version",
        );
        return errors.to_compile_errors();
    };

    let mut aggregate: Option<syn::LitStr> = None;
    let mut retired = Vec::new();
    let mut compatibility = CompatAttr::default();
    attr::read(
        &input.attrs,
        "event",
        &ENUM_KEYS,
        &["retired"],
        &mut errors,
        |key, meta, errors| {
            match key {
                "aggregate" => {
                    let text = attr::string(meta)?;
                    name_problem(&text, "aggregate", errors);
                    aggregate = Some(text);
                }
                "compatibility" => compatibility.mode = Some(attr::string(meta)?),
                "codecs" => compatibility.codecs.extend(attr::strings(meta)?),
                _ => {
                    if let Some(event) = retired_event(meta, errors)? {
                        retired.push(event);
                    }
                }
            }
            Ok(())
        },
    );
    if aggregate.is_none() {
        errors.at(
            name,
            "`#[derive(Event)]` needs the aggregate these events belong to",
            "add `#[event(aggregate = \"Account\")]` above the enum",
        );
    }

    let mut events: Vec<EventDecl> = data
        .variants
        .iter()
        .filter_map(|variant| live_event(variant, &mut errors))
        .collect();
    events.extend(retired);
    check_names(&events, &mut errors);

    let Some(aggregate) = aggregate.filter(|_| errors.is_empty()) else {
        if !input.generics.params.is_empty() {
            return errors.to_compile_errors();
        }
        return fallback(name, &errors, &events);
    };
    let aggregate = aggregate.value();
    let default = compatibility
        .resolve(&mut errors)
        .unwrap_or(Compatibility::BACKWARD);
    let modes: Vec<Compatibility> = events
        .iter()
        .map(|e| e.compatibility.resolve(&mut errors).unwrap_or(default))
        .collect();
    if !errors.is_empty() {
        return fallback(name, &errors, &events);
    }
    let family = Family {
        name: quote!(#name),
        aggregate: aggregate.clone(),
        events: events
            .iter()
            .zip(&modes)
            .map(|(e, mode)| {
                let versions: Vec<TokenStream> = e.versions.iter().map(|t| quote!(#t)).collect();
                FamilyEvent {
                    variant: e.variant.clone(),
                    payload: versions.last().cloned().unwrap_or_default(),
                    stored: e.stored.clone(),
                    renamed_from: e.renamed_from.iter().map(syn::LitStr::value).collect(),
                    retired: e.retired,
                    versions,
                    // A derive sees field types by name only: its decoders always count.
                    bounded: Vec::new(),
                    compatibility: if e.retired {
                        Compatibility::BACKWARD
                    } else {
                        *mode
                    },
                }
            })
            .collect(),
    };
    let event_impl = event_impl(&family);
    let steps = events.iter().filter(|e| !e.retired).map(step_impls);
    let describe = describe(name, &aggregate, &events, &modes);
    quote! {
        #event_impl
        #(#steps)*
        #describe
    }
}

/// A variant: one live event.
fn live_event(variant: &syn::Variant, errors: &mut Errors) -> Option<EventDecl> {
    let payload = match &variant.fields {
        syn::Fields::Unnamed(fields) if fields.unnamed.len() == 1 => {
            fields.unnamed.first().map(|f| f.ty.clone())
        }
        _ => None,
    };
    let ident = &variant.ident;
    if payload.is_none() {
        errors.at(
            variant,
            &format!("variant `{ident}` must wrap one event struct"),
            &format!("write `{ident}({ident})`, the struct of the event's newest version"),
        );
    }
    let mut event = EventDecl {
        variant: ident.clone(),
        stored: ident.to_string(),
        stored_span: ident.span(),
        renamed_from: Vec::new(),
        retired: false,
        doc: attr::doc(&variant.attrs),
        versions: Vec::new(),
        steps: BTreeMap::new(),
        compatibility: CompatAttr::default(),
    };
    let mut version: Option<syn::LitInt> = None;
    let mut steps = Vec::new();
    attr::read(
        &variant.attrs,
        "event",
        &VARIANT_KEYS,
        &[],
        errors,
        |key, meta, errors| {
            match key {
                "name" => {
                    let name = attr::string(meta)?;
                    name_problem(&name, "event", errors);
                    event.stored = name.value();
                    event.stored_span = name.span();
                }
                "renamed_from" => event.renamed_from.extend(attr::strings(meta)?),
                "version" => version = Some(meta.value()?.parse()?),
                "history" => event.versions.extend(attr::types(meta)?),
                "compatibility" => event.compatibility.mode = Some(attr::string(meta)?),
                "codecs" => event.compatibility.codecs.extend(attr::strings(meta)?),
                _ => steps.extend(step_kinds(meta, errors)?),
            }
            Ok(())
        },
    );
    event.versions.extend(payload.clone());
    let newest = u32::try_from(event.versions.len()).unwrap_or(u32::MAX);
    if let Some(version) = &version {
        match version.base10_parse::<u32>() {
            Ok(declared) if declared == newest => {}
            Ok(declared) => {
                let older = newest.saturating_sub(1);
                let plural = if older == 1 { "" } else { "s" };
                errors.at(
                    version,
                    &format!(
                        "event `{}` is at `version = {declared}` but `history` lists {older} \
                         older version{plural}",
                        event.stored
                    ),
                    &match declared {
                        0 => "versions count from 1".to_owned(),
                        1 => "remove `history(...)`: version 1 has no older versions".to_owned(),
                        2 => "list the struct of version 1: `history(v1::Name)`".to_owned(),
                        n => format!(
                            "list the structs of versions 1 to {}, oldest first: \
                             `history(v1::Name, v2::Name, ...)`",
                            n - 1
                        ),
                    },
                );
            }
            Err(error) => errors.push(error),
        }
    }
    for (step, number, kind) in steps {
        if !(2..=newest).contains(&number) {
            let range = if newest < 2 {
                "it has one version, so no steps".to_owned()
            } else {
                format!("its steps are `v2` to `v{newest}`")
            };
            errors.at(
                &step,
                &format!("`{step}` is not a step of event `{}`", event.stored),
                &format!("{range}: `vN` names the step from version N-1 to N"),
            );
        } else if let std::collections::btree_map::Entry::Vacant(entry) = event.steps.entry(number)
        {
            entry.insert(kind);
        } else {
            errors.at(
                &step,
                &format!("step `{step}` of event `{}` is given twice", event.stored),
                "keep one: a step upcasts one way",
            );
        }
    }
    payload.map(|_| event)
}

/// `upcast(v2 = from, v3 = with(path), v4 = manual)`.
fn step_kinds(
    meta: &syn::meta::ParseNestedMeta<'_>,
    errors: &mut Errors,
) -> syn::Result<Vec<(syn::Ident, u32, StepKind)>> {
    let mut steps = Vec::new();
    meta.parse_nested_meta(|step| {
        let Some(ident) = step.path.get_ident().cloned() else {
            errors.at(
                &step.path,
                "a step is named `vN`",
                "write `upcast(v2 = from)`",
            );
            return attr::skip_value(&step);
        };
        let number = ident
            .to_string()
            .strip_prefix('v')
            .and_then(|n| n.parse::<u32>().ok());
        let Some(number) = number else {
            errors.at(
                &ident,
                &format!("`{ident}` is not a step"),
                "a step is named after the version it leads to: `upcast(v2 = from)`",
            );
            return attr::skip_value(&step);
        };
        let value = step.value()?;
        let kind_ident: syn::Ident = value.parse()?;
        let kind = match kind_ident.to_string().as_str() {
            "fields" => StepKind::Fields,
            "from" => StepKind::From,
            "manual" => StepKind::Manual,
            "with" => {
                let content;
                syn::parenthesized!(content in value);
                StepKind::With(content.parse()?)
            }
            other => {
                let help = match crate::diag::did_you_mean(other, STEP_KINDS) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!("a step upcasts by {}", attr::list(&STEP_KINDS)),
                };
                errors.at(&kind_ident, &format!("unknown upcast `{other}`"), &help);
                if value.peek(syn::token::Paren) {
                    let content;
                    syn::parenthesized!(content in value);
                    content.parse::<TokenStream>()?;
                }
                return Ok(());
            }
        };
        steps.push((ident, number, kind));
        Ok(())
    })?;
    Ok(steps)
}

/// `retired(name = "LegacyAudit", versions(v1::LegacyAudit))`.
fn retired_event(
    meta: &syn::meta::ParseNestedMeta<'_>,
    errors: &mut Errors,
) -> syn::Result<Option<EventDecl>> {
    let mut name: Option<syn::LitStr> = None;
    let mut versions = Vec::new();
    let mut renamed_from = Vec::new();
    let mut doc = None;
    let span = meta.path.span();
    meta.parse_nested_meta(|inner| {
        let key = inner
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        match key.as_str() {
            "name" => name = Some(attr::string(&inner)?),
            "versions" => versions.extend(attr::types(&inner)?),
            "renamed_from" => renamed_from.extend(attr::strings(&inner)?),
            "doc" => doc = Some(attr::string(&inner)?.value()),
            _ => {
                let help = match crate::diag::did_you_mean(&key, RETIRED_KEYS) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!("`retired(...)` takes {}", attr::list(&RETIRED_KEYS)),
                };
                errors.at(
                    &inner.path,
                    &format!("unknown key `{key}` in `retired(...)`"),
                    &help,
                );
                attr::skip_value(&inner)?;
            }
        }
        Ok(())
    })?;
    if let Some(name) = &name {
        name_problem(name, "event", errors);
    }
    let Some(name) = name else {
        errors.at_span(
            span,
            "a retired event needs its stored name",
            "write `retired(name = \"LegacyAudit\", versions(v1::LegacyAudit))`",
        );
        return Ok(None);
    };
    if versions.is_empty() {
        errors.at(
            &name,
            &format!("retired event `{}` lists no versions", name.value()),
            "list the struct of every stored version, oldest first: `versions(v1::LegacyAudit)`; \
             the evolution check compares them with the lock",
        );
        return Ok(None);
    }
    Ok(Some(EventDecl {
        variant: format_ident!("__Retired"),
        stored: name.value(),
        stored_span: name.span(),
        renamed_from,
        retired: true,
        doc,
        versions,
        steps: BTreeMap::new(),
        compatibility: CompatAttr::default(),
    }))
}

/// Reports a name that the schema language cannot use for an aggregate or event.
pub(crate) fn name_problem(name: &syn::LitStr, what: &str, errors: &mut Errors) {
    if let Some(problem) = crate::validate::type_name_problem(&name.value()) {
        errors.at(
            name,
            &format!("{what} name `{}` is not usable: {problem}", name.value()),
            &format!("an {what} is named like a Rust type, in UpperCamelCase: `Cart`, `ItemAdded`"),
        );
    }
}

/// Every stored name (current and former) belongs to one event only.
fn check_names(events: &[EventDecl], errors: &mut Errors) {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for event in events {
        let names = std::iter::once((event.stored.clone(), event.stored_span)).chain(
            event
                .renamed_from
                .iter()
                .map(|name| (name.value(), name.span())),
        );
        for (name, span) in names {
            if let Some(first) = seen.get(&name) {
                errors.at_span(
                    span,
                    &format!("two events are stored as `{name}`"),
                    &format!(
                        "`{name}` already names event `{first}`; give each event its own \
                         stored name with `#[event(name = \"...\")]`"
                    ),
                );
            } else {
                seen.insert(name, event.stored.as_str());
            }
        }
    }
}

/// The `Upcast` impls the variant's attributes ask for, and a check that every step left to
/// the structs really is derived field by field.
fn step_impls(event: &EventDecl) -> TokenStream {
    let pairs = event.versions.iter().zip(&event.versions[1..]).zip(2u32..);
    let impls = pairs.map(|((previous, next), number)| {
        let span = next.span();
        match event.steps.get(&number).unwrap_or(&StepKind::Fields) {
            StepKind::Fields => quote_spanned! {span=>
                const _: () = {
                    fn derived_field_by_field<T: ::esdsl_runtime::__private::FieldUpcast<F>, F>() {}
                    #[allow(dead_code)]
                    fn check() {
                        derived_field_by_field::<#next, #previous>();
                    }
                };
            },
            StepKind::From => quote_spanned! {span=>
                #[automatically_derived]
                impl ::esdsl_runtime::Upcast<#previous> for #next {
                    fn upcast(previous: #previous) -> Self {
                        <Self as ::core::convert::From<#previous>>::from(previous)
                    }
                }
            },
            StepKind::With(function) => quote_spanned! {function.span()=>
                #[automatically_derived]
                impl ::esdsl_runtime::Upcast<#previous> for #next {
                    fn upcast(previous: #previous) -> Self {
                        #function(previous)
                    }
                }
            },
            StepKind::Manual => TokenStream::new(),
        }
    });
    quote!(#(#impls)*)
}

/// `impl Describe`: the events in the schema language's terms.
fn describe(
    name: &syn::Ident,
    aggregate: &str,
    events: &[EventDecl],
    modes: &[Compatibility],
) -> TokenStream {
    let events = events.iter().zip(modes).map(|(event, mode)| {
        let mode = if event.retired {
            Compatibility::BACKWARD
        } else {
            *mode
        };
        let compatibility = mode.name();
        let codecs: Vec<&str> = if mode.is_forward() && !(mode.json && mode.postcard) {
            mode.codecs()
        } else {
            Vec::new()
        };
        let stored = &event.stored;
        let doc = option_string(event.doc.as_deref());
        let renamed = event.renamed_from.iter();
        let retired = event.retired;
        let manual = event
            .steps
            .iter()
            .filter_map(|(number, kind)| (!matches!(kind, StepKind::Fields)).then_some(*number));
        let versions = event.versions.iter();
        quote! {
            let versions = ::std::vec![#(
                <#versions as ::esdsl_runtime::describe::DescribeFields>::describe_fields(schema)
            ),*];
            schema.event(::esdsl_runtime::describe::EventDescriptor {
                name: ::std::borrow::ToOwned::to_owned(#stored),
                aggregate: ::std::borrow::ToOwned::to_owned(#aggregate),
                doc: #doc,
                renamed_from: ::std::vec![#(::std::borrow::ToOwned::to_owned(#renamed)),*],
                retired: #retired,
                manual_upcasts: ::std::vec![#(#manual),*],
                compatibility: ::std::borrow::ToOwned::to_owned(#compatibility),
                codecs: ::std::vec![#(::std::borrow::ToOwned::to_owned(#codecs)),*],
                versions,
            });
        }
    });
    quote! {
        #[automatically_derived]
        impl ::esdsl_runtime::describe::Describe for #name {
            fn describe(schema: &mut ::esdsl_runtime::describe::SchemaDescriptor) {
                #(#events)*
            }
        }
    }
}

/// `Option<String>` tokens.
pub(crate) fn option_string(text: Option<&str>) -> TokenStream {
    match text {
        Some(text) => quote!(::core::option::Option::Some(::std::borrow::ToOwned::to_owned(#text))),
        None => quote!(::core::option::Option::None),
    }
}

/// When the attributes are wrong: the errors, and impls that keep uses of the enum from
/// adding errors of their own.
fn fallback(name: &syn::Ident, errors: &Errors, events: &[EventDecl]) -> TokenStream {
    let errors = errors.to_compile_errors();
    let froms = events.iter().filter(|e| !e.retired).filter_map(|e| {
        let payload = e.versions.last()?;
        let variant = &e.variant;
        Some(quote! {
            #[automatically_derived]
            impl ::core::convert::From<#payload> for #name {
                fn from(event: #payload) -> Self {
                    Self::#variant(event)
                }
            }
        })
    });
    quote! {
        #errors
        #(#froms)*

        #[automatically_derived]
        impl ::esdsl_runtime::Event for #name {
            const AGGREGATE: &'static str = "";
            const EVENT_TYPES: &'static [::esdsl_runtime::EventTypeInfo] = &[];

            fn event_type(&self) -> &'static str {
                ::core::unreachable!()
            }

            fn event_version(&self) -> u32 {
                ::core::unreachable!()
            }

            fn encode(
                &self,
                _: ::esdsl_runtime::Codec,
            ) -> ::core::result::Result<::std::vec::Vec<u8>, ::esdsl_runtime::CodecError> {
                ::core::unreachable!()
            }

            fn decode(
                _: &str,
                _: u32,
                _: &[u8],
                _: ::esdsl_runtime::Codec,
            ) -> ::core::result::Result<
                ::esdsl_runtime::Decoded<Self>,
                ::esdsl_runtime::DecodeError,
            > {
                ::core::unreachable!()
            }
        }

        #[automatically_derived]
        impl ::esdsl_runtime::describe::Describe for #name {
            fn describe(_: &mut ::esdsl_runtime::describe::SchemaDescriptor) {}
        }
    }
}
