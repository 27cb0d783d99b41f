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

/// The columns a [`User`] is read from, for a select that reads them by position
/// ([`UserRow`], in this order): cheaper per row than a [`Model`], which looks each column up by
/// name. The in-memory model's load reads every row this way.
pub const USER_COLUMNS: [Column; 6] = [
    Column::Id,
    Column::Name,
    Column::Email,
    Column::Version,
    Column::CreatedAt,
    Column::UpdatedAt,
];

/// A row read as [`USER_COLUMNS`].
pub type UserRow = (Uuid, String, String, i32, DateTimeUtc, DateTimeUtc);

/// The user a row read as [`USER_COLUMNS`] shows (as `From<Model>` does for a whole row).
pub fn user_of((id, name, email, version, created_at, updated_at): UserRow) -> User {
    User {
        id: id.into(),
        name,
        email,
        version,
        created_at,
        updated_at,
    }
}
