//! GraphQL adapter: the schema, resolvers per feature, the `DateTime` scalar and the one error mapping.
//!
//! Resolvers are thin: parse arguments into domain types, dispatch a command or query on its bus,
//! map the result into GraphQL types. This module never touches the database or the entities.

mod error;
mod events;
mod scalars;
mod users;

use async_graphql::{MergedObject, MergedSubscription, SDLExportOptions, Schema, SchemaBuilder};

use crate::commands::CommandBus;
use crate::queries::QueryBus;
use crate::subscriptions::LiveEvents;

pub use error::codes;

/// The executable schema; the command and query buses and the live feed travel in its data.
pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// The query root: every feature's query fields.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(users::UsersQuery);

/// The mutation root: every feature's mutations.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(users::UsersMutation);

/// The subscription root: every feature's subscriptions.
#[derive(MergedSubscription, Default)]
#[graphql(name = "Subscription")]
pub struct SubscriptionRoot(events::EventsSubscription);

/// Deepest selection a request may nest; ample for this schema, and a guard against abuse.
const MAX_DEPTH: usize = 20;
/// Most fields one request may select.
const MAX_COMPLEXITY: usize = 1_000;

/// The schema served over HTTP and WebSocket, dispatching to these buses and this feed.
pub fn schema(commands: CommandBus, queries: QueryBus, live: LiveEvents) -> AppSchema {
    builder().data(commands).data(queries).data(live).finish()
}

/// The schema in SDL, as published in `schema.graphql`.
pub fn sdl() -> String {
    let options = SDLExportOptions::new()
        .use_space_ident()
        .indent_width(2)
        .prefer_single_line_descriptions();
    builder().finish().sdl_with_options(options)
}

fn builder() -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
    .extension(error::ErrorCodes)
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
}
