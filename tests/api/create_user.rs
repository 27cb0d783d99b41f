//! createUser: normalisation, validation, email uniqueness; a rejected command writes nothing.

use serde_json::json;

use crate::each_backend;
use crate::helpers::{CREATE_USER, error_code};

each_backend! {
    /// The payload is the stored user: trimmed name, trimmed lower-cased email, version 1.
    async fn returns_the_stored_user(app) {
        let created = app.create_user("  Ada Lovelace ", "  Ada@Example.COM ").await;
        let user = &created["user"];
        assert_eq!(user["name"], "Ada Lovelace");
        assert_eq!(user["email"], "ada@example.com");
        assert_eq!(user["version"], 1);
        assert_eq!(user["createdAt"], user["updatedAt"]);
        assert!(user["createdAt"].as_str().unwrap().ends_with('Z'));
        assert!(!user["id"].as_str().unwrap().is_empty());
        assert_eq!(created["consistencyToken"].as_str().unwrap().len(), 32);
        assert_eq!(app.write_counts().await, (1, 1));
    }
}

each_backend! {
    /// Every malformed name or email is BAD_USER_INPUT, naming the field, and writes nothing.
    async fn rejects_invalid_input_and_writes_nothing(app) {
        app.create_user("Existing", "existing@example.com").await;
        let long_name = "n".repeat(101);
        let long_email = format!("{}@example.com", "a".repeat(243));
        let cases = [
            ("", "a@example.com", "name"),
            ("   ", "a@example.com", "name"),
            (long_name.as_str(), "a@example.com", "name"),
            ("Bell\u{7}", "a@example.com", "name"),
            ("Ada", "", "email"),
            ("Ada", "ada.example.com", "email"),
            ("Ada", "@example.com", "email"),
            ("Ada", "ada@example", "email"),
            ("Ada", "ada@b@example.com", "email"),
            ("Ada", long_email.as_str(), "email"),
        ];
        for (name, email, field) in cases {
            let body = app
                .graphql(CREATE_USER, json!({ "input": { "name": name, "email": email } }))
                .await;
            assert_eq!(error_code(&body), "BAD_USER_INPUT", "{name:?} / {email:?}");
            assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body:#}");
            assert!(body["data"].is_null());
        }
        assert_eq!(app.write_counts().await, (1, 1), "rejected commands wrote something");
    }
}

each_backend! {
    /// Emails are unique case-insensitively; a duplicate is CONFLICT and writes nothing.
    async fn rejects_a_duplicate_email_in_any_case(app) {
        app.create_user("Ada", "ada@example.com").await;
        let body = app
            .graphql(CREATE_USER, json!({ "input": { "name": "Other", "email": " ADA@example.com" } }))
            .await;
        assert_eq!(error_code(&body), "CONFLICT");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("already exists"));
        assert_eq!(app.write_counts().await, (1, 1));
    }
}

each_backend! {
    /// After deleteUser the address can be used again.
    async fn frees_the_email_after_delete(app) {
        let created = app.create_user("Ada", "ada@example.com").await;
        let body = app
            .graphql(
                crate::helpers::DELETE_USER,
                json!({ "input": { "id": created["user"]["id"] } }),
            )
            .await;
        crate::helpers::assert_no_errors(&body);
        let again = app.create_user("Ada again", "ADA@example.com").await;
        assert_ne!(again["user"]["id"], created["user"]["id"]);
        assert_eq!(again["user"]["version"], 1);
    }
}
