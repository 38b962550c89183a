//! `src/accounts/`: users, groups and the last-administrator guard.

mod admins;
mod groups;
mod users;
