//! The permission catalogue: every `resource:action` right printwarden knows, grouped into
//! categories with human labels. It is one enum so that a typo is a compile error and every
//! list of rights (docs, the group editor) is generated from the same source.
//!
//! Invariant (enforced by a test in `pw-http`'s route table): a permission exists here only
//! together with a route it guards; add a permission in the same change as its route.

use std::fmt;

/// A category of permissions, as shown in the group editor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Category {
    /// Stable key, e.g. `users`.
    pub key: &'static str,
    /// Human label, e.g. `Users`.
    pub label: &'static str,
}

macro_rules! catalogue {
    ($( $cat_key:literal / $cat_label:literal => { $( $variant:ident = $name:literal : $label:literal ),* $(,)? } )*) => {
        /// One right: `resource:action`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Permission {
            $($( #[doc = $label] $variant, )*)*
        }

        impl Permission {
            /// Every permission, in catalogue order.
            pub const ALL: &'static [Permission] = &[$($(Permission::$variant,)*)*];

            /// The `resource:action` string.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $($(Permission::$variant => $name,)*)* }
            }

            /// The human label.
            #[must_use]
            pub const fn label(self) -> &'static str {
                match self { $($(Permission::$variant => $label,)*)* }
            }

            /// The category it is listed under.
            #[must_use]
            pub const fn category(self) -> Category {
                match self { $($(Permission::$variant => Category { key: $cat_key, label: $cat_label },)*)* }
            }

            /// Parses a `resource:action` string.
            #[must_use]
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($($name => Some(Permission::$variant),)*)* _ => None }
            }
        }
    };
}

catalogue! {
    "users" / "Users" => {
        UsersRead = "users:read": "See user accounts",
        UsersCreate = "users:create": "Create user accounts",
        UsersUpdate = "users:update": "Change user accounts (email, password, groups, disable)",
        UsersDelete = "users:delete": "Delete user accounts",
    }
    "groups" / "Groups" => {
        GroupsRead = "groups:read": "See groups and the permission catalogue",
        GroupsCreate = "groups:create": "Create and clone groups",
        GroupsUpdate = "groups:update": "Change groups, their permissions, scope and members",
        GroupsDelete = "groups:delete": "Delete groups",
    }
    "api_keys" / "API keys" => {
        ApiKeysCreate = "api_keys:create": "Create own API keys",
        ApiKeysReadAll = "api_keys:read_all": "See every user's API keys",
        ApiKeysRevokeAll = "api_keys:revoke_all": "Revoke any user's API keys",
    }
    "printers" / "Printers" => {
        PrintersRead = "printers:read": "See printers and their live status",
        PrintersCreate = "printers:create": "Add printers",
        PrintersUpdate = "printers:update": "Change printers (name, address, access code, location)",
        PrintersDelete = "printers:delete": "Remove printers",
        PrintersControl = "printers:control": "Pause, resume and stop prints; lights and speed",
        PrintersGcode = "printers:gcode": "Send raw G-code (temperatures, fans, homing)",
        PrintersAms = "printers:ams": "Load and unload filament, re-read AMS tags",
        PrintersClearPlate = "printers:clear_plate": "Confirm the plate is clear after a print",
        PrintersFiles = "printers:files": "Browse, download and delete files on printers",
        PrintersTrust = "printers:trust": "Approve a printer's changed TLS certificate",
    }
    "camera" / "Camera" => {
        CameraView = "camera:view": "Watch printer cameras",
        CameraTokens = "camera:tokens": "Create long-lived camera-only tokens (kiosks, Home Assistant)",
    }
    "queue" / "Queue" => {
        QueueReadOwn = "queue:read_own": "See own queue items",
        QueueReadAll = "queue:read_all": "See every queue item, ownerless ones included",
        QueueCreate = "queue:create": "Add print jobs (start a file on a printer)",
        QueueUpdateOwn = "queue:update_own": "Change own queued items (copies, priority, time, target, options, AMS mapping)",
        QueueUpdateAll = "queue:update_all": "Change any queued item",
        QueueDeleteOwn = "queue:delete_own": "Cancel and delete own queue items",
        QueueDeleteAll = "queue:delete_all": "Cancel and delete any queue item",
        QueueReorder = "queue:reorder": "Reorder the queue, and pause or resume it or one printer's lane",
    }
    "library" / "Library" => {
        LibraryReadOwn = "library:read_own": "See and download own library files",
        LibraryReadAll = "library:read_all": "See and download every library file, ownerless ones included",
        LibraryUpload = "library:upload": "Upload files to the library and create folders",
        LibraryUpdateOwn = "library:update_own": "Rename, move and tag own library files",
        LibraryUpdateAll = "library:update_all": "Rename, move and tag any library file; rename and move folders",
        LibraryDeleteOwn = "library:delete_own": "Delete own library files and empty folders",
        LibraryDeleteAll = "library:delete_all": "Delete any library file and empty folders",
        LibraryPurge = "library:purge": "Purge the library (ownerless or all files) and see its storage use",
    }
    "archives" / "Archives" => {
        ArchivesReadOwn = "archives:read_own": "See the archive entries of prints one started",
        ArchivesReadAll = "archives:read_all": "See every archive entry, including prints started outside printwarden",
        ArchivesCreate = "archives:create": "Record a print done outside printwarden by hand",
        ArchivesUpdateOwn = "archives:update_own": "Change notes, tags and rating of one's own archive entries",
        ArchivesUpdateAll = "archives:update_all": "Change notes, tags and rating of any archive entry",
        ArchivesDeleteOwn = "archives:delete_own": "Delete one's own archive entries",
        ArchivesDeleteAll = "archives:delete_all": "Delete any archive entry",
        ArchivesPurge = "archives:purge": "Delete every ended archive entry older than a date",
        ArchivesReprintOwn = "archives:reprint_own": "Queue a reprint of one's own archive entries (with queue:create)",
        ArchivesReprintAll = "archives:reprint_all": "Queue a reprint of any archive entry (with queue:create)",
    }
    "projects" / "Projects" => {
        ProjectsRead = "projects:read": "See projects and their progress (members only as far as one may read each)",
        ProjectsCreate = "projects:create": "Create projects",
        ProjectsUpdate = "projects:update": "Change projects: name, notes, due date, add and remove members",
        ProjectsDelete = "projects:delete": "Delete projects (their files, queue items and archive entries stay)",
    }
    "locations" / "Locations" => {
        LocationsRead = "locations:read": "See locations",
        LocationsManage = "locations:manage": "Create, rename and delete locations",
    }
    "settings" / "Settings" => {
        SettingsSecurity = "settings:security": "Change security settings (authentication on/off, key limits)",
        SettingsEmail = "settings:email": "Configure outgoing mail (SMTP, templates, Advanced Auth via Email); administrator-grade: decides where reset links go",
    }
    "notifications" / "Notifications" => {
        NotificationsRead = "notifications:read": "See outbound webhooks and their delivery results",
        NotificationsCreate = "notifications:create": "Create outbound webhooks",
        NotificationsUpdate = "notifications:update": "Change and test outbound webhooks",
        NotificationsDelete = "notifications:delete": "Delete outbound webhooks",
        NotificationsUserEmail = "notifications:user_email": "Get mails about one's own print jobs (opt-in per event)",
    }
    "cloud" / "Bambu Cloud" => {
        CloudAuth = "cloud:auth": "Link one's own Bambu Cloud account and list its printers (the tokens stay sealed on the server)",
    }
    "audit" / "Audit" => {
        AuditRead = "audit:read": "Read the audit log",
    }
    "system" / "System" => {
        SystemRead = "system:read": "View system status and metrics",
        SystemBackup = "system:backup": "Download an encrypted backup of the whole instance (database, files, certificates; the sealing key only when asked); administrator-grade: it holds every account and secret",
    }
}

impl Permission {
    /// Whether a group's printer scope limits this right. Printer-bound rights (printers,
    /// camera, queue, archives) act on a printer; every other right is instance-wide and a
    /// group scope does not narrow it.
    #[must_use]
    pub const fn is_printer_bound(self) -> bool {
        matches!(
            self,
            Permission::PrintersRead
                | Permission::PrintersUpdate
                | Permission::PrintersDelete
                | Permission::PrintersControl
                | Permission::PrintersGcode
                | Permission::PrintersAms
                | Permission::PrintersClearPlate
                | Permission::PrintersFiles
                | Permission::PrintersTrust
                | Permission::QueueCreate
                | Permission::CameraView
                | Permission::ArchivesReadOwn
                | Permission::ArchivesReadAll
                | Permission::ArchivesCreate
                | Permission::ArchivesUpdateOwn
                | Permission::ArchivesUpdateAll
                | Permission::ArchivesDeleteOwn
                | Permission::ArchivesDeleteAll
                | Permission::ArchivesReprintOwn
                | Permission::ArchivesReprintAll
        )
    }

    /// Every category, in catalogue order, with its permissions.
    #[must_use]
    pub fn by_category() -> Vec<(Category, Vec<Permission>)> {
        let mut out: Vec<(Category, Vec<Permission>)> = Vec::new();
        for p in Self::ALL {
            match out.last_mut() {
                Some((c, list)) if *c == p.category() => list.push(*p),
                _ => out.push((p.category(), vec![*p])),
            }
        }
        out
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Permission {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Permission {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Permission::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown permission `{s}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_resource_action_pairs_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for p in Permission::ALL {
            let s = p.as_str();
            assert!(seen.insert(s), "duplicate {s}");
            let (resource, action) = s.split_once(':').unwrap_or(("", ""));
            assert!(
                !resource.is_empty() && !action.is_empty(),
                "{s} is not resource:action"
            );
            assert!(
                s.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c == ':'),
                "{s}"
            );
            assert_eq!(Permission::parse(s), Some(*p));
            assert!(!p.label().is_empty());
        }
        assert_eq!(Permission::parse("nope:nothing"), None);
    }
}
