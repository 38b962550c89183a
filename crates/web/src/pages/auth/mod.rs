//! Sign-in, setup and password-link pages.

pub(crate) mod recovery;
pub(crate) mod sessions;
