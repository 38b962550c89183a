//! The farm's pages: printers and the file library.

pub(crate) mod library;
pub(crate) mod printers;
