//! Notification endpoints: email, webhooks and the live event stream.

pub(crate) mod email;
pub(crate) mod events;
pub(crate) mod webhooks;
