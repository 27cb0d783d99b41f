//! Write load: clients creating users through one server until told to stop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::helpers::Client;

/// `writers` clients, each creating users one after another (and renaming each, with
/// [`Load::start_renaming`]); a request that fails or is not answered within 2 s is not
/// acknowledged, and the client goes on.
pub struct Load {
    stop: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<Vec<String>>>,
    writers: Vec<JoinHandle<()>>,
}

impl Load {
    pub fn start(address: &str, writers: usize) -> Load {
        Self::started(address, writers, false)
    }

    /// As [`Load::start`], each user renamed once after its creation: the log mixes creates and
    /// renames, so commands and the projector's batches are transactions of several statements.
    pub fn start_renaming(address: &str, writers: usize) -> Load {
        Self::started(address, writers, true)
    }

    fn started(address: &str, writers: usize, renaming: bool) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let client = Client::sharing(http, address.to_owned());
        let writers = (0..writers)
            .map(|w| {
                let (client, stop) = (client.clone(), stop.clone());
                let acknowledged = acknowledged.clone();
                tokio::spawn(async move {
                    for i in 0.. {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let (name, email) = (format!("L{w} #{i}"), format!("l{w}n{i}@example.com"));
                        if let Some(id) = client.try_create(&name, &email).await {
                            if renaming {
                                client.try_rename(&id, &format!("{name} renamed")).await;
                            }
                            acknowledged.lock().unwrap().push(id);
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            acknowledged,
            writers,
        }
    }

    /// Stops the clients; the ids of the users whose creation was acknowledged.
    pub async fn stop(self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        for writer in self.writers {
            writer.await.unwrap();
        }
        self.acknowledged.lock().unwrap().clone()
    }
}

impl Client {
    /// The new user's id, if the server acknowledged it; `None` on any failure.
    async fn try_create(&self, name: &str, email: &str) -> Option<String> {
        let input = serde_json::json!({ "input": { "name": name, "email": email } });
        let body = self.try_post(crate::helpers::CREATE_USER, input).await?;
        Some(
            body["data"]["createUser"]["user"]["id"]
                .as_str()?
                .to_owned(),
        )
    }

    /// Renames the user; whatever the answer, or none.
    async fn try_rename(&self, id: &str, name: &str) {
        let input = serde_json::json!({ "input": { "id": id, "name": name } });
        self.try_post(crate::helpers::UPDATE_USER_NAME, input).await;
    }

    async fn try_post(
        &self,
        query: &str,
        variables: serde_json::Value,
    ) -> Option<serde_json::Value> {
        let body = serde_json::json!({ "query": query, "variables": variables });
        let response = self
            .http()
            .post(self.url("/graphql"))
            .json(&body)
            .send()
            .await;
        response.ok()?.json().await.ok()
    }
}
