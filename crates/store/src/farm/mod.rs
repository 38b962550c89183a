//! The farm: printers, the locations they stand in, the print jobs started on them, the file
//! library, the archive of every print, the print queue and projects.

pub(crate) mod archive;
pub(crate) mod library;
pub(crate) mod locations;
pub(crate) mod plates;
pub(crate) mod print_jobs;
pub(crate) mod printer_groups;
pub(crate) mod printers;
pub(crate) mod projects;
pub(crate) mod queue;
