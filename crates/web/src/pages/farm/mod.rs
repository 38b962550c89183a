//! The printers page.

pub(crate) mod printers;
