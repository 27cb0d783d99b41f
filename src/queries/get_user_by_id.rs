//! `GetUserById`: one user from the read model.

use anyhow::Context as _;
use sea_orm::EntityTrait;

use crate::domain::{LogPosition, User, UserId};
use crate::entities::users_view;
use crate::projections::MemoryModel;
use crate::queries::{Handler, Query, QueryError, QueryHandlers};

#[derive(Debug, Clone)]
pub struct GetUserById {
    pub id: UserId,
    pub consistency: Option<LogPosition>,
}

impl Query for GetUserById {
    const NAME: &'static str = "GetUserById";
    type Output = User;

    fn consistency(&self) -> Option<LogPosition> {
        self.consistency
    }

    fn answer_from_memory(&self, memory: &MemoryModel) -> Option<Result<User, QueryError>> {
        let found = memory.user(self.id)?;
        Some(found.ok_or(QueryError::UserNotFound(self.id)))
    }
}

impl Handler<GetUserById> for QueryHandlers {
    async fn handle(&self, query: GetUserById) -> Result<User, QueryError> {
        // The bus waited for the token first, so users_view is at or past it. With an in-memory
        // model past its bound, the row may join its hot set.
        let found = match &self.memory {
            Some(memory) => memory.read_through(&self.db, query.id).await,
            None => users_view::Entity::find_by_id(query.id.as_uuid())
                .one(&self.db)
                .await
                .map(|row| row.map(User::from)),
        };
        found
            .context("read user from users_view")?
            .ok_or(QueryError::UserNotFound(query.id))
    }
}
