//! Locations (rooms, shelves, sites) that printers belong to; group scopes can name them.
//! `locations:read` lists, `locations:manage` creates, renames, deletes and sets the
//! plate-clear waiver (printers standing there start queued jobs without the confirmation).
//! Deleting a location keeps its printers (they lose the location, and its waiver).

use pw_domain::{LocationId, Permission};
use pw_policy::{Action, Target};
use serde::{Deserialize, Serialize};

use crate::core::clock::rfc3339;
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError};

/// A location.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LocationView {
    /// Id.
    #[schema(value_type = i64)]
    pub id: LocationId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// RFC 3339.
    pub created_at: String,
    /// Printers standing here start queued jobs without someone confirming the plate clear.
    pub waive_plate_clear: bool,
}

/// `POST /api/v1/locations` and `PATCH /api/v1/locations/{id}`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationInput {
    /// Name (required to create).
    #[serde(default)]
    pub name: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Let the queue start jobs on every printer here without someone confirming the plate
    /// clear after each print (default off).
    #[serde(default)]
    pub waive_plate_clear: Option<bool>,
}

fn name(raw: &str) -> Result<String, AppError> {
    let n = raw.trim();
    if n.is_empty() || n.chars().count() > 64 || pw_domain::has_hidden_chars(n) {
        return Err(AppError::BadRequest(
            "name must be 1–64 characters without control or invisible formatting characters."
                .into(),
        ));
    }
    Ok(n.to_owned())
}

fn description(raw: &str) -> Result<String, AppError> {
    let d = raw.trim();
    if d.chars().count() > 500 {
        return Err(AppError::BadRequest(
            "description must be at most 500 characters.".into(),
        ));
    }
    Ok(d.to_owned())
}

impl App {
    /// `GET /api/v1/locations`.
    pub async fn list_locations(&self, actor: &Actor) -> Result<Vec<LocationView>, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::LocationsRead),
            &Target::Global,
        )?;
        Ok(self
            .store
            .list_locations()
            .await?
            .into_iter()
            .map(|l| LocationView {
                id: l.id,
                name: l.name,
                description: l.description,
                created_at: rfc3339(l.created_at),
                waive_plate_clear: l.waive_plate_clear,
            })
            .collect())
    }

    async fn location_view(&self, id: LocationId) -> Result<LocationView, AppError> {
        let l = self.store.location(id).await?.ok_or(AppError::NotFound)?;
        Ok(LocationView {
            id: l.id,
            name: l.name,
            description: l.description,
            created_at: rfc3339(l.created_at),
            waive_plate_clear: l.waive_plate_clear,
        })
    }

    /// Sets a location's plate-clear waiver and tells the live rows of its printers (their
    /// cards and the dispatcher read the effective waiver from them).
    async fn set_location_waiver(&self, id: LocationId, waived: bool) -> Result<(), AppError> {
        if !self
            .store
            .set_location_waiver(id, waived, self.now())
            .await?
        {
            return Err(AppError::NotFound);
        }
        for row in self.store.list_printers().await? {
            if row.location_id == Some(id) {
                self.fleet.set_row(row);
            }
        }
        Ok(())
    }

    fn manage(&self, actor: &Actor) -> Result<(), AppError> {
        self.require(
            actor,
            Action::Perform(Permission::LocationsManage),
            &Target::Global,
        )
    }

    /// Changing a location's plate-clear waiver changes the dispatch gate of every printer
    /// placed there, which one printer's own waiver guards with `printers:update` on it. So it
    /// needs `printers:update` everywhere besides `locations:manage` (threat: a location
    /// manager without printer rights letting the queue print into the remains of the last
    /// job on printers they may not change).
    fn require_waiver_right(&self, actor: &Actor) -> Result<(), AppError> {
        if self.may_update_every_printer(actor) {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    /// `POST /api/v1/locations`.
    pub async fn create_location(
        &self,
        actor: &Actor,
        input: LocationInput,
    ) -> Result<LocationView, AppError> {
        self.manage(actor)?;
        let n = name(input.name.as_deref().unwrap_or_default())?;
        let d = description(input.description.as_deref().unwrap_or_default())?;
        if input.waive_plate_clear == Some(true) {
            self.require_waiver_right(actor)?;
        }
        let id = match self.store.insert_location(&n, &d, self.now()).await {
            Err(pw_store::StoreError::Conflict) => {
                return Err(AppError::Conflict(format!("A location named {n} exists.")));
            }
            other => other?,
        };
        let waived = input.waive_plate_clear.unwrap_or(false);
        if waived {
            self.set_location_waiver(id, true).await?;
        }
        self.audit(
            actor,
            AuditEvent::LocationCreate,
            Some(("location", id.to_string())),
            true,
            serde_json::json!({ "name": n, "waive_plate_clear": waived }),
        )
        .await;
        self.location_view(id).await
    }

    /// `PATCH /api/v1/locations/{id}`.
    pub async fn update_location(
        &self,
        actor: &Actor,
        id: LocationId,
        input: LocationInput,
    ) -> Result<LocationView, AppError> {
        self.manage(actor)?;
        let n = input.name.as_deref().map(name).transpose()?;
        let d = input.description.as_deref().map(description).transpose()?;
        if let Some(waived) = input.waive_plate_clear {
            // The form sends the box as it is: an unchanged value needs nothing more.
            if self.location_view(id).await?.waive_plate_clear != waived {
                self.require_waiver_right(actor)?;
            }
        }
        match self
            .store
            .update_location(id, n.as_deref(), d.as_deref(), self.now())
            .await
        {
            Err(pw_store::StoreError::Conflict) => {
                return Err(AppError::Conflict(
                    "A location with that name exists.".into(),
                ));
            }
            Ok(false) => return Err(AppError::NotFound),
            other => {
                other?;
            }
        }
        if let Some(waived) = input.waive_plate_clear {
            self.set_location_waiver(id, waived).await?;
        }
        self.audit(
            actor,
            AuditEvent::LocationUpdate,
            Some(("location", id.to_string())),
            true,
            serde_json::json!({ "name": n, "waive_plate_clear": input.waive_plate_clear }),
        )
        .await;
        self.location_view(id).await
    }

    /// `DELETE /api/v1/locations/{id}`.
    pub async fn delete_location(&self, actor: &Actor, id: LocationId) -> Result<(), AppError> {
        self.manage(actor)?;
        let l = self.store.location(id).await?.ok_or(AppError::NotFound)?;
        self.store.delete_location(id).await?;
        self.audit(
            actor,
            AuditEvent::LocationDelete,
            Some(("location", id.to_string())),
            true,
            serde_json::json!({ "name": l.name }),
        )
        .await;
        // Printers there keep running without a location; the live rows learn it now, so
        // scoped listeners are judged against the new state at once.
        for row in self.store.list_printers().await? {
            if row.location_id.is_none() {
                self.fleet.set_row(row);
            }
        }
        // Printers that left a location-scoped viewer's reach leave their live sockets too.
        self.access_changed();
        Ok(())
    }
}
