//! `src/notify/`: webhooks and print mail preferences.

mod print_mail;
mod webhooks;
