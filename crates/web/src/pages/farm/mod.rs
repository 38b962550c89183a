//! The farm's pages: the home page's farm at a glance, printers, the file library, the print archive, the queue and projects.

pub(crate) mod archive;
pub(crate) mod home;
pub(crate) mod library;
pub(crate) mod printers;
pub(crate) mod projects;
pub(crate) mod queue;
