//! Write model: the append-only event log. Appended only by `commands`, read by `projections`.

use sea_orm::entity::prelude::*;

use crate::domain::LogPosition;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user_events")]
pub struct Model {
    /// The event's sequence number, assigned on insert.
    #[sea_orm(primary_key)]
    pub position: i64,
    /// The appending transaction (PostgreSQL `pg_current_xact_id()`, a column default; 0 on SQLite).
    pub tx_id: i64,
    pub user_id: Uuid,
    /// The user's version after this event; unique per user.
    pub version: i32,
    pub event_type: String,
    pub payload: Json,
    pub occurred_at: DateTimeUtc,
    /// Who caused the event: the token's `sub`, or `anonymous`; null for events appended before
    /// actors were recorded.
    pub actor: Option<String>,
    /// The request that caused the event (its `x-request-id`, or one the server made up); null
    /// for events appended before it was recorded.
    pub correlation_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// Where this event stands in the log's order.
    pub fn log_position(&self) -> LogPosition {
        LogPosition::new(self.tx_id, self.position)
    }
}
