//! The limits on what one request may ask for (`config::QueryLimits`), checked before anything is
//! validated or run, each refusal with its own `extensions.code`; and the cap on errors returned.
//!
//! The checks run in async-graphql's `prepare_request` hook, on a document parsed here once and
//! handed on (`Request::set_parsed_query`): the tokens first, by a scan that stops at the limit,
//! then the measure of `cost.rs`; a document seen before comes parsed from `documents.rs`.
//! Only then does async-graphql walk the document itself (its
//! recursive-depth, directive and validation passes follow fragments without memoizing them, so
//! they are linear only in a document whose expanded size is already bounded).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextRequest, NextSubscribe,
};
use async_graphql::futures_util::stream::{BoxStream, StreamExt};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument};
use async_graphql::{BatchRequest, Pos, Request, Response, ServerError, ServerResult};

use crate::config::QueryLimits;
use crate::graphql::codes;
use crate::graphql::cost;
use crate::graphql::documents::Documents;

/// Gives the operations of one HTTP request one cost budget (`--max-query-cost`) to share: a
/// batch of cheap operations cannot add up to what no single operation may cost. Operations draw
/// on it in the batch's order; once it is spent, the rest are refused with `QUERY_TOO_COMPLEX`.
pub fn with_shared_budget(batch: BatchRequest) -> BatchRequest {
    batch.data(Budget::default())
}

/// The cost spent so far by one HTTP request's operations. A request without one (GET, a
/// WebSocket subscription) gets its own.
#[derive(Debug, Clone, Default)]
struct Budget(Arc<AtomicU64>);

impl Budget {
    /// Spends `cost` if it fits in `max` with what was spent; otherwise spends nothing and
    /// returns what is left.
    fn spend(&self, cost: u64, max: u64) -> Result<(), u64> {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |spent| {
                spent.checked_add(cost).filter(|total| *total <= max)
            })
            .map(drop)
            .map_err(|spent| max.saturating_sub(spent))
    }
}

/// The schema extension that enforces `QueryLimits`.
#[derive(Clone)]
pub(super) struct Limits {
    limits: QueryLimits,
    documents: Documents,
}

impl Limits {
    pub(super) fn new(limits: QueryLimits) -> Self {
        Self {
            limits,
            documents: Documents::new(),
        }
    }
}

impl ExtensionFactory for Limits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for Limits {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        cap_errors(next.run(ctx).await, self.limits.max_errors)
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let max = self.limits.max_errors;
        next.run(ctx, stream)
            .map(move |response| cap_errors(response, max))
            .boxed()
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        check(&self.limits, &self.documents, &mut request)?;
        next.run(ctx, request).await
    }
}

/// A refusal: a GraphQL error with `code` and a message naming the limit and its flag.
pub(super) fn refusal(code: &'static str, message: String, pos: Option<Pos>) -> ServerError {
    let mut error = ServerError::new(message, pos);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
    error
}

fn check(limits: &QueryLimits, documents: &Documents, request: &mut Request) -> ServerResult<()> {
    // A document that does not parse is left to async-graphql to report, with its position.
    let Some(document) = documents.parsed(&request.query, limits.max_tokens)? else {
        return Ok(());
    };
    let running = running_operation(&document, request.operation_name.as_deref())?;
    let measured = cost::measure(&document, &request.variables, limits.max_directives)?;
    if measured.aliases > limits.max_aliases {
        let message = format!(
            "the document has {} aliases, more than the {} allowed (--max-aliases)",
            measured.aliases, limits.max_aliases
        );
        return Err(refusal(codes::TOO_MANY_ALIASES, message, None));
    }
    let mut charge = 0;
    for (name, shape) in &measured.operations {
        check_operation(limits, name.unwrap_or("anonymous"), shape)?;
        if *name == running {
            charge = shape.cost();
        }
    }
    let budget = request
        .data
        .get(&std::any::TypeId::of::<Budget>())
        .and_then(|budget| budget.downcast_ref::<Budget>())
        .cloned()
        .unwrap_or_default();
    if let Err(left) = budget.spend(charge, limits.max_query_cost) {
        let message = format!(
            "the operation costs {charge}, more than the {left} left of the {} one request may \
             spend (--max-query-cost); the operations of a batch share it",
            limits.max_query_cost
        );
        return Err(refusal(codes::QUERY_TOO_COMPLEX, message, None));
    }
    request.set_parsed_query(ExecutableDocument::clone(&document));
    Ok(())
}

/// The name of the operation that will run (`None`: the document's only operation is anonymous).
fn running_operation<'d>(
    document: &'d ExecutableDocument,
    asked: Option<&str>,
) -> ServerResult<Option<&'d str>> {
    match (&document.operations, asked) {
        (DocumentOperations::Single(_), None) => Ok(None),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            Ok(operations.keys().next().map(|name| name.as_str()))
        }
        (DocumentOperations::Multiple(operations), None) => {
            let message = format!(
                "the document has {} operations; operationName must say which to run",
                operations.len()
            );
            Err(refusal(codes::OPERATION_NAME_REQUIRED, message, None))
        }
        (DocumentOperations::Multiple(operations), Some(asked)) => operations
            .keys()
            .find(|name| name.as_str() == asked)
            .map(|name| Some(name.as_str()))
            .ok_or_else(|| no_such_operation(asked)),
        (DocumentOperations::Single(_), Some(asked)) => Err(no_such_operation(asked)),
    }
}

fn no_such_operation(asked: &str) -> ServerError {
    let message = format!("the document has no operation named {asked:?} (operationName)");
    refusal(codes::OPERATION_NOT_FOUND, message, None)
}

/// One operation against the limits that do not depend on the rest of the request.
fn check_operation(limits: &QueryLimits, name: &str, shape: &cost::Shape) -> ServerResult<()> {
    let wide = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    let checks = [
        (
            shape.top_fields,
            limits.max_root_fields,
            codes::TOO_MANY_ROOT_FIELDS,
            "the number of root fields",
            "max-root-fields",
        ),
        (
            wide(shape.field_depth),
            limits.max_query_depth,
            codes::QUERY_TOO_DEEP,
            "the depth of fields",
            "max-query-depth",
        ),
        (
            wide(shape.nesting),
            limits.max_recursive_depth,
            codes::QUERY_TOO_DEEP,
            "the nesting of selections and fragments",
            "max-recursive-depth",
        ),
        (
            wide(shape.type_lists),
            limits.max_introspection_depth,
            codes::QUERY_TOO_DEEP,
            "the nesting of introspection's lists of types",
            "max-introspection-depth",
        ),
    ];
    for (got, max, code, what, flag) in checks {
        if got > wide(max) {
            let message = format!(
                "operation {name}: {what} is {got}, more than the {max} allowed (--{flag})"
            );
            return Err(refusal(code, message, None));
        }
    }
    if shape.cost() > limits.max_query_cost {
        let message = format!(
            "operation {name} costs {}, more than the {} one request may spend \
             (--max-query-cost): each field counts, fragments expanded, and each field under \
             users.items once per item of the page",
            shape.cost(),
            limits.max_query_cost
        );
        return Err(refusal(codes::QUERY_TOO_COMPLEX, message, None));
    }
    Ok(())
}

/// Keeps the first `max` errors of `response` and, in place of the rest, one saying how many.
fn cap_errors(mut response: Response, max: usize) -> Response {
    let count = response.errors.len();
    if count > max {
        response.errors.truncate(max);
        let message = format!(
            "{} more errors left out: a response carries at most {max} (--max-errors)",
            count - max
        );
        let left_out = refusal(codes::TOO_MANY_ERRORS, message, None);
        response.errors.push(left_out);
    }
    response
}
