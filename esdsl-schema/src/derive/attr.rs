//! Reading the derives' attributes: every problem collected, each spanned at its token, with a
//! help line and "did you mean" for unknown keys.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;

use crate::diag::did_you_mean;

/// Collects errors while a derive reads its input, so that one compile reports them all.
#[derive(Default)]
pub(crate) struct Errors {
    errors: Vec<syn::Error>,
}

impl Errors {
    /// An error at `tokens`, with a help line.
    pub(crate) fn at(&mut self, tokens: impl ToTokens, message: &str, help: &str) {
        self.push(syn::Error::new_spanned(tokens, with_help(message, help)));
    }

    /// An error at `span`, with a help line.
    pub(crate) fn at_span(&mut self, span: Span, message: &str, help: &str) {
        self.push(syn::Error::new(span, with_help(message, help)));
    }

    /// An error from syn (a value that does not parse).
    pub(crate) fn push(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The errors as `compile_error!` invocations.
    pub(crate) fn to_compile_errors(&self) -> TokenStream {
        self.errors
            .iter()
            .map(syn::Error::to_compile_error)
            .collect()
    }
}

fn with_help(message: &str, help: &str) -> String {
    if help.is_empty() {
        message.to_owned()
    } else {
        format!("{message}\n\n= help: {help}")
    }
}

/// Reads every `#[name(...)]` attribute among `attrs`, calling `each` per key. A key that
/// `each` does not know is reported with "did you mean" among `known` and skipped, so reading
/// goes on; so is a key given twice (but for those in `repeatable`); a value that does not
/// parse is reported and the rest of that attribute skipped.
pub(crate) fn read(
    attrs: &[syn::Attribute],
    name: &str,
    known: &[&str],
    repeatable: &[&str],
    errors: &mut Errors,
    mut each: impl FnMut(&str, &ParseNestedMeta<'_>, &mut Errors) -> syn::Result<()>,
) {
    let mut seen: Vec<String> = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident(name)) {
        if let syn::Meta::Path(path) = &attr.meta {
            errors.at(
                path,
                &format!("`#[{name}]` needs keys"),
                &format!("write `#[{name}({})]`", known.join(", ")),
            );
            continue;
        }
        let result = attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_else(|| meta.path.to_token_stream().to_string());
            if seen.contains(&key) && !repeatable.contains(&key.as_str()) {
                errors.at(
                    &meta.path,
                    &format!("`{key}` is given twice in `#[{name}]`"),
                    "keep one: the second would silently replace the first",
                );
                skip_value(&meta)
            } else if known.contains(&key.as_str()) {
                seen.push(key.clone());
                each(&key, &meta, errors)
            } else {
                unknown_key(&meta, &key, name, known, errors);
                skip_value(&meta)
            }
        });
        if let Err(error) = result {
            errors.push(error);
        }
    }
}

fn unknown_key(
    meta: &ParseNestedMeta<'_>,
    key: &str,
    attribute: &str,
    known: &[&str],
    errors: &mut Errors,
) {
    let help = match did_you_mean(key, known.iter().copied()) {
        Some(near) => format!("did you mean `{near}`?"),
        None => format!("`#[{attribute}]` takes {}", list(known)),
    };
    errors.at(
        &meta.path,
        &format!("unknown key `{key}` in `#[{attribute}]`"),
        &help,
    );
}

/// `a`, `b` and `c`.
pub(crate) fn list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("`{i}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// Consumes whatever value follows a key: `= expr`, `(...)` or nothing.
pub(crate) fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in meta.input);
        content.parse::<TokenStream>()?;
    }
    Ok(())
}

/// `key = "text"`.
pub(crate) fn string(meta: &ParseNestedMeta<'_>) -> syn::Result<syn::LitStr> {
    meta.value()?.parse()
}

/// `key = "a"` or `key("a", "b")`.
pub(crate) fn strings(meta: &ParseNestedMeta<'_>) -> syn::Result<Vec<syn::LitStr>> {
    if meta.input.peek(syn::Token![=]) {
        return Ok(vec![meta.value()?.parse()?]);
    }
    let content;
    syn::parenthesized!(content in meta.input);
    let list =
        content.parse_terminated(<syn::LitStr as syn::parse::Parse>::parse, syn::Token![,])?;
    Ok(list.into_iter().collect())
}

/// `key(Type, Type)`.
pub(crate) fn types(meta: &ParseNestedMeta<'_>) -> syn::Result<Vec<syn::Type>> {
    let content;
    syn::parenthesized!(content in meta.input);
    let list = content.parse_terminated(<syn::Type as syn::parse::Parse>::parse, syn::Token![,])?;
    Ok(list.into_iter().collect())
}

/// The doc comment among `attrs` (`///` lines), one leading space removed per line.
pub(crate) fn doc(attrs: &[syn::Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(syn::MetaNameValue {
                value:
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(text),
                        ..
                    }),
                ..
            }) => Some(text.value()),
            _ => None,
        })
        .flat_map(|text| {
            text.lines()
                .map(|line| line.strip_prefix(' ').unwrap_or(line).to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    let text = lines.join("\n");
    let text = text.trim_matches('\n');
    (!text.is_empty()).then(|| text.to_owned())
}

/// Rejects generics: a derive-declared schema item is one concrete type.
pub(crate) fn no_generics(generics: &syn::Generics, derive: &str, errors: &mut Errors) {
    if !generics.params.is_empty() {
        errors.at(
            &generics.params,
            &format!("`#[derive({derive})]` does not take generic parameters"),
            "a schema item is one concrete type: remove the parameters",
        );
    }
}

/// The `#[serde(...)]` keys among `attrs`, with their spans, for derives that must know how
/// serde stores a type.
pub(crate) fn serde_keys(attrs: &[syn::Attribute]) -> Vec<(String, Span, Option<syn::LitStr>)> {
    let mut keys = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            let key = meta.path.to_token_stream().to_string();
            let span = meta.path.span();
            if meta.input.peek(syn::Token![=]) {
                let value = meta.value()?.parse::<syn::Expr>()?;
                let text = match value {
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(text),
                        ..
                    }) => Some(text),
                    _ => None,
                };
                keys.push((key, span, text));
            } else {
                keys.push((key, span, None));
                skip_value(&meta)?;
            }
            Ok(())
        });
    }
    keys
}
