//! The one mapping from this service's errors to GraphQL errors, each with a stable `extensions.code`.
//!
//! Client faults carry a message a person understands. Unexpected failures carry only
//! `INTERNAL_SERVER_ERROR` and an `errorId`; the cause is logged with the same id, never sent.
//! The crate enables async-graphql's `custom-error-conversion`, so no other error type converts
//! into a GraphQL error by accident (a bare `?` on a `DbErr` in a resolver does not compile).

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextRequest, NextSubscribe, NextValidation,
};
use async_graphql::futures_util::stream::BoxStream;
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{
    Context, ErrorExtensions, Request, Response, ServerError, ServerResult, ValidationResult,
    Variables,
};
use futures::StreamExt as _;

use crate::commands::CommandError;
use crate::domain::{Caller, Denied, InvalidInput};
use crate::queries::QueryError;
use crate::telemetry::Fault;

/// The values of `extensions.code`.
pub mod codes {
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const CONFLICT: &str = "CONFLICT";
    pub const CONSISTENCY_TIMEOUT: &str = "CONSISTENCY_TIMEOUT";
    pub const INTERNAL_SERVER_ERROR: &str = "INTERNAL_SERVER_ERROR";
    pub const SERVICE_UNAVAILABLE: &str = "SERVICE_UNAVAILABLE";
    pub const GRAPHQL_PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
    pub const GRAPHQL_VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
    pub const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
    pub const BATCH_LIMIT_EXCEEDED: &str = "BATCH_LIMIT_EXCEEDED";
    pub const QUERY_TOO_COMPLEX: &str = "QUERY_TOO_COMPLEX";
    pub const QUERY_TOO_DEEP: &str = "QUERY_TOO_DEEP";
    pub const TOO_MANY_ALIASES: &str = "TOO_MANY_ALIASES";
    pub const TOO_MANY_ROOT_FIELDS: &str = "TOO_MANY_ROOT_FIELDS";
    pub const TOO_MANY_TOKENS: &str = "TOO_MANY_TOKENS";
    pub const TOO_MANY_DIRECTIVES: &str = "TOO_MANY_DIRECTIVES";
    pub const FRAGMENT_CYCLE: &str = "FRAGMENT_CYCLE";
    pub const TOO_MANY_ERRORS: &str = "TOO_MANY_ERRORS";
    pub const OPERATION_NAME_REQUIRED: &str = "OPERATION_NAME_REQUIRED";
    pub const OPERATION_NOT_FOUND: &str = "OPERATION_NOT_FOUND";
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
    /// The body is over `--max-body-bytes`.
    pub const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";
    /// A body that is not `application/json`, or is compressed.
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "UNSUPPORTED_MEDIA_TYPE";
    /// The body did not arrive within `--body-read-timeout-ms`; nothing ran.
    pub const REQUEST_TIMEOUT: &str = "REQUEST_TIMEOUT";
    /// No answer within `--request-deadline-ms`; a mutation in it may have been applied.
    pub const DEADLINE_EXCEEDED: &str = "DEADLINE_EXCEEDED";
    /// `--max-in-flight` requests are being served; retry after `Retry-After` seconds.
    pub const SERVICE_OVERLOADED: &str = "SERVICE_OVERLOADED";
    /// A `subscribe` past `--ws-max-subscriptions` on one WebSocket; the others go on.
    pub const TOO_MANY_SUBSCRIPTIONS: &str = "TOO_MANY_SUBSCRIPTIONS";
    /// Serving without authentication on loopback, a request whose `Host` names no loopback
    /// name (DNS rebinding); 421.
    pub const FORBIDDEN_HOST: &str = "FORBIDDEN_HOST";
    /// A WebSocket handshake from a browser page of another origin not on `--cors-origin`; 403.
    pub const FORBIDDEN_ORIGIN: &str = "FORBIDDEN_ORIGIN";
    /// `__schema` or `__type` asked of an instance started with `--disable-introspection`.
    pub const INTROSPECTION_DISABLED: &str = "INTROSPECTION_DISABLED";
    /// Authentication is configured and the request has no token (then per field), or one that
    /// is not valid (then the whole request, 401, or the WebSocket closes with 4403).
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    /// The token is valid but its scopes do not allow this; says nothing of whether the user the
    /// request names exists.
    pub const FORBIDDEN: &str = "FORBIDDEN";
    /// A request naming its document by `extensions.persistedQuery.sha256Hash` alone, and this
    /// instance has none under that hash: send the text with the hash (Apollo's clients do).
    pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
    /// A request whose text is not the document its persisted query hash (or trusted id) names;
    /// nothing registered, nothing run.
    pub const PERSISTED_QUERY_HASH_MISMATCH: &str = "PERSISTED_QUERY_HASH_MISMATCH";
    /// With `--trusted-documents`, an operation the manifest does not list (by id or by text).
    pub const OPERATION_NOT_TRUSTED: &str = "OPERATION_NOT_TRUSTED";
    /// An `Accept` header that admits neither `application/graphql-response+json` nor
    /// `application/json`; 406.
    pub const NOT_ACCEPTABLE: &str = "NOT_ACCEPTABLE";
}

impl From<InvalidInput> for async_graphql::Error {
    fn from(err: InvalidInput) -> Self {
        async_graphql::Error::new(format!("invalid {}: {}", err.field, err.reason)).extend_with(
            |_, ext| {
                ext.set("code", codes::BAD_USER_INPUT);
                ext.set("field", err.field);
            },
        )
    }
}

impl From<Denied> for async_graphql::Error {
    fn from(denied: Denied) -> Self {
        let code = match denied {
            Denied::Unauthenticated => codes::UNAUTHENTICATED,
            Denied::Forbidden(_) => codes::FORBIDDEN,
        };
        coded(denied.to_string(), code)
    }
}

impl From<CommandError> for async_graphql::Error {
    fn from(err: CommandError) -> Self {
        let message = err.to_string();
        match err {
            CommandError::EmailTaken(_) => coded(message, codes::CONFLICT),
            CommandError::UserNotFound(_) => coded(message, codes::NOT_FOUND),
            CommandError::VersionMismatch {
                expected, actual, ..
            } => async_graphql::Error::new(message).extend_with(|_, ext| {
                ext.set("code", codes::CONFLICT);
                ext.set("expectedVersion", expected);
                ext.set("actualVersion", actual);
            }),
            CommandError::Denied(denied) => denied.into(),
            CommandError::Fault(fault) => fault.into(),
        }
    }
}

impl From<QueryError> for async_graphql::Error {
    fn from(err: QueryError) -> Self {
        let message = err.to_string();
        match err {
            QueryError::Invalid(invalid) => invalid.into(),
            QueryError::UserNotFound(_) => coded(message, codes::NOT_FOUND),
            QueryError::ConsistencyTimeout { token, waited } => async_graphql::Error::new(message)
                .extend_with(|_, ext| {
                    ext.set("code", codes::CONSISTENCY_TIMEOUT);
                    ext.set("writeCommitted", true);
                    ext.set("consistencyToken", token.to_string());
                    ext.set(
                        "waitedMs",
                        u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
                    );
                }),
            QueryError::Denied(denied) => denied.into(),
            QueryError::Fault(fault) => fault.into(),
        }
    }
}

impl From<Fault> for async_graphql::Error {
    fn from(fault: Fault) -> Self {
        match fault {
            Fault::Unavailable(cause) => unavailable(cause),
            Fault::Unexpected(cause) => internal(cause),
        }
    }
}

/// Resolves a nullable field to `null` with `error` beside it, as the GraphQL spec has it
/// (async-graphql would leave the failed field out of `data`, which clients read as malformed).
pub(super) fn null_with_error<T>(ctx: &Context<'_>, error: async_graphql::Error) -> Option<T> {
    ctx.add_error(ctx.set_error_path(error.into_server_error(ctx.item.pos)));
    None
}

fn coded(message: String, code: &'static str) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, ext| ext.set("code", code))
}

/// For a database that cannot be reached: the client should retry later.
fn unavailable(cause: anyhow::Error) -> async_graphql::Error {
    let message = "the service cannot reach its database right now; retry later";
    with_error_id(cause, codes::SERVICE_UNAVAILABLE, message)
}

/// For anything else the client cannot fix.
pub(super) fn internal(cause: anyhow::Error) -> async_graphql::Error {
    let message = "internal error; if it persists, report its errorId";
    with_error_id(cause, codes::INTERNAL_SERVER_ERROR, message)
}

/// Logs the cause under a fresh `errorId` and returns an error that carries only `code`, the id
/// and `message`.
fn with_error_id(cause: anyhow::Error, code: &'static str, message: &str) -> async_graphql::Error {
    let error_id = uuid::Uuid::now_v7().to_string();
    let cause = format!("{cause:#}");
    if code == codes::SERVICE_UNAVAILABLE {
        tracing::warn!(error_id = %error_id, error = cause, "database unavailable");
    } else {
        tracing::error!(error_id = %error_id, error = cause, "internal error");
    }
    async_graphql::Error::new(format!("{message} (errorId {error_id})")).extend_with(|_, ext| {
        ext.set("code", code);
        ext.set("errorId", error_id.as_str());
    })
}

/// Gives every error a code: parse errors `GRAPHQL_PARSE_FAILED`, validation errors
/// `GRAPHQL_VALIDATION_FAILED`, any other error of execution without one `BAD_USER_INPUT`
/// (resolvers' errors carry theirs; what is left is async-graphql's own, such as an argument it
/// could not coerce), and whatever else reaches the response uncoded `BAD_REQUEST`. Every error
/// also gets `requestId`, the id of the request (its `x-request-id`; a WebSocket's handshake's).
pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Coding::default())
    }
}

/// `ErrorCodes` for one request: the request's id, once known.
#[derive(Default)]
struct Coding {
    request_id: Mutex<Option<String>>,
}

#[async_graphql::async_trait::async_trait]
impl Extension for Coding {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let response = all_coded(next.run(ctx).await, codes::BAD_REQUEST);
        let id = self.request_id.lock().ok().and_then(|id| id.clone());
        with_request_id(response, id.as_deref())
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let id = ctx
            .data_opt::<Caller>()
            .map(|c| c.correlation_id.as_str().to_owned());
        next.run(ctx, stream)
            .map(move |response| with_request_id(response, id.as_deref()))
            .boxed()
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let caller = request.data.get(&std::any::TypeId::of::<Caller>());
        if let Some(caller) = caller.and_then(|c| c.downcast_ref::<Caller>())
            && let Ok(mut id) = self.request_id.lock()
        {
            *id = Some(caller.correlation_id.as_str().to_owned());
        }
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables)
            .await
            .map_err(|err| with_code(err, codes::GRAPHQL_PARSE_FAILED))
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|err| with_code(err, codes::GRAPHQL_VALIDATION_FAILED))
                .collect()
        })
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = all_coded(next.run(ctx, operation_name).await, codes::BAD_USER_INPUT);
        response
            .http_headers
            .insert(EXECUTION_BEGAN, http::HeaderValue::from_static("1"));
        response
    }
}

/// Marks a response whose operation began to execute, in its HTTP headers (which no transport
/// serialises into the body); `execution_began` takes the mark off.
const EXECUTION_BEGAN: http::HeaderName =
    http::HeaderName::from_static("x-graphql-execution-began");

/// Whether execution began for `response` (its errors are then field errors beside `data`), or it
/// was refused before: parsed, validated, measured, resolved from a hash. Removes the mark.
pub fn execution_began(response: &mut Response) -> bool {
    response.http_headers.remove(EXECUTION_BEGAN).is_some()
}

/// `response` with `requestId` on each of its errors, when the request has an id.
fn with_request_id(mut response: Response, id: Option<&str>) -> Response {
    if let Some(id) = id {
        for err in &mut response.errors {
            err.extensions
                .get_or_insert_with(Default::default)
                .set("requestId", id);
        }
    }
    response
}

/// `response` with `code` on each of its errors that has none.
fn all_coded(mut response: Response, code: &'static str) -> Response {
    response.errors = response
        .errors
        .into_iter()
        .map(|err| with_code(err, code))
        .collect();
    response
}

/// Sets `code` unless the error already has one.
fn with_code(mut err: ServerError, code: &'static str) -> ServerError {
    let extensions = err.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code);
    }
    err
}
