//! People and what they may do: users, groups with their permissions, and the registry of
//! everything that names a user.

pub(crate) mod groups;
pub mod owned;
pub(crate) mod users;
