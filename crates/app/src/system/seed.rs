//! First-start seeding: the three system groups (always ensured) and the five editable
//! 3DPrintForge presets (once: deleting a preset is a choice that a restart must not undo).

use pw_domain::{GroupName, PRESETS, SystemGroup};
use pw_store::NewGroup;

use crate::{App, AppError};

const KEY_PRESETS_SEEDED: &str = "seed.presets";

impl App {
    pub(crate) async fn seed_groups(&self) -> Result<(), AppError> {
        let existing = self.store.list_groups().await?;
        let now = self.now();
        for g in SystemGroup::ALL {
            if existing
                .iter()
                .any(|e| e.is_system && e.name.key() == g.name().to_lowercase())
            {
                continue;
            }
            let name = GroupName::parse(g.name()).map_err(|e| AppError::Internal(e.0.into()))?;
            // A concurrent node may have seeded it a moment ago: a conflict is success.
            match self
                .store
                .insert_group(
                    &NewGroup {
                        name,
                        description: g.description().into(),
                        is_system: true,
                        scope: None,
                        permissions: Vec::new(),
                    },
                    now,
                )
                .await
            {
                Ok(_) | Err(pw_store::StoreError::Conflict) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if self.store.setting(KEY_PRESETS_SEEDED).await?.is_some() {
            return Ok(());
        }
        for p in PRESETS {
            if existing.iter().any(|e| e.name.key() == p.name) {
                continue;
            }
            let name = GroupName::parse(p.name).map_err(|e| AppError::Internal(e.0.into()))?;
            let new = NewGroup {
                name,
                description: p.description.into(),
                is_system: false,
                scope: None,
                permissions: p.permissions.iter().map(|x| x.as_str()).collect(),
            };
            match self.store.insert_group(&new, now).await {
                Ok(_) | Err(pw_store::StoreError::Conflict) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.store.set_setting(KEY_PRESETS_SEEDED, "1", now).await?;
        Ok(())
    }
}
