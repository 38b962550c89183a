//! Notifications: outbound webhooks and the per-user print mail preferences.

pub(crate) mod print_mail;
pub(crate) mod webhooks;
