//! What every feature stands on: the [`App`](crate::App) itself, who is acting, errors, the
//! clock, the principal cache, paging, sealing helpers and the registry of background tasks.
//! Nothing here knows a feature's rules.

pub(crate) mod actor;
pub(crate) mod app;
pub(crate) mod cache;
pub(crate) mod clock;
pub(crate) mod error;
pub(crate) mod page;
pub(crate) mod sealed;
pub(crate) mod tasks;
