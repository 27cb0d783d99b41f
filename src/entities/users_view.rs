//! Read model: users shaped for the queries. Written only by `projections`, read by `queries`.

use sea_orm::entity::prelude::*;

use crate::domain::User;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users_view")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The list order: the n-th user the projector created has ordinal n.
    #[sea_orm(unique)]
    pub ordinal: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A row as the user it shows: what both read models (`users_view` and the in-memory copy that
/// loads from it) answer.
impl From<Model> for User {
    fn from(row: Model) -> Self {
        User {
            id: row.id.into(),
            name: row.name,
            email: row.email,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}
