//! Pure domain types shared by every layer: typed ids, the permission catalogue and the
//! identity value objects. No IO, no clock, no randomness; everything here is data and the
//! rules that make a value valid, so a value of these types is valid wherever it travels.

pub mod id;
pub mod net;
pub mod permission;

pub use id::{GroupId, UserId};
pub use permission::{Category, Permission};
