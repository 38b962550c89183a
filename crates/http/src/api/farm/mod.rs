//! Farm endpoints: printers (files, commands, trust) and their cameras.

pub(crate) mod camera_tokens;
pub(crate) mod cameras;
pub(crate) mod printers;
