//! createUser: normalisation, validation, email uniqueness; a rejected command writes nothing.

use crate::helpers::{Backend, both_engines, spawn_app};

/// The payload is the stored user: trimmed name, trimmed lower-cased email, version 1.
async fn returns_the_stored_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app
        .create_user("  Ada Lovelace ", "  Ada@Example.COM ")
        .await;
    let user = &created.user;
    assert_eq!(user.name, "Ada Lovelace");
    assert_eq!(user.email, "ada@example.com");
    assert_eq!(user.version, 1);
    assert_eq!(user.created_at, user.updated_at);
    assert!(user.created_at.ends_with('Z'));
    assert!(!user.id.is_empty());
    assert_eq!(created.consistency_token.len(), 32);
    assert_eq!(app.write_counts().await, (1, 1));
}

/// Every malformed name or email is BAD_USER_INPUT, naming the field, and writes nothing.
async fn rejects_invalid_input_and_writes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
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
        let answer = app.try_create_user(name, email).await;
        assert_eq!(answer.code(), "BAD_USER_INPUT", "{name:?} / {email:?}");
        let named = answer.error().extensions.field.as_deref();
        assert_eq!(named, Some(field), "{answer}");
        assert!(answer.body["data"].is_null());
    }
    let counts = app.write_counts().await;
    assert_eq!(counts, (1, 1), "rejected commands wrote something");
}

/// Emails are unique case-insensitively; a duplicate is CONFLICT and writes nothing.
async fn rejects_a_duplicate_email_in_any_case(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("Ada", "ada@example.com").await;
    let answer = app.try_create_user("Other", " ADA@example.com").await;
    assert_eq!(answer.code(), "CONFLICT");
    assert!(answer.error().message.contains("already exists"));
    assert_eq!(app.write_counts().await, (1, 1));
}

/// After deleteUser the address can be used again.
async fn frees_the_email_after_delete(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_user("Ada", "ada@example.com").await;
    app.delete_user(&created.user.id, None).await.ok();
    let again = app.create_user("Ada again", "ADA@example.com").await;
    assert_ne!(again.user.id, created.user.id);
    assert_eq!(again.user.version, 1);
}

both_engines!(
    returns_the_stored_user,
    rejects_invalid_input_and_writes_nothing,
    rejects_a_duplicate_email_in_any_case,
    frees_the_email_after_delete,
);
