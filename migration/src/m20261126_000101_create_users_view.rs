//! The read model: `users_view`, `users_view_stats` (the maintained count) and `projection_checkpoints`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UsersView::Table)
                    .if_not_exists()
                    .col(pk_uuid(UsersView::Id))
                    .col(string_len(UsersView::Name, 100))
                    .col(string_len(UsersView::Email, 254))
                    .col(integer(UsersView::Version))
                    .col(timestamp_with_time_zone(UsersView::CreatedAt))
                    .col(timestamp_with_time_zone(UsersView::UpdatedAt))
                    // The list order: the n-th user the projector created gets n. The unique index
                    // serves `ORDER BY ordinal LIMIT .. OFFSET ..` without a sort.
                    .col(big_integer_uniq(UsersView::Ordinal))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UsersViewStats::Table)
                    .if_not_exists()
                    .col(pk_auto(UsersViewStats::Id))
                    .col(big_integer(UsersViewStats::UserCount))
                    .col(big_integer(UsersViewStats::CreatedCount))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(UsersViewStats::Table)
                    .columns([
                        UsersViewStats::Id,
                        UsersViewStats::UserCount,
                        UsersViewStats::CreatedCount,
                    ])
                    .values_panic([1.into(), 0.into(), 0.into()])
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ProjectionCheckpoints::Table)
                    .if_not_exists()
                    .col(string_len(ProjectionCheckpoints::Projection, 64).primary_key())
                    .col(big_integer(ProjectionCheckpoints::TxId))
                    .col(big_integer(ProjectionCheckpoints::Position))
                    .col(timestamp_with_time_zone(ProjectionCheckpoints::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            UsersView::Table.into_iden(),
            UsersViewStats::Table.into_iden(),
            ProjectionCheckpoints::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum UsersView {
    Table,
    Id,
    Name,
    Email,
    Version,
    CreatedAt,
    UpdatedAt,
    Ordinal,
}

#[derive(DeriveIden)]
enum UsersViewStats {
    Table,
    Id,
    UserCount,
    CreatedCount,
}

#[derive(DeriveIden)]
enum ProjectionCheckpoints {
    Table,
    Projection,
    TxId,
    Position,
    UpdatedAt,
}
