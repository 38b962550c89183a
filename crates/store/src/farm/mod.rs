//! The farm: printers (with their locations) and the print jobs started on them.

pub(crate) mod print_jobs;
pub(crate) mod printers;
