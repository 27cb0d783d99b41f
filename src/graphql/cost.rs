//! What a parsed document asks of the executor, measured with fragments expanded: each fragment
//! is walked once and its measure reused, so the walk is linear in the document however often
//! fragments spread each other, and a fragment that spreads itself is refused, not followed.
//!
//! Cost counts what execution resolves: every selected field (aliases and `__typename` too), and
//! the selections under `users.items` once per item the page can hold. That list is the one
//! whose length a client chooses; the others are bounded by the schema.

use std::collections::HashMap;

use async_graphql::parser::types::{
    ExecutableDocument, Field, FragmentSpread, OperationDefinition, Selection, SelectionSet,
};
use async_graphql::{Positioned, ServerError, Value, Variables};

use crate::graphql::limits::refusal;
use crate::graphql::{codes, users};
use crate::queries::PageRequest;

/// What one operation (or a fragment, or a selection set) asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Shape {
    /// Fields resolved once, fragments expanded.
    fields: u64,
    /// Fields resolved once per item of the enclosing `users` page.
    per_item: u64,
    /// Fields at the top of the selection set, fragments expanded.
    pub top_fields: u64,
    /// The deepest nesting of fields (`{ a { b } }` is 2), as async-graphql's depth limit counts.
    pub field_depth: usize,
    /// The deepest nesting of selection sets, fragments and inline fragments included, as
    /// async-graphql's recursive depth limit counts.
    pub nesting: usize,
    /// The most introspection lists of types (`TYPE_LISTS`) nested in one another.
    pub type_lists: usize,
}

/// Introspection's fields that list types, or fields whose types lead to more types. Their
/// lengths are the schema's, not a client's, so cost counts them once; nesting them is what
/// multiplies (`fields { type { ofType { fields ... } } }`), so their nesting has its own limit,
/// as in graphql-js's `MaxIntrospectionDepthRule`. No field of this schema shares their names.
const TYPE_LISTS: &[&str] = &["fields", "interfaces", "possibleTypes", "inputFields"];

impl Shape {
    /// The fields execution resolves, at most.
    pub fn cost(&self) -> u64 {
        self.fields.saturating_add(self.per_item)
    }

    fn add_field(&mut self, field: &Field, inner: Shape, page_size: impl FnOnce() -> u64) {
        self.top_fields = self.top_fields.saturating_add(1);
        self.field_depth = self.field_depth.max(inner.field_depth + 1);
        let lists_types = usize::from(TYPE_LISTS.contains(&field.name.node.as_str()));
        self.type_lists = self.type_lists.max(inner.type_lists + lists_types);
        if !field.selection_set.node.items.is_empty() {
            self.nesting = self.nesting.max(inner.nesting + 1);
        }
        match field.name.node.as_str() {
            "users" => {
                let items = inner.per_item.saturating_mul(page_size());
                self.fields = sum(&[self.fields, 1, inner.fields, items]);
            }
            "items" => {
                self.fields = self.fields.saturating_add(1);
                self.per_item = sum(&[self.per_item, inner.cost()]);
            }
            _ => self.fields = sum(&[self.fields, 1, inner.cost()]),
        }
    }

    fn add_fragment(&mut self, inner: Shape) {
        self.fields = self.fields.saturating_add(inner.fields);
        self.per_item = self.per_item.saturating_add(inner.per_item);
        self.top_fields = self.top_fields.saturating_add(inner.top_fields);
        self.field_depth = self.field_depth.max(inner.field_depth);
        self.type_lists = self.type_lists.max(inner.type_lists);
        self.nesting = self.nesting.max(inner.nesting + 1);
    }
}

/// A document, measured.
#[derive(Debug)]
pub(super) struct Measured<'d> {
    /// Aliases written in the operations and the fragments they spread.
    pub aliases: usize,
    /// Each operation, by name (`None` for an anonymous one).
    pub operations: Vec<(Option<&'d str>, Shape)>,
}

/// Measures every operation of `document`, its variables giving page sizes. Fails on a fragment
/// cycle (`FRAGMENT_CYCLE`) and on a selection with more than `max_directives` directives
/// (`TOO_MANY_DIRECTIVES`). Spreads of unknown fragments are left to validation.
pub(super) fn measure<'d>(
    document: &'d ExecutableDocument,
    variables: &'d Variables,
    max_directives: usize,
) -> Result<Measured<'d>, ServerError> {
    let mut walk = Walk {
        document,
        variables,
        max_directives,
        aliases: 0,
        fragments: HashMap::new(),
    };
    let operations = document
        .operations
        .iter()
        .map(|(name, operation)| Ok((name.map(|n| n.as_str()), walk.operation(operation)?)))
        .collect::<Result<_, ServerError>>()?;
    Ok(Measured {
        aliases: walk.aliases,
        operations,
    })
}

struct Walk<'d> {
    document: &'d ExecutableDocument,
    variables: &'d Variables,
    max_directives: usize,
    aliases: usize,
    /// Each fragment met so far: `None` while it is being walked, so meeting it again is a cycle.
    fragments: HashMap<&'d str, Option<Shape>>,
}

impl<'d> Walk<'d> {
    fn operation(
        &mut self,
        operation: &'d Positioned<OperationDefinition>,
    ) -> Result<Shape, ServerError> {
        self.check_directives(operation.node.directives.len(), operation.pos)?;
        self.selection_set(&operation.node.selection_set)
    }

    fn selection_set(&mut self, set: &'d Positioned<SelectionSet>) -> Result<Shape, ServerError> {
        let mut shape = Shape::default();
        for selection in &set.node.items {
            self.check_directives(selection.node.directives().len(), selection.pos)?;
            match &selection.node {
                Selection::Field(field) => {
                    let inner = self.selection_set(&field.node.selection_set)?;
                    self.aliases += usize::from(field.node.alias.is_some());
                    shape.add_field(&field.node, inner, || self.page_size(&field.node));
                }
                Selection::FragmentSpread(spread) => {
                    if let Some(inner) = self.fragment(spread)? {
                        shape.add_fragment(inner);
                    }
                }
                Selection::InlineFragment(inline) => {
                    shape.add_fragment(self.selection_set(&inline.node.selection_set)?);
                }
            }
        }
        Ok(shape)
    }

    fn fragment(
        &mut self,
        spread: &'d Positioned<FragmentSpread>,
    ) -> Result<Option<Shape>, ServerError> {
        let name = &spread.node.fragment_name.node;
        match self.fragments.get(name.as_str()) {
            Some(Some(shape)) => return Ok(Some(*shape)),
            Some(None) => {
                let message = format!(
                    "fragment {name} spreads itself, directly or through other fragments; a \
                     fragment cycle never ends"
                );
                return Err(refusal(codes::FRAGMENT_CYCLE, message, Some(spread.pos)));
            }
            None => {}
        }
        let Some(definition) = self.document.fragments.get(name) else {
            return Ok(None);
        };
        self.fragments.insert(name.as_str(), None);
        let shape = self.selection_set(&definition.node.selection_set)?;
        self.fragments.insert(name.as_str(), Some(shape));
        Ok(Some(shape))
    }

    fn check_directives(&self, count: usize, pos: async_graphql::Pos) -> Result<(), ServerError> {
        if count <= self.max_directives {
            return Ok(());
        }
        let max = self.max_directives;
        let message = format!(
            "a selection has {count} directives, more than the {max} allowed on one \
             (--max-directives)"
        );
        Err(refusal(codes::TOO_MANY_DIRECTIVES, message, Some(pos)))
    }

    /// The most items a `users` page selected by `field` can hold: its `pageSize`, from the
    /// document or a variable, or the default when absent. A value the resolver will refuse
    /// counts as the largest page.
    fn page_size(&self, field: &Field) -> u64 {
        let largest = u64::from(PageRequest::MAX_PAGE_SIZE);
        let Some(argument) = field.get_argument("pageSize") else {
            return u64::try_from(users::DEFAULT_PAGE_SIZE).unwrap_or(largest);
        };
        let value = argument
            .node
            .clone()
            .into_const_with(|name| self.variables.get(&name).cloned().ok_or(()));
        match value {
            Ok(Value::Number(n)) => n.as_u64().map_or(largest, |n| n.min(largest)),
            _ => largest,
        }
    }
}

fn sum(terms: &[u64]) -> u64 {
    terms.iter().fold(0, |total, n| total.saturating_add(*n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(query: &str, variables: serde_json::Value) -> Result<Shape, ServerError> {
        let document = async_graphql::parser::parse_query(query).unwrap();
        let variables = Variables::from_json(variables);
        let measured = measure(&document, &variables, 4)?;
        Ok(measured.operations[0].1)
    }

    fn cost(query: &str) -> u64 {
        shape(query, serde_json::json!({})).unwrap().cost()
    }

    #[test]
    fn counts_every_field_alias_and_typename() {
        assert_eq!(cost("{ __typename a: __typename users { totalCount } }"), 4);
    }

    #[test]
    fn multiplies_page_items_by_the_page_size() {
        let page = "{ users(pageSize: 100) { totalCount items { id name } } }";
        assert_eq!(cost(page), 1 + 1 + 1 + 200);
        assert_eq!(cost("{ users { items { id } } }"), 2 + 20);
        let by_variable = "query($n: Int!) { users(pageSize: $n) { items { id } } }";
        let measured = shape(by_variable, serde_json::json!({ "n": 7 })).unwrap();
        assert_eq!(measured.cost(), 2 + 7);
        let fragment = "{ users(pageSize: 50) { ...P } } fragment P on UserPage { items { id } }";
        assert_eq!(cost(fragment), 2 + 50);
    }

    #[test]
    fn expands_fragments_once_each() {
        let n = 70;
        let fragments: String = (1..=n)
            .map(|i| format!("fragment f{i} on Query {{ ...f{} ...f{} }} ", i - 1, i - 1))
            .collect();
        let query = format!("{{ ...f{n} }} fragment f0 on Query {{ __typename }} {fragments}");
        let measured = shape(&query, serde_json::json!({})).unwrap();
        assert_eq!(measured.cost(), u64::MAX, "2^70 fields, saturated");
        assert_eq!(measured.nesting, n + 1);
    }

    #[test]
    fn refuses_fragment_cycles() {
        let query = "{ ...a } fragment a on Query { ...b } fragment b on Query { ...a }";
        let refused = shape(query, serde_json::json!({})).unwrap_err();
        assert!(refused.message.contains("fragment"), "{}", refused.message);
    }

    #[test]
    fn measures_depths_and_top_fields() {
        let measured = shape(
            "{ a { b { c } } ... on Query { d } }",
            serde_json::json!({}),
        );
        let measured = measured.unwrap();
        assert_eq!((measured.top_fields, measured.field_depth), (2, 3));
        assert_eq!(measured.nesting, 2);
        let nested = "{ __schema { types { fields { type { ofType { fields { name } } } } } } }";
        assert_eq!(shape(nested, serde_json::json!({})).unwrap().type_lists, 2);
    }
}
