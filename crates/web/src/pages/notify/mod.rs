//! Webhooks and email settings pages.

pub(crate) mod email;
pub(crate) mod webhooks;
