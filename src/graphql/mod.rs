//! GraphQL adapter: the schema, resolvers per feature, the `DateTime` scalar and the one error mapping.
//!
//! Resolvers are thin: parse arguments into domain types, dispatch a command or query on its bus,
//! map the result into GraphQL types. This module never touches the database or the entities.

mod cost;
mod documents;
mod error;
mod events;
mod introspection;
mod limits;
mod observe;
mod persisted;
mod scalars;
mod tokens;
mod users;

use async_graphql::{MergedObject, MergedSubscription, SDLExportOptions, Schema, SchemaBuilder};

use crate::commands::CommandBus;
use crate::config::QueryLimits;
use crate::queries::QueryBus;
use crate::subscriptions::LiveEvents;

pub use error::{codes, execution_began};
pub use limits::with_shared_budget;
pub use observe::Observe;
pub use persisted::{Persisted, fill_in};

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

/// The production switches: what the schema shows about itself.
#[derive(Debug, Clone, Copy)]
pub struct Switches {
    /// Answer `__schema` and `__type`; refused with `INTROSPECTION_DISABLED` if not.
    pub introspection: bool,
    /// "Did you mean ...?" in validation errors.
    pub suggestions: bool,
}

/// The schema served over HTTP and WebSocket, dispatching to these buses and this feed, and
/// refusing requests beyond `limits` before they run (`limits.rs`). async-graphql's own depth,
/// recursion and directive limits are set to the same values, as a second line: `limits.rs`
/// refuses first, with its own codes. `observe` counts (and logs) each operation.
pub fn schema(
    commands: CommandBus,
    queries: QueryBus,
    live: LiveEvents,
    limits: QueryLimits,
    switches: Switches,
    persisted: Persisted,
    observe: Observe,
) -> AppSchema {
    let mut builder = builder(Some(observe));
    if !switches.introspection {
        builder = builder
            .disable_introspection()
            .extension(introspection::NoIntrospection);
    }
    if !switches.suggestions {
        builder = builder.disable_suggestions();
    }
    // Persisted documents are resolved first, so that the limits measure the text that runs.
    builder
        .extension(persisted.clone())
        .extension(limits::Limits::new(limits))
        .limit_depth(limits.max_query_depth)
        .limit_recursive_depth(limits.max_recursive_depth)
        .limit_directives(limits.max_directives)
        .data(commands)
        .data(queries)
        .data(live)
        .data(persisted)
        .finish()
}

/// The schema in SDL, as published in `schema.graphql`.
pub fn sdl() -> String {
    let options = SDLExportOptions::new()
        .use_space_ident()
        .indent_width(2)
        .prefer_single_line_descriptions();
    builder(None).finish().sdl_with_options(options)
}

/// `observe` comes first, so it sees each response as the client will, codes included.
fn builder(observe: Option<Observe>) -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    let builder = Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    );
    match observe {
        Some(observe) => builder.extension(observe),
        None => builder,
    }
    .extension(error::ErrorCodes)
}
