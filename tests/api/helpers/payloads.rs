//! What the server answers, typed: the operations tests send most, their payloads, and GraphQL
//! errors by `extensions.code`. Contract tests that check the JSON's exact shape use `Value`.

use std::fmt;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub const CREATE_USER: &str = include_str!("../../../playground/operations/createUser.graphql");
pub const UPDATE_USER_NAME: &str =
    include_str!("../../../playground/operations/updateUserName.graphql");
pub const DELETE_USER: &str = include_str!("../../../playground/operations/deleteUser.graphql");
pub const USER: &str = include_str!("../../../playground/operations/user.graphql");
pub const USERS: &str = include_str!("../../../playground/operations/users.graphql");

/// A user as `createUser` and `user` select it. A field more or less does not read, so that
/// comparing two compares everything the server said.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct User {
    pub id: String,
    pub name: String,
    pub email: String,
    pub version: i32,
    pub created_at: String,
    pub updated_at: String,
}

/// The `createUser` payload.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Created {
    pub user: User,
    pub consistency_token: String,
}

/// The `updateUserName` payload.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Renamed {
    pub user: RenamedUser,
    pub consistency_token: String,
}

/// The renamed user's fields that tests read.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenamedUser {
    pub name: String,
    pub version: i32,
    pub updated_at: String,
}

/// The `deleteUser` payload.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deleted {
    pub deleted_user_id: String,
    pub consistency_token: String,
}

/// A page of `users`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserPage {
    pub items: Vec<PageItem>,
    pub page: i64,
    pub page_size: i64,
    pub total_count: i64,
    pub has_next_page: bool,
}

/// A listed user's fields that tests read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageItem {
    pub id: String,
}

/// One GraphQL error.
#[derive(Debug, Clone, Deserialize)]
pub struct GraphqlError {
    pub message: String,
    #[serde(default)]
    pub path: Value,
    #[serde(default)]
    pub extensions: Extensions,
}

/// The extensions our errors carry; each is absent where it does not apply.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Extensions {
    pub code: Option<String>,
    pub field: Option<String>,
    pub expected_version: Option<i32>,
    pub actual_version: Option<i32>,
    pub consistency_token: Option<String>,
    pub write_committed: Option<bool>,
}

/// The answer to one operation: its root field's value (`None` when null), its errors, and the
/// body as it came, which `Display` prints for failure messages.
#[derive(Debug)]
pub struct Answer<T> {
    pub data: Option<T>,
    pub errors: Vec<GraphqlError>,
    pub body: Value,
}

impl<T: DeserializeOwned> Answer<T> {
    /// Reads `body`, taking the root `field` of its `data`.
    pub fn read(body: Value, field: &str) -> Answer<T> {
        let data = match &body["data"][field] {
            Value::Null => None,
            value => Some(
                T::deserialize(value)
                    .unwrap_or_else(|err| panic!("{field} does not read: {err}: {body:#}")),
            ),
        };
        let errors = match body.get("errors") {
            None => Vec::new(),
            Some(errors) => Vec::deserialize(errors)
                .unwrap_or_else(|err| panic!("errors do not read: {err}: {body:#}")),
        };
        Answer { data, errors, body }
    }
}

impl<T> Answer<T> {
    /// No `errors` in the body.
    pub fn is_ok(&self) -> bool {
        self.body.get("errors").is_none()
    }

    /// The value, asserting that there were no errors.
    pub fn ok(self) -> T {
        assert_no_errors(&self.body);
        let body = self.body;
        self.data.unwrap_or_else(|| panic!("no data: {body:#}"))
    }

    /// The only error, asserting that there was exactly one.
    pub fn error(&self) -> &GraphqlError {
        assert_eq!(self.errors.len(), 1, "one error expected: {self}");
        &self.errors[0]
    }

    /// The `extensions.code` of the only error.
    pub fn code(&self) -> &str {
        let code = self.error().extensions.code.as_deref();
        code.unwrap_or_else(|| panic!("error without code: {self}"))
    }
}

impl<T> fmt::Display for Answer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.body)
    }
}

pub fn assert_no_errors(body: &Value) {
    assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
}

/// The `extensions.code` of the only error in `body`.
pub fn error_code(body: &Value) -> &str {
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {body:#}"));
    assert_eq!(errors.len(), 1, "one error expected: {body:#}");
    errors[0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("error without code: {body:#}"))
}
