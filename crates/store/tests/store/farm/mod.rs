//! `src/farm/`: printers, locations, print jobs and the archive.

mod archive;
mod locations;
mod print_jobs;
mod printers;
