//! Each GraphQL operation observed: a `graphql` span (the parent of what it dispatches), its
//! count and latency by operation name, type and outcome in the server's metrics, and one `info`
//! line when it ends (unless `--no-operation-log`). Over HTTP and over WebSockets alike.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextRequest,
    NextSubscribe,
};
use async_graphql::futures_util::stream::BoxStream;
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{Request, Response, ServerResult, Variables};
use futures::StreamExt as _;
use tracing::Instrument as _;

use crate::telemetry::{self, Metrics};

/// The extension: counts into `metrics`, and logs each operation if `log`.
#[derive(Clone)]
pub struct Observe {
    pub metrics: Arc<Metrics>,
    pub log: bool,
}

impl ExtensionFactory for Observe {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Observed {
            observe: self.clone(),
            operation: Arc::default(),
        })
    }
}

/// What is known of the operation: the name the request asked for, then, once parsed, the name
/// and type of the operation that runs.
#[derive(Debug, Default)]
struct Operation {
    requested: Option<String>,
    name: Option<String>,
    kind: Option<&'static str>,
}

struct Observed {
    observe: Observe,
    operation: Arc<Mutex<Operation>>,
}

impl Observed {
    fn recorder(&self, span: tracing::Span) -> Recorder {
        Recorder {
            observe: self.observe.clone(),
            operation: self.operation.clone(),
            parent: tracing::Span::current(),
            span,
            started: Instant::now(),
            outcome: None,
        }
    }
}

fn span() -> tracing::Span {
    let empty = tracing::field::Empty;
    tracing::info_span!(
        "graphql",
        operation = empty,
        r#type = empty,
        outcome = empty
    )
}

#[async_graphql::async_trait::async_trait]
impl Extension for Observed {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let span = span();
        let mut recorder = self.recorder(span.clone());
        let work = next.run(ctx).instrument(span);
        let response = telemetry::counted_in(self.observe.metrics.clone(), work).await;
        recorder.saw(&response);
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let span = span();
        let mut recorder = self.recorder(span.clone());
        let mut inner =
            telemetry::stream_counted_in(self.observe.metrics.clone(), next.run(ctx, stream))
                .boxed();
        futures::stream::poll_fn(move |cx| {
            let _entered = span.enter();
            inner.poll_next_unpin(cx)
        })
        .map(move |response| {
            recorder.saw(&response);
            response
        })
        .boxed()
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        if let Ok(mut operation) = self.operation.lock() {
            operation.requested = request.operation_name.clone();
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
        let document = next.run(ctx, query, variables).await?;
        if let Ok(mut operation) = self.operation.lock() {
            let (name, kind) = chosen(&document, operation.requested.as_deref());
            operation.name = name;
            operation.kind = kind;
        }
        Ok(document)
    }
}

/// The name and type of the operation `requested` (or the only one) in `document`, as the
/// executor will pick it; `None` for what it would refuse.
fn chosen(
    document: &ExecutableDocument,
    requested: Option<&str>,
) -> (Option<String>, Option<&'static str>) {
    let (name, ty) = match (&document.operations, requested) {
        (DocumentOperations::Single(op), None) => (None, op.node.ty),
        (DocumentOperations::Single(_), Some(_)) => return (None, None),
        (DocumentOperations::Multiple(ops), Some(name)) => match ops.get(name) {
            Some(op) => (Some(name.to_owned()), op.node.ty),
            None => return (None, None),
        },
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => match ops.iter().next() {
            Some((name, op)) => (Some(name.to_string()), op.node.ty),
            None => return (None, None),
        },
        (DocumentOperations::Multiple(_), None) => return (None, None),
    };
    let kind = match ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    };
    (name, Some(kind))
}

/// Records one operation when dropped: when its response is back, its subscription ended, or
/// its request was dropped unanswered (`cancelled`).
struct Recorder {
    observe: Observe,
    operation: Arc<Mutex<Operation>>,
    /// The span the operation runs under (the HTTP request's), where its line is logged.
    parent: tracing::Span,
    span: tracing::Span,
    started: Instant,
    /// `ok`, or the code of the first error seen; `None` before any response.
    outcome: Option<String>,
}

impl Recorder {
    fn saw(&mut self, response: &Response) {
        if matches!(self.outcome.as_deref(), None | Some("ok")) {
            self.outcome = Some(match response.errors.first() {
                None => "ok".to_owned(),
                Some(error) => error
                    .extensions
                    .as_ref()
                    .and_then(|e| e.get("code"))
                    .and_then(|code| match code {
                        async_graphql::Value::String(code) => Some(code.clone()),
                        _ => None,
                    })
                    .unwrap_or_else(|| "error".to_owned()),
            });
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let took = self.started.elapsed();
        let (name, kind) = match self.operation.lock() {
            Ok(operation) => (operation.name.clone(), operation.kind.unwrap_or("unknown")),
            Err(_) => (None, "unknown"),
        };
        let outcome = self.outcome.as_deref().unwrap_or("cancelled");
        let metrics = &self.observe.metrics;
        metrics.graphql_operation(name.as_deref(), kind, outcome, took);
        let name = name.as_deref().unwrap_or("anonymous");
        self.span.record("operation", name);
        self.span.record("type", kind);
        self.span.record("outcome", outcome);
        if self.observe.log {
            tracing::info!(
                parent: &self.parent,
                operation = %name,
                r#type = %kind,
                outcome = %outcome,
                duration_ms = took.as_secs_f64() * 1e3,
                "graphql operation"
            );
        }
    }
}
