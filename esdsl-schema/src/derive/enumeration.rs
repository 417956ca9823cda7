//! `#[derive(Enum)]`: a closed set of named values stored by name, like an `[enums.*]` table.
//! The stored names are serde's: `#[serde(rename = "...")]` and `#[serde(rename_all = "...")]`.

use proc_macro2::TokenStream;
use quote::quote;

use super::attr::{self, Errors};
use super::event::option_string;

const RENAME_RULES: [&str; 8] = [
    "lowercase",
    "UPPERCASE",
    "PascalCase",
    "camelCase",
    "snake_case",
    "SCREAMING_SNAKE_CASE",
    "kebab-case",
    "SCREAMING-KEBAB-CASE",
];

pub(crate) fn expand(input: &syn::DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let name = &input.ident;
    attr::no_generics(&input.generics, "Enum", &mut errors);
    let syn::Data::Enum(data) = &input.data else {
        errors.at(
            name,
            "`#[derive(Enum)]` applies to an enum of unit variants",
            "use `#[derive(esdsl_runtime::Record)]` for a struct",
        );
        return errors.to_compile_errors();
    };

    let mut rule: Option<String> = None;
    for (key, span, value) in attr::serde_keys(&input.attrs) {
        match key.as_str() {
            "crate" => {}
            "rename_all" => match value {
                Some(value) if RENAME_RULES.contains(&value.value().as_str()) => {
                    rule = Some(value.value());
                }
                Some(value) => {
                    let help = match crate::diag::did_you_mean(&value.value(), RENAME_RULES) {
                        Some(near) => format!("did you mean `{near}`?"),
                        None => format!("serde renames by {}", attr::list(&RENAME_RULES)),
                    };
                    errors.at(
                        &value,
                        &format!("unknown `rename_all` rule `{}`", value.value()),
                        &help,
                    );
                }
                None => errors.at_span(
                    span,
                    "`rename_all` with separate serialize and deserialize rules stores values \
                     under one name and reads them under another",
                    "write one rule: `#[serde(rename_all = \"snake_case\")]`",
                ),
            },
            _ => errors.at_span(
                span,
                &format!("`#[serde({key})]` changes how the enum is stored, which the schema cannot describe"),
                "an enum is stored as its variant's name: keep `rename` and `rename_all` only",
            ),
        }
    }

    let mut variants = Vec::new();
    for variant in &data.variants {
        if !matches!(variant.fields, syn::Fields::Unit) {
            errors.at(
                variant,
                &format!("variant `{}` carries data", variant.ident),
                "an enum of the schema is a set of names: use unit variants, and a record \
                 (`#[derive(Record)]`) for values with fields",
            );
            continue;
        }
        let mut stored = rename(&variant.ident.to_string(), rule.as_deref());
        let keys = attr::serde_keys(&variant.attrs);
        for (key, span, value) in keys {
            match (key.as_str(), value) {
                ("rename", Some(value)) => stored = value.value(),
                _ => errors.at_span(
                    span,
                    &format!("`#[serde({key})]` on a variant changes how the enum is stored, which the schema cannot describe"),
                    "a variant may only be renamed: `#[serde(rename = \"stored_name\")]`",
                ),
            }
        }
        variants.push(stored);
    }
    if data.variants.is_empty() {
        errors.at(
            name,
            &format!("enum `{name}` has no variants"),
            "an enum of the schema lists at least one variant",
        );
    }
    let widen = super::widen_identity(name);
    if !errors.is_empty() {
        // Placeholder impls keep fields of this type from adding errors of their own.
        let errors = errors.to_compile_errors();
        if !input.generics.params.is_empty() {
            return errors;
        }
        return quote! {
            #errors
            #widen

            #[automatically_derived]
            impl ::esdsl_runtime::describe::SchemaType for #name {
                fn schema_type(
                    _: &mut ::esdsl_runtime::describe::SchemaDescriptor,
                ) -> ::esdsl_runtime::describe::FieldType {
                    ::esdsl_runtime::describe::FieldType::Enum(::std::string::String::new())
                }
            }
        };
    }
    let stored = name.to_string();
    let doc = option_string(attr::doc(&input.attrs).as_deref());
    quote! {
        #[automatically_derived]
        impl ::esdsl_runtime::describe::SchemaType for #name {
            fn schema_type(
                schema: &mut ::esdsl_runtime::describe::SchemaDescriptor,
            ) -> ::esdsl_runtime::describe::FieldType {
                let doc: ::core::option::Option<::std::string::String> = #doc;
                schema.enumeration(#stored, doc.as_deref(), &[#(#variants),*])
            }
        }

        #widen
    }
}

/// A variant's name under serde's `rename_all` rule (serde applies these to variants exactly so).
fn rename(variant: &str, rule: Option<&str>) -> String {
    let snake = || {
        let mut out = String::new();
        for (i, c) in variant.char_indices() {
            if i > 0 && c.is_uppercase() {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        }
        out
    };
    match rule {
        Some("lowercase") => variant.to_ascii_lowercase(),
        Some("UPPERCASE") => variant.to_ascii_uppercase(),
        Some("camelCase") => {
            let mut chars = variant.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_lowercase().to_string() + chars.as_str()
            })
        }
        Some("snake_case") => snake(),
        Some("SCREAMING_SNAKE_CASE") => snake().to_ascii_uppercase(),
        Some("kebab-case") => snake().replace('_', "-"),
        Some("SCREAMING-KEBAB-CASE") => snake().replace('_', "-").to_ascii_uppercase(),
        _ => variant.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::rename;

    #[test]
    fn rename_rules_follow_serde() {
        assert_eq!(rename("GreatBritain", Some("snake_case")), "great_britain");
        assert_eq!(rename("GreatBritain", Some("kebab-case")), "great-britain");
        assert_eq!(
            rename("GreatBritain", Some("SCREAMING_SNAKE_CASE")),
            "GREAT_BRITAIN"
        );
        assert_eq!(rename("GreatBritain", Some("camelCase")), "greatBritain");
        assert_eq!(rename("Eur", Some("lowercase")), "eur");
        assert_eq!(rename("Eur", None), "Eur");
    }
}
