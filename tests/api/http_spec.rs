//! GraphQL over HTTP: the answer's media type negotiated on `Accept`, and its status:
//! `application/graphql-response+json` answers 400 without `data` for a request refused before
//! execution and 200 once it began; `application/json` answers 200 for every GraphQL error. An
//! `Accept` neither covers is 406; a body that is not a GraphQL request is 400 with its reason;
//! `operationName` selects the operation on GET.

use serde_json::{Value, json};

use crate::helpers::{
    Backend, CREATE_USER, TestApp, assert_no_errors, assert_refused, both_engines, error_code,
    spawn_app,
};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// POSTs `body` with `accept` (none when `None`): status, content type and JSON body.
async fn post(app: &TestApp, accept: Option<&str>, body: &Value) -> (u16, String, Value) {
    let mut request = app.http().post(app.url("/graphql")).json(body);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.expect("an answer");
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (status, content_type, response.json().await.expect("JSON"))
}

/// Which type each `Accept` gets: no header, wildcards and legacy lists `application/json`;
/// naming `application/graphql-response+json` first (as Apollo Client 4 does) gets it.
async fn accept_picks_the_media_type(backend: Backend) {
    let app = spawn_app(backend).await;
    let query = json!({ "query": "{ __typename }" });
    let cases = [
        (None, JSON),
        (Some("*/*"), JSON),
        (Some("application/*"), JSON),
        (Some("application/json"), JSON),
        (Some("text/html, */*;q=0.1"), JSON),
        (Some(GRAPHQL_RESPONSE), GRAPHQL_RESPONSE),
        (
            Some("application/graphql-response+json,application/json;q=0.9"),
            GRAPHQL_RESPONSE,
        ),
        (
            Some("application/json, application/graphql-response+json"),
            GRAPHQL_RESPONSE,
        ),
        (
            Some("application/json, application/graphql-response+json;q=0.5"),
            JSON,
        ),
        (Some("application/graphql-response+json;q=0.5, */*"), JSON),
    ];
    for (accept, expected) in cases {
        let (status, content_type, body) = post(&app, accept, &query).await;
        assert_eq!(status, 200, "{accept:?}");
        assert!(
            content_type.starts_with(expected),
            "{accept:?}: {content_type}"
        );
        assert_eq!(body["data"]["__typename"], "Query");
    }
}

/// Per media type, the status of each kind of failure, and whether `data` is there.
async fn the_status_says_whether_execution_began(backend: Backend) {
    let app = spawn_app(backend).await;
    let aliases: String = (0..40).map(|i| format!("a{i}: __typename ")).collect();
    let refused_before = [
        (json!({ "query": "{" }), "GRAPHQL_PARSE_FAILED"),
        (json!({ "query": "{ nope }" }), "GRAPHQL_VALIDATION_FAILED"),
        (
            json!({
                "query": "query($size: Int!) { users(pageSize: $size) { totalCount } }",
                "variables": { "size": "ten" },
            }),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            json!({ "query": format!("{{ {aliases} }}") }),
            "TOO_MANY_ALIASES",
        ),
        (
            json!({ "query": "query A { __typename } query B { __typename }" }),
            "OPERATION_NAME_REQUIRED",
        ),
    ];
    for (request, code) in refused_before {
        let (status, _, body) = post(&app, Some(GRAPHQL_RESPONSE), &request).await;
        assert_eq!(status, 400, "{request}: {body}");
        assert_eq!(error_code(&body), code, "{body}");
        assert!(body.get("data").is_none(), "no data entry: {body}");
        let (status, _, body) = post(&app, Some(JSON), &request).await;
        assert_eq!(status, 200, "{request}: {body}");
        assert_eq!(error_code(&body), code, "{body}");
        assert!(body["data"].is_null(), "{body}");
    }
    // Execution began: a field error, `data` beside it, 200 in both types.
    let input = json!({ "input": { "name": "Ada", "email": "not an address" } });
    let failing = json!({ "query": CREATE_USER, "variables": input });
    for accept in [GRAPHQL_RESPONSE, JSON] {
        let (status, _, body) = post(&app, Some(accept), &failing).await;
        assert_eq!(status, 200, "{accept}: {body}");
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert!(body.get("data").is_some_and(Value::is_null), "{body}");
    }
    // A batch is 200, each answer keeping the rule on `data`.
    let batch = json!([{ "query": "{" }, { "query": "{ __typename }" }]);
    let (status, content_type, body) = post(&app, Some(GRAPHQL_RESPONSE), &batch).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with(GRAPHQL_RESPONSE));
    assert!(body[0].get("data").is_none(), "{body}");
    assert_eq!(body[1]["data"]["__typename"], "Query");
}

/// An `Accept` that admits neither type: 406 `NOT_ACCEPTABLE` over POST and GET, before
/// anything runs.
async fn an_accept_neither_type_covers_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = app.write_counts().await;
    let input = json!({ "input": { "name": "Mallory", "email": "m@example.com" } });
    let mutation = json!({ "query": CREATE_USER, "variables": input });
    for accept in [
        "text/html",
        "application/xml, text/*",
        "application/json;q=0, image/*",
    ] {
        let request = app
            .http()
            .post(app.url("/graphql"))
            .header("accept", accept);
        let response = request.json(&mutation).send().await.unwrap();
        assert_refused(response, 406, "NOT_ACCEPTABLE").await;
        let request = app.http().get(app.url("/graphql?query=%7B__typename%7D"));
        let response = request.header("accept", accept).send().await.unwrap();
        assert_refused(response, 406, "NOT_ACCEPTABLE").await;
    }
    app.assert_unharmed(before).await;
}

/// A body that is not a GraphQL request: 400 `BAD_REQUEST` naming what is wrong, whatever the
/// `Accept`; the optional fields may be null.
async fn a_body_that_is_not_a_graphql_request_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let bad = [
        (json!({ "nope": 1 }), "`query` is missing"),
        (json!({ "query": 1 }), "`query` must be a string"),
        (
            json!({ "query": ["{ __typename }"] }),
            "`query` must be a string",
        ),
        (
            json!({ "query": "{ __typename }", "variables": "x" }),
            "`variables`",
        ),
        (
            json!({ "query": "{ __typename }", "variables": [1] }),
            "`variables`",
        ),
        (
            json!({ "query": "{ __typename }", "extensions": "x" }),
            "`extensions`",
        ),
        (
            json!({ "query": "{ __typename }", "operationName": 1 }),
            "`operationName`",
        ),
        (json!([]), "at least one"),
        (json!([1]), "an object"),
        (json!("{ __typename }"), "an object"),
    ];
    for (body, why) in bad {
        for accept in [None, Some(GRAPHQL_RESPONSE)] {
            let mut request = app.http().post(app.url("/graphql")).json(&body);
            if let Some(accept) = accept {
                request = request.header("accept", accept);
            }
            let answer = assert_refused(request.send().await.unwrap(), 400, "BAD_REQUEST").await;
            let message = answer["errors"][0]["message"].as_str().unwrap();
            assert!(message.contains(why), "{body}: {message}");
        }
    }
    let nulls = json!({
        "query": "{ __typename }", "variables": null, "operationName": null, "extensions": null,
    });
    let (status, _, body) = post(&app, Some(GRAPHQL_RESPONSE), &nulls).await;
    assert_eq!(status, 200);
    assert_no_errors(&body);
}

/// On GET, `operationName` picks the operation of a document with several, and `variables` are
/// JSON; a parameter given twice, or `variables` that are not an object, are refused.
async fn operation_name_selects_the_operation_on_get(backend: Backend) {
    let app = spawn_app(backend).await;
    let document = "query Kind { __typename } \
                    query Page($size: Int!) { users(pageSize: $size) { pageSize } }";
    let get = async |params: &[(&str, &str)]| {
        let request = app.http().get(app.url("/graphql")).query(params);
        request.send().await.expect("an answer")
    };
    let response = get(&[
        ("query", document),
        ("operationName", "Page"),
        ("variables", r#"{"size": 7}"#),
    ])
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "data": { "users": { "pageSize": 7 } } }));
    let response = get(&[("query", document), ("operationName", "Kind")]).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "data": { "__typename": "Query" } }));
    let response = get(&[("query", document)]).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "OPERATION_NAME_REQUIRED");

    let twice = [
        ("query", document),
        ("operationName", "Kind"),
        ("operationName", "Page"),
    ];
    assert_refused(get(&twice).await, 400, "BAD_REQUEST").await;
    let not_an_object = [("query", "{ __typename }"), ("variables", "[1]")];
    assert_refused(get(&not_an_object).await, 400, "BAD_REQUEST").await;
    let not_json = [("query", "{ __typename }"), ("variables", "{")];
    assert_refused(get(&not_json).await, 400, "BAD_REQUEST").await;
}

both_engines!(
    accept_picks_the_media_type,
    the_status_says_whether_execution_began,
    an_accept_neither_type_covers_is_refused,
    a_body_that_is_not_a_graphql_request_is_refused,
    operation_name_selects_the_operation_on_get,
);
