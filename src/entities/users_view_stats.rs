//! Read model: the one row of counts the projector maintains, so `totalCount` costs no scan.

use sea_orm::entity::prelude::*;

/// The id of the one row.
pub const ROW_ID: i32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users_view_stats")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    /// Users in `users_view` now.
    pub user_count: i64,
    /// Users ever created; the next created user gets `created_count + 1` as its ordinal.
    pub created_count: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
