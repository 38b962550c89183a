//! `src/farm/`: printers, locations, print jobs, the file library and the archive.

mod archive;
mod archive_search;
mod library;
mod locations;
mod print_jobs;
mod printers;
