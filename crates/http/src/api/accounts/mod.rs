//! Account administration endpoints: users and groups.

pub(crate) mod groups;
pub(crate) mod users;
