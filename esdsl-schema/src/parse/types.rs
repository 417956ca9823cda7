//! Type expressions: the text of a field type (`option<list<Address>>`) to its structure,
//! before validation resolves the names in it.

/// A type as written: a name, or a generic head with one argument.
#[derive(Debug, PartialEq)]
pub(crate) enum TypeExpr {
    Name(String),
    Generic(String, Box<TypeExpr>),
}

pub(crate) fn parse_type_expr(text: &str) -> Result<TypeExpr, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("it is empty".into());
    }
    match text.find('<') {
        None => {
            if text.contains('>') {
                return Err("`>` without `<`".into());
            }
            if !text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err("a type name holds only letters, digits and `_`".into());
            }
            Ok(TypeExpr::Name(text.to_owned()))
        }
        Some(open) => {
            let Some(inner) = text[open + 1..].strip_suffix('>') else {
                return Err("`<` is not closed by a final `>`".into());
            };
            let head = text[..open].trim();
            if head.is_empty() || !head.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err("a generic type is written `option<T>`, `list<T>` or `map<T>`".into());
            }
            if inner.contains(',') {
                return Err("generic types take one argument (`map<T>` has string keys)".into());
            }
            Ok(TypeExpr::Generic(
                head.to_owned(),
                Box::new(parse_type_expr(inner)?),
            ))
        }
    }
}
