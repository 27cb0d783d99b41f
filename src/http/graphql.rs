//! `/graphql`: POST (JSON, or a JSON array of operations answered with an array) and GET (queries only).

use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql_axum::{GraphQLBatchRequest, GraphQLRequest, GraphQLResponse};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::graphql::{AppSchema, codes};

pub(super) async fn post(
    State(schema): State<AppSchema>,
    request: GraphQLBatchRequest,
) -> GraphQLResponse {
    schema.execute_batch(request.into_inner()).await.into()
}

/// GET serves queries only: a mutation over GET could be triggered by a link or an image tag,
/// so it is refused with 405 before anything runs.
pub(super) async fn get(State(schema): State<AppSchema>, request: GraphQLRequest) -> Response {
    let request = request.into_inner();
    if let Some(kind) = non_query_operation(&request.query, request.operation_name.as_deref()) {
        let body = serde_json::json!({
            "errors": [{
                "message": format!("a {kind} cannot be sent with GET; use POST"),
                "extensions": { "code": codes::METHOD_NOT_ALLOWED },
            }]
        });
        let mut response = (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    GraphQLResponse::from(schema.execute(request).await).into_response()
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
