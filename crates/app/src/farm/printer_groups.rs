//! Printer groups: named sets of printers ("PLA farm", "Big plates") that a queue item can
//! target; a printer may be in several groups.
//!
//! Rights — no new permission: a group is a label on printers, so the printer rights decide.
//! - Reading needs `printers:read` (anywhere); a reader sees every group's name but only the
//!   members they may read, filtered in SQL (threat: a location-scoped operator learning the
//!   printers of another site through a shared group).
//! - Creating, renaming, deleting and changing members needs `printers:update`, checked per
//!   printer: every printer added or removed must be one the caller may update (one they may
//!   not see is a 404, as on `/printers/{id}`; one they see but may not update a 403). Members
//!   out of the caller's sight are kept by a member change (a scoped user cannot drop
//!   printers they were never shown). Renaming or deleting a group changes what every member's
//!   queue items mean, so it needs `printers:update` everywhere (unscoped, no printer list):
//!   a scoped caller gets 403 whatever the members, so the answer cannot tell them that the
//!   group holds printers outside their reach.
//! - Deleting a group parks its queued items (target emptied, reason in words, in the same
//!   transaction): they wait until someone chooses another target, never taken by a printer
//!   that was not in the group and never silently lost.
//!
//! Every change is audited.

use std::collections::BTreeSet;

use pw_domain::{Permission, PrinterGroupId, PrinterId};
use pw_policy::{Action, Target};
use pw_store::PrinterGroupRow;
use serde::{Deserialize, Serialize};

use crate::core::clock::rfc3339;
use crate::core::page::printer_filter;
use crate::system::audit::event::AuditEvent;
use crate::{Actor, App, AppError};

/// Most printers one request names.
const MEMBERS_MAX: usize = 1_000;

/// A printer group.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PrinterGroupView {
    /// Id.
    #[schema(value_type = i64)]
    pub id: PrinterGroupId,
    /// Name.
    pub name: String,
    /// The members the caller may read, by printer name.
    pub printer_ids: Vec<i64>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// `POST /api/v1/printer-groups` and `PATCH /api/v1/printer-groups/{id}`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrinterGroupInput {
    /// Name (required to create; 1–64 characters, unique in any case).
    #[serde(default)]
    pub name: Option<String>,
    /// The members (on PATCH: the new set, as far as the caller can see; members the caller
    /// cannot see stay).
    #[serde(default)]
    pub printer_ids: Option<Vec<i64>>,
}

fn name(raw: &str) -> Result<String, AppError> {
    let n = raw.trim();
    if n.is_empty() || n.chars().count() > 64 || pw_domain::has_hidden_chars(n) {
        return Err(AppError::BadRequest(
            "A group name must be 1–64 characters without control or invisible formatting characters."
                .into(),
        ));
    }
    Ok(n.to_owned())
}

fn view(g: PrinterGroupRow) -> PrinterGroupView {
    PrinterGroupView {
        id: g.id,
        name: g.name,
        printer_ids: g.printer_ids.into_iter().map(PrinterId::get).collect(),
        created_at: rfc3339(g.created_at),
        updated_at: rfc3339(g.updated_at),
    }
}

fn ids(list: &BTreeSet<PrinterId>) -> Vec<i64> {
    list.iter().map(|p| p.get()).collect()
}

impl App {
    /// `GET /api/v1/printer-groups`: every group, each with the members the caller may read.
    pub async fn list_printer_groups(
        &self,
        actor: &Actor,
    ) -> Result<Vec<PrinterGroupView>, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::PrintersRead),
            &Target::Global,
        )?;
        let filter = printer_filter(pw_policy::printer_visibility(
            &actor.principal,
            Permission::PrintersRead,
        ));
        Ok(self
            .store
            .list_printer_groups(&filter)
            .await?
            .into_iter()
            .map(view)
            .collect())
    }

    /// `GET /api/v1/printer-groups/{id}`.
    pub async fn get_printer_group(
        &self,
        actor: &Actor,
        id: PrinterGroupId,
    ) -> Result<PrinterGroupView, AppError> {
        self.require(
            actor,
            Action::Perform(Permission::PrintersRead),
            &Target::Global,
        )?;
        self.group_view(actor, id).await
    }

    async fn group_view(
        &self,
        actor: &Actor,
        id: PrinterGroupId,
    ) -> Result<PrinterGroupView, AppError> {
        let filter = printer_filter(pw_policy::printer_visibility(
            &actor.principal,
            Permission::PrintersRead,
        ));
        let g = self
            .store
            .printer_group(id, &filter)
            .await?
            .ok_or(AppError::NotFound)?;
        Ok(view(g))
    }

    /// The named printers, each one the caller may update (404 unseen, 403 seen but not
    /// updatable), without repeats.
    async fn updatable_printers(
        &self,
        actor: &Actor,
        raw: &[i64],
    ) -> Result<BTreeSet<PrinterId>, AppError> {
        if raw.len() > MEMBERS_MAX {
            return Err(AppError::BadRequest(format!(
                "A group can be given at most {MEMBERS_MAX} printers at once."
            )));
        }
        let mut out = BTreeSet::new();
        for id in raw {
            if *id <= 0 {
                return Err(AppError::NotFound);
            }
            let row = self
                .printer_for(actor, PrinterId::from_db(*id), Permission::PrintersUpdate)
                .await?;
            out.insert(row.id);
        }
        Ok(out)
    }

    fn manage_groups(&self, actor: &Actor) -> Result<(), AppError> {
        self.require(
            actor,
            Action::Perform(Permission::PrintersUpdate),
            &Target::Global,
        )
    }

    /// `POST /api/v1/printer-groups`.
    pub async fn create_printer_group(
        &self,
        actor: &Actor,
        input: PrinterGroupInput,
    ) -> Result<PrinterGroupView, AppError> {
        self.manage_groups(actor)?;
        let n = name(input.name.as_deref().unwrap_or_default())?;
        let members = self
            .updatable_printers(actor, input.printer_ids.as_deref().unwrap_or_default())
            .await?;
        let list: Vec<PrinterId> = members.iter().copied().collect();
        let id = match self.store.insert_printer_group(&n, &list, self.now()).await {
            Err(pw_store::StoreError::Conflict) => {
                return Err(AppError::Conflict(format!(
                    "A printer group named {n} exists, or one of its printers was just removed."
                )));
            }
            other => other?,
        };
        self.audit(
            actor,
            AuditEvent::PrinterGroupCreate,
            Some(("printer_group", id.to_string())),
            true,
            serde_json::json!({ "name": n, "printer_ids": ids(&members) }),
        )
        .await;
        self.group_view(actor, id).await
    }

    /// Renaming or deleting a group needs `printers:update` on every printer there is, not
    /// only on the members: a group may hold printers the caller cannot see, and an answer
    /// that depended on them would tell a scoped caller they exist (threat: a location-scoped
    /// operator probing shared groups for another site's printers). So the answer depends on
    /// the caller's rights alone: a scope or a printer list gets 403, whatever the members.
    fn require_unscoped_update(&self, actor: &Actor) -> Result<(), AppError> {
        if self.may_update_every_printer(actor) {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    /// Whether `actor` holds `printers:update` everywhere (no group scope, no key printer
    /// list): what renaming or deleting a printer group and a location's plate-clear waiver
    /// need; the printers page offers those controls only then.
    #[must_use]
    pub fn may_update_every_printer(&self, actor: &Actor) -> bool {
        matches!(
            pw_policy::printer_visibility(&actor.principal, Permission::PrintersUpdate),
            pw_policy::Visibility::All
        )
    }

    /// `PATCH /api/v1/printer-groups/{id}`: rename, and/or set the members.
    pub async fn update_printer_group(
        &self,
        actor: &Actor,
        id: PrinterGroupId,
        input: PrinterGroupInput,
    ) -> Result<PrinterGroupView, AppError> {
        self.manage_groups(actor)?;
        let Some(before) = self
            .store
            .printer_group(id, &pw_store::PrinterFilter::Nothing)
            .await?
        else {
            return Err(AppError::NotFound);
        };
        // The same name again (the page's form sends it with the members) is no rename.
        let n = input
            .name
            .as_deref()
            .map(name)
            .transpose()?
            .filter(|n| *n != before.name);
        if n.is_some() {
            self.require_unscoped_update(actor)?;
        }
        let (mut add, mut remove) = (BTreeSet::new(), BTreeSet::new());
        if let Some(raw) = &input.printer_ids {
            let wanted = self.updatable_printers(actor, raw).await?;
            let current = self.store.printer_group_members(id).await?;
            for p in &current {
                if wanted.contains(&p.id) {
                    continue;
                }
                if self.may(actor, Permission::PrintersUpdate, p) {
                    remove.insert(p.id);
                } else if self.may(actor, Permission::PrintersRead, p) {
                    // Shown to the caller, but theirs to leave alone.
                    return Err(AppError::Forbidden);
                }
                // Unseen members stay: the caller was never shown them.
            }
            add = wanted
                .into_iter()
                .filter(|w| !current.iter().any(|p| p.id == *w))
                .collect();
        }
        let add_list: Vec<PrinterId> = add.iter().copied().collect();
        let remove_list: Vec<PrinterId> = remove.iter().copied().collect();
        match self
            .store
            .update_printer_group(id, n.as_deref(), &add_list, &remove_list, self.now())
            .await
        {
            Err(pw_store::StoreError::Conflict) => {
                return Err(AppError::Conflict(
                    "A printer group with that name exists, or one of its printers was just removed."
                        .into(),
                ));
            }
            Ok(false) => return Err(AppError::NotFound),
            other => {
                other?;
            }
        }
        self.audit(
            actor,
            AuditEvent::PrinterGroupUpdate,
            Some(("printer_group", id.to_string())),
            true,
            serde_json::json!({ "name": n, "added": ids(&add), "removed": ids(&remove) }),
        )
        .await;
        self.group_view(actor, id).await
    }

    /// `DELETE /api/v1/printer-groups/{id}`: its queued items stay, parked with the reason.
    pub async fn delete_printer_group(
        &self,
        actor: &Actor,
        id: PrinterGroupId,
    ) -> Result<(), AppError> {
        self.manage_groups(actor)?;
        let g = self
            .store
            .printer_group(id, &pw_store::PrinterFilter::Nothing)
            .await?
            .ok_or(AppError::NotFound)?;
        self.require_unscoped_update(actor)?;
        let reason = format!(
            "Its printer group {} was deleted: choose another target.",
            g.name
        );
        let parked = self
            .store
            .delete_printer_group(id, &reason, self.now())
            .await?
            .ok_or(AppError::NotFound)?;
        self.audit(
            actor,
            AuditEvent::PrinterGroupDelete,
            Some(("printer_group", id.to_string())),
            true,
            serde_json::json!({ "name": g.name, "parked": parked }),
        )
        .await;
        Ok(())
    }
}
