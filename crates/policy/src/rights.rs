//! What a user holds: each permission with its reach (everywhere, or only inside some printer
//! scopes). Built from the user's groups; narrowed for an API key to its scopes.
//!
//! Invariant: rights only ever come from group grants — a union, no deny rules — and narrowing
//! (key scopes, key printer list) can only remove reach, never add it.

use std::collections::{BTreeMap, BTreeSet};

use pw_domain::{LocationId, Permission, PrinterId, PrinterScope};

/// Where a held permission applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// On every target.
    Everywhere,
    /// Only on printer-bound targets inside one of these scopes (from scoped groups).
    Scoped(Vec<PrinterScope>),
}

impl Reach {
    fn covers(&self, printer: PrinterId, location: Option<LocationId>) -> bool {
        match self {
            Reach::Everywhere => true,
            Reach::Scoped(scopes) => scopes.iter().any(|s| s.covers(printer, location)),
        }
    }

    fn union(&mut self, other: Reach) {
        match (&mut *self, other) {
            (Reach::Everywhere, _) => {}
            (_, Reach::Everywhere) => *self = Reach::Everywhere,
            (Reach::Scoped(mine), Reach::Scoped(theirs)) => {
                for s in theirs {
                    if !mine.contains(&s) {
                        mine.push(s);
                    }
                }
            }
        }
    }
}

/// A user's permissions with their reach.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rights(BTreeMap<Permission, Reach>);

impl Rights {
    /// No rights at all.
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// Every permission, everywhere (the `Administrators` group).
    #[must_use]
    pub fn all() -> Self {
        Self::everywhere(Permission::ALL.iter().copied())
    }

    /// These permissions, everywhere.
    #[must_use]
    pub fn everywhere(permissions: impl IntoIterator<Item = Permission>) -> Self {
        Self(
            permissions
                .into_iter()
                .map(|p| (p, Reach::Everywhere))
                .collect(),
        )
    }

    /// Adds one group's grants. A group scope narrows only printer-bound permissions; the
    /// group's other permissions are instance-wide whatever its scope says.
    pub fn grant_group(
        &mut self,
        permissions: impl IntoIterator<Item = Permission>,
        scope: Option<&PrinterScope>,
    ) {
        for p in permissions {
            let reach = match scope {
                Some(s) if p.is_printer_bound() => Reach::Scoped(vec![s.clone()]),
                _ => Reach::Everywhere,
            };
            match self.0.get_mut(&p) {
                Some(existing) => existing.union(reach),
                None => {
                    self.0.insert(p, reach);
                }
            }
        }
    }

    /// Sets one permission's reach (replacing any), for building what a grant hands out.
    pub fn insert(&mut self, permission: Permission, reach: Reach) {
        self.0.insert(permission, reach);
    }

    /// Keeps only the permissions in `scopes` (an API key's rights: scopes ∩ owner's rights).
    #[must_use]
    pub fn restricted_to(&self, scopes: &BTreeSet<Permission>) -> Self {
        Self(
            self.0
                .iter()
                .filter(|(p, _)| scopes.contains(p))
                .map(|(p, r)| (*p, r.clone()))
                .collect(),
        )
    }

    /// Whether `permission` is held anywhere at all (the route door and filtered lists).
    #[must_use]
    pub fn holds(&self, permission: Permission) -> bool {
        self.0.contains_key(&permission)
    }

    /// Whether `permission` is held on every target (not just inside a scope).
    #[must_use]
    pub fn holds_everywhere(&self, permission: Permission) -> bool {
        matches!(self.0.get(&permission), Some(Reach::Everywhere))
    }

    /// Whether `permission` reaches a printer.
    #[must_use]
    pub fn holds_on(
        &self,
        permission: Permission,
        printer: PrinterId,
        location: Option<LocationId>,
    ) -> bool {
        self.0
            .get(&permission)
            .is_some_and(|r| r.covers(printer, location))
    }

    /// The permissions held (anywhere), in catalogue order.
    pub fn permissions(&self) -> impl Iterator<Item = Permission> + '_ {
        self.0.keys().copied()
    }

    /// The reach of one permission.
    #[must_use]
    pub fn reach(&self, permission: Permission) -> Option<&Reach> {
        self.0.get(&permission)
    }
}
