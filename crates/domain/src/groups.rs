//! The seeded groups: three system groups whose rights are defined here (so they grow with the
//! catalogue and cannot be edited away) and the five editable 3DPrintForge presets.
//!
//! Invariant: `Administrators` holds every permission; `Viewers` never holds a right that
//! returns a secret or changes anything; `Operators` never holds user, group, settings,
//! security or backup rights.

use crate::Permission;

/// A seeded, non-deletable, non-renamable group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemGroup {
    /// Everything.
    Administrators,
    /// Runs the farm: printers, own queue/archives/library, projects, inventory.
    Operators,
    /// Read-only.
    Viewers,
}

impl SystemGroup {
    /// All of them, in display order.
    pub const ALL: [SystemGroup; 3] = [
        SystemGroup::Administrators,
        SystemGroup::Operators,
        SystemGroup::Viewers,
    ];

    /// Display name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            SystemGroup::Administrators => "Administrators",
            SystemGroup::Operators => "Operators",
            SystemGroup::Viewers => "Viewers",
        }
    }

    /// Description shown in the group list.
    #[must_use]
    pub const fn description(self) -> &'static str {
        match self {
            SystemGroup::Administrators => {
                "Every permission, including users, groups and security."
            }
            SystemGroup::Operators => {
                "Runs the farm: printers, their own queue items, archives and library files, \
                 projects. No user, group, settings or security rights."
            }
            SystemGroup::Viewers => "Read-only access; never anything that reveals a secret.",
        }
    }

    /// Recognises a system group by its case-folded name.
    #[must_use]
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|g| g.name().eq_ignore_ascii_case(key))
    }

    /// Its rights.
    #[must_use]
    pub fn permissions(self) -> Vec<Permission> {
        match self {
            SystemGroup::Administrators => Permission::ALL.to_vec(),
            SystemGroup::Operators => vec![
                Permission::ApiKeysCreate,
                Permission::PrintersRead,
                Permission::PrintersControl,
                Permission::QueueReadOwn,
                Permission::QueueCreate,
                Permission::QueueUpdateOwn,
                Permission::QueueDeleteOwn,
                Permission::QueueReorder,
                Permission::CameraView,
                Permission::CameraTokens,
                Permission::PrintersFiles,
                Permission::PrintersGcode,
                Permission::PrintersAms,
                Permission::PrintersClearPlate,
                Permission::LocationsRead,
                Permission::NotificationsUserEmail,
                Permission::LibraryReadOwn,
                Permission::LibraryUpload,
                Permission::LibraryUpdateOwn,
                Permission::LibraryDeleteOwn,
                Permission::ArchivesReadOwn,
                Permission::ArchivesCreate,
                Permission::ArchivesUpdateOwn,
                Permission::ArchivesDeleteOwn,
                Permission::ArchivesReprintOwn,
                Permission::ProjectsRead,
                Permission::ProjectsCreate,
                Permission::ProjectsUpdate,
                Permission::ProjectsDelete,
            ],
            SystemGroup::Viewers => vec![
                Permission::PrintersRead,
                Permission::LocationsRead,
                Permission::CameraView,
                Permission::LibraryReadOwn,
                Permission::ArchivesReadOwn,
                Permission::QueueReadOwn,
                Permission::ProjectsRead,
            ],
        }
    }
}

/// An editable group seeded on first start (the five 3DPrintForge roles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    /// Name.
    pub name: &'static str,
    /// Description.
    pub description: &'static str,
    /// Its initial rights.
    pub permissions: &'static [Permission],
}

/// The presets, in display order.
pub const PRESETS: [Preset; 5] = [
    Preset {
        name: "admin",
        description: "3DPrintForge role: full control of the instance.",
        permissions: Permission::ALL,
    },
    Preset {
        name: "controls",
        description: "3DPrintForge role: operate printers.",
        permissions: &[
            Permission::ApiKeysCreate,
            Permission::PrintersRead,
            Permission::PrintersControl,
            Permission::PrintersGcode,
            Permission::PrintersAms,
            Permission::PrintersClearPlate,
            Permission::LocationsRead,
        ],
    },
    Preset {
        name: "print",
        description: "3DPrintForge role: start prints from the library.",
        permissions: &[
            Permission::PrintersRead,
            Permission::QueueReadOwn,
            Permission::QueueCreate,
            Permission::QueueUpdateOwn,
            Permission::QueueDeleteOwn,
            Permission::ArchivesReprintOwn,
            Permission::LibraryReadAll,
            Permission::LibraryUpload,
            Permission::LibraryUpdateOwn,
            Permission::LibraryDeleteOwn,
            Permission::ArchivesReadOwn,
        ],
    },
    Preset {
        name: "queue",
        description: "3DPrintForge role: manage the print queue.",
        permissions: &[
            Permission::PrintersRead,
            Permission::QueueReadAll,
            Permission::QueueCreate,
            Permission::QueueUpdateAll,
            Permission::QueueDeleteAll,
            Permission::QueueReorder,
            Permission::ArchivesReprintOwn,
            Permission::LibraryReadAll,
            Permission::ArchivesReadOwn,
        ],
    },
    Preset {
        name: "view",
        description: "3DPrintForge role: look, but do not touch.",
        permissions: &[
            Permission::PrintersRead,
            Permission::LocationsRead,
            Permission::LibraryReadOwn,
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn administrators_hold_everything_and_others_hold_no_admin_right() {
        assert_eq!(
            SystemGroup::Administrators.permissions(),
            Permission::ALL.to_vec()
        );
        for g in [SystemGroup::Operators, SystemGroup::Viewers] {
            for p in g.permissions() {
                assert!(
                    !matches!(p.category().key, "users" | "groups" | "settings" | "audit"),
                    "{} holds {p}",
                    g.name()
                );
            }
        }
        // Viewers only read, and nothing they read is a secret (access codes are write-only).
        assert!(SystemGroup::Viewers.permissions().iter().all(|p| {
            let s = p.as_str();
            s.ends_with(":read") || s.ends_with(":read_own") || s.ends_with(":view")
        }));
        assert_eq!(
            SystemGroup::from_key("administrators"),
            Some(SystemGroup::Administrators)
        );
    }
}
