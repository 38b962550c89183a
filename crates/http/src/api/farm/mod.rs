//! Farm endpoints: printers (files, commands, trust), camera streams and camera tokens,
//! locations, the print archive.

pub(crate) mod archive;
pub(crate) mod camera_tokens;
pub(crate) mod cameras;
pub(crate) mod locations;
pub(crate) mod printers;
