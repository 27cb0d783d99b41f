//! Read model: how far each projection has applied the event log, written with the rows it changed.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "projection_checkpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub projection: String,
    /// The log position of the last applied event: `(tx_id, position)`.
    pub tx_id: i64,
    pub position: i64,
    pub updated_at: DateTimeUtc,
    /// Why the projector is failing, while it is; cleared by the next applied batch.
    pub last_error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
