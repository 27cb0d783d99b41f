//! The users feature: its GraphQL types, its query fields and its mutations.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};

use crate::commands::{CommandBus, Committed, CreateUser, DeleteUser, UpdateUserName};
use crate::domain::{self, Caller, Email, LogPosition, UserId, UserName};
use crate::graphql::error::null_with_error;
use crate::graphql::scalars::DateTime;
use crate::queries::{self, GetUserById, ListUsers, PageRequest, QueryBus};

/// A user, as queries see it: reads may lag a write until it is projected (see `consistencyToken`).
#[derive(SimpleObject)]
pub struct User {
    /// Opaque identifier; clients must not assume it is numeric.
    id: ID,
    name: String,
    /// Stored trimmed and lower-cased; unique, case-insensitively.
    email: String,
    created_at: DateTime,
    updated_at: DateTime,
    /// 1 after creation, +1 for every later change. Used for optimistic concurrency.
    version: i32,
}

impl From<domain::User> for User {
    fn from(user: domain::User) -> Self {
        User {
            id: ID(user.id.to_string()),
            name: user.name,
            email: user.email,
            created_at: DateTime(user.created_at),
            updated_at: DateTime(user.updated_at),
            version: user.version,
        }
    }
}

/// One page of users, oldest first.
#[derive(SimpleObject)]
pub struct UserPage {
    items: Vec<User>,
    page: i32,
    page_size: i32,
    /// All users in the read model.
    total_count: i32,
    /// `page * pageSize < totalCount`.
    has_next_page: bool,
}

impl From<queries::UserPage> for UserPage {
    fn from(page: queries::UserPage) -> Self {
        let int = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
        UserPage {
            items: page.items.into_iter().map(User::from).collect(),
            page: int(page.page.into()),
            page_size: int(page.page_size.into()),
            total_count: int(page.total_count),
            has_next_page: page.has_next_page,
        }
    }
}

#[derive(InputObject)]
pub struct CreateUserInput {
    /// 1 to 100 characters after trimming; no control, invisible or text-direction characters.
    name: String,
    /// A plausible address of at most 254 characters; stored trimmed and lower-cased.
    email: String,
}

#[derive(InputObject)]
pub struct UpdateUserNameInput {
    id: ID,
    name: String,
    /// When given, the command fails with CONFLICT unless the user is at this version.
    expected_version: Option<i32>,
}

#[derive(InputObject)]
pub struct DeleteUserInput {
    id: ID,
    /// When given, the command fails with CONFLICT unless the user is at this version.
    expected_version: Option<i32>,
}

#[derive(SimpleObject)]
pub struct CreateUserPayload {
    /// The user as the write model stored it.
    user: User,
    /// Pass to a query's consistencyToken argument to read your own write.
    consistency_token: String,
}

#[derive(SimpleObject)]
pub struct UpdateUserNamePayload {
    /// The user as the write model stored it.
    user: User,
    /// Pass to a query's consistencyToken argument to read your own write.
    consistency_token: String,
}

#[derive(SimpleObject)]
pub struct DeleteUserPayload {
    deleted_user_id: ID,
    /// Pass to a query's consistencyToken argument to read your own write.
    consistency_token: String,
}

impl From<Committed<domain::User>> for CreateUserPayload {
    fn from(created: Committed<domain::User>) -> Self {
        CreateUserPayload {
            user: created.value.into(),
            consistency_token: created.position.to_string(),
        }
    }
}

impl From<Committed<domain::User>> for UpdateUserNamePayload {
    fn from(renamed: Committed<domain::User>) -> Self {
        UpdateUserNamePayload {
            user: renamed.value.into(),
            consistency_token: renamed.position.to_string(),
        }
    }
}

impl From<Committed<UserId>> for DeleteUserPayload {
    fn from(deleted: Committed<UserId>) -> Self {
        DeleteUserPayload {
            deleted_user_id: ID(deleted.value.to_string()),
            consistency_token: deleted.position.to_string(),
        }
    }
}

/// The page size of `users` when the client gives none.
pub(super) const DEFAULT_PAGE_SIZE: i32 = 20;

#[derive(Default)]
pub struct UsersQuery;

#[Object]
impl UsersQuery {
    /// null plus a NOT_FOUND error when no such user is in the read model.
    async fn user(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(desc = "A mutation's consistencyToken: wait until that write is readable.")]
        consistency_token: Option<String>,
    ) -> Option<User> {
        let user = async {
            let query = GetUserById {
                id: UserId::parse(&id, "id")?,
                consistency: token(consistency_token.as_deref())?,
            };
            Result::Ok(
                ctx.data::<QueryBus>()?
                    .dispatch(ctx.data::<Caller>()?, query)
                    .await?,
            )
        };
        match user.await {
            Ok(user) => Some(user.into()),
            Err(err) => null_with_error(ctx, err),
        }
    }

    /// Users, oldest first, a page at a time. page >= 1; 1 <= pageSize <= 100.
    async fn users(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 1)] page: i32,
        #[graphql(default_with = "DEFAULT_PAGE_SIZE")] page_size: i32,
        #[graphql(desc = "A mutation's consistencyToken: wait until that write is readable.")]
        consistency_token: Option<String>,
    ) -> Result<UserPage> {
        let query = ListUsers {
            page: PageRequest::parse(page, page_size)?,
            consistency: token(consistency_token.as_deref())?,
        };
        let caller = ctx.data::<Caller>()?;
        let page = ctx.data::<QueryBus>()?.dispatch(caller, query).await?;
        Ok(page.into())
    }
}

#[derive(Default)]
pub struct UsersMutation;

#[Object]
impl UsersMutation {
    /// Create a user. Fails with CONFLICT when a live user has the email address.
    async fn create_user(
        &self,
        ctx: &Context<'_>,
        input: CreateUserInput,
    ) -> Result<CreateUserPayload> {
        let command = CreateUser {
            name: UserName::parse(&input.name)?,
            email: Email::parse(&input.email)?,
        };
        Ok(ctx
            .data::<CommandBus>()?
            .dispatch(ctx.data::<Caller>()?, command)
            .await?
            .into())
    }

    /// Rename a user. NOT_FOUND when there is no such user.
    async fn update_user_name(
        &self,
        ctx: &Context<'_>,
        input: UpdateUserNameInput,
    ) -> Result<UpdateUserNamePayload> {
        let command = UpdateUserName {
            id: UserId::parse(&input.id, "id")?,
            name: UserName::parse(&input.name)?,
            expected_version: input.expected_version,
        };
        Ok(ctx
            .data::<CommandBus>()?
            .dispatch(ctx.data::<Caller>()?, command)
            .await?
            .into())
    }

    /// Delete a user; its email address is free again. NOT_FOUND when there is no such user.
    async fn delete_user(
        &self,
        ctx: &Context<'_>,
        input: DeleteUserInput,
    ) -> Result<DeleteUserPayload> {
        let command = DeleteUser {
            id: UserId::parse(&input.id, "id")?,
            expected_version: input.expected_version,
        };
        Ok(ctx
            .data::<CommandBus>()?
            .dispatch(ctx.data::<Caller>()?, command)
            .await?
            .into())
    }
}

fn token(raw: Option<&str>) -> Result<Option<LogPosition>> {
    Ok(raw
        .map(|t| LogPosition::parse(t, "consistencyToken"))
        .transpose()?)
}
