//! The media type of `/graphql`'s answers, negotiated on `Accept` (GraphQL over HTTP):
//! `application/graphql-response+json`, whose status says whether execution began, or
//! `application/json`, the legacy one, always 200 for GraphQL errors; and the answers themselves.

use async_graphql::{BatchResponse, Response as GraphQLResponse};
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::graphql::{codes, execution_began};
use crate::http::refusal::refuse;

/// A media type `/graphql` answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Media {
    /// `application/graphql-response+json`: 400 and no `data` for a request refused before
    /// execution (parse, validation, variables, limits, persisted documents), 200 once it began.
    GraphQLResponse,
    /// `application/json`: 200 for every GraphQL answer.
    Json,
}

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

impl Media {
    /// The type `headers` ask for; 406 `NOT_ACCEPTABLE` if they admit neither. Without
    /// `Accept`, or with only wildcards, `application/json`, as the spec has it until its
    /// watershed (legacy clients read nothing else). Higher `q` wins; at equal `q` a type named
    /// outright beats a wildcard, and `application/graphql-response+json` beats `application/json`.
    pub(super) fn negotiate(headers: &HeaderMap) -> Result<Media, NotAcceptable> {
        let mut ranges = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter(|range| !range.trim().is_empty())
            .peekable();
        if ranges.peek().is_none() {
            return Ok(Media::Json);
        }
        // (q, named outright) of each type, from the most specific range that matches it.
        let mut graphql_response = Preference::default();
        let mut json = Preference::default();
        for range in ranges {
            let Ok(range) = range.trim().parse::<mime::Mime>() else {
                continue;
            };
            let q = quality(&range);
            let (type_, subtype) = (range.type_(), range.subtype());
            let essence = range.essence_str();
            let specificity = if type_ == mime::STAR {
                0
            } else if subtype == mime::STAR && type_ == mime::APPLICATION {
                1
            } else {
                2
            };
            if specificity < 2 || essence.eq_ignore_ascii_case(GRAPHQL_RESPONSE) {
                graphql_response.consider(specificity, q);
            }
            if specificity < 2 || essence.eq_ignore_ascii_case(JSON) {
                json.consider(specificity, q);
            }
        }
        let (gr, js) = (graphql_response.rank(), json.rank());
        if gr.is_none() && js.is_none() {
            Err(NotAcceptable)
        } else if gr > js || (gr == js && gr.is_some_and(|(_, named)| named)) {
            Ok(Media::GraphQLResponse)
        } else {
            Ok(Media::Json)
        }
    }

    fn content_type(self) -> HeaderValue {
        match self {
            Media::GraphQLResponse => {
                HeaderValue::from_static("application/graphql-response+json; charset=utf-8")
            }
            Media::Json => HeaderValue::from_static("application/json; charset=utf-8"),
        }
    }

    /// One GraphQL answer in this type, with its status (module doc).
    pub(super) fn respond(self, mut response: GraphQLResponse) -> Response {
        let executed = execution_began(&mut response);
        let not_found = response.errors.iter().any(|error| {
            error.extensions.as_ref().and_then(|e| e.get("code"))
                == Some(&codes::PERSISTED_QUERY_NOT_FOUND.into())
        });
        let status = match (executed, self) {
            (true, _) | (false, Media::Json) => StatusCode::OK,
            // Apollo's servers answer it 200 too: it asks the client to send the text, and
            // Apollo Client 3 stops using persisted queries after a 400.
            (false, Media::GraphQLResponse) if not_found => StatusCode::OK,
            (false, Media::GraphQLResponse) => StatusCode::BAD_REQUEST,
        };
        let mut headers = HeaderMap::new();
        if not_found {
            // Never cached: the next request, with the text, registers it.
            let no_cache = HeaderValue::from_static("private, no-cache, must-revalidate");
            headers.insert(header::CACHE_CONTROL, no_cache);
        } else if response.is_ok()
            && let Some(value) = response.cache_control.value()
            && let Ok(value) = HeaderValue::from_str(&value)
        {
            headers.insert(header::CACHE_CONTROL, value);
        }
        headers.extend(std::mem::take(&mut response.http_headers));
        let body = if !executed && self == Media::GraphQLResponse {
            without_data(&response).and_then(|body| serde_json::to_vec(&body))
        } else {
            serde_json::to_vec(&response)
        };
        self.answer(status, headers, body)
    }

    /// A batch's answers, an array in this type, always 200 (batches are outside the spec); each
    /// answer alone follows `respond`'s rule on `data`.
    pub(super) fn respond_batch(self, batch: BatchResponse) -> Response {
        let responses = match batch {
            BatchResponse::Single(one) => return self.respond(one),
            BatchResponse::Batch(many) => many,
        };
        let mut headers = HeaderMap::new();
        let mut bodies = Vec::with_capacity(responses.len());
        for mut response in responses {
            let executed = execution_began(&mut response);
            headers.extend(std::mem::take(&mut response.http_headers));
            let body = match !executed && self == Media::GraphQLResponse {
                true => without_data(&response),
                false => serde_json::to_value(&response),
            };
            match body {
                Ok(body) => bodies.push(body),
                Err(err) => return self.answer(StatusCode::OK, headers, Err(err)),
            }
        }
        let body = serde_json::to_vec(&bodies);
        self.answer(StatusCode::OK, headers, body)
    }

    fn answer(
        self,
        status: StatusCode,
        mut headers: HeaderMap,
        body: serde_json::Result<Vec<u8>>,
    ) -> Response {
        let Ok(bytes) = body else {
            tracing::error!("a GraphQL response did not serialise");
            let message = "internal error";
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                codes::INTERNAL_SERVER_ERROR,
                message,
            );
        };
        headers.insert(header::CONTENT_TYPE, self.content_type());
        // The answer depends on `Accept`: caches must key on it.
        headers.insert(header::VARY, HeaderValue::from_static("accept"));
        (status, headers, Body::from(bytes)).into_response()
    }
}

/// `response` as JSON without its `data` entry: the spec's answer when execution did not begin.
fn without_data(response: &GraphQLResponse) -> serde_json::Result<serde_json::Value> {
    let mut body = serde_json::to_value(response)?;
    if let Some(fields) = body.as_object_mut() {
        fields.remove("data");
    }
    Ok(body)
}

/// How much a client wants a type: its `q`, and how specifically a range named it.
#[derive(Debug, Default, Clone, Copy)]
struct Preference {
    /// (specificity, q in thousandths) of the most specific range seen so far.
    best: Option<(u8, u16)>,
}

impl Preference {
    fn consider(&mut self, specificity: u8, q: u16) {
        if self.best.is_none_or(|(seen, _)| specificity > seen) {
            self.best = Some((specificity, q));
        }
    }

    /// Comparable: q first, then whether it was named outright. `None` when not acceptable.
    fn rank(self) -> Option<(u16, bool)> {
        self.best
            .filter(|(_, q)| *q > 0)
            .map(|(specificity, q)| (q, specificity == 2))
    }
}

/// A range's `q` in thousandths (1000 when absent, 0 when unreadable).
fn quality(range: &mime::Mime) -> u16 {
    let Some(q) = range.get_param("q") else {
        return 1000;
    };
    q.as_str()
        .parse::<f32>()
        .ok()
        .filter(|q| (0.0..=1.0).contains(q))
        .map_or(0, |q| (q * 1000.0).round() as u16)
}

/// 406 `NOT_ACCEPTABLE`: `Accept` admits no type `/graphql` answers in.
#[derive(Debug)]
pub(super) struct NotAcceptable;

impl IntoResponse for NotAcceptable {
    fn into_response(self) -> Response {
        let message = format!(
            "Accept admits neither {GRAPHQL_RESPONSE} nor {JSON}, the types /graphql answers in"
        );
        refuse(StatusCode::NOT_ACCEPTABLE, codes::NOT_ACCEPTABLE, message)
    }
}
