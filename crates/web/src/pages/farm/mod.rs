//! The farm's pages: printers, the file library and the print archive.

pub(crate) mod archive;
pub(crate) mod library;
pub(crate) mod printers;
