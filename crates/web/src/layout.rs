//! The page shell every template extends: asset URLs, the auth-off banner, and a navigation
//! that shows only the pages the viewer may open (UI brief: "show only what the viewer may do").

use pw_app::{Actor, App, AppError, MeView};
use pw_domain::{Permission, UserId};

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
        self.me.as_ref().is_some_and(|m| m.permissions.contains(&p))
    }

    /// The signed-in user's id (none while nobody is signed in, even with auth off).
    pub(crate) fn user_id(&self) -> Option<UserId> {
        self.me.as_ref().and_then(|m| m.id)
    }

    /// The signed-in user's name.
    pub(crate) fn username(&self) -> Option<&str> {
        self.me.as_ref().and_then(|m| m.username.as_deref())
    }

    /// Effective permissions, in catalogue order.
    pub(crate) fn permissions(&self) -> &[Permission] {
        self.me.as_ref().map_or(&[], |m| m.permissions.as_slice())
    }

    /// The `me` view, when someone (or auth-off "everyone") is looking.
    pub(crate) fn me(&self) -> Option<&MeView> {
        self.me.as_ref()
    }
}

/// The navigation for one viewer.
#[derive(Debug, Clone, Default)]
pub(crate) struct Nav {
    /// Shown in `.app-user` with the Sign out button.
    pub username: Option<String>,
    /// Offer a "Sign in" link (not on the sign-in and setup pages themselves).
    pub sign_in_link: bool,
    pub account: bool,
    pub users: bool,
    pub groups: bool,
    pub audit: bool,
    pub webhooks: bool,
    pub settings: bool,
    /// Where the Settings link goes: the security page, or the email page for a viewer who
    /// may only configure mail.
    pub settings_href: &'static str,
    pub printers: bool,
}

impl Nav {
    fn for_viewer(viewer: &Viewer) -> Self {
        let username = viewer.username().map(str::to_owned);
        Self {
            // Also while authentication is off: signing in still puts a name in the audit log.
            sign_in_link: viewer.user_id().is_none(),
            account: viewer.user_id().is_some(),
            users: viewer.can(Permission::UsersRead),
            groups: viewer.can(Permission::GroupsRead),
            audit: viewer.can(Permission::AuditRead),
            webhooks: viewer.can(Permission::NotificationsRead),
            settings: viewer.can(Permission::SettingsSecurity)
                || viewer.can(Permission::SettingsEmail),
            settings_href: settings_href(viewer),
            printers: viewer.can(Permission::PrintersRead),
            username,
        }
    }
}

/// The first settings page the viewer may open (`/settings` needs `settings:security`,
/// `/settings/email` needs `settings:email`).
pub(crate) fn settings_href(viewer: &Viewer) -> &'static str {
    if viewer.can(Permission::SettingsSecurity) || !viewer.can(Permission::SettingsEmail) {
        "/settings"
    } else {
        "/settings/email"
    }
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
