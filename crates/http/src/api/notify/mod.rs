//! Notification endpoints: mail settings, mail templates, print-mail preferences, webhooks
//! and the live event stream.

pub(crate) mod email;
pub(crate) mod events;
pub(crate) mod print_mail;
pub(crate) mod templates;
pub(crate) mod webhooks;
