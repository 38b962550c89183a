//! Accounts: users, groups and the last-administrator guard every account write runs under.

pub(crate) mod admins;
pub(crate) mod groups;
pub(crate) mod users;
