//! `ListUsers`: one page of users, oldest first, with the total the projector maintains.

use anyhow::Context as _;
use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait, JoinType, Order, Query as Sql};
use sea_orm::{ConnectionTrait, FromQueryResult};

use crate::domain::{InvalidInput, LogPosition, User};
use crate::entities::{users_view, users_view_stats};
use crate::projections::MemoryModel;
use crate::queries::{Handler, Query, QueryError, QueryHandlers};

/// A valid page request: `page >= 1`, `1 <= page_size <= 100`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    page: u32,
    page_size: u32,
}

impl PageRequest {
    pub const MAX_PAGE_SIZE: u32 = 100;

    pub fn parse(page: i32, page_size: i32) -> Result<Self, InvalidInput> {
        let page = u32::try_from(page)
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(|| InvalidInput::new("page", "must be 1 or more"))?;
        let page_size = u32::try_from(page_size)
            .ok()
            .filter(|s| (1..=Self::MAX_PAGE_SIZE).contains(s))
            .ok_or_else(|| {
                InvalidInput::new(
                    "pageSize",
                    format!("must be between 1 and {}", Self::MAX_PAGE_SIZE),
                )
            })?;
        Ok(Self { page, page_size })
    }

    fn offset(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.page_size)
    }
}

#[derive(Debug, Clone)]
pub struct ListUsers {
    pub page: PageRequest,
    pub consistency: Option<LogPosition>,
}

/// One page of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPage {
    pub items: Vec<User>,
    pub page: u32,
    pub page_size: u32,
    /// All users in the read model.
    pub total_count: u64,
    pub has_next_page: bool,
}

impl Query for ListUsers {
    const NAME: &'static str = "ListUsers";
    type Output = UserPage;

    fn consistency(&self) -> Option<LogPosition> {
        self.consistency
    }

    fn answer_from_memory(&self, memory: &MemoryModel) -> Option<Result<UserPage, QueryError>> {
        let PageRequest { page, page_size } = self.page;
        let (items, total_count) = memory.page(self.page.offset(), page_size as usize)?;
        Some(Ok(UserPage {
            items,
            page,
            page_size,
            total_count,
            has_next_page: u64::from(page) * u64::from(page_size) < total_count,
        }))
    }
}

impl Handler<ListUsers> for QueryHandlers {
    async fn handle(&self, query: ListUsers) -> Result<UserPage, QueryError> {
        let PageRequest { page, page_size } = query.page;
        // One statement, so one snapshot: the page and the total never straddle a projector
        // commit. The counts row left-joined with the page (by `ordinal`, on its unique index)
        // gives the total even past the last page, where the page has no rows.
        let (s, u) = (Alias::new("s"), Alias::new("u"));
        let page_rows = Sql::select()
            .column(Asterisk)
            .from(users_view::Entity)
            .order_by(users_view::Column::Ordinal, Order::Asc)
            .limit(u64::from(page_size))
            .offset(query.page.offset())
            .to_owned();
        let statement = Sql::select()
            .column((s.clone(), users_view_stats::Column::UserCount))
            .column((u.clone(), Asterisk))
            .from_as(users_view_stats::Entity, s.clone())
            .join_subquery(JoinType::LeftJoin, page_rows, u.clone(), Expr::val(1).eq(1))
            .and_where(Expr::col((s, users_view_stats::Column::Id)).eq(users_view_stats::ROW_ID))
            .order_by((u, users_view::Column::Ordinal), Order::Asc)
            .to_owned();
        let rows = self
            .db
            .query_all(&statement)
            .await
            .context("read a page of users_view")?;
        let total: i64 = rows
            .first()
            .context("users_view_stats has no row")?
            .try_get("", "user_count")
            .context("read the user count")?;
        let total_count = u64::try_from(total).unwrap_or(0);
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: Option<uuid::Uuid> = row.try_get("", "id").context("read a page row")?;
            if id.is_some() {
                let user = users_view::Model::from_query_result(row, "").context("read a user")?;
                items.push(User::from(user));
            }
        }
        Ok(UserPage {
            items,
            page,
            page_size,
            total_count,
            has_next_page: u64::from(page) * u64::from(page_size) < total_count,
        })
    }
}
