//! The page shell every template extends: asset URLs, the auth-off banner, and a navigation
//! that shows only the pages the viewer may open (UI brief: "show only what the viewer may do").
//!
//! Invariant: the navigation is not a list of its own. Its links, their order and who sees
//! them come from the page rows of the route table (`pw_http::navigation`); a link is shown
//! only when the row's access admits the viewer ([`Viewer::may_open`]) and, for a page that
//! names fine permissions behind an any-user door (the library), when the viewer holds one of
//! them ([`Viewer::may_open_row`]).

use pw_app::{Actor, App, AppError, MeView};
use pw_domain::{Permission, UserId};
use pw_http::{Access, Requirement, RouteSpec};

use crate::asset_href;

/// Who is looking at a page: their `me` view, or nobody.
#[derive(Debug, Clone, Default)]
pub(crate) struct Viewer {
    me: Option<MeView>,
}

impl Viewer {
    /// Nobody (public pages rendered without a lookup, error pages).
    pub(crate) fn anonymous() -> Self {
        Self::default()
    }

    /// Loads the viewer. An anonymous actor is not an error: public pages render for them.
    pub(crate) async fn load(app: &App, actor: &Actor) -> Result<Self, AppError> {
        match app.me(actor).await {
            Ok(me) => Ok(Self { me: Some(me) }),
            Err(AppError::Unauthenticated) => Ok(Self::anonymous()),
            Err(e) => Err(e),
        }
    }

    /// Whether the viewer holds a permission (everything while authentication is off).
    pub(crate) fn can(&self, p: Permission) -> bool {
        // A session that must first enrol holds its rights on paper only: every door refuses
        // it, so no page offers what it cannot do.
        !self.enrolling() && self.me.as_ref().is_some_and(|m| m.permissions.contains(&p))
    }

    /// The signed-in user's id (none while nobody is signed in, even with auth off).
    pub(crate) fn user_id(&self) -> Option<UserId> {
        self.me.as_ref().and_then(|m| m.id)
    }

    /// The signed-in user's name.
    pub(crate) fn username(&self) -> Option<&str> {
        self.me.as_ref().and_then(|m| m.username.as_deref())
    }

    /// The viewer's session must first set up the second factor its group requires: the
    /// navigation offers only the Account page (every other door refuses it).
    pub(crate) fn enrolling(&self) -> bool {
        self.me.as_ref().is_some_and(|m| m.enrol_first.is_some())
    }

    /// Effective permissions, in catalogue order.
    pub(crate) fn permissions(&self) -> &[Permission] {
        self.me.as_ref().map_or(&[], |m| m.permissions.as_slice())
    }

    /// Whether a page with this access would let the viewer in. Stricter than the door only
    /// for pages that need a signed-in user: with authentication off and nobody signed in
    /// there is no account to show.
    pub(crate) fn may_open(&self, access: &Access) -> bool {
        match access {
            Access::Public { .. } => true,
            Access::Session(need) | Access::SessionOrKey(need) => match need {
                Requirement::Authenticated => self.user_id().is_some() && !self.enrolling(),
                Requirement::Enrol => self.user_id().is_some(),
                Requirement::Permission(p) => self.can(*p) && !self.enrolling(),
            },
            // Tickets and camera credentials never open a page.
            Access::Ticket(_) | Access::Camera { .. } => false,
        }
    }

    /// Whether the viewer may open the page row at `path` (false for a path with no page
    /// row).
    pub(crate) fn may_open_page(&self, path: &str) -> bool {
        pw_http::ROUTES
            .iter()
            .find(|r| r.path == path && r.method == "GET")
            .is_some_and(|r| self.may_open_row(r))
    }

    /// Whether the page row would show the viewer anything: its door admits them and, for a
    /// page whose door is any signed-in user but whose content needs one of several rights
    /// (the library and the archive: `read_own` or `read_all`, listed as the row's `fine` permissions), they
    /// hold one of them — the page itself answers 403 without.
    pub(crate) fn may_open_row(&self, row: &RouteSpec) -> bool {
        if row.kind != pw_http::Kind::Page || row.fine.is_empty() {
            return self.may_open(&row.access);
        }
        // Such a page shows content, not an account: with authentication off it opens for
        // everyone, like the pages behind one permission.
        let door = match row.access {
            Access::Session(Requirement::Authenticated)
            | Access::SessionOrKey(Requirement::Authenticated) => self.me.is_some(),
            other => self.may_open(&other),
        };
        door && row.fine.iter().any(|p| self.can(*p))
    }

    /// The `me` view, when someone (or auth-off "everyone") is looking.
    pub(crate) fn me(&self) -> Option<&MeView> {
        self.me.as_ref()
    }
}

/// One link of the main navigation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    /// The icon's id in the sprite.
    pub icon: &'static str,
}

/// The navigation for one viewer.
#[derive(Debug, Clone, Default)]
pub(crate) struct Nav {
    /// Shown in `.app-user` with the Sign out button.
    pub username: Option<String>,
    /// Offer a "Sign in" link (not on the sign-in and setup pages themselves).
    pub sign_in_link: bool,
    /// The pages the viewer may open, in navigation order.
    pub links: Vec<NavLink>,
}

impl Nav {
    fn for_viewer(viewer: &Viewer) -> Self {
        Self {
            // Also while authentication is off: signing in still puts a name in the audit log.
            sign_in_link: viewer.user_id().is_none(),
            links: nav_links(viewer, &pw_http::navigation()),
            // The display name when there is one (escaped by the template like every value).
            username: viewer
                .me()
                .and_then(|m| m.display_name.clone())
                .or_else(|| viewer.username().map(str::to_owned)),
        }
    }
}

/// The links for a viewer from the navigation rows (in link order): rows that share a
/// position are one link, to the first of them the viewer may open (Settings goes to the
/// email page for a viewer who may only configure mail).
fn nav_links(viewer: &Viewer, rows: &[(&RouteSpec, pw_http::NavEntry)]) -> Vec<NavLink> {
    let mut links: Vec<NavLink> = Vec::new();
    let mut last_order = None;
    for (row, entry) in rows {
        if last_order == Some(entry.order) || !viewer.may_open_row(row) {
            continue;
        }
        // Skip only after a row was taken: an unopenable first row leaves the position free.
        last_order = Some(entry.order);
        links.push(NavLink {
            href: row.path,
            label: entry.label,
            icon: entry.icon,
        });
    }
    links
}

/// What the base layout needs on every page.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub css_href: String,
    pub js_href: String,
    pub icons_href: String,
    pub favicon_href: String,
    pub version: &'static str,
    pub auth_disabled: bool,
    pub nav: Nav,
    /// The page's own ES module (hashed URL), if the page has actions.
    pub module_href: Option<String>,
    /// The session watcher (signed-in pages only: it sends a revoked session to the login).
    pub session_href: Option<String>,
}

impl Layout {
    pub(crate) fn new(app: &App, viewer: &Viewer) -> Self {
        let nav = Nav::for_viewer(viewer);
        // The watcher and the sign-out button need a real session; with auth off and nobody
        // signed in there is nothing to watch.
        let session_href = viewer
            .user_id()
            .is_some()
            .then(|| asset_href("js/session.js"));
        Self {
            css_href: asset_href("css/app.css"),
            js_href: asset_href("js/app.js"),
            icons_href: asset_href("icons.svg"),
            favicon_href: asset_href("favicon.svg"),
            version: app.version(),
            auth_disabled: !app.auth_enabled(),
            nav,
            module_href: None,
            session_href,
        }
    }

    /// Adds the page's module, by its path below `static/` (e.g. `js/users.js`).
    pub(crate) fn with_module(mut self, logical: &str) -> Self {
        self.module_href = Some(asset_href(logical));
        self
    }

    /// Drops the "Sign in" link (on the sign-in and setup pages).
    pub(crate) fn without_sign_in_link(mut self) -> Self {
        self.nav.sign_in_link = false;
        self
    }
}

#[cfg(test)]
mod tests {
    use pw_domain::{Permission, UserId};
    use pw_policy::{Principal, Rights, Subject, check_route};

    use super::*;

    fn viewer(id: Option<i64>, permissions: &[Permission]) -> Viewer {
        Viewer {
            me: Some(MeView {
                id: id.map(UserId::from_db),
                username: id.map(|_| "someone".to_owned()),
                display_name: None,
                email: None,
                auth_source: None,
                groups: Vec::new(),
                permissions: permissions.to_vec(),
                mfa: Default::default(),
                auth_disabled: id.is_none(),
                sign_in_requirement: pw_domain::SignInRequirement::None,
                enrol_first: None,
            }),
        }
    }

    /// The principal the door would see for this viewer.
    fn principal(v: &Viewer) -> Principal {
        match (v.me(), v.user_id()) {
            (None, _) => Principal::Anonymous,
            (Some(_), None) => Principal::AuthDisabled,
            (Some(_), Some(id)) => Principal::User(Subject::session(
                id,
                Rights::everywhere(v.permissions().iter().copied()),
            )),
        }
    }

    /// Every kind of viewer: nobody, auth off, a user with nothing, with each permission
    /// alone, with everything but each permission, and with everything.
    fn viewers() -> Vec<Viewer> {
        let mut out = vec![
            Viewer::anonymous(),
            viewer(None, Permission::ALL),
            viewer(Some(1), &[]),
            viewer(Some(1), Permission::ALL),
        ];
        for &p in Permission::ALL {
            out.push(viewer(Some(1), &[p]));
            let others: Vec<_> = Permission::ALL
                .iter()
                .copied()
                .filter(|q| *q != p)
                .collect();
            out.push(viewer(Some(1), &others));
        }
        out
    }

    fn links(v: &Viewer) -> Vec<(&'static str, &'static str)> {
        Nav::for_viewer(v)
            .links
            .iter()
            .map(|l| (l.label, l.href))
            .collect()
    }

    /// The navigation never offers a page whose route would refuse the viewer, and offers
    /// every navigation page the viewer may open: a page row's permission and the nav cannot
    /// disagree.
    #[test]
    fn every_nav_link_is_a_page_the_door_admits_and_none_is_missing() {
        let rows = pw_http::navigation();
        assert!(!rows.is_empty(), "no page row has a navigation link");
        for v in viewers() {
            let shown = Nav::for_viewer(&v).links;
            for link in &shown {
                let row = pw_http::ROUTES
                    .iter()
                    .find(|r| r.path == link.href && r.method == "GET")
                    .unwrap_or_else(|| {
                        panic!("{} links to {}, which has no row", link.label, link.href)
                    });
                assert_eq!(row.kind, pw_http::Kind::Page, "{} is not a page", link.href);
                assert!(
                    check_route(&principal(&v), &row.access).is_allowed(),
                    "{:?} sees {} but {} would refuse them",
                    v.permissions(),
                    link.label,
                    link.href
                );
            }
            for (row, entry) in &rows {
                if v.may_open_row(row) {
                    assert!(
                        check_route(&principal(&v), &row.access).is_allowed(),
                        "may_open is looser than the door for {}",
                        row.path
                    );
                    assert!(
                        shown.iter().any(|l| l.label == entry.label),
                        "{:?} may open {} but the navigation has no {} link",
                        v.permissions(),
                        row.path,
                        entry.label
                    );
                }
            }
        }
    }

    /// The visible result is the one the pages always had: labels, order, and Settings going
    /// to the email page for a viewer who may only configure mail.
    #[test]
    fn the_navigation_keeps_its_labels_order_and_settings_rule() {
        assert_eq!(
            links(&viewer(Some(1), Permission::ALL)),
            [
                ("Printers", "/printers"),
                ("Library", "/library"),
                ("Queue", "/queue"),
                ("Archive", "/archive"),
                ("Projects", "/projects"),
                ("Users", "/users"),
                ("Groups", "/groups"),
                ("Webhooks", "/webhooks"),
                ("Audit", "/audit"),
                ("Settings", "/settings"),
                ("Account", "/account"),
            ]
        );
        assert_eq!(
            links(&viewer(Some(1), &[Permission::SettingsEmail])),
            [("Settings", "/settings/email"), ("Account", "/account")]
        );
        assert_eq!(
            links(&viewer(
                Some(1),
                &[Permission::SettingsEmail, Permission::SettingsSecurity]
            )),
            [("Settings", "/settings"), ("Account", "/account")]
        );
        assert_eq!(links(&viewer(Some(1), &[])), [("Account", "/account")]);
        assert!(links(&Viewer::anonymous()).is_empty());
        // Projects need `projects:read`.
        assert_eq!(
            links(&viewer(Some(1), &[Permission::ProjectsRead])),
            [("Projects", "/projects"), ("Account", "/account")]
        );
        // The archive needs one of its read rights, own entries or all.
        for right in [Permission::ArchivesReadOwn, Permission::ArchivesReadAll] {
            assert_eq!(
                links(&viewer(Some(1), &[right])),
                [("Archive", "/archive"), ("Account", "/account")]
            );
        }
        assert!(
            !links(&viewer(Some(1), &[Permission::ArchivesUpdateAll]))
                .iter()
                .any(|(label, _)| *label == "Archive")
        );
        // The queue needs one of its read rights, own items or all.
        for right in [Permission::QueueReadOwn, Permission::QueueReadAll] {
            assert_eq!(
                links(&viewer(Some(1), &[right])),
                [("Queue", "/queue"), ("Account", "/account")]
            );
        }
        assert!(
            !links(&viewer(
                Some(1),
                &[Permission::QueueCreate, Permission::QueueReorder]
            ))
            .iter()
            .any(|(label, _)| *label == "Queue")
        );
        // Authentication off and nobody signed in: every page but the own account.
        let off = links(&viewer(None, Permission::ALL));
        assert_eq!(off.len(), 10);
        assert!(!off.iter().any(|(label, _)| *label == "Account"));
    }

    /// The library's door admits any signed-in user; its link goes only to holders of
    /// `library:read_own` or `_all`, the rights its use cases demand.
    #[test]
    fn the_library_link_needs_a_library_read_right() {
        let has = |perms: &[Permission]| {
            links(&viewer(Some(1), perms))
                .iter()
                .any(|(label, href)| *label == "Library" && *href == "/library")
        };
        assert!(has(&[Permission::LibraryReadOwn]));
        assert!(has(&[Permission::LibraryReadAll]));
        assert!(!has(&[]));
        assert!(!has(&[Permission::LibraryUpload, Permission::LibraryPurge]));
        assert!(
            !links(&Viewer::anonymous())
                .iter()
                .any(|(l, _)| *l == "Library")
        );
        assert!(
            viewer(Some(1), &[Permission::LibraryReadOwn]).may_open_page("/library/files/{id}")
        );
        assert!(!viewer(Some(1), &[Permission::PrintersRead]).may_open_page("/library"));
    }

    /// Every navigation icon exists in the sprite.
    #[test]
    fn every_nav_icon_is_in_the_sprite() {
        let sprite =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/static/icons.svg"))
                .unwrap_or_default();
        for (_, entry) in pw_http::navigation() {
            assert!(
                sprite.contains(&format!("id=\"{}\"", entry.icon)),
                "icon {} is not in static/icons.svg",
                entry.icon
            );
        }
    }
}
