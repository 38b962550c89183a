//! The farm: printers, the locations they stand in, the print jobs started on them, and the
//! file library.

pub(crate) mod library;
pub(crate) mod locations;
pub(crate) mod print_jobs;
pub(crate) mod printers;
