//! `src/farm/`: printers, locations, print jobs and the file library.

mod library;
mod locations;
mod print_jobs;
mod printers;
