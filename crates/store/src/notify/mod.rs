//! Notifications: outbound webhooks.

pub(crate) mod webhooks;
