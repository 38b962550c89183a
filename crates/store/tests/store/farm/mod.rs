//! `src/farm/`: printers, locations, print jobs, the file library, the archive, the queue and
//! projects.

mod archive;
mod archive_search;
mod library;
mod locations;
mod print_jobs;
mod printers;
mod projects;
mod queue;
