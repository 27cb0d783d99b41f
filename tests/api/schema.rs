//! The published SDL (`schema.graphql`) is the server's, and it keeps the public contract's names.

use std::path::Path;

use serde_json::{Value, json};

use crate::helpers::{Backend, both_engines, spawn_app};

/// On drift the file is rewritten and the test fails, so `cargo test` again passes once the new
/// file is reviewed and committed.
#[test]
fn schema_graphql_matches_the_server() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let served = cqrs_users::graphql::sdl();
    let published = std::fs::read_to_string(&path).unwrap_or_default();
    if published != served {
        std::fs::write(&path, &served).expect("rewrite schema.graphql");
        panic!(
            "schema.graphql did not match the server's schema; it has been regenerated (the \
             same as `cargo run -- print-schema --output schema.graphql`): review and commit it"
        );
    }
}

/// Introspection shows the contract's operations with their arguments and defaults.
async fn introspection_shows_the_contract(backend: Backend) {
    let app = spawn_app(backend).await;
    let query = r#"{
        query: __type(name: "Query") {
            fields {
                name
                args { name defaultValue type { kind name ofType { name } } }
                type { kind name ofType { name } }
            }
        }
        mutation: __type(name: "Mutation") {
            fields {
                name
                args { name type { kind ofType { name } } }
                type { kind ofType { name } }
            }
        }
        user: __type(name: "User") { fields { name type { kind ofType { name } } } }
        page: __type(name: "UserPage") { fields { name } }
    }"#;
    let body = app.graphql(query, json!({})).await;
    let names = |v: &Value| -> Vec<String> {
        let fields = v["fields"].as_array().unwrap().iter();
        fields
            .map(|f| f["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let data = &body["data"];
    assert_eq!(names(&data["query"]), ["user", "users"]);
    let mutations = ["createUser", "updateUserName", "deleteUser"];
    assert_eq!(names(&data["mutation"]), mutations);
    let user = ["id", "name", "email", "createdAt", "updatedAt", "version"];
    assert_eq!(names(&data["user"]), user);
    let page = ["items", "page", "pageSize", "totalCount", "hasNextPage"];
    assert_eq!(names(&data["page"]), page);
    let users = &data["query"]["fields"][1];
    let args: Vec<(String, Value)> = users["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_owned(),
                a["defaultValue"].clone(),
            )
        })
        .collect();
    let defaults = [
        ("page".to_owned(), json!("1")),
        ("pageSize".to_owned(), json!("20")),
        ("consistencyToken".to_owned(), json!(null)),
    ];
    assert_eq!(args, defaults);
    let user_field = &data["query"]["fields"][0];
    assert_eq!(user_field["type"]["kind"], "OBJECT", "user(id) is nullable");
}

/// The full introspection GraphiQL and Apollo tooling send (type references nested nine deep)
/// passes the depth and complexity limits.
async fn deep_introspection_passes_the_limits(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut type_ref = String::from("kind name");
    for _ in 0..9 {
        type_ref = format!("kind name ofType {{ {type_ref} }}");
    }
    let input_value = format!("name description defaultValue type {{ {type_ref} }}");
    let query = format!(
        "query IntrospectionQuery {{ __schema {{ description queryType {{ name }} \
         mutationType {{ name }} subscriptionType {{ name }} \
         types {{ kind name description specifiedByURL \
           fields(includeDeprecated: true) {{ name description \
             args(includeDeprecated: true) {{ {input_value} isDeprecated deprecationReason }} \
             type {{ {type_ref} }} isDeprecated deprecationReason }} \
           inputFields(includeDeprecated: true) {{ {input_value} }} \
           interfaces {{ {type_ref} }} \
           enumValues(includeDeprecated: true) {{ name description isDeprecated \
             deprecationReason }} \
           possibleTypes {{ {type_ref} }} }} \
         directives {{ name description isRepeatable locations \
           args(includeDeprecated: true) {{ {input_value} }} }} }} }}"
    );
    let body = app.graphql(&query, json!({})).await;
    assert!(body.get("errors").is_none(), "{body:#}");
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
}

both_engines!(
    introspection_shows_the_contract,
    deep_introspection_passes_the_limits
);
