//! The farm: printers, the locations they stand in, and the print jobs started on them.

pub(crate) mod locations;
pub(crate) mod print_jobs;
pub(crate) mod printers;
