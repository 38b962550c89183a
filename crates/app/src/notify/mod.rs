//! Telling people and systems what happened: email (SMTP settings, templates, sending),
//! print-job mails, and outbound webhooks.

pub(crate) mod email;
pub(crate) mod events;
pub(crate) mod print_mail;
pub(crate) mod templates;
pub(crate) mod webhooks;
