//! The live-events feature: the `UserEvent` interface, its three types, and `Subscription.userEvents`.

use async_graphql::{Context, ID, Interface, Result, SimpleObject, Subscription};
use futures::{Stream, StreamExt};

use crate::domain::{Caller, LogPosition};
use crate::events::{RecordedEvent, UserEvent as DomainEvent};
use crate::graphql::scalars::DateTime;
use crate::subscriptions::LiveEvents;
use crate::telemetry::Fault;

/// Something that happened to a user, in the global order of the event log.
// Two fields of one type read as a repeated attribute to clippy.
#[allow(clippy::duplicated_attributes)]
#[derive(Interface)]
#[graphql(
    field(
        name = "position",
        ty = "&String",
        desc = "Opaque, totally ordered position in the event log; usable as afterPosition."
    ),
    field(name = "user_id", ty = "&ID"),
    field(name = "occurred_at", ty = "&DateTime"),
    field(
        name = "actor",
        ty = "&Option<String>",
        desc = "Who caused it: a token's `sub`, or `anonymous`; null on older events."
    ),
    field(
        name = "correlation_id",
        ty = "&Option<String>",
        desc = "The request that caused it (its `x-request-id`); null on older events."
    )
)]
#[allow(clippy::enum_variant_names)] // the variants are the contract's type names
pub enum UserEvent {
    UserCreated(UserCreated),
    UserRenamed(UserRenamed),
    UserDeleted(UserDeleted),
}

#[derive(SimpleObject)]
pub struct UserCreated {
    /// Opaque, totally ordered position in the event log; usable as afterPosition.
    position: String,
    user_id: ID,
    occurred_at: DateTime,
    /// Who caused it: a token's `sub`, or `anonymous`; null on older events.
    actor: Option<String>,
    /// The request that caused it (its `x-request-id`); null on older events.
    correlation_id: Option<String>,
    name: String,
    email: String,
}

#[derive(SimpleObject)]
pub struct UserRenamed {
    /// Opaque, totally ordered position in the event log; usable as afterPosition.
    position: String,
    user_id: ID,
    occurred_at: DateTime,
    /// Who caused it: a token's `sub`, or `anonymous`; null on older events.
    actor: Option<String>,
    /// The request that caused it (its `x-request-id`); null on older events.
    correlation_id: Option<String>,
    previous_name: String,
    new_name: String,
    /// The user's version after the rename.
    version: i32,
}

#[derive(SimpleObject)]
pub struct UserDeleted {
    /// Opaque, totally ordered position in the event log; usable as afterPosition.
    position: String,
    user_id: ID,
    occurred_at: DateTime,
    /// Who caused it: a token's `sub`, or `anonymous`; null on older events.
    actor: Option<String>,
    /// The request that caused it (its `x-request-id`); null on older events.
    correlation_id: Option<String>,
}

impl From<&RecordedEvent> for UserEvent {
    fn from(event: &RecordedEvent) -> Self {
        let position = event.position.to_string();
        let user_id = ID(event.user_id.to_string());
        let occurred_at = DateTime(event.occurred_at);
        let actor = event.actor.clone();
        let correlation_id = event.correlation_id.clone();
        match &event.event {
            DomainEvent::UserCreated { name, email } => UserEvent::UserCreated(UserCreated {
                position,
                user_id,
                occurred_at,
                actor,
                correlation_id,
                name: name.clone(),
                email: email.clone(),
            }),
            DomainEvent::UserRenamed {
                previous_name,
                new_name,
            } => UserEvent::UserRenamed(UserRenamed {
                position,
                user_id,
                occurred_at,
                actor,
                correlation_id,
                previous_name: previous_name.clone(),
                new_name: new_name.clone(),
                version: event.version,
            }),
            DomainEvent::UserDeleted => UserEvent::UserDeleted(UserDeleted {
                position,
                user_id,
                occurred_at,
                actor,
                correlation_id,
            }),
        }
    }
}

#[derive(Default)]
pub struct EventsSubscription;

#[Subscription]
impl EventsSubscription {
    /// Replays the log after afterPosition (from the start when absent), then streams new events live.
    async fn user_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A position from an earlier event; the stream starts after it.")]
        after_position: Option<String>,
    ) -> Result<impl Stream<Item = Result<UserEvent>> + use<>> {
        let after = match after_position {
            Some(raw) => LogPosition::parse(&raw, "afterPosition")?,
            None => LogPosition::START,
        };
        let caller = ctx.data::<Caller>()?;
        let live = ctx.data::<LiveEvents>()?;
        Ok(live
            .after(&caller.identity, after)?
            .map(|event| match event {
                Ok(event) => Ok(UserEvent::from(event.as_ref())),
                // A replay that found no connection in time is unavailable, not a bug.
                Err(err) => Err(Fault::from(anyhow::Error::new(err)).into()),
            }))
    }
}
