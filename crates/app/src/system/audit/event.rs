//! The audit event catalogue: every event the log records, with its stored name, the kinds of
//! target it names and the keys of its details. Every `App::audit` call takes an
//! [`AuditEvent`], `docs/AUDIT-EVENTS.md` and the audit page's filter list are rendered from
//! [`AuditEvent::ALL`], so the log, the docs and the UI cannot name different events.
//!
//! Invariant: the stored names never change — they are a contract (API.md, webhook event
//! filters, saved audit queries). A new event is a new variant; a renamed one would silently
//! empty every filter that names it.

use std::fmt::Write;

macro_rules! audit_events {
    ($(
        $variant:ident = $name:literal, $summary:literal,
        target: [$($target:literal),*],
        details: {$($key:literal: $shape:literal),* $(,)?};
    )*) => {
        /// One kind of audit event.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum AuditEvent {
            $(#[doc = $summary] $variant,)*
        }

        impl AuditEvent {
            /// Every event, in catalogue order.
            pub const ALL: &'static [AuditEvent] = &[$(AuditEvent::$variant),*];

            /// The stored name, e.g. `auth.login`.
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self { $(AuditEvent::$variant => $name,)* }
            }

            /// What the event records, in one sentence.
            #[must_use]
            pub const fn summary(self) -> &'static str {
                match self { $(AuditEvent::$variant => $summary,)* }
            }

            /// The target types it can name (`target_type`); empty when it names none.
            #[must_use]
            pub const fn targets(self) -> &'static [&'static str] {
                match self { $(AuditEvent::$variant => &[$($target),*],)* }
            }

            /// Its detail keys with the shape of each value; a key may be absent on some
            /// outcomes (a failure records its reason instead of the result).
            #[must_use]
            pub const fn details(self) -> &'static [(&'static str, &'static str)] {
                match self { $(AuditEvent::$variant => &[$(($key, $shape)),*],)* }
            }
        }
    };
}

audit_events! {
    AuthSetup = "auth.setup", "The first administrator was created with the setup code, or a wrong setup code was given.",
        target: ["user"], details: {"reason": "string (failure)"};
    AuthLogin = "auth.login", "A sign-in succeeded (with or without a second factor) or failed.",
        target: ["user"], details: {"rehashed": "bool", "mfa": "`totp`, `backup`, `email` or `passkey`", "method": "`passkey` for a passwordless sign-in", "passkey": "passkey id", "username": "string, the typed name (failure)", "source": "`ldap` for a directory sign-in, `oidc` for an identity provider", "provider": "provider id (`oidc`)"};
    AuthLdapLogin = "auth.ldap_login", "A directory (LDAP) sign-in decision: signed in (with what was provisioned or synced), or refused and why.",
        target: ["user"], details: {"username": "string, the typed name", "reason": "string (failure)", "dn": "string, the directory entry", "provisioned": "bool", "email_synced": "bool", "groups_added": "list of group ids", "groups_removed": "list of group ids"};
    AuthOidcLogin = "auth.oidc_login", "An OpenID Connect sign-in decision: signed in (linked, auto-linked or created, groups synced), or refused and why (state, browser binding, token, email, account).",
        target: ["user"], details: {"provider": "provider id", "provider_name": "string", "reason": "string (failure)", "subject": "string, the provider's subject", "account": "`linked` or `auto_linked`", "created": "bool", "groups_added": "list of group ids", "groups_removed": "list of group ids"};
    AuthOidcLink = "auth.oidc_link", "A user linked or unlinked an identity provider from Account (failure: wrong password, the last way to sign in, or a provider account linked elsewhere).",
        target: ["user"], details: {"provider": "provider id", "linked": "bool", "unlinked": "bool", "subject": "string", "reason": "string (failure)"};
    AuthMfaChallenge = "auth.mfa_challenge", "A correct password opened a second-factor challenge.",
        target: ["user"], details: {"rehashed": "bool", "source": "`ldap` for a directory sign-in, `oidc` for an identity provider", "provider": "provider id (`oidc`)"};
    AuthMfaVerify = "auth.mfa_verify", "A wrong second-factor code was given at sign-in.",
        target: ["user"], details: {"method": "`totp`, `backup` or `email`"};
    AuthLogout = "auth.logout", "A user signed out.",
        target: ["session"], details: {};
    SessionRevoke = "session.revoke", "A user ended one of their sessions, or all others.",
        target: ["session", "user"], details: {"others": "number of sessions ended"};
    AuthPasswordChange = "auth.password_change", "A user changed their own password, or gave a wrong current one.",
        target: ["user"], details: {"reason": "string (failure)"};
    AuthPasswordReset = "auth.password_reset", "A password was set by an administrator, the CLI or a password link.",
        target: ["user"], details: {"by": "`admin` or `cli`", "link": "`set` or `reset`"};
    AuthPasswordResetRequest = "auth.password_reset_request", "Someone asked for a password-reset mail (success: a mail was sent).",
        target: [], details: {"email": "string"};
    AuthEnable = "auth.enable", "Authentication was switched on.",
        target: [], details: {};
    AuthDisable = "auth.disable", "Authentication was switched off.",
        target: [], details: {};
    AuthMfaTotpSetup = "auth.mfa.totp_setup", "A user started setting up an authenticator app.",
        target: ["user"], details: {};
    AuthMfaTotpEnable = "auth.mfa.totp_enable", "A user confirmed an authenticator app (failure: a wrong code).",
        target: ["user"], details: {};
    AuthMfaTotpDisable = "auth.mfa.totp_disable", "A user removed their authenticator app.",
        target: ["user"], details: {};
    AuthMfaBackupRegenerate = "auth.mfa.backup_regenerate", "A user made new backup codes.",
        target: ["user"], details: {};
    AuthMfaEmailSetup = "auth.mfa.email_setup", "A user asked for a code to turn on emailed codes.",
        target: ["user"], details: {};
    AuthMfaEmailEnable = "auth.mfa.email_enable", "A user turned on emailed codes (failure: a wrong code).",
        target: ["user"], details: {};
    AuthMfaEmailDisable = "auth.mfa.email_disable", "A user turned off emailed codes.",
        target: ["user"], details: {};
    AuthPasskeyRegister = "auth.passkey.register", "A user registered a passkey (failure: a wrong password, or a registration that did not verify).",
        target: ["user"], details: {"passkey": "passkey id", "name": "string", "backup_eligible": "bool", "reason": "string (failure)"};
    AuthPasskeyDelete = "auth.passkey.delete", "A user removed one of their passkeys (failure: a wrong password, or it was their last way to sign in).",
        target: ["user"], details: {"passkey": "passkey id", "reason": "string (failure)"};
    AuthPasskeyRename = "auth.passkey.rename", "A user renamed one of their passkeys.",
        target: ["user"], details: {"passkey": "passkey id", "name": "string"};
    AuthEnrolRequired = "auth.enrol_required", "A sign-in succeeded but did not show the factor a group of the user requires (a passkey, or any second factor); the session may only set it up.",
        target: ["user"], details: {"requirement": "`two_factor` or `passkey`", "signed_in_with": "`password`, `two_factor` or `passkey`"};
    AuthEnrolMet = "auth.enrol_met", "A restricted session set up the factor its group requires and became a normal session.",
        target: ["user"], details: {"requirement": "`two_factor` or `passkey`", "with": "`two_factor` or `passkey`"};
    AuthPasskeyRefused = "auth.passkey.refused", "A passkey was refused at sign-in or as a second factor: unknown or another user's credential, a bad signature or origin, an expired or replayed challenge, a disabled account.",
        target: ["user"], details: {"passkey": "passkey id", "reason": "string", "step": "`login` or `mfa`"};
    AuthPasskeyCloned = "auth.passkey.counter", "A passkey's signature counter did not move forward (the authenticator may have been cloned); the sign-in was refused.",
        target: ["user"], details: {"passkey": "passkey id", "stored": "number", "presented": "string"};
    UserDisplayName = "user.display_name", "A user's display name changed: set on Account by a local user, or synced from the directory or identity provider at sign-in.",
        target: ["user"], details: {"display_name": "string or null", "source": "`account`, `ldap` or `oidc`"};
    UserCreate = "user.create", "An account was created (in the UI, the API or the CLI).",
        target: ["user"], details: {"username": "string", "group_ids": "array of group ids", "set_password_link": "bool", "by": "`cli`", "administrator": "bool"};
    UserUpdate = "user.update", "An account was changed.",
        target: ["user"], details: {"email": "bool, whether it changed", "password": "bool, whether it changed", "disabled": "bool or null", "group_ids": "array of group ids or null"};
    UserDelete = "user.delete", "An account was deleted.",
        target: ["user"], details: {"username": "string", "items": "`keep` or `delete`", "deleted": "object: item kind → number deleted"};
    UserMfaReset = "user.mfa_reset", "A user's second factors were removed by an administrator or the CLI.",
        target: ["user"], details: {"by": "`cli`"};
    UserPasswordResetLink = "user.password_reset_link", "An administrator mailed a user a password-reset link.",
        target: ["user"], details: {};
    GroupCreate = "group.create", "A group was created or cloned.",
        target: ["group"], details: {"name": "string", "permissions": "array of permissions", "scope": "printer scope or null"};
    GroupUpdate = "group.update", "A group was changed (its sign-in requirement too).",
        target: ["group"], details: {"name": "string or null", "permissions": "array or null", "scope": "printer scope or null", "sign_in_requirement": "`none`, `two_factor`, `passkey` or null", "sign_in_requirement_before": "the previous requirement, or null", "sessions_revoked_for": "array of user ids"};
    GroupDelete = "group.delete", "A group was deleted.",
        target: ["group"], details: {"name": "string", "members": "array of user ids"};
    GroupMemberAdd = "group.member_add", "A user was added to a group.",
        target: ["group"], details: {"user_id": "user id", "group": "string"};
    GroupMemberRemove = "group.member_remove", "A user was removed from a group.",
        target: ["group"], details: {"user_id": "user id", "group": "string"};
    ApiKeyCreate = "api_key.create", "An API key was created.",
        target: ["api_key"], details: {"name": "string", "scopes": "array of permissions", "expires_at": "RFC 3339 or null"};
    ApiKeyRevoke = "api_key.revoke", "An API key was revoked.",
        target: ["api_key"], details: {"name": "string", "owner": "string"};
    CameraTokenCreate = "camera_token.create", "A camera token was created.",
        target: ["api_key"], details: {"name": "string", "days": "number", "printer_ids": "array of printer ids"};
    CameraTokenRevoke = "camera_token.revoke", "A camera token was revoked.",
        target: ["api_key"], details: {"name": "string", "owner": "string"};
    CloudLink = "cloud.link", "A Bambu Cloud account was linked to a user (failure: Bambu refused the password or the code).",
        target: ["user"], details: {"email": "string, the Bambu account", "region": "`global` or `china`", "step": "`password` or `code`", "reason": "string (failure)"};
    CloudUnlink = "cloud.unlink", "A user's Bambu Cloud link was removed (its tokens deleted).",
        target: ["user"], details: {"email": "string, the Bambu account"};
    CloudRefreshFailed = "cloud.refresh_failed", "Refreshing a Bambu Cloud token failed; `expired`: Bambu refused it and the user must sign in again.",
        target: ["user"], details: {"reason": "string", "expired": "bool"};
    SettingsSecurityUpdate = "settings.security.update", "The password and key limits were changed.",
        target: [], details: {"before": "security settings", "after": "security settings"};
    SettingsOutbound = "settings.outbound", "The outbound allow-list was changed.",
        target: [], details: {"allowed_hosts": "array of strings"};
    SettingsLdap = "settings.ldap", "The LDAP sign-in settings were changed (failure: a changed server without the bind password).",
        target: [], details: {"changed": "object: setting → {from, to}", "bind_password": "`kept`, `replaced` or `removed`", "enabled": "bool", "url": "string"};
    SettingsLdapTest = "settings.ldap_test", "The LDAP settings were tested (success: every step worked).",
        target: [], details: {"username": "string or null", "steps": "list of {step, ok}"};
    SettingsOidc = "settings.oidc", "An OpenID Connect provider was added, changed or deleted (failure: its discovery did not work or was refused by the outbound guard).",
        target: ["oidc_provider"], details: {"name": "string", "issuer": "string", "client_id": "string", "client_secret": "`kept`, `replaced` or `removed`", "auto_create": "bool", "auto_link": "bool", "require_verified_email": "bool", "group_mappings": "number", "enabled": "bool", "discovery": "`ok` or why not", "deleted": "bool"};
    SettingsEmail = "settings.email", "The mail server settings were changed.",
        target: [], details: {"changed": "bool", "password": "`kept`, `removed` or `replaced`", "advanced_auth": "bool", "host": "string", "port": "number", "security": "string"};
    SettingsEmailTest = "settings.email_test", "A test mail was sent (success: the server accepted it).",
        target: [], details: {"to": "string", "message": "the server's answer"};
    SettingsEmailTemplate = "settings.email_template", "A mail template was edited.",
        target: ["template"], details: {};
    KeysBackupConfirmed = "keys.backup_confirmed", "An administrator confirmed they hold a copy of the sealing key.",
        target: [], details: {"fingerprint": "16 hex digits identifying the key"};
    KeysRotate = "keys.rotate", "The sealing key was rotated with `printwarden keys rotate` (counts only).",
        target: [], details: {"old": "fingerprint", "new": "fingerprint", "resealed": "number", "plaintext_sealed": "number", "unreadable": "number"};
    TlsCertificateUpload = "tls.certificate.upload", "An HTTPS certificate was uploaded (failure: refused, with the reason).",
        target: [], details: {"subject": "string", "not_after": "RFC 3339", "sha256": "hex", "refused": "string (failure)"};
    TlsCertificateRemove = "tls.certificate.remove", "The uploaded HTTPS certificate was removed.",
        target: [], details: {"now": "hex fingerprint of the certificate served now"};
    SystemBackup = "system.backup", "An encrypted backup was downloaded or written by the schedule (`scheduled`; failure: refused or stopped, with the reason).",
        target: [], details: {"include_key": "bool", "sealed_with": "`passphrase` or `public key age1…`", "scheduled": "bool (written by the schedule)", "file": "string (scheduled)", "reason": "string (failure)"};
    SystemRestoreUpload = "system.restore.upload", "A backup was uploaded to be restored on Settings → Backup (failure: too large, cut off, or another upload was in the way).",
        target: [], details: {"size": "number (bytes)", "reason": "string (failure)"};
    SystemRestoreVerify = "system.restore.verify", "The uploaded backup was verified with its passphrase or identity (failure: wrong passphrase, damaged, newer schema, not a backup).",
        target: [], details: {"created_at": "RFC 3339 (the backup's)", "app_version": "string", "backend": "string", "reason": "string (failure)"};
    SystemRestoreConfirm = "system.restore.confirm", "An administrator confirmed the restore of the uploaded backup; the server restarts to apply it (failure: password, passphrase or backup refused).",
        target: [], details: {"created_at": "RFC 3339 (the backup's)", "reason": "string (failure)"};
    SystemRestoreApplied = "system.restore.applied", "The server restarted and applied a confirmed restore (recorded in the restored database; failure: recorded in the unchanged one, with the reason).",
        target: [], details: {"requested_by": "username", "kept": "where the previous data is kept", "rows": "number", "files": "number", "reason": "string (failure)"};
    SystemRestoreCancel = "system.restore.cancel", "The uploaded backup was discarded without restoring it.",
        target: [], details: {};
    SystemBackupSchedule = "system.backup_schedule", "The backup schedule was changed: directory, interval, retention, how it is sealed (never the passphrase).",
        target: [], details: {"enabled": "bool", "dir": "string", "interval_hours": "number", "keep": "number", "sealed_with": "`passphrase` or `public key`", "include_key": "bool"};
    WebhookCreate = "webhook.create", "A webhook was created.",
        target: ["webhook"], details: {"name": "string", "events": "array of event filters", "signed": "bool", "kind": "`printwarden`, `ntfy` or `discord`"};
    WebhookUpdate = "webhook.update", "A webhook was changed.",
        target: ["webhook"], details: {"changed": "array of field names"};
    WebhookDelete = "webhook.delete", "A webhook was deleted.",
        target: ["webhook"], details: {"name": "string"};
    WebhookTest = "webhook.test", "A webhook's test button sent a test delivery (success: the receiver answered 2xx).",
        target: ["webhook"], details: {"status": "HTTP status or null", "error": "string or null"};
    LocationCreate = "location.create", "A location was created.",
        target: ["location"], details: {"name": "string", "waive_plate_clear": "bool"};
    LocationUpdate = "location.update", "A location was renamed, or its plate-clear waiver changed.",
        target: ["location"], details: {"name": "string", "waive_plate_clear": "bool or null (unchanged)"};
    LocationDelete = "location.delete", "A location was deleted.",
        target: ["location"], details: {"name": "string"};
    LibraryUpload = "library.upload", "A file was uploaded to the library, or refused (not a print file the library takes).",
        target: ["library_file"], details: {"name": "string", "kind": "`gcode.3mf`, `3mf`, `gcode` or `stl`", "size": "bytes", "sha256": "hex", "stored": "bool: new content (false: the same bytes were stored already)", "reason": "string (failure)"};
    LibraryUpdate = "library.update", "A library file was renamed, moved or re-tagged.",
        target: ["library_file"], details: {"name": "string or null", "folder_id": "number or null", "tags": "array or null"};
    LibraryDelete = "library.delete", "A library file was deleted (by hand, with its uploader, or by a purge).",
        target: ["library_file"], details: {"name": "string", "owner": "string or null", "sha256": "hex", "blob_deleted": "bool: no other file named the content", "purge": "bool"};
    LibraryPurge = "library.purge", "The library was purged of its ownerless files or of every file.",
        target: [], details: {"scope": "`ownerless` or `all`", "deleted": "number"};
    LibraryFolderCreate = "library.folder_create", "A library folder was created.",
        target: ["library_folder"], details: {"name": "string", "parent_id": "number or null"};
    LibraryFolderUpdate = "library.folder_update", "A library folder was renamed or moved.",
        target: ["library_folder"], details: {"name": "string or null", "parent_id": "number or null"};
    LibraryFolderDelete = "library.folder_delete", "An empty library folder was deleted.",
        target: ["library_folder"], details: {"name": "string"};
    PrinterCreate = "printer.create", "A printer was added.",
        target: ["printer"], details: {"name": "string", "serial": "string", "host": "string"};
    PrinterUpdate = "printer.update", "A printer was changed.",
        target: ["printer"], details: {"name": "string or null", "host": "string or null", "access_code_changed": "bool", "location_id": "location id or null", "waive_plate_clear": "bool or null (the queue's plate-clear confirmation waived or required again)"};
    PrinterDelete = "printer.delete", "A printer was removed.",
        target: ["printer"], details: {"name": "string", "serial": "string"};
    PrinterCommand = "printer.command", "A command was sent to a printer (success: the printer accepted it).",
        target: ["printer"], details: {"command": "`class.name`", "reason": "string or null"};
    PrinterPrint = "printer.print", "A file was sent to a printer and started (success: the printer accepted it): uploaded with the request or printed from the library.",
        target: ["printer"], details: {"file": "string (name on the printer)", "bytes": "number sent", "plate": "number", "reason": "string or null", "library_file_id": "number or null (printed from the library)", "sha256": "hex or null (the content as the blob store keeps it)", "print_job_id": "number or null (null when not started)", "warnings": "list of strings (another model or nozzle than sliced for)"};
    PrinterPlateCleared = "printer.plate_cleared", "Someone confirmed a printer's plate clear, so the queue may start the next job there.",
        target: ["printer"], details: {"was_waiting": "bool (a finished print was on it)"};
    PrinterFileDelete = "printer.file.delete", "A file was deleted from a printer.",
        target: ["printer"], details: {"file": "string"};
    PrinterCertificatePinned = "printer.certificate.pinned", "A printer's first certificate was pinned (trust on first use).",
        target: ["printer"], details: {"sha256": "hex"};
    PrinterCertificateChanged = "printer.certificate.changed", "A printer presented a certificate other than the pinned one; it waits for approval.",
        target: ["printer"], details: {"pinned": "hex", "presented": "hex"};
    PrinterCertificateTrust = "printer.certificate.trust", "A user approved a printer's changed certificate.",
        target: ["printer"], details: {"previous": "hex or null", "trusted": "hex"};
    ArchiveCreate = "archive.create", "A print done outside printwarden was recorded in the archive by hand.",
        target: ["archive"], details: {"printer": "string", "file": "string", "outcome": "`finished`, `failed` or `cancelled`"};
    ArchiveUpdate = "archive.update", "An archive entry's notes, tags or rating were changed.",
        target: ["archive"], details: {"fields": "array of the changed fields"};
    ArchiveDelete = "archive.delete", "An archive entry was deleted (by hand, or with its user's deletion).",
        target: ["archive"], details: {"printer": "string", "file": "string", "started_by": "string or null"};
    ArchivePurge = "archive.purge", "Every ended archive entry older than a date was deleted.",
        target: [], details: {"before": "RFC 3339 time", "deleted": "number"};
    ArchivePhotoAdd = "archive.photo.add", "A photo was added to an archive entry.",
        target: ["archive"], details: {"photo": "number", "type": "`jpeg`, `png` or `webp`", "size": "bytes", "sha256": "hex"};
    ArchivePhotoDelete = "archive.photo.delete", "A photo of an archive entry was deleted.",
        target: ["archive"], details: {"photo": "number", "sha256": "hex", "blob_deleted": "boolean"};
    QueueCreate = "queue.create", "A print job was added to the queue (from a library file, or as a reprint of an archive entry).",
        target: ["queue_item"], details: {"file": "string", "plate": "number", "target": "`printer:<id>`, `model:<name>` or `location:<id>`", "copies": "number", "reprint_of": "archive id or null"};
    QueueUpdate = "queue.update", "A queued item was changed (copies, priority, time, target, options or AMS mapping).",
        target: ["queue_item"], details: {"fields": "array of the changed fields"};
    QueueCancel = "queue.cancel", "A queue item was cancelled (it stays in the list as cancelled).",
        target: ["queue_item"], details: {"file": "string", "from": "the state it left", "owner": "string or null"};
    QueueDelete = "queue.delete", "A queue item was deleted (by hand, or with its user's deletion).",
        target: ["queue_item"], details: {"file": "string", "state": "string", "owner": "string or null"};
    QueueState = "queue.state", "A queue item changed state (claimed, started, finished, failed, retried) — by the dispatcher or a user.",
        target: ["queue_item"], details: {"from": "state", "to": "state", "printer": "printer id or null", "reason": "string or null"};
    QueueReorder = "queue.reorder", "Queue items were put in a new order.",
        target: [], details: {"ids": "array of the items in their new order"};
    QueuePause = "queue.pause", "The whole queue, or one printer's lane, was paused.",
        target: ["printer"], details: {"scope": "`queue` or `printer`"};
    QueueResume = "queue.resume", "The whole queue, or one printer's lane, was resumed.",
        target: ["printer"], details: {"scope": "`queue` or `printer`"};
    ProjectCreate = "project.create", "A project was created.",
        target: ["project"], details: {"name": "string", "due": "date or null"};
    ProjectUpdate = "project.update", "A project's name, notes or due date was changed.",
        target: ["project"], details: {"fields": "array of the changed fields"};
    ProjectDelete = "project.delete", "A project was deleted (its files, queue items and archive entries stay).",
        target: ["project"], details: {"name": "string", "members": "number of member rows removed with it"};
    ProjectMembersAdd = "project.members_add", "Library files, queue items or archive entries were added to a project.",
        target: ["project"], details: {"files": "array of library file ids", "queue_items": "array of queue item ids", "archives": "array of archive ids", "added": "number of new members"};
    ProjectMemberRemove = "project.member_remove", "A member was taken out of a project (the member itself stays).",
        target: ["project"], details: {"kind": "`file`, `queue_item` or `archive`", "id": "number"};
    PrinterGroupCreate = "printer_group.create", "A printer group was created.",
        target: ["printer_group"], details: {"name": "string", "printer_ids": "array of printer ids"};
    PrinterGroupUpdate = "printer_group.update", "A printer group was renamed, or printers were added to or taken out of it.",
        target: ["printer_group"], details: {"name": "new name or null", "added": "array of printer ids", "removed": "array of printer ids"};
    PrinterGroupDelete = "printer_group.delete", "A printer group was deleted (its printers stay; its queued items wait, parked, for another target).",
        target: ["printer_group"], details: {"name": "string", "parked": "number of queued items parked"};
}

impl AuditEvent {
    /// The event with this stored name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|e| e.name() == name)
    }

    /// Every stored name, in catalogue order (the audit page's filter suggestions).
    #[must_use]
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|e| e.name()).collect()
    }

    /// Whether `details` uses only this event's declared keys (an undeclared key means the
    /// catalogue and the call site disagree; see `App::audit`).
    #[must_use]
    pub(crate) fn declares(self, details: &serde_json::Value) -> bool {
        match details {
            serde_json::Value::Object(map) => map
                .keys()
                .all(|k| self.details().iter().any(|(d, _)| d == k)),
            _ => false,
        }
    }
}

impl std::fmt::Display for AuditEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The Markdown of `docs/AUDIT-EVENTS.md`.
#[must_use]
pub fn audit_events_markdown() -> String {
    let mut out = String::from(
        "# Audit events\n\n\
         Generated from the event catalogue (`crates/app/src/system/audit/event.rs`) by \
         `audit_events_markdown`; do not edit by hand (`UPDATE_DOCS=1 cargo test -p pw-app \
         audit_events` rewrites it).\n\n\
         Every event is stored with its name, the actor, the outcome (`success`), the client \
         address, the request id, an optional target (`target_type`, `target_id`) and a JSON \
         object of details. `GET /api/v1/audit?event=` filters by a name or a prefix ending in \
         `.`; webhooks filter the same way. The names below are stable.\n\n\
         | Event | What it records | Target | Details |\n|---|---|---|---|\n",
    );
    for e in AuditEvent::ALL {
        let targets: Vec<String> = e.targets().iter().map(|t| format!("`{t}`")).collect();
        let details: Vec<String> = e
            .details()
            .iter()
            .map(|(k, shape)| format!("`{k}`: {shape}"))
            .collect();
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            e.name(),
            e.summary(),
            if targets.is_empty() {
                "—".to_owned()
            } else {
                targets.join(" or ")
            },
            if details.is_empty() {
                "—".to_owned()
            } else {
                details.join("<br>")
            },
        );
    }
    // s10-notify: the notification catalogue, rendered by the same generator.
    out.push_str(&crate::notify::events::notice_events_markdown());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for e in AuditEvent::ALL {
            assert!(seen.insert(e.name()), "{} twice", e.name());
            assert_eq!(AuditEvent::parse(e.name()), Some(*e));
            assert!(
                e.name()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_')
                    && e.name().contains('.'),
                "{}",
                e.name()
            );
        }
    }

    #[test]
    fn declares_refuses_an_undeclared_key() {
        assert!(AuditEvent::AuthLogin.declares(&serde_json::json!({"rehashed": true})));
        assert!(!AuditEvent::AuthLogin.declares(&serde_json::json!({"password": "x"})));
        assert!(AuditEvent::AuthLogout.declares(&serde_json::json!({})));
    }

    #[test]
    fn docs_audit_events_md_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/AUDIT-EVENTS.md");
        let expected = audit_events_markdown();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(path, &expected).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == expected,
            "docs/AUDIT-EVENTS.md is stale: run `UPDATE_DOCS=1 cargo test -p pw-app audit_events` and commit it"
        );
    }
}
