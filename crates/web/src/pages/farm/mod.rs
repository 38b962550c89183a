//! The farm's pages: printers and the print archive.

pub(crate) mod archive;
pub(crate) mod printers;
