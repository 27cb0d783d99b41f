//! `/graphql`: POST (JSON, or a JSON array of operations answered with an array) and GET (queries
//! only), each answered in the media type `Accept` asks for (`negotiate.rs`).

use std::sync::Arc;

use async_graphql::BatchRequest;
use async_graphql::parser::types::{DocumentOperations, OperationType};
use axum::Extension;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::domain::Caller;
use crate::graphql::{AppSchema, codes};
use crate::http::Browsers;
use crate::http::body::{self, GraphQLBody};
use crate::http::identify::Gate;
use crate::http::negotiate::{Media, NotAcceptable};
use crate::http::refusal::refuse;
use crate::http::ws;

/// Most operations one batched POST may carry: a batch runs them all, so an unbounded one is a
/// way to make one request do unbounded work.
const MAX_BATCH: usize = 32;

/// The media type of the answer, negotiated before the body is read (406 if none).
pub(super) struct Accepted(Media);

impl<S: Send + Sync> FromRequestParts<S> for Accepted {
    type Rejection = NotAcceptable;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, NotAcceptable> {
        Media::negotiate(&parts.headers).map(Accepted)
    }
}

pub(super) async fn post(
    State(schema): State<AppSchema>,
    Extension(caller): Extension<Caller>,
    Accepted(media): Accepted,
    request: GraphQLBody,
) -> Response {
    let request = request.into_inner();
    if let BatchRequest::Batch(operations) = &request
        && operations.len() > MAX_BATCH
    {
        let message = format!(
            "a batch may hold at most {MAX_BATCH} operations, this one has {}",
            operations.len()
        );
        return refuse(
            StatusCode::BAD_REQUEST,
            codes::BATCH_LIMIT_EXCEEDED,
            message,
        );
    }
    let request = crate::graphql::with_shared_budget(request.data(caller));
    media.respond_batch(schema.execute_batch(request).await)
}

/// GET upgrades to a WebSocket for subscriptions (`graphql-transport-ws`, or the legacy
/// `graphql-ws`), and otherwise serves queries only: a mutation over GET could be triggered by a
/// link or an image tag, so it is refused with 405 before anything runs, named by its text or by
/// a persisted query hash.
pub(super) async fn get(
    State(schema): State<AppSchema>,
    State(browsers): State<Arc<Browsers>>,
    State(gate): State<Arc<Gate>>,
    Extension(caller): Extension<Caller>,
    request: Request,
) -> Response {
    if ws::wanted(request.headers()) {
        if !browsers.origin_allowed(request.headers()) {
            // A page elsewhere would act with the user's reach (cookies, network position), and
            // a WebSocket is not held by CORS: refused before upgrading.
            let message = "a WebSocket from this Origin is not allowed: not this server's own, \
                           nor on --cors-origin";
            return refuse(StatusCode::FORBIDDEN, codes::FORBIDDEN_ORIGIN, message);
        }
        return ws::upgrade(schema, gate, caller, request).await;
    }
    let media = match Media::negotiate(request.headers()) {
        Ok(media) => media,
        Err(refused) => return refused.into_response(),
    };
    let mut request = match body::from_query_string(request.uri().query()) {
        Ok(request) => request,
        Err(refused) => return refused.into_response(),
    };
    // A hash is resolved here, so that the text checked below is the text that runs.
    if let Err(error) = crate::graphql::fill_in(&schema, &mut request) {
        return media.respond(async_graphql::Response::from_errors(vec![error]));
    }
    if let Some(kind) = non_query_operation(&request.query, request.operation_name.as_deref()) {
        let message = format!("a {kind} cannot be sent with GET; use POST");
        let mut response = refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            codes::METHOD_NOT_ALLOWED,
            message,
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    media.respond(schema.execute(request.data(caller)).await)
}

/// The kind of the operation that would run, if it is not a query. A document that does not
/// parse, or names no operation it has, is left to the executor to report.
fn non_query_operation(query: &str, operation_name: Option<&str>) -> Option<&'static str> {
    let document = async_graphql::parser::parse_query(query).ok()?;
    let kind = match (&document.operations, operation_name) {
        (DocumentOperations::Single(op), _) => op.node.ty,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name)?.node.ty,
        (DocumentOperations::Multiple(ops), None) => {
            // Without a name the executor refuses several operations; refuse here if any writes.
            ops.values()
                .map(|op| op.node.ty)
                .find(|ty| *ty != OperationType::Query)?
        }
    };
    match kind {
        OperationType::Query => None,
        OperationType::Mutation => Some("mutation"),
        OperationType::Subscription => Some("subscription"),
    }
}
