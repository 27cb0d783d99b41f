//! `--disable-introspection`: `__schema` and `__type` refused with `INTROSPECTION_DISABLED`
//! (async-graphql's own switch would answer them with a bare `null`).

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{ServerResult, Value};

use crate::graphql::codes;
use crate::graphql::limits::refusal;

/// Installed only when introspection is off.
pub(super) struct NoIntrospection;

impl ExtensionFactory for NoIntrospection {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(NoIntrospection)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for NoIntrospection {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if matches!(info.name, "__schema" | "__type") {
            let message = format!("introspection is disabled on this server: {}", info.name);
            return Err(refusal(codes::INTROSPECTION_DISABLED, message, None));
        }
        next.run(ctx, info).await
    }
}
