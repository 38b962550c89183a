//! The OpenAPI 3.1 document, generated from the route table: every API and probe row becomes
//! one operation with its summary, its auth (from the row's `Access`), its path parameters, and
//! the request and response schemas of the types the handler really parses and serialises
//! (derived with utoipa from those types, so the document cannot drift from the code).
//!
//! Invariant: a row without a [`shape`] fails the document test, so a new route cannot ship
//! undocumented; schemathesis (scripts/test.sh) checks the running server against it.

use std::collections::BTreeMap;

use http::StatusCode;
use pw_app::{
    AmsProposalInput, CreateQueueItem, PauseInput, Proposal, QueueItemView, QueuePauseView,
    ReorderQueue, ReprintInput, UpdateQueueItem,
};
use pw_app::{
    ApiKeyView, AuditView, BackupCodesView, CreateApiKey, CreateUser, CreateWebhook, CreatedApiKey,
    EmailSettingsInput, EmailSettingsView, GroupInput, GroupPatchInput, GroupView, KeyStatus,
    LdapSettingsInput, LdapSettingsView, LdapTestOutcome, LdapTestRequest, MailPreferences, MeView,
    OutboundSettings, PermissionCategoryView, RenderedMail, SecuritySettings, SessionView,
    SetupRequest, Template, TemplateView, TestEmail, TestEmailOutcome, TestOutcome, TlsStatus,
    TotpSetupView, UpdateUser, UpdateWebhook, UploadCertificate, UserView, WebhookView,
};
use pw_app::{
    ArchiveListPage, ArchivePatchInput, ArchiveView, CreateArchive, PurgeArchives, PurgeOutcome,
};
use pw_app::{
    CameraTokenView, CertificateView, CheckPrinter, CommandInput, CommandOutcome,
    CreateCameraToken, CreatePrinter, CreatedCameraToken, IssuedTicket, LocationInput,
    LocationView, PrinterCheck, PrinterFile, PrinterView, TicketRequest, TrustCertificate,
    UpdatePrinter,
};
use pw_app::{CloudCodeInput, CloudDevicesView, CloudLinkInput, CloudLinkView, CloudTasksView};
use pw_app::{
    CreateLibraryFolder, LibraryFileView, LibraryFolderView, LibraryPurge, LibraryPurged,
    LibraryUsageView, UpdateLibraryFile, UpdateLibraryFolder,
};
use pw_app::{CreateProject, ProjectMembersInput, ProjectMembersView, ProjectView, UpdateProject};
use pw_app::{LibraryPrintStarted, PrintLibraryFile};
use pw_app::{OidcLinkView, OidcProviderInput, OidcProviderView, OidcReauth};
use pw_app::{PrinterGroupInput, PrinterGroupView};
use pw_policy::{Access, Requirement};
use utoipa::ToSchema;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{
    AllOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type,
};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    Components, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Paths, Ref, RefOr, Required,
    Schema,
};

use crate::api::accounts::groups::CloneRequest;
use crate::api::auth::mfa::{
    CodeRequest, EmailCodeRequest, MfaRequired, PasswordConfirmation, TotpSetupRequest,
    VerifyRequest,
};
use crate::api::auth::passkeys::{PasskeyOptions, PasskeyPassword, RegisterPasskey, RenamePasskey};
use crate::api::auth::recovery::{Accepted, ForgotRequest, ResetRequest};
use crate::api::auth::sessions::{AuthStatus, LoginRequest, PasswordRequest, SignedIn};
use crate::table::{Kind, ROUTES, RouteSpec};

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/api/openapi.json";

/// Collects the component schemas the operations refer to.
#[derive(Default)]
struct Schemas(BTreeMap<String, RefOr<Schema>>);

impl Schemas {
    /// A `$ref` to `T`, registering `T` and everything it refers to.
    fn of<T: ToSchema>(&mut self) -> RefOr<Schema> {
        let mut nested = Vec::new();
        T::schemas(&mut nested);
        self.0
            .extend(nested.into_iter().map(|(n, s)| (n.to_owned(), s)));
        let name = T::name().into_owned();
        self.0.insert(name.clone(), T::schema());
        Ref::from_schema_name(name).into()
    }

    /// `{items: [T], next: null}`: the list shape of the API.
    fn page_of<T: ToSchema>(&mut self) -> RefOr<Schema> {
        let item = self.of::<T>();
        ObjectBuilder::new()
            .property("items", ArrayBuilder::new().items(item))
            .required("items")
            .property("next", ObjectBuilder::new().schema_type(Type::Null))
            .required("next")
            .into()
    }

    /// `{items: [T], next: string | null}`: a list paged in SQL (`?limit=&cursor=`).
    fn paged_of<T: ToSchema>(&mut self) -> RefOr<Schema> {
        let item = self.of::<T>();
        ObjectBuilder::new()
            .property("items", ArrayBuilder::new().items(item))
            .required("items")
            .property(
                "next",
                ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                        Type::String,
                        Type::Null,
                    ]))
                    .description(Some(
                        "Opaque cursor: pass as `?cursor=` for the next page; null on the last page",
                    )),
            )
            .required("next")
            .into()
    }

    /// `[T]`.
    fn array_of<T: ToSchema>(&mut self) -> RefOr<Schema> {
        ArrayBuilder::new().items(self.of::<T>()).into()
    }
}

/// What a successful answer carries.
enum Answer {
    /// JSON of this schema.
    Json(Box<RefOr<Schema>>),
    /// No body.
    Empty,
    /// Text of this media type.
    Text(&'static str),
    /// The error envelope (an extra answer that is an error of this operation only).
    Error,
    /// Binary content of one of these media types.
    Images(&'static [&'static str]),
}

/// A query parameter.
struct Query {
    name: &'static str,
    schema: RefOr<Schema>,
    description: &'static str,
}

/// One operation's request and answer.
struct Shape {
    body: Option<(RefOr<Schema>, bool)>,
    body_type: &'static str,
    status: StatusCode,
    answer: Answer,
    query: Vec<Query>,
    /// Other answers than the success one and the shared errors (a partial download's 206).
    extra: Vec<Extra>,
}

/// One more answer an operation gives.
struct Extra {
    status: StatusCode,
    description: &'static str,
    answer: Answer,
}

impl Shape {
    fn json(status: StatusCode, schema: RefOr<Schema>) -> Self {
        Self {
            body: None,
            body_type: "application/json",
            status,
            answer: Answer::Json(Box::new(schema)),
            query: Vec::new(),
            extra: Vec::new(),
        }
    }

    fn ok(schema: RefOr<Schema>) -> Self {
        Self::json(StatusCode::OK, schema)
    }

    fn empty() -> Self {
        Self {
            body: None,
            body_type: "application/json",
            status: StatusCode::NO_CONTENT,
            answer: Answer::Empty,
            query: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// With a required JSON request body.
    fn with_body(mut self, schema: RefOr<Schema>) -> Self {
        self.body = Some((schema, true));
        self
    }

    /// With an optional JSON request body.
    fn with_optional_body(mut self, schema: RefOr<Schema>) -> Self {
        self.body = Some((schema, false));
        self
    }

    fn with_query(
        mut self,
        name: &'static str,
        schema: RefOr<Schema>,
        description: &'static str,
    ) -> Self {
        self.query.push(Query {
            name,
            schema,
            description,
        });
        self
    }
}

fn string() -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::String).into()
}

fn status_object(values: &[&str]) -> RefOr<Schema> {
    ObjectBuilder::new()
        .property(
            "status",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(values.iter().copied())),
        )
        .required("status")
        .into()
}

/// The request and answer of a row; `None` for a row that is not documented yet (the document
/// test fails then).
fn shape(s: &mut Schemas, method: &str, path: &str) -> Option<Shape> {
    use StatusCode as C;
    Some(match (method, path) {
        ("GET", "/healthz") => Shape::ok(status_object(&["ok"])),
        ("GET", "/readyz") => Shape::ok(status_object(&["ready", "unavailable"])),
        ("GET", "/metrics") => Shape {
            answer: Answer::Text("text/plain; version=0.0.4"),
            ..Shape::empty()
        }
        .with_status(C::OK),
        ("GET", "/api/v1/auth/status") => Shape::ok(s.of::<AuthStatus>()),
        ("POST", "/api/v1/auth/setup") => {
            Shape::json(C::CREATED, s.of::<SignedIn>()).with_body(s.of::<SetupRequest>())
        }
        ("POST", "/api/v1/auth/login") => {
            let signed_in = s.of::<SignedIn>();
            let challenged = s.of::<MfaRequired>();
            Shape::ok(OneOfBuilder::new().item(signed_in).item(challenged).into())
                .with_body(s.of::<LoginRequest>())
        }
        ("POST", "/api/v1/auth/mfa/verify") => {
            Shape::ok(s.of::<SignedIn>()).with_body(s.of::<VerifyRequest>())
        }
        ("POST", "/api/v1/auth/mfa/totp/setup") => {
            Shape::ok(s.of::<TotpSetupView>()).with_body(s.of::<TotpSetupRequest>())
        }
        ("POST", "/api/v1/auth/mfa/totp/enable")
        | ("POST", "/api/v1/auth/mfa/backup-codes/regenerate") => {
            Shape::ok(s.of::<BackupCodesView>()).with_body(s.of::<CodeRequest>())
        }
        ("POST", "/api/v1/auth/mfa/email/setup")
        | ("POST", "/api/v1/auth/mfa/email/send")
        | ("DELETE", "/api/v1/settings/email/templates/{name}") => Shape::empty(),
        ("POST", "/api/v1/auth/mfa/email/enable") => {
            Shape::empty().with_body(s.of::<EmailCodeRequest>())
        }
        ("POST", "/api/v1/auth/mfa/email/disable") => {
            Shape::empty().with_body(s.of::<PasswordConfirmation>())
        }
        ("GET", "/api/v1/auth/passkeys") => Shape::ok(s.array_of::<pw_app::PasskeyView>()),
        ("POST", "/api/v1/auth/passkeys/register/options") => {
            Shape::ok(s.of::<PasskeyOptions>()).with_body(s.of::<PasskeyPassword>())
        }
        ("POST", "/api/v1/auth/passkeys/register") => {
            Shape::json(C::CREATED, s.of::<pw_app::PasskeyView>())
                .with_body(s.of::<RegisterPasskey>())
        }
        ("DELETE", "/api/v1/auth/passkeys/{id}") => {
            Shape::empty().with_body(s.of::<PasskeyPassword>())
        }
        ("PATCH", "/api/v1/auth/passkeys/{id}") => {
            Shape::ok(s.of::<pw_app::PasskeyView>()).with_body(s.of::<RenamePasskey>())
        }
        ("POST", "/api/v1/auth/passkeys/login/options")
        | ("POST", "/api/v1/auth/mfa/passkey/options") => Shape::ok(s.of::<PasskeyOptions>()),
        ("POST", "/api/v1/auth/passkeys/login") | ("POST", "/api/v1/auth/mfa/passkey/verify") => {
            Shape::ok(s.of::<SignedIn>()).with_body(s.of::<pw_app::AssertionCredential>())
        }
        ("POST", "/api/v1/auth/forgot-password") => {
            Shape::json(C::ACCEPTED, s.of::<Accepted>()).with_body(s.of::<ForgotRequest>())
        }
        ("POST", "/api/v1/auth/reset-password") => Shape::empty().with_body(s.of::<ResetRequest>()),
        ("POST", "/api/v1/users/{id}/password-reset") => Shape {
            status: C::ACCEPTED,
            ..Shape::empty()
        },
        ("GET", "/api/v1/auth/mail-preferences") => Shape::ok(s.of::<MailPreferences>()),
        ("PUT", "/api/v1/auth/mail-preferences") => {
            Shape::ok(s.of::<MailPreferences>()).with_body(s.of::<MailPreferences>())
        }
        ("GET", "/api/v1/settings/ldap") => Shape::ok(s.of::<LdapSettingsView>()),
        ("PUT", "/api/v1/settings/ldap") => {
            Shape::ok(s.of::<LdapSettingsView>()).with_body(s.of::<LdapSettingsInput>())
        }
        ("POST", "/api/v1/settings/ldap/test") => {
            Shape::ok(s.of::<LdapTestOutcome>()).with_body(s.of::<LdapTestRequest>())
        }
        ("GET", "/api/v1/settings/oidc/providers") => Shape::ok(s.array_of::<OidcProviderView>()),
        ("POST", "/api/v1/settings/oidc/providers") => {
            Shape::json(C::CREATED, s.of::<OidcProviderView>())
                .with_body(s.of::<OidcProviderInput>())
        }
        ("PUT", "/api/v1/settings/oidc/providers/{id}") => {
            Shape::ok(s.of::<OidcProviderView>()).with_body(s.of::<OidcProviderInput>())
        }
        ("DELETE", "/api/v1/settings/oidc/providers/{id}") => Shape::empty(),
        ("GET", "/api/v1/auth/oidc/{provider_id}/authorize") => Shape {
            status: C::FOUND,
            ..Shape::empty()
        },
        ("GET", "/api/v1/auth/oidc/links") => Shape::ok(s.array_of::<OidcLinkView>()),
        ("POST", "/api/v1/auth/oidc/{provider_id}/link") => {
            Shape::ok(s.of::<crate::api::auth::oidc::LinkStarted>()).with_body(s.of::<OidcReauth>())
        }
        ("POST", "/api/v1/auth/oidc/{provider_id}/unlink") => {
            Shape::empty().with_body(s.of::<OidcReauth>())
        }
        ("GET", "/api/v1/settings/email") => Shape::ok(s.of::<EmailSettingsView>()),
        ("PUT", "/api/v1/settings/email") => {
            Shape::ok(s.of::<EmailSettingsView>()).with_body(s.of::<EmailSettingsInput>())
        }
        ("POST", "/api/v1/settings/email/test") => {
            Shape::ok(s.of::<TestEmailOutcome>()).with_body(s.of::<TestEmail>())
        }
        ("GET", "/api/v1/settings/email/templates") => Shape::ok(s.array_of::<TemplateView>()),
        ("PUT", "/api/v1/settings/email/templates/{name}") => {
            Shape::ok(s.of::<TemplateView>()).with_body(s.of::<Template>())
        }
        ("POST", "/api/v1/settings/email/templates/{name}/preview") => {
            Shape::ok(s.of::<RenderedMail>()).with_body(s.of::<Template>())
        }
        ("POST", "/api/v1/auth/mfa/totp/disable") => {
            Shape::empty().with_body(s.of::<CodeRequest>())
        }
        ("POST", "/api/v1/auth/logout")
        | ("DELETE", "/api/v1/auth/sessions/{id}")
        | ("POST", "/api/v1/auth/sessions/revoke-others")
        | ("POST", "/api/v1/auth/disable")
        | ("POST", "/api/v1/auth/enable")
        | ("DELETE", "/api/v1/groups/{id}")
        | ("PUT", "/api/v1/groups/{id}/members/{user_id}")
        | ("DELETE", "/api/v1/groups/{id}/members/{user_id}")
        | ("DELETE", "/api/v1/api-keys/{id}")
        | ("DELETE", "/api/v1/camera-tokens/{id}")
        | ("DELETE", "/api/v1/webhooks/{id}")
        | ("POST", "/api/v1/users/{id}/mfa/reset") => Shape::empty(),
        ("GET", "/api/v1/auth/me") => Shape::ok(s.of::<MeView>()),
        ("PATCH", "/api/v1/auth/me") => {
            Shape::ok(s.of::<MeView>()).with_body(s.of::<pw_app::ProfilePatch>())
        }
        ("POST", "/api/v1/auth/password") => Shape::empty().with_body(s.of::<PasswordRequest>()),
        ("GET", "/api/v1/auth/sessions") => Shape::ok(s.array_of::<SessionView>()),
        ("GET", "/api/v1/settings/security") => Shape::ok(s.of::<SecuritySettings>()),
        ("PUT", "/api/v1/settings/security") => {
            Shape::ok(s.of::<SecuritySettings>()).with_body(s.of::<SecuritySettings>())
        }
        ("GET", "/api/v1/settings/outbound") => Shape::ok(s.of::<OutboundSettings>()),
        ("PUT", "/api/v1/settings/outbound") => {
            Shape::ok(s.of::<OutboundSettings>()).with_body(s.of::<OutboundSettings>())
        }
        ("GET", "/api/v1/system/keys") | ("POST", "/api/v1/system/keys/backup-confirmed") => {
            Shape::ok(s.of::<KeyStatus>())
        }
        ("GET", "/api/v1/settings/tls") | ("DELETE", "/api/v1/settings/tls/certificate") => {
            Shape::ok(s.of::<TlsStatus>())
        }
        ("POST", "/api/v1/settings/tls/certificate") => {
            Shape::ok(s.of::<TlsStatus>()).with_body(s.of::<UploadCertificate>())
        }
        ("POST", "/api/v1/system/backup") => Shape {
            answer: Answer::Text("application/octet-stream"),
            ..Shape::empty()
        }
        .with_status(C::OK)
        .with_body(s.of::<pw_app::backup::BackupRequest>()),
        ("GET", "/api/v1/system/backup/schedule") => {
            Shape::ok(s.of::<pw_app::backup::BackupScheduleView>())
        }
        ("PUT", "/api/v1/system/backup/schedule") => {
            Shape::ok(s.of::<pw_app::backup::BackupScheduleView>())
                .with_body(s.of::<pw_app::backup::BackupScheduleInput>())
        }
        ("POST", "/api/v1/system/backup/schedule/run") => {
            Shape::ok(s.of::<pw_app::backup::ScheduledRun>())
        }
        ("POST", "/api/v1/system/backup/schedule/verify") => {
            Shape::ok(s.of::<pw_app::backup::VerifyScheduledOutcome>())
                .with_body(s.of::<pw_app::backup::VerifyScheduledInput>())
        }
        ("GET", "/api/v1/system/restore") => Shape::ok(s.of::<pw_app::backup::RestoreStatus>()),
        ("PUT", "/api/v1/system/restore/upload") => Shape {
            body: Some((
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
                    .into(),
                true,
            )),
            body_type: "application/octet-stream",
            ..Shape::ok(s.of::<pw_app::backup::RestoreStatus>())
        },
        ("POST", "/api/v1/system/restore/verify") => {
            Shape::ok(s.of::<pw_app::backup::RestoreCover>())
                .with_body(s.of::<pw_app::backup::RestoreOpen>())
        }
        ("POST", "/api/v1/system/restore/confirm") => {
            Shape::json(C::ACCEPTED, s.of::<pw_app::backup::RestoreAccepted>())
                .with_body(s.of::<pw_app::backup::RestoreConfirm>())
        }
        ("DELETE", "/api/v1/system/restore") => Shape::empty(),
        ("GET", "/api/v1/permissions") => Shape::ok(s.array_of::<PermissionCategoryView>()),
        ("GET", "/api/v1/users") => page_query(Shape::ok(s.paged_of::<UserView>())),
        ("POST", "/api/v1/users") => {
            Shape::json(C::CREATED, s.of::<UserView>()).with_body(s.of::<CreateUser>())
        }
        ("GET", "/api/v1/users/{id}") => Shape::ok(user_detail(s)),
        ("PATCH", "/api/v1/users/{id}") => {
            Shape::ok(s.of::<UserView>()).with_body(s.of::<UpdateUser>())
        }
        ("DELETE", "/api/v1/users/{id}") => Shape::empty().with_query(
            "items",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["keep", "delete"]))
                .into(),
            "What happens to what the user created: keep it ownerless (default) or delete it",
        ),
        ("GET", "/api/v1/groups") => Shape::ok(s.page_of::<GroupView>()),
        ("POST", "/api/v1/groups") => {
            Shape::json(C::CREATED, s.of::<GroupView>()).with_body(s.of::<GroupInput>())
        }
        ("GET", "/api/v1/groups/{id}") => Shape::ok(s.of::<GroupView>()),
        ("PATCH", "/api/v1/groups/{id}") => {
            Shape::ok(s.of::<GroupView>()).with_body(s.of::<GroupPatchInput>())
        }
        ("POST", "/api/v1/groups/{id}/clone") => {
            Shape::json(C::CREATED, s.of::<GroupView>()).with_optional_body(s.of::<CloneRequest>())
        }
        ("GET", "/api/v1/api-keys") => page_query(Shape::ok(s.paged_of::<ApiKeyView>()))
            .with_query(
                "all",
                ObjectBuilder::new().schema_type(Type::Boolean).into(),
                "Everyone's keys (needs api_keys:read_all)",
            ),
        ("POST", "/api/v1/api-keys") => {
            Shape::json(C::CREATED, s.of::<CreatedApiKey>()).with_body(s.of::<CreateApiKey>())
        }
        ("POST", "/api/v1/cloud/link") => {
            Shape::ok(s.of::<CloudLinkView>()).with_body(s.of::<CloudLinkInput>())
        }
        ("POST", "/api/v1/cloud/link/verify") => {
            Shape::ok(s.of::<CloudLinkView>()).with_body(s.of::<CloudCodeInput>())
        }
        ("GET", "/api/v1/cloud/link") => Shape::ok(s.of::<CloudLinkView>()),
        ("DELETE", "/api/v1/cloud/link") => Shape::empty(),
        ("GET", "/api/v1/cloud/devices") => Shape::ok(s.of::<CloudDevicesView>()).with_query(
            "refresh",
            ObjectBuilder::new().schema_type(Type::Boolean).into(),
            "Ask Bambu now instead of serving a fresh cached answer (within the budgets)",
        ),
        ("GET", "/api/v1/cloud/tasks") => Shape::ok(s.of::<CloudTasksView>()).with_query(
            "refresh",
            ObjectBuilder::new().schema_type(Type::Boolean).into(),
            "Ask Bambu now instead of serving a fresh cached answer (within the budgets)",
        ),
        ("GET", "/api/v1/camera-tokens") => page_query(Shape::ok(s.paged_of::<CameraTokenView>())),
        ("POST", "/api/v1/camera-tokens") => Shape::json(C::CREATED, s.of::<CreatedCameraToken>())
            .with_body(s.of::<CreateCameraToken>()),
        ("GET", "/api/v1/audit") => page_query(audit_query(Shape::ok(s.paged_of::<AuditView>()))),
        ("GET", "/api/v1/printers") => page_query(Shape::ok(s.paged_of::<PrinterView>())),
        ("POST", "/api/v1/printers") => {
            Shape::json(C::CREATED, s.of::<PrinterView>()).with_body(s.of::<CreatePrinter>())
        }
        ("POST", "/api/v1/printers/check") => {
            Shape::ok(s.of::<PrinterCheck>()).with_body(s.of::<CheckPrinter>())
        }
        ("GET", "/api/v1/printers/{id}") => Shape::ok(s.of::<PrinterView>()),
        ("PATCH", "/api/v1/printers/{id}") => {
            Shape::ok(s.of::<PrinterView>()).with_body(s.of::<UpdatePrinter>())
        }
        ("DELETE", "/api/v1/printers/{id}") | ("DELETE", "/api/v1/locations/{id}") => {
            Shape::empty()
        }
        ("POST", "/api/v1/printers/{id}/commands") => {
            Shape::ok(s.of::<CommandOutcome>()).with_body(s.of::<CommandInput>())
        }
        ("POST", "/api/v1/printers/{id}/print") => Shape {
            body: Some((
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
                    .into(),
                true,
            )),
            body_type: "application/octet-stream",
            ..Shape::ok(s.of::<CommandOutcome>())
        }
        .with_query("file", string(), "File name on the printer, ending in .3mf")
        .with_query(
            "plate",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(64))
                .into(),
            "Plate to print (default 1)",
        ),
        ("GET", "/api/v1/printers/{id}/files") => Shape::ok(s.page_of::<PrinterFile>()),
        ("GET", "/api/v1/printers/{id}/files/{name}") => Shape {
            answer: Answer::Text("application/octet-stream"),
            ..Shape::empty()
        }
        .with_status(C::OK),
        ("DELETE", "/api/v1/printers/{id}/files/{name}") => Shape::empty(),
        ("POST", "/api/v1/printers/{id}/plate-cleared") => Shape::empty(),
        ("GET", "/api/v1/printers/{id}/certificate") => Shape::ok(s.of::<CertificateView>()),
        ("POST", "/api/v1/printers/{id}/certificate/trust") => {
            Shape::ok(s.of::<CertificateView>()).with_body(s.of::<TrustCertificate>())
        }
        ("POST", "/api/v1/tickets") => {
            Shape::json(C::CREATED, s.of::<IssuedTicket>()).with_body(s.of::<TicketRequest>())
        }
        ("GET", "/api/v1/locations") => Shape::ok(s.page_of::<LocationView>()),
        ("POST", "/api/v1/locations") => {
            Shape::json(C::CREATED, s.of::<LocationView>()).with_body(s.of::<LocationInput>())
        }
        ("PATCH", "/api/v1/locations/{id}") => {
            Shape::ok(s.of::<LocationView>()).with_body(s.of::<LocationInput>())
        }
        ("GET", "/api/v1/archives") => {
            page_query(archive_query(Shape::ok(s.of::<ArchiveListPage>())))
        }
        ("POST", "/api/v1/archives") => {
            Shape::json(C::CREATED, s.of::<ArchiveView>()).with_body(s.of::<CreateArchive>())
        }
        ("GET", "/api/v1/archives/export.csv") => archive_query(
            Shape {
                answer: Answer::Text("text/csv; charset=utf-8"),
                ..Shape::empty()
            }
            .with_status(C::OK),
        ),
        ("POST", "/api/v1/archives/purge") => {
            Shape::ok(s.of::<PurgeOutcome>()).with_body(s.of::<PurgeArchives>())
        }
        ("GET", "/api/v1/archives/{id}") => Shape::ok(s.of::<ArchiveView>()),
        ("PATCH", "/api/v1/archives/{id}") => {
            Shape::ok(s.of::<ArchiveView>()).with_body(s.of::<ArchivePatchInput>())
        }
        ("DELETE", "/api/v1/archives/{id}") => Shape::empty(),
        ("GET", "/api/v1/archives/{id}/thumbnail") => archive_picture("image/png"),
        ("GET", "/api/v1/archives/{id}/snapshot") => archive_picture("image/jpeg"),
        ("GET", "/api/v1/archives/{id}/photos/{photo_id}") => archive_picture("image/*"),
        ("POST", "/api/v1/archives/{id}/photos") => Shape {
            body: Some((
                ObjectBuilder::new()
                    .property(
                        "file",
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary))),
                    )
                    .required("file")
                    .into(),
                true,
            )),
            body_type: "multipart/form-data",
            ..Shape::json(C::CREATED, s.of::<ArchiveView>())
        },
        ("DELETE", "/api/v1/archives/{id}/photos/{photo_id}") => Shape::empty(),
        ("POST", "/api/v1/archives/{id}/reprint") => {
            Shape::json(C::CREATED, s.of::<QueueItemView>())
                .with_optional_body(s.of::<ReprintInput>())
        }
        ("GET", "/api/v1/queue") => page_query(Shape::ok(s.paged_of::<QueueItemView>()))
            .with_query(
                "state",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(pw_app::QUEUE_STATES))
                    .into(),
                "Only items in this state",
            )
            .with_query(
                "printer_id",
                ObjectBuilder::new().schema_type(Type::Integer).into(),
                "Only items for (or taken by) this printer",
            ),
        ("POST", "/api/v1/queue") => {
            Shape::json(C::CREATED, s.of::<QueueItemView>()).with_body(s.of::<CreateQueueItem>())
        }
        ("POST", "/api/v1/queue/reorder") => Shape::empty().with_body(s.of::<ReorderQueue>()),
        ("GET", "/api/v1/queue/pause") => Shape::ok(s.of::<QueuePauseView>()),
        ("POST", "/api/v1/queue/pause" | "/api/v1/queue/resume") => {
            Shape::ok(s.of::<QueuePauseView>()).with_optional_body(s.of::<PauseInput>())
        }
        ("POST", "/api/v1/queue/ams-mapping") => {
            Shape::ok(s.page_of::<Proposal>()).with_body(s.of::<AmsProposalInput>())
        }
        ("GET", "/api/v1/queue/{id}") => Shape::ok(s.of::<QueueItemView>()),
        ("PATCH", "/api/v1/queue/{id}") => {
            Shape::ok(s.of::<QueueItemView>()).with_body(s.of::<UpdateQueueItem>())
        }
        ("DELETE", "/api/v1/queue/{id}") => Shape::empty(),
        ("GET", "/api/v1/projects") => page_query(Shape::ok(s.paged_of::<ProjectView>())),
        ("POST", "/api/v1/projects") => {
            Shape::json(C::CREATED, s.of::<ProjectView>()).with_body(s.of::<CreateProject>())
        }
        ("GET", "/api/v1/projects/{id}") => Shape::ok(s.of::<ProjectView>()),
        ("PATCH", "/api/v1/projects/{id}") => {
            Shape::ok(s.of::<ProjectView>()).with_body(s.of::<UpdateProject>())
        }
        (
            "DELETE",
            "/api/v1/projects/{id}" | "/api/v1/projects/{id}/members/{kind}/{member_id}",
        ) => Shape::empty(),
        ("GET", "/api/v1/projects/{id}/members") => Shape::ok(s.of::<ProjectMembersView>()),
        ("POST", "/api/v1/projects/{id}/members") => {
            Shape::ok(s.of::<ProjectMembersView>()).with_body(s.of::<ProjectMembersInput>())
        }
        ("GET", "/api/v1/webhooks") => page_query(Shape::ok(s.paged_of::<WebhookView>())),
        ("POST", "/api/v1/webhooks") => {
            Shape::json(C::CREATED, s.of::<WebhookView>()).with_body(s.of::<CreateWebhook>())
        }
        ("PATCH", "/api/v1/webhooks/{id}") => {
            Shape::ok(s.of::<WebhookView>()).with_body(s.of::<UpdateWebhook>())
        }
        ("POST", "/api/v1/webhooks/{id}/test") => Shape::ok(s.of::<TestOutcome>()),
        ("GET", "/api/v1/library/files") => page_query(Shape::ok(s.paged_of::<LibraryFileView>()))
            .with_query(
                "folder_id",
                string(),
                "A folder id, or `root` for the top level; absent = every folder",
            )
            .with_query(
                "q",
                string(),
                "Text found in names and tags (case-insensitive)",
            )
            .with_query(
                "sort",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["name", "-name", "date", "-date", "size", "-size"]))
                    .into(),
                "Order; `-` = descending; default `-date` (newest first)",
            ),
        ("POST", "/api/v1/library/files") => Shape {
            body: Some((
                ObjectBuilder::new()
                    .property(
                        "file",
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary))),
                    )
                    .required("file")
                    .property("folder_id", ObjectBuilder::new().schema_type(Type::Integer))
                    .into(),
                true,
            )),
            body_type: "multipart/form-data",
            ..Shape::json(C::CREATED, s.of::<LibraryFileView>())
        },
        ("GET", "/api/v1/library/files/{id}") => Shape::ok(s.of::<LibraryFileView>()),
        ("PATCH", "/api/v1/library/files/{id}") => {
            Shape::ok(s.of::<LibraryFileView>()).with_body(s.of::<UpdateLibraryFile>())
        }
        ("DELETE", "/api/v1/library/files/{id}") | ("DELETE", "/api/v1/library/folders/{id}") => {
            Shape::empty()
        }
        ("GET", "/api/v1/library/files/{id}/download") => Shape {
            answer: Answer::Text("application/octet-stream"),
            ..Shape::empty()
        }
        .with_status(C::OK)
        .with_extra(
            C::PARTIAL_CONTENT,
            "The one range asked with `Range: bytes=`, with `Content-Range`",
            Answer::Text("application/octet-stream"),
        )
        .with_extra(
            C::RANGE_NOT_SATISFIABLE,
            "The range lies outside the file (`Content-Range: bytes */SIZE`)",
            Answer::Error,
        ),
        ("POST", "/api/v1/library/files/{id}/print") => {
            Shape::json(C::ACCEPTED, s.of::<LibraryPrintStarted>())
                .with_body(s.of::<PrintLibraryFile>())
        }
        ("GET", "/api/v1/library/files/{id}/plates/{plate}/thumbnail") => Shape {
            answer: Answer::Images(&["image/png", "image/jpeg"]),
            ..Shape::empty()
        }
        .with_status(C::OK)
        .with_query(
            "v",
            string(),
            "The content version the URL was made for; a stale one is a 404",
        ),
        ("GET", "/api/v1/library/folders") => Shape::ok(s.page_of::<LibraryFolderView>()),
        ("POST", "/api/v1/library/folders") => Shape::json(C::CREATED, s.of::<LibraryFolderView>())
            .with_body(s.of::<CreateLibraryFolder>()),
        ("PATCH", "/api/v1/library/folders/{id}") => {
            Shape::ok(s.of::<LibraryFolderView>()).with_body(s.of::<UpdateLibraryFolder>())
        }
        ("GET", "/api/v1/library/usage") => Shape::ok(s.of::<LibraryUsageView>()),
        ("POST", "/api/v1/library/purge") => {
            Shape::ok(s.of::<LibraryPurged>()).with_body(s.of::<LibraryPurge>())
        }
        // --- printer groups (issue 16)
        ("GET", "/api/v1/printer-groups") => Shape::ok(s.page_of::<PrinterGroupView>()),
        ("POST", "/api/v1/printer-groups") => Shape::json(C::CREATED, s.of::<PrinterGroupView>())
            .with_body(s.of::<PrinterGroupInput>()),
        ("GET", "/api/v1/printer-groups/{id}") => Shape::ok(s.of::<PrinterGroupView>()),
        ("PATCH", "/api/v1/printer-groups/{id}") => {
            Shape::ok(s.of::<PrinterGroupView>()).with_body(s.of::<PrinterGroupInput>())
        }
        ("DELETE", "/api/v1/printer-groups/{id}") => Shape::empty(),
        _ => return None,
    })
}

impl Shape {
    fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// With one more answer (documented beside the success one).
    fn with_extra(mut self, status: StatusCode, description: &'static str, answer: Answer) -> Self {
        self.extra.push(Extra {
            status,
            description,
            answer,
        });
        self
    }
}

/// `?limit=&cursor=` of a list paged in SQL.
fn page_query(shape: Shape) -> Shape {
    shape
        .with_query(
            "limit",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(pw_app::MAX_LIMIT))
                .into(),
            "Page size (default 50); out of range is a 400",
        )
        .with_query(
            "cursor",
            string(),
            "The `next` of the previous page; a cursor that does not decode is a 400",
        )
}

fn audit_query(shape: Shape) -> Shape {
    let time = || -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .into()
    };
    shape
        .with_query("actor", string(), "Actor name")
        .with_query("event", string(), "Event name, or a prefix ending in `.`")
        .with_query("since", time(), "RFC 3339 lower bound")
        .with_query("until", time(), "RFC 3339 upper bound (exclusive)")
}

/// A stored picture of an archive entry, optionally addressed by its content hash.
fn archive_picture(content_type: &'static str) -> Shape {
    Shape {
        answer: Answer::Text(content_type),
        ..Shape::empty()
    }
    .with_status(StatusCode::OK)
    .with_query(
        "v",
        string(),
        "The content hash the URL was made for (then cached immutable); another one is a 404",
    )
}

/// The archive list's (and export's) filters.
fn archive_query(shape: Shape) -> Shape {
    let time = || -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .into()
    };
    shape
        .with_query(
            "printer_id",
            ObjectBuilder::new().schema_type(Type::Integer).into(),
            "Only this printer's entries",
        )
        .with_query(
            "outcome",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(pw_app::OUTCOMES))
                .into(),
            "Only entries with this outcome",
        )
        .with_query(
            "user",
            string(),
            "Only prints started by this user: an id, or the name kept on the entry",
        )
        .with_query(
            "q",
            string(),
            "A piece of the file name, printer name or notes (ASCII letters in either case)",
        )
        .with_query("since", time(), "RFC 3339: started at or after")
        .with_query("until", time(), "RFC 3339: started before")
}

/// `GET /api/v1/users/{id}`: the user plus counts of what they created.
fn user_detail(s: &mut Schemas) -> RefOr<Schema> {
    let user = s.of::<UserView>();
    let items = ObjectBuilder::new()
        .property(
            "items",
            ArrayBuilder::new().items(
                ObjectBuilder::new()
                    .property("kind", ObjectBuilder::new().schema_type(Type::String))
                    .required("kind")
                    .property("count", ObjectBuilder::new().schema_type(Type::Integer))
                    .required("count"),
            ),
        )
        .required("items");
    AllOfBuilder::new().item(user).item(items).into()
}

/// The error envelope every 4xx/5xx answer carries.
fn error_envelope() -> RefOr<Schema> {
    let text = || ObjectBuilder::new().schema_type(Type::String);
    ObjectBuilder::new()
        .property(
            "error",
            ObjectBuilder::new()
                .property("code", text())
                .required("code")
                .property("message", text())
                .required("message")
                .property("request_id", text())
                .required("request_id"),
        )
        .required("error")
        .into()
}

const COOKIE: &str = "session_cookie";
const BEARER: &str = "api_key";

/// Who may call: public rows need nothing; session rows the cookie; others cookie or key.
fn security(access: Access) -> (Vec<SecurityRequirement>, String) {
    let need = |r: Requirement| {
        match r {
        Requirement::Authenticated => "any signed-in user".to_owned(),
        Requirement::Enrol => {
            "any signed-in user, also a session that must first set up the second factor its group requires".to_owned()
        }
        Requirement::Permission(p) => format!("permission `{p}`"),
    }
    };
    match access {
        Access::Public { reason } => (Vec::new(), format!("Public: {reason}.")),
        Access::Session(r) => (
            vec![SecurityRequirement::new::<_, _, &str>(COOKIE, [])],
            format!("Browser session only; {}.", need(r)),
        ),
        Access::SessionOrKey(r) => (
            vec![
                SecurityRequirement::new::<_, _, &str>(COOKIE, []),
                SecurityRequirement::new::<_, _, &str>(BEARER, []),
            ],
            format!("Session or API key; {}.", need(r)),
        ),
        Access::Camera { .. } => (
            Vec::new(),
            "Camera credentials: session, API key, ?token= or a camera ticket.".to_owned(),
        ),
        Access::Ticket(purpose) => (
            Vec::new(),
            format!("A single-use ticket for {purpose:?} (`?ticket=`, from POST /api/v1/tickets)."),
        ),
    }
}

fn tag_of(path: &str) -> String {
    path.trim_start_matches("/api/v1/")
        .split('/')
        .next()
        .filter(|_| path.starts_with("/api/v1/"))
        .unwrap_or("probes")
        .to_owned()
}

fn method_of(m: &str) -> Option<HttpMethod> {
    Some(match m {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "PATCH" => HttpMethod::Patch,
        "DELETE" => HttpMethod::Delete,
        _ => return None,
    })
}

/// Rows the document describes: the JSON API and the probes, not the document itself.
fn documented(row: &RouteSpec) -> bool {
    matches!(row.kind, Kind::Api | Kind::Probe)
        && row.path != DOCUMENT_PATH
        && !row.path.starts_with("/api/docs")
        // WebSocket upgrades (ticket routes) are not request/response operations.
        && !matches!(row.access, Access::Ticket(_) | Access::Camera { .. })
}

/// Rows of the table the document cannot describe yet (for the coverage test).
#[must_use]
pub fn undocumented() -> Vec<&'static RouteSpec> {
    let mut s = Schemas::default();
    ROUTES
        .iter()
        .filter(|r| documented(r) && shape(&mut s, r.method, r.path).is_none())
        .collect()
}

/// The error answers every operation may give, as shared components.
const ERRORS: &[(u16, &str, &str)] = &[
    (
        400,
        "BadRequest",
        "Invalid input; the message says what to fix",
    ),
    (401, "Unauthenticated", "No valid credentials"),
    (
        403,
        "Forbidden",
        "Not allowed (permission, CSRF origin, or a browser session is required)",
    ),
    (404, "NotFound", "Not found, or not visible to the caller"),
    (405, "MethodNotAllowed", "Method not allowed"),
    (409, "Conflict", "Conflicts with the current state"),
    (413, "TooLarge", "Body too large"),
    (415, "UnsupportedMediaType", "Body is not JSON"),
    (421, "Misdirected", "Host not served here"),
    (422, "Unprocessable", "Body does not match the schema"),
    (429, "RateLimited", "Rate limited; see Retry-After"),
    (503, "Unavailable", "Temporarily unavailable"),
];

/// One answer of an operation, as documented.
fn response(answer: Answer, description: &str) -> ResponseBuilder {
    let builder = ResponseBuilder::new().description(description);
    match answer {
        Answer::Json(schema) => builder.content(
            "application/json",
            ContentBuilder::new().schema(Some(*schema)).build(),
        ),
        Answer::Text(media) => {
            builder.content(media, ContentBuilder::new().schema(Some(string())).build())
        }
        Answer::Error => builder.content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Error")))
                .build(),
        ),
        Answer::Images(media) => media.iter().fold(builder, |b, m| {
            b.content(
                *m,
                ContentBuilder::new()
                    .schema(Some(
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary))),
                    ))
                    .build(),
            )
        }),
        Answer::Empty => ResponseBuilder::new().description("Done; no body"),
    }
}

fn operation(row: &RouteSpec, shape: Shape) -> utoipa::openapi::path::Operation {
    let (security, access) = security(row.access);
    let mut op = OperationBuilder::new()
        .summary(Some(row.summary))
        .description(Some(access))
        .operation_id(Some(format!(
            "{}_{}",
            row.method.to_ascii_lowercase(),
            row.path
                .trim_start_matches('/')
                .replace(['/', '-'], "_")
                .replace(['{', '}'], "")
        )))
        .tag(tag_of(row.path));
    if !security.is_empty() {
        op = op.securities(Some(security));
    }
    for segment in row.path.split('/') {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            op = op.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(if name == "id" {
                        ObjectBuilder::new()
                            .schema_type(Type::Integer)
                            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                            .minimum(Some(1))
                    } else {
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .min_length(Some(1))
                    })),
            );
        }
    }
    for q in shape.query {
        op = op.parameter(
            ParameterBuilder::new()
                .name(q.name)
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(q.description))
                .schema(Some(q.schema)),
        );
    }
    if let Some((schema, required)) = shape.body {
        op = op.request_body(Some(
            RequestBodyBuilder::new()
                .content(
                    shape.body_type,
                    ContentBuilder::new().schema(Some(schema)).build(),
                )
                .required(Some(if required {
                    Required::True
                } else {
                    Required::False
                }))
                .build(),
        ));
    }
    let ok = response(shape.answer, "Success");
    op = op.response(shape.status.as_u16().to_string(), ok.build());
    for extra in shape.extra {
        op = op.response(
            extra.status.as_u16().to_string(),
            response(extra.answer, extra.description).build(),
        );
    }
    for (code, name, _) in ERRORS {
        if row.path == "/readyz" && *code == 503 {
            // Readiness answers 503 with its own small body.
            op = op.response(
                "503",
                ResponseBuilder::new()
                    .description("Not ready")
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(status_object(&["unavailable"])))
                            .build(),
                    )
                    .build(),
            );
            continue;
        }
        op = op.response(
            code.to_string(),
            Ref::new(format!("#/components/responses/{name}")),
        );
    }
    op.build()
}

/// The whole document.
#[must_use]
pub fn document() -> OpenApi {
    let mut schemas = Schemas::default();
    let mut by_path: BTreeMap<&str, Vec<(HttpMethod, utoipa::openapi::path::Operation)>> =
        BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for row in ROUTES.iter().filter(|r| documented(r)) {
        let (Some(method), Some(shape)) = (
            method_of(row.method),
            shape(&mut schemas, row.method, row.path),
        ) else {
            continue;
        };
        if !by_path.contains_key(row.path) {
            order.push(row.path);
        }
        by_path
            .entry(row.path)
            .or_default()
            .push((method, operation(row, shape)));
    }
    let mut paths = Paths::new();
    for path in order {
        for (method, op) in by_path.remove(path).unwrap_or_default() {
            paths.add_path_operation(path, vec![method], op);
        }
    }
    let mut components = Components::new();
    components.schemas = schemas.0;
    components
        .schemas
        .insert("Error".to_owned(), error_envelope());
    let envelope: RefOr<Schema> = Ref::from_schema_name("Error").into();
    for (_, name, what) in ERRORS {
        components.responses.insert(
            (*name).to_owned(),
            ResponseBuilder::new()
                .description(*what)
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(envelope.clone())).build(),
                )
                .build()
                .into(),
        );
    }
    components.add_security_scheme(
        COOKIE,
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            "__Host-pw_session",
            "The browser session cookie (`pw_session` on plain-HTTP deployments). State-changing requests with it also need an Origin of this server.",
        ))),
    );
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("pwk_<id>_<secret>")
                .description(Some(
                    "An API key, as `Authorization: Bearer` (or `X-API-Key`).",
                ))
                .build(),
        ),
    );
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("printwarden")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The printwarden HTTP API. Generated from the route table; every operation \
                     lists who may call it. Errors are `{\"error\": {\"code\", \"message\", \"request_id\"}}`.",
                ))
                .build(),
        )
        .paths(paths)
        .components(Some(components))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_api_and_probe_row_is_documented() {
        let missing: Vec<_> = undocumented()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert!(
            missing.is_empty(),
            "rows without an OpenAPI shape: {missing:?}"
        );
    }

    #[test]
    fn every_reference_resolves_and_security_matches_the_table() {
        let doc = document();
        let json = serde_json::to_value(&doc).unwrap();
        let text = json.to_string();
        let schemas = json["components"]["schemas"].as_object().unwrap();
        for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = piece.split('"').next().unwrap();
            assert!(schemas.contains_key(name), "dangling $ref {name}");
        }
        let responses = json["components"]["responses"].as_object().unwrap();
        for piece in text.split("\"$ref\":\"#/components/responses/").skip(1) {
            let name = piece.split('"').next().unwrap();
            assert!(
                responses.contains_key(name),
                "dangling response $ref {name}"
            );
        }
        assert!(text.contains("#/components/responses/"));
        // A public route has no security requirement; a permission route names it.
        let health = &json["paths"]["/healthz"]["get"];
        assert!(health.get("security").is_none());
        let users = &json["paths"]["/api/v1/users"]["get"];
        assert_eq!(users["security"].as_array().unwrap().len(), 2);
        assert!(
            users["description"]
                .as_str()
                .unwrap()
                .contains("users:read")
        );
        let logout = &json["paths"]["/api/v1/auth/logout"]["post"];
        assert_eq!(logout["security"].as_array().unwrap().len(), 1);
    }
}
