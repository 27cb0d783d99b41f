//! GraphQL adapter: the schema, resolvers per feature, the `DateTime` scalar and the one error mapping.
//!
//! Resolvers are thin: parse arguments into domain types, dispatch a command or query on its bus,
//! map the result into GraphQL types. This module never touches the database or the entities.

mod error;
mod scalars;
mod users;

use async_graphql::{EmptySubscription, MergedObject, SDLExportOptions, Schema, SchemaBuilder};

use crate::commands::CommandBus;
use crate::queries::QueryBus;

pub use error::codes;

/// The executable schema; command and query buses travel in its data.
pub type AppSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// The query root: every feature's query fields.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(users::UsersQuery);

/// The mutation root: every feature's mutations.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(users::UsersMutation);

/// Deepest selection a request may nest; ample for this schema, and a guard against abuse.
const MAX_DEPTH: usize = 20;
/// Most fields one request may select.
const MAX_COMPLEXITY: usize = 1_000;

/// The schema served over HTTP, dispatching to these buses.
pub fn schema(commands: CommandBus, queries: QueryBus) -> AppSchema {
    builder().data(commands).data(queries).finish()
}

/// The schema in SDL, as published in `schema.graphql`.
pub fn sdl() -> String {
    let options = SDLExportOptions::new()
        .use_space_ident()
        .indent_width(2)
        .prefer_single_line_descriptions();
    builder().finish().sdl_with_options(options)
}

fn builder() -> SchemaBuilder<QueryRoot, MutationRoot, EmptySubscription> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        EmptySubscription,
    )
    .extension(error::ErrorCodes)
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
}
