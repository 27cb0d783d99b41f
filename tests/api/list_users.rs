//! users(page, pageSize): creation order, stable pages, maintained totals, argument bounds.

use serde_json::json;

use crate::helpers::{Backend, assert_no_errors, both_engines, spawn_app};

/// Pages walk the users oldest first without gaps or repeats; totals and hasNextPage agree.
async fn pages_in_creation_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut created = Vec::new();
    let mut token = String::new();
    for i in 0..7 {
        let payload = app
            .create_user(&format!("User {i}"), &format!("u{i}@example.com"))
            .await;
        token = payload.consistency_token;
        created.push(payload.user.id);
    }
    let mut seen = Vec::new();
    for page in 1..=3 {
        let users = app.users(page, 3, Some(&token)).await.ok();
        assert_eq!(users.page, page);
        assert_eq!(users.page_size, 3);
        assert_eq!(users.total_count, 7);
        assert_eq!(users.has_next_page, page < 3);
        seen.extend(users.items.into_iter().map(|u| u.id));
    }
    assert_eq!(seen, created);

    let past_the_end = app.users(4, 3, Some(&token)).await.data.expect("a page");
    assert!(past_the_end.items.is_empty());
    assert!(!past_the_end.has_next_page);
}

/// Defaults are page 1 of 20; out-of-range arguments are BAD_USER_INPUT naming the argument.
async fn validates_page_arguments(backend: Backend) {
    let app = spawn_app(backend).await;
    let defaults = "{ users { page pageSize totalCount hasNextPage items { id } } }";
    let body = app.graphql(defaults, json!({})).await;
    assert_no_errors(&body);
    assert_eq!(
        body["data"]["users"],
        json!({ "page": 1, "pageSize": 20, "totalCount": 0, "hasNextPage": false, "items": [] })
    );
    let out_of_range = [
        (0, 10, "page"),
        (-1, 10, "page"),
        (1, 0, "pageSize"),
        (1, 101, "pageSize"),
    ];
    for (page, size, field) in out_of_range {
        let answer = app.users(page, size, None).await;
        assert_eq!(answer.code(), "BAD_USER_INPUT", "page {page} size {size}");
        assert_eq!(answer.error().extensions.field.as_deref(), Some(field));
    }
    app.users(1, 100, None).await.ok();
}

both_engines!(pages_in_creation_order, validates_page_arguments);
