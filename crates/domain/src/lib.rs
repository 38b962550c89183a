//! Pure domain types shared by every layer: typed ids, the permission catalogue and the
//! identity value objects. No IO, no clock, no randomness; everything here is data and the
//! rules that make a value valid, so a value of these types is valid wherever it travels.

pub mod groups;
pub mod id;
pub mod identity;
pub mod net;
#[cfg(feature = "openapi")]
mod openapi;
pub mod outbound;
pub mod permission;

pub use groups::{PRESETS, Preset, SystemGroup};
pub use id::{
    ApiKeyId, AuditEventId, GroupId, LibraryFileId, LibraryFolderId, LocationId, PrinterGroupId,
    PrinterId, SessionId, UserId, WebhookId,
};
pub use identity::{
    DISPLAY_NAME_MAX, DisplayName, Email, GroupName, Invalid, PrinterScope, SignInRequirement,
    SignInStrength, Username, has_hidden_chars, is_hidden_char,
};
pub use permission::{Category, Permission};
