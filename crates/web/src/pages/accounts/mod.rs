//! The own account page and user and group administration.

pub(crate) mod account;
pub(crate) mod groups;
pub(crate) mod users;
