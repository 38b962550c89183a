//! The farm's pages: printers, the file library, the print archive and the queue.

pub(crate) mod archive;
pub(crate) mod library;
pub(crate) mod printers;
pub(crate) mod queue;
