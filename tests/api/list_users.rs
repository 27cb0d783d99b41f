//! users(page, pageSize): creation order, stable pages, maintained totals, argument bounds.

use serde_json::{Value, json};

use crate::each_backend;
use crate::helpers::{USERS, assert_no_errors, error_code};

each_backend! {
    /// Pages walk the users oldest first without gaps or repeats; totals and hasNextPage agree.
    async fn pages_in_creation_order(app) {
        let mut created = Vec::new();
        let mut token = Value::Null;
        for i in 0..7 {
            let payload = app.create_user(&format!("User {i}"), &format!("u{i}@example.com")).await;
            token = payload["consistencyToken"].clone();
            created.push(payload["user"]["id"].clone());
        }
        let mut seen = Vec::new();
        for page in 1..=3 {
            let body = app
                .graphql(USERS, json!({ "page": page, "pageSize": 3, "consistencyToken": token }))
                .await;
            assert_no_errors(&body);
            let users = &body["data"]["users"];
            assert_eq!(users["page"], page);
            assert_eq!(users["pageSize"], 3);
            assert_eq!(users["totalCount"], 7);
            assert_eq!(users["hasNextPage"], page < 3);
            seen.extend(users["items"].as_array().unwrap().iter().map(|u| u["id"].clone()));
        }
        assert_eq!(seen, created);

        let body = app
            .graphql(USERS, json!({ "page": 4, "pageSize": 3, "consistencyToken": token }))
            .await;
        assert_eq!(body["data"]["users"]["items"], json!([]));
        assert_eq!(body["data"]["users"]["hasNextPage"], false);
    }
}

each_backend! {
    /// Defaults are page 1 of 20; out-of-range arguments are BAD_USER_INPUT naming the argument.
    async fn validates_page_arguments(app) {
        let body = app.graphql("{ users { page pageSize totalCount hasNextPage items { id } } }", json!({})).await;
        assert_no_errors(&body);
        assert_eq!(body["data"]["users"], json!({ "page": 1, "pageSize": 20, "totalCount": 0, "hasNextPage": false, "items": [] }));
        for (page, size, field) in [(0, 10, "page"), (-1, 10, "page"), (1, 0, "pageSize"), (1, 101, "pageSize")] {
            let body = app.graphql(USERS, json!({ "page": page, "pageSize": size })).await;
            assert_eq!(error_code(&body), "BAD_USER_INPUT", "page {page} size {size}");
            assert_eq!(body["errors"][0]["extensions"]["field"], field);
        }
        let body = app.graphql(USERS, json!({ "page": 1, "pageSize": 100 })).await;
        assert_no_errors(&body);
    }
}
