//! Farm endpoints: printers (files, commands, trust), camera streams and camera tokens,
//! locations, the file library, the print archive, the print queue, projects.

pub(crate) mod archive;
pub(crate) mod camera_tokens;
pub(crate) mod cameras;
pub(crate) mod library;
pub(crate) mod locations;
pub(crate) mod printer_groups;
pub(crate) mod printers;
pub(crate) mod projects;
pub(crate) mod queue;
