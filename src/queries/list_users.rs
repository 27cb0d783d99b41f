//! `ListUsers`: one page of users, oldest first, with the total the projector maintains.

use anyhow::Context as _;
use sea_orm::{EntityTrait, QueryOrder, QuerySelect};

use crate::domain::{InvalidInput, LogPosition, User};
use crate::entities::{users_view, users_view_stats};
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
}

impl Handler<ListUsers> for QueryHandlers {
    async fn handle(&self, query: ListUsers) -> Result<UserPage, QueryError> {
        let PageRequest { page, page_size } = query.page;
        // Both through indexes: the page by `ordinal`, the total from the maintained row.
        let items = users_view::Entity::find()
            .order_by_asc(users_view::Column::Ordinal)
            .offset(query.page.offset())
            .limit(u64::from(page_size))
            .all(&self.db);
        let stats = users_view_stats::Entity::find_by_id(users_view_stats::ROW_ID).one(&self.db);
        let (items, stats) = tokio::try_join!(items, stats).context("read a page of users_view")?;
        let total_count = stats
            .map(|s| u64::try_from(s.user_count).unwrap_or(0))
            .context("users_view_stats has no row")?;
        Ok(UserPage {
            items: items.into_iter().map(User::from).collect(),
            page,
            page_size,
            total_count,
            has_next_page: u64::from(page) * u64::from(page_size) < total_count,
        })
    }
}
