//! The farm's pages: printers, the file library, the print archive, the queue and projects.

pub(crate) mod archive;
pub(crate) mod library;
pub(crate) mod printers;
pub(crate) mod projects;
pub(crate) mod queue;
