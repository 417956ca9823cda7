//! How deep a payload of each event version can nest, known from the schema alone.
//!
//! The runtime counts the nesting of every decoded payload against
//! `esdsl_runtime::MAX_DECODE_DEPTH`, so that a hostile payload of a recursive record type ends
//! in an error rather than a stack overflow. A version whose types the schema bounds within that
//! limit cannot nest deeper whatever its bytes say, so its generated decoder skips the count
//! (about a tenth of a postcard decode). Recursive records (a `Node` holding `list<Node>`), and
//! chains of records nesting past the limit, keep it.
//!
//! One level is what one container costs the runtime's count: a record (a struct), a list, a
//! map, a present option, an enum value, `bytes`.

use std::collections::HashMap;

use crate::model::{Field, Schema, Type};

/// `esdsl_runtime::MAX_DECODE_DEPTH` (the `tests` crate checks that the two agree).
pub const DECODE_DEPTH_LIMIT: usize = 128;

/// The nesting bound of every record of a schema: `None` for a record that reaches a cycle.
pub(crate) struct Depths<'s> {
    records: HashMap<&'s str, Option<usize>>,
}

impl<'s> Depths<'s> {
    pub(crate) fn new(schema: &'s Schema) -> Depths<'s> {
        let fields: HashMap<&str, &[Field]> = schema
            .types
            .iter()
            .map(|record| (record.name.text.as_str(), record.fields.as_slice()))
            .collect();
        let graph: HashMap<&str, Vec<&str>> = schema
            .types
            .iter()
            .map(|record| {
                let used = record
                    .fields
                    .iter()
                    .filter_map(|field| innermost_record(&field.ty))
                    .collect();
                (record.name.text.as_str(), used)
            })
            .collect();
        let names: Vec<&'s str> = schema.types.iter().map(|r| r.name.text.as_str()).collect();
        let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let edges: Vec<Vec<usize>> = names
            .iter()
            .map(|name| {
                graph[name]
                    .iter()
                    .filter_map(|used| index.get(used).copied())
                    .collect()
            })
            .collect();
        let mut records: HashMap<&'s str, Option<usize>> = HashMap::new();
        for (name, unbounded) in names.iter().zip(crate::graph::reaching_a_cycle(&edges)) {
            if unbounded {
                records.insert(name, None);
            }
        }
        // The rest form no cycle: settle each once every record it uses is settled.
        let mut stack: Vec<&str> = fields.keys().copied().collect();
        while let Some(name) = stack.pop() {
            if records.contains_key(name) {
                continue;
            }
            let pending: Vec<&str> = graph[name]
                .iter()
                .copied()
                .filter(|used| !records.contains_key(used) && graph.contains_key(used))
                .collect();
            if pending.is_empty() {
                let depth = fields_depth(fields[name], &records);
                records.insert(name, depth);
            } else {
                stack.push(name);
                stack.extend(pending);
            }
        }
        Depths { records }
    }

    /// Whether a payload with these fields stays within the runtime's limit whatever its bytes.
    pub(crate) fn bounded(&self, fields: &[Field]) -> bool {
        fields_depth(fields, &self.records).is_some_and(|depth| depth <= DECODE_DEPTH_LIMIT)
    }
}

/// The record a field's type holds innermost, through options, lists and maps.
fn innermost_record(ty: &Type) -> Option<&str> {
    let mut ty = ty;
    loop {
        match ty {
            Type::Option(inner) | Type::List(inner) | Type::Map(inner) => ty = inner,
            Type::Record(name) => return Some(name),
            _ => return None,
        }
    }
}

/// A struct with these fields: one level, plus its deepest field. `None` when a field uses a
/// record that is unbounded (or unknown).
fn fields_depth(fields: &[Field], records: &HashMap<&str, Option<usize>>) -> Option<usize> {
    let mut deepest = 0;
    for field in fields {
        deepest = deepest.max(type_depth(&field.ty, records)?);
    }
    Some(deepest + 1)
}

fn type_depth(ty: &Type, records: &HashMap<&str, Option<usize>>) -> Option<usize> {
    let mut wrappers = 0usize;
    let mut ty = ty;
    loop {
        match ty {
            Type::Option(inner) | Type::List(inner) | Type::Map(inner) => {
                wrappers += 1;
                ty = inner;
            }
            Type::Record(name) => {
                let record = records.get(name.as_str()).copied().flatten()?;
                return Some(wrappers + record);
            }
            Type::Enum(_) | Type::Bytes => return Some(wrappers + 1),
            _ => return Some(wrappers),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(text: &str) -> Schema {
        crate::parse_schema("test.toml", text).expect("a valid schema")
    }

    const HEAD: &str = "[aggregates.Tree]\nid = \"uuid\"\n\n";

    fn version_bounded(schema: &Schema) -> bool {
        let depths = Depths::new(schema);
        depths.bounded(&schema.events[0].versions[0].fields)
    }

    #[test]
    fn a_recursive_record_is_unbounded_and_so_is_what_uses_it() {
        let recursive = schema(&format!(
            "{HEAD}[types.Node]\nchildren = \"list<Node>\"\n\n[types.Holder]\nroot = \"option<Node>\"\n\n\
             [events.Planted]\naggregate = \"Tree\"\n\n[events.Planted.v1]\nholder = \"Holder\"\n"
        ));
        assert!(!version_bounded(&recursive));
    }

    #[test]
    fn flat_and_nested_records_without_a_cycle_are_bounded() {
        let flat = schema(&format!(
            "{HEAD}[types.Leaf]\nname = \"string\"\ntags = \"map<list<string>>\"\n\n\
             [events.Planted]\naggregate = \"Tree\"\n\n[events.Planted.v1]\nleaves = \"list<Leaf>\"\n\
             size = \"u32\"\n"
        ));
        let depths = Depths::new(&flat);
        // event struct 1 + list 1 + Leaf struct 1 + map 1 + list 1 = 5
        assert_eq!(
            fields_depth(&flat.events[0].versions[0].fields, &depths.records),
            Some(5)
        );
        assert!(version_bounded(&flat));
    }

    #[test]
    fn a_chain_of_records_past_the_limit_is_not_bounded() {
        // Each record holds the next inside 31 lists: 32 levels a link, so 5 links pass 128.
        let mut text = HEAD.to_owned();
        let wrap = |inner: &str| format!("{}{inner}{}", "list<".repeat(31), ">".repeat(31));
        for n in 0..5 {
            text.push_str(&format!(
                "[types.R{n}]\nnext = \"{}\"\n\n",
                wrap(&format!("R{}", n + 1))
            ));
        }
        text.push_str("[types.R5]\nend = \"u32\"\n\n");
        text.push_str(
            "[events.Planted]\naggregate = \"Tree\"\n\n[events.Planted.v1]\nfirst = \"R0\"\n",
        );
        assert!(!version_bounded(&schema(&text)));
    }
}
