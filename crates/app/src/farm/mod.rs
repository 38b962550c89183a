//! The printers: their records, live connections (the fleet), reachability checks, cameras and
//! camera tokens, locations, who may start a print on which printer, the file library and
//! the archive of every print, the print queue and projects.

pub(crate) mod archive;
pub(crate) mod camera_tokens;
pub(crate) mod cameras;
pub(crate) mod fleet;
pub(crate) mod library;
pub(crate) mod locations;
pub(crate) mod print_claims;
pub(crate) mod print_jobs;
pub(crate) mod printer_groups;
pub(crate) mod printers;
pub(crate) mod probe;
pub(crate) mod projects;
pub(crate) mod queue;
