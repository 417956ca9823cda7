//! Type expressions: the text of a field type (`option<list<Address>>`) to its structure,
//! before validation resolves the names in it.
//!
//! The text can come from anyone, so the parser loops instead of recursing, and stops at
//! [`MAX_TYPE_DEPTH`] generic types: what it returns is never deeper than the code generator,
//! the Rust compiler or any stack can take.

/// How many generic types (`option<..>`, `list<..>`, `map<..>`) a field type may nest.
///
/// Real types nest two or three deep; the limit keeps every later stage (validation, the
/// evolution check, code generation, `syn` and `prettyplease`, the compiler) far from the end
/// of any thread's stack. A deeper type is refused as `type_too_deep`.
pub const MAX_TYPE_DEPTH: usize = 32;

/// A type as written: generic heads around a name, outermost first. `list<option<Address>>`
/// has the heads `list` and `option` and the name `Address`.
#[derive(Debug, PartialEq)]
pub(crate) struct TypeExpr {
    pub(crate) heads: Vec<String>,
    pub(crate) name: String,
}

/// Why a type's text is not a type expression.
#[derive(Debug, PartialEq)]
pub(crate) enum TypeExprError {
    /// Not the syntax of a type; the message says what is wrong.
    Invalid(String),
    /// More than [`MAX_TYPE_DEPTH`] generic types nest.
    TooDeep,
}

pub(crate) fn parse_type_expr(text: &str) -> Result<TypeExpr, TypeExprError> {
    let invalid = |message: &str| Err(TypeExprError::Invalid(message.to_owned()));
    let mut heads = Vec::new();
    let mut text = text;
    loop {
        text = text.trim();
        if text.is_empty() {
            return invalid("it is empty");
        }
        let Some(open) = text.find('<') else {
            if text.contains('>') {
                return invalid("`>` without `<`");
            }
            if !is_word(text) {
                return invalid("a type name holds only letters, digits and `_`");
            }
            return Ok(TypeExpr {
                heads,
                name: text.to_owned(),
            });
        };
        let Some(inner) = text[open + 1..].strip_suffix('>') else {
            return invalid("`<` is not closed by a final `>`");
        };
        let head = text[..open].trim();
        if !is_word(head) {
            return invalid("a generic type is written `option<T>`, `list<T>` or `map<T>`");
        }
        if inner.contains(',') {
            return invalid("generic types take one argument (`map<T>` has string keys)");
        }
        if heads.len() == MAX_TYPE_DEPTH {
            return Err(TypeExprError::TooDeep);
        }
        heads.push(head.to_owned());
        text = inner;
    }
}

/// Letters, digits and `_`, at least one.
fn is_word(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}
