//! `src/farm/`: printers, locations and print jobs.

mod locations;
mod print_jobs;
mod printers;
