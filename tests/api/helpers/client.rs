//! A GraphQL client of one server: raw `graphql` for the JSON's shape, typed calls for the
//! operations tests send most.

use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::helpers::payloads::{
    Answer, CREATE_USER, Created, DELETE_USER, Deleted, Renamed, UPDATE_USER_NAME, USER, USERS,
    User, UserPage,
};

/// Cheap to clone, and `'static`, for spawned clients.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    address: String,
    /// Sent as `Authorization: Bearer …` on every operation, when set.
    token: Option<String>,
}

impl Client {
    /// A client of the server at `address` (`http://host:port`).
    pub fn new(address: &str) -> Client {
        Client::sharing(reqwest::Client::new(), address.to_owned())
    }

    pub(crate) fn sharing(http: reqwest::Client, address: String) -> Client {
        Client {
            http,
            address,
            token: None,
        }
    }

    /// The same server's client, sending `token` as its bearer token.
    pub fn with_token(&self, token: &str) -> Client {
        Client {
            token: Some(token.to_owned()),
            ..self.clone()
        }
    }

    /// `http://host:port`, no trailing slash.
    pub fn address(&self) -> &str {
        &self.address
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// The HTTP client, for requests that are not one GraphQL operation.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// POSTs one operation and returns the JSON response (asserting HTTP 200).
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        let mut request = self.http.post(self.url("/graphql"));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), 200, "HTTP status of {query}");
        response.json().await.expect("JSON body")
    }

    /// POSTs one operation and reads its root `field`.
    pub async fn answer<T: DeserializeOwned>(
        &self,
        query: &str,
        field: &str,
        variables: Value,
    ) -> Answer<T> {
        Answer::read(self.graphql(query, variables).await, field)
    }

    /// Creates a user, asserting success.
    pub async fn create_user(&self, name: &str, email: &str) -> Created {
        self.try_create_user(name, email).await.ok()
    }

    pub async fn try_create_user(&self, name: &str, email: &str) -> Answer<Created> {
        let input = json!({ "input": { "name": name, "email": email } });
        self.answer(CREATE_USER, "createUser", input).await
    }

    /// `expectedVersion` is sent only when given.
    pub async fn update_user_name(
        &self,
        id: &str,
        name: &str,
        expected_version: Option<i32>,
    ) -> Answer<Renamed> {
        let mut input = json!({ "id": id, "name": name });
        if let Some(version) = expected_version {
            input["expectedVersion"] = version.into();
        }
        let input = json!({ "input": input });
        self.answer(UPDATE_USER_NAME, "updateUserName", input).await
    }

    /// `expectedVersion` is sent only when given.
    pub async fn delete_user(&self, id: &str, expected_version: Option<i32>) -> Answer<Deleted> {
        let mut input = json!({ "id": id });
        if let Some(version) = expected_version {
            input["expectedVersion"] = version.into();
        }
        let input = json!({ "input": input });
        self.answer(DELETE_USER, "deleteUser", input).await
    }

    /// Reads one user, with a consistency token or without.
    pub async fn user(&self, id: &str, token: Option<&str>) -> Answer<User> {
        let variables = json!({ "id": id, "consistencyToken": token });
        self.answer(USER, "user", variables).await
    }

    /// Like `user` with a token, retrying reads that time out (for tests that run the server with
    /// a short consistency timeout: on PostgreSQL, another test's open transaction anywhere on
    /// the server holds every log reader back for as long as it stays open).
    pub async fn user_eventually(&self, id: &str, token: &str) -> User {
        let started = Instant::now();
        loop {
            let answer = self.user(id, Some(token)).await;
            if answer.is_ok() {
                return answer.ok();
            }
            assert_eq!(answer.code(), "CONSISTENCY_TIMEOUT", "{answer}");
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{id} never became readable"
            );
        }
    }

    /// Creates a user, then reads it with the creation's token (see `user_eventually`).
    pub async fn create_and_read(&self, name: &str, email: &str) -> User {
        let created = self.create_user(name, email).await;
        let token = &created.consistency_token;
        self.user_eventually(&created.user.id, token).await
    }

    /// One page of users, with a consistency token or without.
    pub async fn users(&self, page: i64, page_size: i64, token: Option<&str>) -> Answer<UserPage> {
        let variables = json!({ "page": page, "pageSize": page_size, "consistencyToken": token });
        self.answer(USERS, "users", variables).await
    }
}
