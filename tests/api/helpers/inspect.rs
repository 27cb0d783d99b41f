//! Looking inside a test's databases, past the server: counts, both models, convergence, the
//! projection's bookkeeping, and raw SQL to break things on purpose.

use std::collections::HashMap;
use std::time::Duration;

use cqrs_users::domain::User;
use cqrs_users::entities::{user_events, users, users_view, users_view_stats};
use cqrs_users::{events, projections};
use sea_orm::{
    ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryOrder, Statement, Value,
};

use crate::helpers::{TestApp, eventually};

impl TestApp {
    /// Rows in the write model and the event log.
    pub async fn write_counts(&self) -> (usize, usize) {
        let users = users::Entity::find().count(&self.write_db).await.unwrap();
        let events = user_events::Entity::find()
            .count(&self.write_db)
            .await
            .unwrap();
        (users as usize, events as usize)
    }

    /// The write model and the read model, as comparable users sorted by id.
    pub async fn both_models(&self) -> (Vec<User>, Vec<User>) {
        let written = users::Entity::find()
            .order_by_asc(users::Column::Id)
            .all(&self.write_db)
            .await
            .unwrap();
        let viewed = users_view::Entity::find()
            .order_by_asc(users_view::Column::Id)
            .all(&self.read_db)
            .await
            .unwrap();
        (
            written.into_iter().map(User::from).collect(),
            viewed.into_iter().map(User::from).collect(),
        )
    }

    /// Waits until the read model equals the write model (bounded), and returns them.
    pub async fn converge(&self, within: Duration) -> Vec<User> {
        eventually(within, "the read model to converge", async || {
            let (written, viewed) = self.both_models().await;
            let sizes = format!("{} written, {} viewed", written.len(), viewed.len());
            if written == viewed {
                Ok(written)
            } else {
                Err(sizes)
            }
        })
        .await
    }

    /// `converge`, then `assert_projected_exactly_once`.
    pub async fn converge_exactly_once(&self, within: Duration) -> Vec<User> {
        let users = self.converge(within).await;
        self.assert_projected_exactly_once().await;
        users
    }

    /// The log and the read model agree: per-user versions run 1..=n in log order, the
    /// maintained counts match the log, and the checkpoint is the log's head.
    pub async fn assert_projected_exactly_once(&self) {
        let log = self.log().await;
        let mut versions = HashMap::<_, i32>::new();
        let (mut created, mut deleted) = (0, 0);
        for event in &log {
            let last = versions.entry(event.user_id).or_default();
            let user = event.user_id;
            assert_eq!(
                event.version,
                *last + 1,
                "versions of {user} out of order in the log"
            );
            *last = event.version;
            match event.event_type.as_str() {
                "UserCreated" => created += 1,
                "UserDeleted" => deleted += 1,
                _ => {}
            }
        }
        let stats = self.view_stats().await;
        assert_eq!(stats.created_count, created);
        assert_eq!(stats.user_count, created - deleted);
        let checkpoint = projections::load_checkpoint(&self.read_db).await.unwrap();
        assert_eq!(checkpoint, events::head(&self.write_db).await.unwrap());
    }

    /// The event log, in log order.
    pub async fn log(&self) -> Vec<user_events::Model> {
        user_events::Entity::find()
            .order_by_asc(user_events::Column::TxId)
            .order_by_asc(user_events::Column::Position)
            .all(&self.write_db)
            .await
            .unwrap()
    }

    /// Every column of the view, ordinals included, and the maintained counts.
    pub async fn view(&self) -> (Vec<users_view::Model>, users_view_stats::Model) {
        let rows = users_view::Entity::find()
            .order_by_asc(users_view::Column::Ordinal)
            .all(&self.read_db)
            .await
            .unwrap();
        (rows, self.view_stats().await)
    }

    async fn view_stats(&self) -> users_view_stats::Model {
        users_view_stats::Entity::find_by_id(users_view_stats::ROW_ID)
            .one(&self.read_db)
            .await
            .unwrap()
            .expect("the counts row")
    }

    /// The holder of the projection lease, if any holds it now.
    pub async fn lease_holder(&self) -> Option<String> {
        let status = self.projection_status().await;
        status
            .leader
            .filter(|(_, left)| *left > 0)
            .map(|(holder, _)| holder)
    }

    /// What `projections status` shows.
    pub async fn projection_status(&self) -> projections::Status {
        projections::status(&self.write_db, &self.read_db)
            .await
            .unwrap()
    }

    /// Waits until the projection records a failure (bounded); returns the status then.
    pub async fn projection_failure(&self) -> projections::Status {
        eventually(
            Duration::from_secs(10),
            "a failure to be recorded",
            async || {
                let status = self.projection_status().await;
                status
                    .last_error
                    .is_some()
                    .then_some(status)
                    .ok_or("none yet")
            },
        )
        .await
    }

    /// Runs one SQL statement on the read database (to break or inspect it on purpose).
    pub async fn execute_on_read_db(&self, sql: &str) {
        self.read_db.execute_unprepared(sql).await.expect(sql);
    }

    /// Runs one statement on the write database, with `?` or `$n` placeholders as the engine
    /// wants: `sqlite` or `postgres`.
    pub async fn execute_on_write_db(&self, sqlite: &str, postgres: &str, values: Vec<Value>) {
        let backend = self.write_db.get_database_backend();
        let sql = match backend {
            DbBackend::Postgres => postgres,
            _ => sqlite,
        };
        let statement = Statement::from_sql_and_values(backend, sql, values);
        self.write_db.execute_raw(statement).await.expect(sql);
    }
}
