//! Documents shaped to make the server work without bound, sent as an attacker would: each is
//! refused before it runs, with its status and `extensions.code`, nothing is written, and the
//! server still answers. Legitimate clients at the edges of the limits still pass.

use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, USERS, assert_no_errors, assert_refused, both_engines, spawn_app,
    spawn_app_with,
};

/// Each kind of oversized document, with the default limits.
async fn oversized_documents_are_refused_before_they_run(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("Ada", "ada@example.com").await;
    let deep_fields = format!("{{ __type(name: \"Query\") {} }}", nested("ofType", 20));
    let deep_inline = format!("{{ {} }}", nested("... on Query", 33));
    let hops = (0..4).fold("name".to_owned(), |inner, _| {
        format!("fields {{ type {{ ofType {{ {inner} }} }} }}")
    });
    let type_hops = format!("{{ __schema {{ types {{ {hops} }} }} }}");
    let page = "users(pageSize: 100) { items { id name email version createdAt } }";
    let ten_pages = format!("{{ {} }}", aliases(10, page));
    let many_pages = format!("{{ {} }}", aliases(333, page));
    let aliased = format!("{{ users {{ {} }} }}", aliases(31, "totalCount"));
    let roots = format!("{{ {} }}", "__typename ".repeat(21));
    let tokens = format!("{{ users {{ {} }} }}", "totalCount ".repeat(997));
    let (fan_out, fan_out_in_users) = (doubling_fragments(22, false), doubling_fragments(22, true));
    let self_cycle = cycle("...b ...b");
    let cases = [
        ("fields 22 deep", deep_fields, "QUERY_TOO_DEEP"),
        ("inline fragments 33 deep", deep_inline, "QUERY_TOO_DEEP"),
        ("introspection 4 types deep", type_hops, "QUERY_TOO_DEEP"),
        ("22 fragments doubling", fan_out, "TOO_MANY_ROOT_FIELDS"),
        ("the same in users", fan_out_in_users, "QUERY_TOO_COMPLEX"),
        ("fragment cycle", cycle("...a"), "FRAGMENT_CYCLE"),
        ("fragment spreading itself", self_cycle, "FRAGMENT_CYCLE"),
        ("31 aliases", aliased, "TOO_MANY_ALIASES"),
        ("10 pages of 100", ten_pages, "QUERY_TOO_COMPLEX"),
        ("333 pages of 100", many_pages, "TOO_MANY_TOKENS"),
        ("21 root fields", roots, "TOO_MANY_ROOT_FIELDS"),
        (
            "5 directives on a field",
            five_directives(),
            "TOO_MANY_DIRECTIVES",
        ),
        ("1003 tokens", tokens, "TOO_MANY_TOKENS"),
        ("a 1 MB document", one_megabyte(), "TOO_MANY_TOKENS"),
        (
            "10 000 unused variables",
            unused_variables(10_000),
            "TOO_MANY_TOKENS",
        ),
    ];
    for (kind, query, code) in cases {
        let response = post(&app, &json!({ "query": query })).await;
        let body = assert_refused(response, 200, code).await;
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("--") || code == "FRAGMENT_CYCLE",
            "{kind}: {message}"
        );
        app.assert_unharmed((1, 1)).await;
    }
    // Mutations too are measured before any runs.
    let create = |i: usize| {
        format!(
            "c{i}: createUser(input: {{ name: \"M\", email: \"m{i}@example.com\" }}) {{ consistencyToken }}"
        )
    };
    let creates: String = (0..31).map(create).collect::<Vec<_>>().join(" ");
    let response = post(
        &app,
        &json!({ "query": format!("mutation {{ {creates} }}") }),
    )
    .await;
    assert_refused(response, 200, "TOO_MANY_ALIASES").await;
    app.assert_unharmed((1, 1)).await;
}

/// The limits behind the token limit hold on their own: with the token limit lifted, 333 pages
/// of 100 are refused for their aliases; with aliases and root fields lifted too, for their cost;
/// and 10 000 unused variables get 50 errors and one saying how many were left out.
async fn each_limit_holds_on_its_own(backend: Backend) {
    let page = "users(pageSize: 100) { items { id name email } }";
    let pages = json!({ "query": format!("{{ {} }}", aliases(333, page)) });
    let app = spawn_app_with(backend.clone(), &["--max-tokens", "1000000"]).await;
    assert_refused(post(&app, &pages).await, 200, "TOO_MANY_ALIASES").await;
    let variables = json!({ "query": unused_variables(10_000) });
    let body = assert_refused(
        post(&app, &variables).await,
        200,
        "GRAPHQL_VALIDATION_FAILED",
    )
    .await;
    assert_capped(&body, 10_000 - 50);
    app.assert_unharmed((0, 0)).await;

    let lifted = [
        "--max-tokens",
        "1000000",
        "--max-aliases",
        "1000",
        "--max-root-fields",
        "1000",
    ];
    let app = spawn_app_with(backend, &lifted).await;
    assert_refused(post(&app, &pages).await, 200, "QUERY_TOO_COMPLEX").await;
    app.assert_unharmed((0, 0)).await;
}

/// The operations of a batched POST share one budget: 32 operations that each cost 404 fit 12
/// times in 5000, and the other 20 are refused.
async fn a_batch_shares_one_budget(backend: Backend) {
    let app = spawn_app(backend).await;
    let page = "users(pageSize: 100) { items { id name } }";
    let operation = json!({ "query": format!("{{ {} }}", aliases(2, page)) });
    let batch = json!(vec![operation; 32]);
    let response = post(&app, &batch).await;
    assert_eq!(response.status(), 200);
    let answers: Vec<Value> = response.json().await.unwrap();
    assert_eq!(answers.len(), 32);
    let refused: Vec<&Value> = answers
        .iter()
        .filter(|a| a.get("errors").is_some())
        .collect();
    assert_eq!(refused.len(), 20, "{answers:#?}");
    for answer in refused {
        assert_eq!(
            answer["errors"][0]["extensions"]["code"],
            "QUERY_TOO_COMPLEX"
        );
        assert!(answer["data"].is_null(), "{answer:#}");
    }
    app.assert_unharmed((0, 0)).await;
}

/// A response carries at most 50 errors and then one saying how many more there were.
async fn errors_are_capped(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = post(&app, &json!({ "query": unused_variables(240) })).await;
    let body = assert_refused(response, 200, "GRAPHQL_VALIDATION_FAILED").await;
    assert_capped(&body, 240 - 50);
    app.assert_unharmed((0, 0)).await;
}

/// The choice of operation is a client's error with a code: several operations without an
/// operationName, or a name the document lacks.
async fn operation_choice_errors_have_codes(backend: Backend) {
    let app = spawn_app(backend).await;
    let two = "query A { __typename } mutation B { deleteUser(input: { id: \"x\" }) { consistencyToken } }";
    let response = post(&app, &json!({ "query": two })).await;
    let body = assert_refused(response, 200, "OPERATION_NAME_REQUIRED").await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("operationName")
    );
    let response = post(&app, &json!({ "query": two, "operationName": "C" })).await;
    assert_refused(response, 200, "OPERATION_NOT_FOUND").await;
    let response = post(
        &app,
        &json!({ "query": "{ __typename }", "operationName": "A" }),
    )
    .await;
    assert_refused(response, 200, "OPERATION_NOT_FOUND").await;
    app.assert_unharmed((0, 0)).await;
}

/// A query sent with GET is measured as a POST is.
async fn get_requests_are_measured_too(backend: Backend) {
    let app = spawn_app(backend).await;
    let get = async |query: &str| {
        let request = app.http().get(app.url("/graphql"));
        request.query(&[("query", query)]).send().await.unwrap()
    };
    let roots = format!("{{ {} }}", "__typename ".repeat(21));
    assert_refused(get(&roots).await, 200, "TOO_MANY_ROOT_FIELDS").await;
    let fan_out = doubling_fragments(22, true);
    assert_refused(get(&fan_out).await, 200, "QUERY_TOO_COMPLEX").await;
    app.assert_unharmed((0, 0)).await;
}

/// What GraphiQL, Apollo tooling and the playground send passes the defaults.
async fn legitimate_clients_pass(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("Ada", "ada@example.com").await;
    let body = app.graphql(&full_introspection(), json!({})).await;
    assert_no_errors(&body);
    let types = body["data"]["__schema"]["types"].as_array().unwrap();
    assert!(types.iter().any(|t| t["name"] == "UserPage"), "{body:#}");

    let page = "{ users(pageSize: 100) { items { id name email version createdAt updatedAt } \
                page pageSize totalCount hasNextPage } }";
    assert_no_errors(&app.graphql(page, json!({})).await);

    // Apollo's batching link sends an array; 32 playground pages of 20 fit one request's budget.
    let variables = json!({ "page": 1, "pageSize": 20 });
    let batch = json!(vec![json!({ "query": USERS, "variables": variables }); 32]);
    let response = post(&app, &batch).await;
    assert_eq!(response.status(), 200);
    let answers: Vec<Value> = response.json().await.unwrap();
    assert!(
        answers.iter().all(|a| a.get("errors").is_none()),
        "{answers:#?}"
    );
    let roots = format!("{{ {} }}", aliases(20, "users(pageSize: 1) { totalCount }"));
    assert_no_errors(&app.graphql(&roots, json!({})).await);
    let nested = format!("{{ users {{ {} }} }}", aliases(30, "totalCount"));
    assert_no_errors(&app.graphql(&nested, json!({})).await);
}

async fn post(app: &TestApp, body: &Value) -> reqwest::Response {
    let request = app.http().post(app.url("/graphql")).json(body);
    request.send().await.expect("request sent")
}

/// `{field} {{ {field} {{ ... }} }}`, `depth` times around `__typename`.
fn nested(field: &str, depth: usize) -> String {
    (0..depth).fold("__typename".to_owned(), |inner, _| {
        format!("{field} {{ {inner} }}")
    })
}

/// The 900-byte document: each fragment spreads the previous one twice, at the root or
/// inside `users`.
fn doubling_fragments(n: usize, inside_users: bool) -> String {
    let (on, leaf) = if inside_users {
        ("UserPage", "totalCount")
    } else {
        ("Query", "__typename")
    };
    let fragments: String = (1..=n)
        .map(|i| format!("fragment f{i} on {on} {{ ...f{} ...f{} }} ", i - 1, i - 1))
        .collect();
    let root = if inside_users {
        format!("users {{ ...f{n} }}")
    } else {
        format!("...f{n}")
    };
    format!("{{ {root} }} fragment f0 on {on} {{ {leaf} }} {fragments}")
}

/// `a` spreads `b`, and `b` holds what is given: `...a` closes a cycle through both, `...b ...b`
/// one of `b` with itself.
fn cycle(in_b: &str) -> String {
    format!("{{ ...a }} fragment a on Query {{ ...b }} fragment b on Query {{ {in_b} __typename }}")
}

fn aliases(n: usize, selection: &str) -> String {
    (0..n).map(|i| format!("a{i}: {selection} ")).collect()
}

fn five_directives() -> String {
    let directives = "@include(if: true) ".repeat(3) + &"@skip(if: false) ".repeat(2);
    format!("{{ __typename {directives} }}")
}

fn one_megabyte() -> String {
    let mut document = "{ users { ".to_owned();
    while document.len() < 1_000_000 - 12 {
        document.push_str("totalCount ");
    }
    document + "} }"
}

fn unused_variables(n: usize) -> String {
    let definitions: String = (0..n).map(|i| format!("$v{i}: Int ")).collect();
    format!("query Unused({definitions}) {{ __typename }}")
}

/// `body` holds 50 errors and then one saying that `left_out` more were left out.
fn assert_capped(body: &Value, left_out: usize) {
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 51, "{body:#.2000}");
    let last = &errors[50];
    assert_eq!(last["extensions"]["code"], "TOO_MANY_ERRORS");
    let message = last["message"].as_str().unwrap();
    assert!(message.contains(&format!("{left_out} more")), "{message}");
}

/// The introspection query graphql-js 16 writes for GraphiQL 4 (`getIntrospectionQuery`, type
/// references nine deep), with every option on.
fn full_introspection() -> String {
    let type_ref = (0..9).fold("kind name".to_owned(), |inner, _| {
        format!("kind name ofType {{ {inner} }}")
    });
    format!(
        "query IntrospectionQuery {{ __schema {{ description queryType {{ name kind }} \
         mutationType {{ name kind }} subscriptionType {{ name kind }} types {{ ...FullType }} \
         directives {{ name description isRepeatable locations \
         args(includeDeprecated: true) {{ ...InputValue }} }} }} }} \
         fragment FullType on __Type {{ kind name description specifiedByURL isOneOf \
         fields(includeDeprecated: true) {{ name description \
         args(includeDeprecated: true) {{ ...InputValue }} type {{ ...TypeRef }} isDeprecated \
         deprecationReason }} inputFields(includeDeprecated: true) {{ ...InputValue }} \
         interfaces {{ ...TypeRef }} enumValues(includeDeprecated: true) {{ name description \
         isDeprecated deprecationReason }} possibleTypes {{ ...TypeRef }} }} \
         fragment InputValue on __InputValue {{ name description type {{ ...TypeRef }} \
         defaultValue isDeprecated deprecationReason }} \
         fragment TypeRef on __Type {{ {type_ref} }}"
    )
}

both_engines!(
    oversized_documents_are_refused_before_they_run,
    each_limit_holds_on_its_own,
    a_batch_shares_one_budget,
    errors_are_capped,
    operation_choice_errors_have_codes,
    get_requests_are_measured_too,
    legitimate_clients_pass,
);
