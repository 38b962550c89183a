//! Bambu Cloud: the per-user links (`cloud_links`).

pub(crate) mod links;
