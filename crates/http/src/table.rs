//! THE route table: every HTTP route of printwarden — API, probes, pages and assets — with its
//! auth mode and permission, in one list. Enforcement middleware reads it before any handler
//! runs; generated documentation is built from it.
//!
//! Invariants: a route can only be mounted through [`Mounter`], which refuses paths and
//! methods without a row; the router cannot be built while a row has no handler; a request
//! that somehow matches a path without a row is refused (fail closed, see `enforce`).

use std::collections::BTreeMap;

use axum::Router;
use axum::handler::Handler;
use axum::routing::{MethodFilter, MethodRouter, on};
use http::Method;
use pw_domain::Permission;
use pw_policy::{Access, Requirement, TicketPurpose};

use crate::AppState;

/// What a route serves; decides caching and how errors are presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// JSON API under `/api/`.
    Api,
    /// Health and metrics probes.
    Probe,
    /// A server-rendered HTML page.
    Page,
    /// An immutable static asset.
    Asset,
}

/// One row of the route table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteSpec {
    /// HTTP method (`GET` routes also answer `HEAD`).
    pub method: &'static str,
    /// The axum path pattern.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// What it serves.
    pub kind: Kind,
    /// One line for docs.
    pub summary: &'static str,
    /// Permissions the service checks on the concrete row beyond the door (e.g. "owner or
    /// `api_keys:revoke_all`"); listed so docs and the coverage test see them.
    pub fine: &'static [Permission],
    /// The page's link in the main navigation, if it has one (see [`navigation`]).
    pub nav: Option<NavEntry>,
}

/// A page's link in the main navigation. The link is shown to a viewer the row's
/// [`Access`] admits, so the navigation and the door cannot disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NavEntry {
    /// The link text.
    pub label: &'static str,
    /// The icon's id in the sprite (`static/icons.svg`).
    pub icon: &'static str,
    /// Position in the navigation, ascending. Rows with the same position are one link that
    /// goes to the first of them (in table order) the viewer may open.
    pub order: u8,
}

impl RouteSpec {
    /// Declares the permissions the service checks on the concrete row.
    const fn fine(mut self, permissions: &'static [Permission]) -> Self {
        self.fine = permissions;
        self
    }

    /// Gives a page row its link in the main navigation.
    const fn nav(mut self, label: &'static str, icon: &'static str, order: u8) -> Self {
        self.nav = Some(NavEntry { label, icon, order });
        self
    }

    /// Every permission this row names (door and fine checks).
    pub fn permissions(&self) -> impl Iterator<Item = Permission> + '_ {
        self.access
            .permission()
            .into_iter()
            .chain(self.fine.iter().copied())
    }
}

const fn row(
    method: &'static str,
    path: &'static str,
    access: Access,
    kind: Kind,
    summary: &'static str,
) -> RouteSpec {
    RouteSpec {
        method,
        path,
        access,
        kind,
        summary,
        fine: &[],
        nav: None,
    }
}

const fn api(
    method: &'static str,
    path: &'static str,
    access: Access,
    summary: &'static str,
) -> RouteSpec {
    row(method, path, access, Kind::Api, summary)
}

const fn page(path: &'static str, access: Access, summary: &'static str) -> RouteSpec {
    row("GET", path, access, Kind::Page, summary)
}

/// The library's read rights (own files, or every file).
const READ_LIBRARY: [Permission; 2] = [Permission::LibraryReadOwn, Permission::LibraryReadAll];

/// The read rights a project's members are seen through (each kind by its own rights).
const PROJECT_MEMBER_READS: [Permission; 6] = [
    Permission::LibraryReadOwn,
    Permission::LibraryReadAll,
    Permission::QueueReadOwn,
    Permission::QueueReadAll,
    Permission::ArchivesReadOwn,
    Permission::ArchivesReadAll,
];

/// The archive's read rights (own entries, or every entry).
const READ_ARCHIVE: [Permission; 2] = [Permission::ArchivesReadOwn, Permission::ArchivesReadAll];
/// The queue read rights: own items, or all.
const READ_QUEUE: [Permission; 2] = [Permission::QueueReadOwn, Permission::QueueReadAll];

/// Any signed-in user, browser session only.
const SESSION: Access = Access::Session(Requirement::Authenticated);
/// Any signed-in user, session or API key.
const SIGNED_IN: Access = Access::SessionOrKey(Requirement::Authenticated);
/// Any signed-in browser session, including one that must first set up the second factor its
/// group requires (issue 19): only what enrolling needs is declared so.
const ENROL: Access = Access::Session(Requirement::Enrol);
/// Like [`ENROL`], for the one route a key may call too: one's own profile (it says what is
/// missing).
const SIGNED_IN_ENROL: Access = Access::SessionOrKey(Requirement::Enrol);

const fn needs(p: Permission) -> Access {
    Access::SessionOrKey(Requirement::Permission(p))
}

const fn session_needs(p: Permission) -> Access {
    Access::Session(Requirement::Permission(p))
}

const fn public(reason: &'static str) -> Access {
    Access::Public { reason }
}

/// Every route. Keep grouped by feature; the order is the order of the generated docs.
pub const ROUTES: &[RouteSpec] = &[
    // --- probes
    row(
        "GET",
        "/healthz",
        public("liveness probe for load balancers; says only ok"),
        Kind::Probe,
        "Liveness: always {\"status\":\"ok\"} while the process serves",
    ),
    row(
        "GET",
        "/readyz",
        public("readiness probe for orchestrators; says only ready or not"),
        Kind::Probe,
        "Readiness: 200 when the database answers, else 503",
    ),
    row(
        "GET",
        "/metrics",
        Access::SessionOrKey(Requirement::Permission(Permission::SystemRead)),
        Kind::Probe,
        "Prometheus metrics",
    ),
    // --- API description
    api(
        "GET",
        "/api/openapi.json",
        public(
            "the API description; the shape of the API is not a secret and every operation still needs its own credentials",
        ),
        "The OpenAPI 3.1 document, generated from this table",
    ),
    row(
        "GET",
        "/api/docs",
        public("redirects to the API documentation page"),
        Kind::Asset,
        "Redirect to /api/docs/",
    ),
    row(
        "GET",
        "/api/docs/",
        public("the API documentation page (Swagger UI); it shows only the public document"),
        Kind::Asset,
        "Interactive API documentation (Swagger UI)",
    ),
    row(
        "GET",
        "/api/docs/{*file}",
        public("Swagger UI's static files, vendored into the binary"),
        Kind::Asset,
        "Swagger UI assets",
    ),
    // --- auth (S2)
    api(
        "GET",
        "/api/v1/auth/status",
        public("tells the login page which sign-in methods exist and whether setup is pending"),
        "Instance auth status",
    ),
    api(
        "POST",
        "/api/v1/auth/setup",
        public("claims a fresh instance; useless without the one-time setup code from the console"),
        "First-run setup with the setup code",
    ),
    api(
        "POST",
        "/api/v1/auth/login",
        public("the sign-in endpoint itself; answers one generic error"),
        "Sign in with username and password",
    ),
    api(
        "POST",
        "/api/v1/auth/mfa/verify",
        public(
            "the second step of sign-in; useless without the challenge cookie a correct password set",
        ),
        "Finish sign-in with a second factor (TOTP, emailed or backup code)",
    ),
    api(
        "POST",
        "/api/v1/auth/mfa/email/send",
        public(
            "mails a sign-in code during the second step; useless without the challenge cookie, at most three per ten minutes",
        ),
        "Mail a sign-in code (second step of sign-in)",
    ),
    api(
        "POST",
        "/api/v1/auth/forgot-password",
        public(
            "anyone may ask for a reset link; the answer is the same for every address and the link goes only to the account's own mailbox",
        ),
        "Ask for a password reset link (Advanced Auth via Email)",
    ),
    api(
        "POST",
        "/api/v1/auth/reset-password",
        public("the mailed single-use token is the credential"),
        "Set a password from a mailed set-password or reset link",
    ),
    api(
        "POST",
        "/api/v1/auth/logout",
        ENROL,
        "Sign out (revokes the session server-side)",
    ),
    api(
        "GET",
        "/api/v1/auth/me",
        SIGNED_IN_ENROL,
        "The caller's profile and effective permissions",
    ),
    api(
        "PATCH",
        "/api/v1/auth/me",
        SESSION,
        "Change one's display name (local accounts; others get it from their directory or provider)",
    ),
    api(
        "POST",
        "/api/v1/auth/password",
        SESSION,
        "Change one's own password",
    ),
    api(
        "POST",
        "/api/v1/auth/mfa/totp/setup",
        ENROL,
        "Start (or replace) TOTP: a new secret, its otpauth URI and QR code",
    ),
    api(
        "POST",
        "/api/v1/auth/mfa/totp/enable",
        ENROL,
        "Confirm TOTP with a current code; returns ten backup codes once",
    ),
    api(
        "POST",
        "/api/v1/auth/mfa/totp/disable",
        SESSION,
        "Turn TOTP off with a current code or a backup code",
    ),
    api(
        "POST",
        "/api/v1/auth/mfa/backup-codes/regenerate",
        SESSION,
        "New backup codes for a current TOTP code; the old set stops working",
    ),
    api(
        "POST",
        "/api/v1/auth/mfa/email/setup",
        ENROL,
        "Mail a code that turns emailed sign-in codes on",
    ),
    api(
        "POST",
        "/api/v1/auth/mfa/email/enable",
        ENROL,
        "Turn emailed sign-in codes on with the mailed code",
    ),
    api(
        "POST",
        "/api/v1/auth/mfa/email/disable",
        SESSION,
        "Turn emailed sign-in codes off (needs the password)",
    ),
    // --- passkeys (S4, issue 19): a browser session only (API keys cannot add a sign-in
    // method); sign-in ceremonies are public and bound to the browser by their cookie
    api(
        "GET",
        "/api/v1/auth/passkeys",
        ENROL,
        "The caller's passkeys (name, created, last used)",
    ),
    api(
        "POST",
        "/api/v1/auth/passkeys/register/options",
        ENROL,
        "Start registering a passkey (needs the password): WebAuthn creation options",
    ),
    api(
        "POST",
        "/api/v1/auth/passkeys/register",
        ENROL,
        "Finish registering a passkey with the browser's answer",
    ),
    api(
        "DELETE",
        "/api/v1/auth/passkeys/{id}",
        SESSION,
        "Remove one of one's passkeys (needs the password; never the last way to sign in)",
    ),
    api(
        "PATCH",
        "/api/v1/auth/passkeys/{id}",
        SESSION,
        "Rename one of one's passkeys (another user's passkey is not found)",
    ),
    api(
        "POST",
        "/api/v1/auth/passkeys/login/options",
        public("starts a passwordless sign-in: a fresh single-use challenge bound to this browser by its cookie, nothing about any account"),
        "Start a sign-in with a passkey: WebAuthn request options",
    ),
    api(
        "POST",
        "/api/v1/auth/passkeys/login",
        public("the sign-in endpoint itself; needs the challenge cookie and a signature by a registered passkey; answers one generic error"),
        "Sign in with a passkey",
    ),
    api(
        "POST",
        "/api/v1/auth/mfa/passkey/options",
        public("the second step of sign-in; useless without the challenge cookie a correct password set"),
        "Start the second step of sign-in with a passkey",
    ),
    api(
        "POST",
        "/api/v1/auth/mfa/passkey/verify",
        public("the second step of sign-in; useless without the challenge cookie a correct password set and a signature by that user's passkey"),
        "Finish sign-in with a passkey as the second factor",
    ),
    api(
        "GET",
        "/api/v1/auth/mail-preferences",
        session_needs(Permission::NotificationsUserEmail),
        "The print events the caller gets mails about",
    ),
    api(
        "PUT",
        "/api/v1/auth/mail-preferences",
        session_needs(Permission::NotificationsUserEmail),
        "Choose the print events to get mails about (own jobs only)",
    ),
    api(
        "GET",
        "/api/v1/auth/sessions",
        SESSION,
        "The caller's active sessions",
    ),
    api(
        "DELETE",
        "/api/v1/auth/sessions/{id}",
        SESSION,
        "Revoke one of the caller's sessions",
    ),
    api(
        "POST",
        "/api/v1/auth/sessions/revoke-others",
        SESSION,
        "Revoke all of the caller's other sessions",
    ),
    api(
        "POST",
        "/api/v1/auth/disable",
        session_needs(Permission::SettingsSecurity),
        "Switch authentication off",
    ),
    api(
        "POST",
        "/api/v1/auth/enable",
        session_needs(Permission::SettingsSecurity),
        "Switch authentication on",
    ),
    api(
        "GET",
        "/api/v1/settings/security",
        needs(Permission::SettingsSecurity),
        "Security settings",
    ),
    api(
        "PUT",
        "/api/v1/settings/security",
        session_needs(Permission::SettingsSecurity),
        "Change security settings",
    ),
    api(
        "GET",
        "/api/v1/settings/ldap",
        needs(Permission::SettingsSecurity),
        "LDAP sign-in settings (the bind password is never shown)",
    ),
    api(
        "PUT",
        "/api/v1/settings/ldap",
        needs(Permission::SettingsSecurity),
        "Change the LDAP sign-in settings",
    ),
    api(
        "POST",
        "/api/v1/settings/ldap/test",
        needs(Permission::SettingsSecurity),
        "Test the LDAP settings: bind, find a user, list the groups it would map",
    ),
    api(
        "GET",
        "/api/v1/settings/oidc/providers",
        needs(Permission::SettingsSecurity),
        "OpenID Connect providers (the client secrets are never shown)",
    ),
    api(
        "POST",
        "/api/v1/settings/oidc/providers",
        needs(Permission::SettingsSecurity),
        "Add an OpenID Connect provider (its discovery is checked through the outbound guard)",
    ),
    api(
        "PUT",
        "/api/v1/settings/oidc/providers/{id}",
        needs(Permission::SettingsSecurity),
        "Change an OpenID Connect provider",
    ),
    api(
        "DELETE",
        "/api/v1/settings/oidc/providers/{id}",
        needs(Permission::SettingsSecurity),
        "Delete an OpenID Connect provider and its account links",
    ),
    api(
        "GET",
        "/api/v1/auth/oidc/{provider_id}/authorize",
        public(
            "starts a sign-in at an identity provider; only redirects, rate-limited per address, the state is single-use and bound to this browser",
        ),
        "Redirect to the identity provider (code flow with PKCE)",
    ),
    row(
        "GET",
        "/auth/oidc/callback",
        public(
            "where the identity provider sends the browser back; accepts only a live, single-use state from the same browser and a validated ID token",
        ),
        Kind::Page,
        "OpenID Connect callback: signs in (or links) and redirects",
    ),
    api(
        "GET",
        "/api/v1/auth/oidc/links",
        SESSION,
        "The caller's linked identity providers",
    ),
    api(
        "POST",
        "/api/v1/auth/oidc/{provider_id}/link",
        SESSION,
        "Link an identity provider to the caller's account (password first)",
    ),
    api(
        "POST",
        "/api/v1/auth/oidc/{provider_id}/unlink",
        SESSION,
        "Unlink an identity provider (password first; never the last way to sign in)",
    ),
    api(
        "GET",
        "/api/v1/settings/email",
        needs(Permission::SettingsEmail),
        "Mail settings (the SMTP password is never shown)",
    ),
    api(
        "PUT",
        "/api/v1/settings/email",
        needs(Permission::SettingsEmail),
        "Change the mail settings and Advanced Auth via Email",
    ),
    api(
        "POST",
        "/api/v1/settings/email/test",
        needs(Permission::SettingsEmail),
        "Send a test mail and report the server's answer",
    ),
    api(
        "GET",
        "/api/v1/settings/email/templates",
        needs(Permission::SettingsEmail),
        "The mail templates and their variables",
    ),
    api(
        "PUT",
        "/api/v1/settings/email/templates/{name}",
        needs(Permission::SettingsEmail),
        "Change one mail template",
    ),
    api(
        "DELETE",
        "/api/v1/settings/email/templates/{name}",
        needs(Permission::SettingsEmail),
        "Put one mail template back to the built-in text",
    ),
    api(
        "POST",
        "/api/v1/settings/email/templates/{name}/preview",
        needs(Permission::SettingsEmail),
        "Render a draft template with sample values",
    ),
    api(
        "GET",
        "/api/v1/settings/outbound",
        needs(Permission::SettingsSecurity),
        "Private hosts outbound requests may reach (SSRF allow-list)",
    ),
    api(
        "PUT",
        "/api/v1/settings/outbound",
        session_needs(Permission::SettingsSecurity),
        "Change the SSRF allow-list",
    ),
    api(
        "GET",
        "/api/v1/system/keys",
        needs(Permission::SettingsSecurity),
        "The sealing key: source, state (green/amber/red), fingerprint, counts per kind of sealed value",
    ),
    api(
        "POST",
        "/api/v1/system/keys/backup-confirmed",
        session_needs(Permission::SettingsSecurity),
        "Record that an administrator holds a copy of the current sealing key",
    ),
    api(
        "GET",
        "/api/v1/settings/tls",
        needs(Permission::SettingsSecurity),
        "The served HTTPS certificate: source, subject, names, issuer, validity",
    ),
    api(
        "POST",
        "/api/v1/settings/tls/certificate",
        needs(Permission::SettingsSecurity),
        "Upload a certificate chain + key; validated, stored and served without a restart",
    ),
    api(
        "DELETE",
        "/api/v1/settings/tls/certificate",
        needs(Permission::SettingsSecurity),
        "Drop the uploaded certificate and serve the generated one again",
    ),
    api(
        "POST",
        "/api/v1/system/backup",
        needs(Permission::SystemBackup),
        "Stream an encrypted backup (age; a passphrase or an age public key in the body; the sealing key only with include_key)",
    ),
    api(
        "GET",
        "/api/v1/system/backup/schedule",
        needs(Permission::SystemBackup),
        "The backup schedule, its last run and the backups it has written (never the passphrase)",
    ),
    api(
        "PUT",
        "/api/v1/system/backup/schedule",
        needs(Permission::SystemBackup),
        "Set the backup schedule: directory, interval, how many to keep, passphrase (stored sealed) or public key",
    ),
    api(
        "POST",
        "/api/v1/system/backup/schedule/run",
        needs(Permission::SystemBackup),
        "Write one scheduled backup now (409 while another backup is being written)",
    ),
    api(
        "POST",
        "/api/v1/system/backup/schedule/verify",
        needs(Permission::SystemBackup),
        "Verify one of the scheduled backups with the stored passphrase: every checksum",
    ),
    api(
        "GET",
        "/api/v1/system/restore",
        session_needs(Permission::SystemBackup),
        "The web restore: whether a backup is uploaded, the upload limit, the last restore's outcome (administrators only: every permission)",
    ),
    api(
        "PUT",
        "/api/v1/system/restore/upload",
        session_needs(Permission::SystemBackup),
        "Upload a backup to restore (the raw .pwbk as the body, streamed to disk; one at a time, 409 while one is staged; administrators only)",
    ),
    api(
        "POST",
        "/api/v1/system/restore/verify",
        session_needs(Permission::SystemBackup),
        "Verify the uploaded backup with its passphrase or identity (every checksum, names, schema) and show its cover; changes nothing (administrators only)",
    ),
    api(
        "POST",
        "/api/v1/system/restore/confirm",
        session_needs(Permission::SystemBackup),
        "Restore the uploaded backup: your password again and its passphrase; the server restarts and replaces every account and all data (administrators only)",
    ),
    api(
        "DELETE",
        "/api/v1/system/restore",
        session_needs(Permission::SystemBackup),
        "Discard the uploaded backup without restoring it (administrators only)",
    ),
    row(
        "GET",
        "/ca.crt",
        public(
            "the local CA certificate; a CA certificate is public by nature and users need it to trust this server",
        ),
        Kind::Asset,
        "Download the local CA certificate (PEM)",
    ),
    // --- users, groups, permissions (S1)
    api(
        "GET",
        "/api/v1/permissions",
        needs(Permission::GroupsRead),
        "The permission catalogue by category",
    ),
    api(
        "GET",
        "/api/v1/users",
        needs(Permission::UsersRead),
        "List users",
    ),
    api(
        "POST",
        "/api/v1/users",
        needs(Permission::UsersCreate),
        "Create a user",
    ),
    api(
        "GET",
        "/api/v1/users/{id}",
        needs(Permission::UsersRead),
        "One user, with counts of the items they own",
    ),
    api(
        "PATCH",
        "/api/v1/users/{id}",
        needs(Permission::UsersUpdate),
        "Change a user (email, password, disabled, groups)",
    ),
    api(
        "POST",
        "/api/v1/users/{id}/mfa/reset",
        needs(Permission::UsersUpdate),
        "Remove a user's second factors and end their sessions",
    ),
    api(
        "POST",
        "/api/v1/users/{id}/password-reset",
        needs(Permission::UsersUpdate),
        "Mail the user a password reset link",
    ),
    api(
        "DELETE",
        "/api/v1/users/{id}",
        needs(Permission::UsersDelete),
        "Delete a user (?items=keep|delete)",
    ),
    api(
        "GET",
        "/api/v1/groups",
        needs(Permission::GroupsRead),
        "List groups",
    ),
    api(
        "POST",
        "/api/v1/groups",
        needs(Permission::GroupsCreate),
        "Create a group",
    ),
    api(
        "GET",
        "/api/v1/groups/{id}",
        needs(Permission::GroupsRead),
        "One group",
    ),
    api(
        "PATCH",
        "/api/v1/groups/{id}",
        needs(Permission::GroupsUpdate),
        "Change a group (name, permissions, scope)",
    ),
    api(
        "DELETE",
        "/api/v1/groups/{id}",
        needs(Permission::GroupsDelete),
        "Delete a group",
    ),
    api(
        "POST",
        "/api/v1/groups/{id}/clone",
        needs(Permission::GroupsCreate),
        "Clone a group into an editable copy",
    ),
    api(
        "PUT",
        "/api/v1/groups/{id}/members/{user_id}",
        needs(Permission::GroupsUpdate),
        "Add a member",
    ),
    api(
        "DELETE",
        "/api/v1/groups/{id}/members/{user_id}",
        needs(Permission::GroupsUpdate),
        "Remove a member",
    ),
    // --- API keys (S3)
    api(
        "GET",
        "/api/v1/api-keys",
        SESSION,
        "The caller's API keys (?all=true: everyone's)",
    )
    .fine(&[Permission::ApiKeysReadAll]),
    api(
        "POST",
        "/api/v1/api-keys",
        session_needs(Permission::ApiKeysCreate),
        "Create an API key (shown once)",
    ),
    api(
        "DELETE",
        "/api/v1/api-keys/{id}",
        SIGNED_IN,
        "Revoke an API key (owner, or api_keys:revoke_all)",
    )
    .fine(&[Permission::ApiKeysRevokeAll]),
    api(
        "GET",
        "/api/v1/camera-tokens",
        SESSION,
        "The caller's camera tokens",
    ),
    api(
        "POST",
        "/api/v1/camera-tokens",
        session_needs(Permission::CameraTokens),
        "Create a camera-only token, 1–365 days, optionally for some printers (shown once)",
    ),
    api(
        "DELETE",
        "/api/v1/camera-tokens/{id}",
        SESSION,
        "Revoke a camera token (owner, or api_keys:revoke_all)",
    )
    .fine(&[Permission::ApiKeysRevokeAll]),
    // --- Bambu Cloud (S12): each user's own link; the tokens never leave the server
    api(
        "POST",
        "/api/v1/cloud/link",
        session_needs(Permission::CloudAuth),
        "Sign in to one's own Bambu account (password; the answer says if a code is needed)",
    ),
    api(
        "POST",
        "/api/v1/cloud/link/verify",
        session_needs(Permission::CloudAuth),
        "The emailed or authenticator-app code Bambu asked for",
    ),
    api(
        "GET",
        "/api/v1/cloud/link",
        needs(Permission::CloudAuth),
        "One's own Bambu Cloud link: state, account, expiry (never a token)",
    ),
    api(
        "DELETE",
        "/api/v1/cloud/link",
        needs(Permission::CloudAuth),
        "Remove one's own Bambu Cloud link (its tokens are deleted)",
    ),
    api(
        "GET",
        "/api/v1/cloud/devices",
        needs(Permission::CloudAuth),
        "The linked account's printers (cached; ?refresh=true asks Bambu now)",
    ),
    api(
        "GET",
        "/api/v1/cloud/tasks",
        needs(Permission::CloudAuth),
        "The linked account's latest prints from Bambu's history (cached; ?refresh=true)",
    ),
    // --- printers and locations (S10)
    api(
        "GET",
        "/api/v1/printers",
        needs(Permission::PrintersRead),
        "The printers the caller may see, with live status",
    ),
    api(
        "POST",
        "/api/v1/printers",
        needs(Permission::PrintersCreate),
        "Add a printer (access code write-only)",
    ),
    api(
        "POST",
        "/api/v1/printers/check",
        needs(Permission::PrintersCreate),
        "Test a connection before adding: fingerprint, access code, Developer Mode",
    ),
    api(
        "GET",
        "/api/v1/printers/{id}",
        needs(Permission::PrintersRead),
        "One printer with live status (404 outside the caller's scope)",
    ),
    api(
        "PATCH",
        "/api/v1/printers/{id}",
        needs(Permission::PrintersUpdate),
        "Change a printer (empty access code keeps the stored one)",
    ),
    api(
        "DELETE",
        "/api/v1/printers/{id}",
        needs(Permission::PrintersDelete),
        "Remove a printer",
    ),
    api(
        "POST",
        "/api/v1/printers/{id}/commands",
        needs(Permission::PrintersRead),
        "Send a command; its permission depends on the command",
    )
    .fine(&[
        Permission::PrintersControl,
        Permission::PrintersGcode,
        Permission::PrintersAms,
        Permission::PrintersClearPlate,
    ]),
    api(
        "POST",
        "/api/v1/printers/{id}/print",
        needs(Permission::PrintersControl),
        "Upload a .3mf (the request body) over FTPS and start it; refused while busy",
    )
    .fine(&[Permission::QueueCreate]),
    api(
        "POST",
        "/api/v1/printers/{id}/plate-cleared",
        needs(Permission::PrintersClearPlate),
        "Confirm the plate clear, so the queue may start the next job there",
    ),
    api(
        "GET",
        "/api/v1/printers/{id}/certificate",
        needs(Permission::PrintersRead),
        "Pinned and presented certificate fingerprints",
    ),
    api(
        "POST",
        "/api/v1/printers/{id}/certificate/trust",
        needs(Permission::PrintersTrust),
        "Approve the certificate the printer presented",
    ),
    api(
        "GET",
        "/api/v1/printers/{id}/files",
        needs(Permission::PrintersFiles),
        "The files on the printer's storage (over FTPS)",
    ),
    api(
        "GET",
        "/api/v1/printers/{id}/files/{name}",
        needs(Permission::PrintersFiles),
        "Download one file from the printer (at most 256 MiB)",
    ),
    api(
        "DELETE",
        "/api/v1/printers/{id}/files/{name}",
        needs(Permission::PrintersFiles),
        "Delete one file from the printer",
    ),
    row(
        "GET",
        "/api/v1/printers/{id}/camera/stream",
        Access::Camera {
            first_message: false,
        },
        Kind::Api,
        "Camera as MJPEG (cookie, ?token= with a session token or API key, or ?ticket=); A1/P1 only, 409 for an X1/H2/P2S video camera",
    )
    .fine(&[Permission::CameraView]),
    row(
        "GET",
        "/api/v1/printers/{id}/camera/ws",
        Access::Camera {
            first_message: true,
        },
        Kind::Api,
        "Camera over a WebSocket: binary JPEG frames (A1/P1), or for X1/H2/P2S a text description {\"kind\":\"fmp4\",\"codec\"} then fragmented MP4 (init segment, then fragments from a keyframe); also first-message auth {\"token\"} within 5 s",
    )
    .fine(&[Permission::CameraView]),
    row(
        "GET",
        "/api/v1/events",
        Access::Ticket(TicketPurpose::Events),
        Kind::Api,
        "Live printer changes (WebSocket; session cookie or ?ticket=)",
    )
    .fine(&[Permission::PrintersRead]),
    api(
        "POST",
        "/api/v1/tickets",
        SIGNED_IN,
        "A single-use 60 s ticket for the events socket or a camera stream",
    ),
    api(
        "GET",
        "/api/v1/locations",
        needs(Permission::LocationsRead),
        "Locations",
    ),
    api(
        "POST",
        "/api/v1/locations",
        needs(Permission::LocationsManage),
        "Create a location",
    ),
    api(
        "PATCH",
        "/api/v1/locations/{id}",
        needs(Permission::LocationsManage),
        "Rename or describe a location",
    ),
    api(
        "DELETE",
        "/api/v1/locations/{id}",
        needs(Permission::LocationsManage),
        "Delete a location (its printers stay)",
    ),
    // --- library (issue 15): owners need `_own`, everything else `_all`; checked per file
    api(
        "GET",
        "/api/v1/library/files",
        SIGNED_IN,
        "Library files the caller may see (?folder_id=&q=&sort=&limit=&cursor=)",
    )
    .fine(&READ_LIBRARY),
    api(
        "POST",
        "/api/v1/library/files",
        needs(Permission::LibraryUpload),
        "Upload a .gcode.3mf, .3mf, .gcode or .stl (multipart field file, optional folder_id)",
    ),
    api(
        "GET",
        "/api/v1/library/files/{id}",
        SIGNED_IN,
        "One library file with its plates",
    )
    .fine(&READ_LIBRARY),
    api(
        "PATCH",
        "/api/v1/library/files/{id}",
        SIGNED_IN,
        "Rename, move or tag a library file",
    )
    .fine(&[Permission::LibraryUpdateOwn, Permission::LibraryUpdateAll]),
    api(
        "DELETE",
        "/api/v1/library/files/{id}",
        SIGNED_IN,
        "Delete a library file (its content goes when no other file names it)",
    )
    .fine(&[Permission::LibraryDeleteOwn, Permission::LibraryDeleteAll]),
    api(
        "GET",
        "/api/v1/library/files/{id}/download",
        SIGNED_IN,
        "Download the stored bytes (Range: bytes= supported)",
    )
    .fine(&READ_LIBRARY),
    api(
        "POST",
        "/api/v1/library/files/{id}/print",
        needs(Permission::PrintersControl),
        "Print a plate of a sliced library file on a printer (202; busy printer 409)",
    )
    .fine(&READ_LIBRARY),
    api(
        "GET",
        "/api/v1/library/files/{id}/plates/{plate}/thumbnail",
        SIGNED_IN,
        "A plate's image (PNG, cached immutable per content hash)",
    )
    .fine(&READ_LIBRARY),
    api(
        "GET",
        "/api/v1/library/folders",
        SIGNED_IN,
        "The library's folder tree",
    )
    .fine(&READ_LIBRARY),
    api(
        "POST",
        "/api/v1/library/folders",
        needs(Permission::LibraryUpload),
        "Create a library folder",
    ),
    api(
        "PATCH",
        "/api/v1/library/folders/{id}",
        needs(Permission::LibraryUpdateAll),
        "Rename or move a library folder (never into itself)",
    ),
    api(
        "DELETE",
        "/api/v1/library/folders/{id}",
        SIGNED_IN,
        "Delete an empty library folder",
    )
    .fine(&[Permission::LibraryDeleteOwn, Permission::LibraryDeleteAll]),
    api(
        "GET",
        "/api/v1/library/usage",
        needs(Permission::LibraryPurge),
        "Storage the library uses (files, distinct contents, bytes)",
    ),
    api(
        "POST",
        "/api/v1/library/purge",
        needs(Permission::LibraryPurge),
        "Delete the ownerless files, or every file, of the library",
    ),
    // --- the print archive (issue 15)
    api(
        "GET",
        "/api/v1/archives",
        SIGNED_IN,
        "Archive entries the caller may read, newest first, filtered and paged",
    )
    .fine(&[Permission::ArchivesReadOwn, Permission::ArchivesReadAll]),
    api(
        "POST",
        "/api/v1/archives",
        needs(Permission::ArchivesCreate),
        "Record a print done outside printwarden by hand (the caller owns the entry)",
    ),
    api(
        "GET",
        "/api/v1/archives/export.csv",
        SIGNED_IN,
        "The archive entries the caller may read as CSV, with the list's filters",
    )
    .fine(&[Permission::ArchivesReadOwn, Permission::ArchivesReadAll]),
    api(
        "POST",
        "/api/v1/archives/purge",
        needs(Permission::ArchivesPurge),
        "Delete every ended archive entry that started before a date",
    ),
    api(
        "GET",
        "/api/v1/archives/{id}",
        SIGNED_IN,
        "One archive entry (404 unless the caller may read it)",
    )
    .fine(&[Permission::ArchivesReadOwn, Permission::ArchivesReadAll]),
    api(
        "PATCH",
        "/api/v1/archives/{id}",
        SIGNED_IN,
        "Change an archive entry's notes, tags or rating",
    )
    .fine(&[Permission::ArchivesUpdateOwn, Permission::ArchivesUpdateAll]),
    api(
        "DELETE",
        "/api/v1/archives/{id}",
        SIGNED_IN,
        "Delete an archive entry",
    )
    .fine(&[Permission::ArchivesDeleteOwn, Permission::ArchivesDeleteAll]),
    api(
        "GET",
        "/api/v1/archives/{id}/thumbnail",
        SIGNED_IN,
        "An archive entry's plate image (PNG, cached immutable per content hash)",
    )
    .fine(&[Permission::ArchivesReadOwn, Permission::ArchivesReadAll]),
    api(
        "GET",
        "/api/v1/archives/{id}/snapshot",
        SIGNED_IN,
        "The camera frame taken when an archived print ended (JPEG, cached immutable per hash)",
    )
    .fine(&[Permission::ArchivesReadOwn, Permission::ArchivesReadAll]),
    api(
        "POST",
        "/api/v1/archives/{id}/photos",
        SIGNED_IN,
        "Add a photo (JPEG, PNG or WebP, at most 10 MiB, 20 per entry) to an archive entry",
    )
    .fine(&[Permission::ArchivesUpdateOwn, Permission::ArchivesUpdateAll]),
    api(
        "GET",
        "/api/v1/archives/{id}/photos/{photo_id}",
        SIGNED_IN,
        "One photo of an archive entry",
    )
    .fine(&[Permission::ArchivesReadOwn, Permission::ArchivesReadAll]),
    api(
        "DELETE",
        "/api/v1/archives/{id}/photos/{photo_id}",
        SIGNED_IN,
        "Delete a photo of an archive entry",
    )
    .fine(&[Permission::ArchivesUpdateOwn, Permission::ArchivesUpdateAll]),
    // --- the print queue (issue 16): owners need `_own`, everything else `_all`; per item
    api(
        "POST",
        "/api/v1/archives/{id}/reprint",
        needs(Permission::QueueCreate),
        "Queue a reprint of an archive entry's kept file (404 unless the caller may read it)",
    )
    .fine(&[
        Permission::ArchivesReprintOwn,
        Permission::ArchivesReprintAll,
    ]),
    api(
        "GET",
        "/api/v1/queue",
        SIGNED_IN,
        "Queue items the caller may read, in dispatch order (?state=&printer_id=&limit=&cursor=)",
    )
    .fine(&[Permission::QueueReadOwn, Permission::QueueReadAll]),
    api(
        "POST",
        "/api/v1/queue",
        needs(Permission::QueueCreate),
        "Queue a plate of a library file the caller may read",
    )
    .fine(&READ_LIBRARY),
    api(
        "POST",
        "/api/v1/queue/reorder",
        needs(Permission::QueueReorder),
        "Put the given queue items in a new order",
    ),
    api(
        "GET",
        "/api/v1/queue/pause",
        SIGNED_IN,
        "Whether the queue, and which printer lanes, are paused",
    )
    .fine(&[Permission::QueueReadOwn, Permission::QueueReadAll]),
    api(
        "POST",
        "/api/v1/queue/pause",
        needs(Permission::QueueReorder),
        "Pause the whole queue, or one printer's lane (no new starts)",
    ),
    api(
        "POST",
        "/api/v1/queue/resume",
        needs(Permission::QueueReorder),
        "Resume the whole queue, or one printer's lane",
    ),
    api(
        "POST",
        "/api/v1/queue/ams-mapping",
        needs(Permission::QueueCreate),
        "Propose a tray for each filament of a plate from a printer's live AMS trays",
    )
    .fine(&READ_LIBRARY),
    api(
        "GET",
        "/api/v1/queue/{id}",
        SIGNED_IN,
        "One queue item, with why it waits (404 unless the caller may read it)",
    )
    .fine(&[Permission::QueueReadOwn, Permission::QueueReadAll]),
    api(
        "PATCH",
        "/api/v1/queue/{id}",
        SIGNED_IN,
        "Change a queued item (copies, priority, not before, target, options, AMS mapping)",
    )
    .fine(&[Permission::QueueUpdateOwn, Permission::QueueUpdateAll]),
    api(
        "DELETE",
        "/api/v1/queue/{id}",
        SIGNED_IN,
        "Cancel a queued item, or delete an ended one",
    )
    .fine(&[Permission::QueueDeleteOwn, Permission::QueueDeleteAll]),
    // --- projects (issue 16): shared team objects guarded by `projects:*`; members are read
    // through the caller's own rights on each member's kind (never widened by a project).
    api(
        "GET",
        "/api/v1/projects",
        needs(Permission::ProjectsRead),
        "Projects, newest first, with progress over the members the caller can read",
    ),
    api(
        "POST",
        "/api/v1/projects",
        needs(Permission::ProjectsCreate),
        "Create a project (name, due date, notes)",
    ),
    api(
        "GET",
        "/api/v1/projects/{id}",
        needs(Permission::ProjectsRead),
        "One project with its progress (done / total, filament, print time)",
    ),
    api(
        "PATCH",
        "/api/v1/projects/{id}",
        needs(Permission::ProjectsUpdate),
        "Change a project's name, notes or due date",
    ),
    api(
        "DELETE",
        "/api/v1/projects/{id}",
        needs(Permission::ProjectsDelete),
        "Delete a project (its files, queue items and archive entries stay)",
    ),
    api(
        "GET",
        "/api/v1/projects/{id}/members",
        needs(Permission::ProjectsRead),
        "A project's library files, queue items and archive entries the caller can read",
    )
    .fine(&PROJECT_MEMBER_READS),
    api(
        "POST",
        "/api/v1/projects/{id}/members",
        needs(Permission::ProjectsUpdate),
        "Add library files, queue items and archive entries the caller can read (at most 100)",
    )
    .fine(&PROJECT_MEMBER_READS),
    api(
        "DELETE",
        "/api/v1/projects/{id}/members/{kind}/{member_id}",
        needs(Permission::ProjectsUpdate),
        "Take a member (files, queue_items or archives) out of a project",
    )
    .fine(&PROJECT_MEMBER_READS),
    // --- webhooks (S7)
    api(
        "GET",
        "/api/v1/webhooks",
        needs(Permission::NotificationsRead),
        "Outbound webhooks with their latest delivery",
    ),
    api(
        "POST",
        "/api/v1/webhooks",
        needs(Permission::NotificationsCreate),
        "Create a webhook (secret write-only)",
    ),
    api(
        "PATCH",
        "/api/v1/webhooks/{id}",
        needs(Permission::NotificationsUpdate),
        "Change a webhook (empty secret keeps the stored one)",
    ),
    api(
        "DELETE",
        "/api/v1/webhooks/{id}",
        needs(Permission::NotificationsDelete),
        "Delete a webhook",
    ),
    api(
        "POST",
        "/api/v1/webhooks/{id}/test",
        needs(Permission::NotificationsUpdate),
        "Send a test delivery now and report the answer",
    ),
    // --- audit (S1)
    api(
        "GET",
        "/api/v1/audit",
        needs(Permission::AuditRead),
        "The audit log, newest first, with filters",
    ),
    // --- pages
    page(
        "/setup",
        public("first-run setup form; it is useless without the console setup code"),
        "Setup page",
    ),
    page("/login", public("the sign-in form"), "Sign-in page"),
    page(
        "/account",
        ENROL,
        "Own account: password, two-factor authentication, sessions, API keys, camera tokens, print mails",
    )
    .nav("Account", "user", 70),
    page(
        "/account/cloud",
        session_needs(Permission::CloudAuth),
        "Account → Bambu Cloud: link, status and unlink of one's own Bambu account, its printers",
    ),
    page(
        "/users",
        session_needs(Permission::UsersRead),
        "User administration",
    )
    .nav("Users", "users", 20),
    page("/groups", session_needs(Permission::GroupsRead), "Groups").nav("Groups", "shield", 30),
    page(
        "/groups/{id}",
        session_needs(Permission::GroupsRead),
        "Group editor",
    ),
    page("/audit", session_needs(Permission::AuditRead), "Audit log").nav("Audit", "key", 50),
    page(
        "/printers",
        session_needs(Permission::PrintersRead),
        "Printers: live cards, commands, printing, certificate approval",
    )
    .nav("Printers", "printer", 10),
    // The library's pages: any signed-in user passes the door, the page needs
    // `library:read_own` or `_all` (checked by the use case; the navigation offers the link to
    // holders of one of them, see `pw-web`'s layout).
    page(
        "/library",
        SESSION,
        "Library: folders, files with plate thumbnails, search, upload",
    )
    .fine(&READ_LIBRARY)
    .nav("Library", "folder", 12),
    page(
        "/library/files/{id}",
        SESSION,
        "A library file: plates, filaments, rename, move, tags, print",
    )
    .fine(&READ_LIBRARY),
    // The queue page: any signed-in session at the door, then the queue read rights in the use
    // case; the navigation offers it only with one of them.
    page(
        "/queue",
        SESSION,
        "Queue: jobs in dispatch order, printer lanes, reorder, pause, edit and cancel",
    )
    .fine(&READ_QUEUE)
    .nav("Queue", "queue", 13),
    // The archive pages: any signed-in session at the door, then the archive read rights
    // (own entries, or all) in the use case; the navigation offers it only with one of them.
    page(
        "/archive",
        SESSION,
        "Archive: every print with its outcome, filters, CSV export and purge",
    )
    .fine(&READ_ARCHIVE)
    .nav("Archive", "archive", 14),
    page(
        "/archive/{id}",
        SESSION,
        "One archive entry: timeline, filaments, photos, notes, tags and rating",
    )
    .fine(&READ_ARCHIVE),
    // The projects pages: the door is `projects:read`; members show as far as the viewer may
    // read each.
    page(
        "/projects",
        session_needs(Permission::ProjectsRead),
        "Projects: each with its due date and a progress bar",
    )
    .nav("Projects", "clipboard", 16),
    page(
        "/projects/{id}",
        session_needs(Permission::ProjectsRead),
        "One project: progress, notes, due date, members with thumbnails, add and remove members",
    )
    .fine(&PROJECT_MEMBER_READS),
    page(
        "/settings",
        session_needs(Permission::SettingsSecurity),
        "Settings: HTTPS certificate, outbound allow-list, password and key limits",
    )
    .nav("Settings", "settings", 60),
    page(
        "/webhooks",
        session_needs(Permission::NotificationsRead),
        "Outbound webhooks",
    )
    .nav("Webhooks", "external", 40),
    page(
        "/settings/email",
        session_needs(Permission::SettingsEmail),
        "Settings → Email: mail server, test mail, Advanced Auth via Email, templates",
    )
    .nav("Settings", "settings", 60),
    page(
        "/settings/backup",
        session_needs(Permission::SystemBackup),
        "Settings → Backup: create and download an encrypted backup, the schedule, the backups it wrote with Verify",
    )
    .nav("Settings", "settings", 60),
    page(
        "/forgot-password",
        public(
            "the form that asks for a reset link; it shows no data and the answer is the same for every address",
        ),
        "Forgot password page",
    ),
    page(
        "/reset-password",
        public(
            "the page a mailed reset link opens; the token in its query is read by the browser only and is the credential",
        ),
        "Choose a new password from a mailed reset link",
    ),
    page(
        "/set-password",
        public(
            "the page a new account's mailed set-password link opens; the token in its query is read by the browser only",
        ),
        "Choose a first password from a mailed set-password link",
    ),
    // --- printer groups (issue 16): reading needs `printers:read` (members shown as far as the
    // caller may read them); changes need `printers:update` on every printer added, removed,
    // or (to rename or delete) in the group — checked per printer in the use case.
    api(
        "GET",
        "/api/v1/printer-groups",
        needs(Permission::PrintersRead),
        "Printer groups, each with the members the caller may see",
    ),
    api(
        "POST",
        "/api/v1/printer-groups",
        needs(Permission::PrintersUpdate),
        "Create a printer group (printers the caller may update)",
    ),
    api(
        "GET",
        "/api/v1/printer-groups/{id}",
        needs(Permission::PrintersRead),
        "One printer group",
    ),
    api(
        "PATCH",
        "/api/v1/printer-groups/{id}",
        needs(Permission::PrintersUpdate),
        "Rename a printer group or set its members",
    ),
    api(
        "DELETE",
        "/api/v1/printer-groups/{id}",
        needs(Permission::PrintersUpdate),
        "Delete a printer group (its queued items wait, parked, for another target)",
    ),
    row(
        "GET",
        "/",
        public("landing page: product name, version, whether setup is pending"),
        Kind::Page,
        "Landing page",
    ),
    row(
        "GET",
        "/assets/{*file}",
        public("content-hashed static CSS/JS/icons; no data"),
        Kind::Asset,
        "Static assets",
    ),
];

/// The main navigation: the page rows that have a link, in link order (rows that share a
/// position stay in table order). Every link's visibility comes from its row's access.
#[must_use]
pub fn navigation() -> Vec<(&'static RouteSpec, NavEntry)> {
    let mut rows: Vec<_> = ROUTES
        .iter()
        .filter_map(|r| r.nav.map(|n| (r, n)))
        .collect();
    rows.sort_by_key(|(_, n)| n.order);
    rows
}

/// Looks up the rows for a matched path pattern.
pub(crate) fn rows_for(path: &str) -> impl Iterator<Item = &'static RouteSpec> + '_ {
    ROUTES.iter().filter(move |r| r.path == path)
}

/// Why the router could not be built from the table.
#[derive(Debug)]
pub enum RouteTableError {
    /// A handler was mounted for a path/method that has no row.
    NoRow {
        /// The method.
        method: String,
        /// The path.
        path: String,
    },
    /// A row has no handler.
    Unmounted {
        /// The method.
        method: &'static str,
        /// The path.
        path: &'static str,
    },
    /// A method/path was mounted twice.
    Duplicate {
        /// The method.
        method: String,
        /// The path.
        path: String,
    },
}

impl std::fmt::Display for RouteTableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouteTableError::NoRow { method, path } => {
                write!(
                    f,
                    "route {method} {path} is mounted but has no row in the route table"
                )
            }
            RouteTableError::Unmounted { method, path } => {
                write!(f, "route table row {method} {path} has no handler")
            }
            RouteTableError::Duplicate { method, path } => {
                write!(f, "route {method} {path} is mounted twice")
            }
        }
    }
}

impl std::error::Error for RouteTableError {}

/// Collects handlers for rows of [`ROUTES`]; the only way routes get into the router.
#[derive(Debug, Default)]
pub struct Mounter {
    paths: BTreeMap<&'static str, MethodRouter<AppState>>,
    mounted: Vec<(&'static str, &'static str)>,
    errors: Vec<RouteTableError>,
}

impl Mounter {
    /// An empty mounter.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Mounts `handler` for `method path`, which must have a row.
    #[must_use]
    pub fn mount<H, T>(mut self, method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let Some(spec) = ROUTES
            .iter()
            .find(|r| r.path == path && r.method == method.as_str())
        else {
            self.errors.push(RouteTableError::NoRow {
                method: method.to_string(),
                path: path.to_owned(),
            });
            return self;
        };
        if self.mounted.contains(&(spec.method, spec.path)) {
            self.errors.push(RouteTableError::Duplicate {
                method: method.to_string(),
                path: path.to_owned(),
            });
            return self;
        }
        let Ok(filter) = MethodFilter::try_from(method.clone()) else {
            self.errors.push(RouteTableError::NoRow {
                method: method.to_string(),
                path: path.to_owned(),
            });
            return self;
        };
        self.mounted.push((spec.method, spec.path));
        let routed = match self.paths.remove(path) {
            Some(existing) => existing.on(filter, handler),
            None => on(filter, handler),
        };
        self.paths.insert(path, routed);
        self
    }

    /// The router, or the first inconsistency between handlers and the table.
    pub fn into_router(self) -> Result<Router<AppState>, RouteTableError> {
        if let Some(e) = self.errors.into_iter().next() {
            return Err(e);
        }
        if let Some(missing) = ROUTES
            .iter()
            .find(|r| !self.mounted.contains(&(r.method, r.path)))
        {
            return Err(RouteTableError::Unmounted {
                method: missing.method,
                path: missing.path,
            });
        }
        Ok(self
            .paths
            .into_iter()
            .fold(Router::new(), |router, (path, mr)| router.route(path, mr)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn ok() -> &'static str {
        "ok"
    }

    #[test]
    fn a_handler_without_a_row_is_refused() {
        let err = Mounter::new()
            .mount(Method::POST, "/healthz", ok)
            .into_router();
        assert!(matches!(err, Err(RouteTableError::NoRow { .. })), "{err:?}");
        let err = Mounter::new()
            .mount(Method::GET, "/not-in-table", ok)
            .into_router();
        assert!(matches!(err, Err(RouteTableError::NoRow { .. })), "{err:?}");
    }

    #[test]
    fn a_row_without_a_handler_is_refused() {
        let err = Mounter::new()
            .mount(Method::GET, "/healthz", ok)
            .into_router();
        assert!(
            matches!(err, Err(RouteTableError::Unmounted { .. })),
            "{err:?}"
        );
    }

    #[test]
    fn a_route_mounted_twice_is_refused() {
        let err = Mounter::new()
            .mount(Method::GET, "/healthz", ok)
            .mount(Method::GET, "/healthz", ok)
            .into_router();
        assert!(
            matches!(err, Err(RouteTableError::Duplicate { .. })),
            "{err:?}"
        );
    }

    #[test]
    fn rows_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for r in ROUTES {
            assert!(
                seen.insert((r.method, r.path)),
                "duplicate row {} {}",
                r.method,
                r.path
            );
            assert!(r.path.starts_with('/'), "{}", r.path);
            assert!(
                Method::from_bytes(r.method.as_bytes()).is_ok(),
                "{}",
                r.method
            );
            if let Access::Public { reason } = r.access {
                assert!(
                    reason.len() >= 10,
                    "public route {} needs a real reason",
                    r.path
                );
            }
            // JSON lives under /api/, except the documentation page and its files.
            assert_eq!(
                r.kind == Kind::Api,
                r.path.starts_with("/api/") && !r.path.starts_with("/api/docs"),
                "{}",
                r.path
            );
        }
    }

    #[test]
    fn every_permission_guards_at_least_one_route() {
        for permission in pw_domain::Permission::ALL {
            assert!(
                ROUTES
                    .iter()
                    .any(|r| r.permissions().any(|p| p == *permission)),
                "{permission} guards no route: add its route or remove it from the catalogue"
            );
        }
    }

    #[test]
    fn navigation_links_are_get_pages_and_a_shared_position_is_one_link() {
        let nav = navigation();
        assert!(nav.len() >= 7, "{nav:?}");
        for (row, entry) in &nav {
            assert_eq!(row.method, "GET", "{}", row.path);
            assert_eq!(row.kind, Kind::Page, "{} is not a page", row.path);
            assert!(!row.path.contains('{'), "{} needs a parameter", row.path);
            for (other, e) in &nav {
                if e.order == entry.order {
                    assert_eq!(
                        (e.label, e.icon),
                        (entry.label, entry.icon),
                        "{} and {}",
                        row.path,
                        other.path
                    );
                }
            }
        }
        assert!(nav.windows(2).all(|w| w[0].1.order <= w[1].1.order));
    }

    #[test]
    fn routes_are_only_added_through_the_mounter() {
        // Structural guard: `.route(`/`.nest(`/`.merge(` on a Router anywhere else in the HTTP
        // or web crates would bypass the table, so only this file may call them.
        let mut offenders = Vec::new();
        let mut dirs = vec![
            std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
            std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../web/src")),
            std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../server/src")),
        ];
        let mut files_read = 0;
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                if path.file_name().is_some_and(|n| n == "table.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                files_read += 1;
                for needle in [
                    ".route(",
                    ".nest(",
                    ".merge(",
                    ".route_service(",
                    ".nest_service(",
                ] {
                    // `.merge(` is also figment's; it only matters where a Router is built.
                    if text.contains(needle) && (needle != ".merge(" || text.contains("Router")) {
                        offenders.push(format!("{} uses {needle}", path.display()));
                    }
                }
            }
        }
        assert!(files_read > 5, "the scan found no sources");
        assert!(offenders.is_empty(), "{offenders:#?}");
    }
}
