//! Use cases. Every operation takes the caller's [`Actor`], asks [`pw_policy::authorize`]
//! before touching data, and talks to the store; the HTTP and web layers only translate
//! requests into these calls. Errors carry a public kind and a private cause.
//!
//! Invariant: a change to what a user may do (password, groups, group permissions, disable,
//! delete) revokes their sessions in the store transaction that makes it, then drops them from
//! the in-memory principal cache and publishes a [`Revocation`] for live connections.

mod accounts;
mod auth;
mod cloud;
mod core;
mod farm;
mod notify;
mod system;

pub use accounts::owned;
pub use system::audit::event as audit_event;
pub use system::backup;
pub use system::import::{ImportReport, ImportTool};
pub use system::outbound;

pub use self::core::actor::{Actor, Presented, RequestMeta};
pub use self::core::app::{App, AppConfig, Done};
pub use self::core::clock::{Clock, ManualClock, SystemClock, parse_rfc3339, rfc3339};
pub use self::core::error::AppError;
pub use self::core::page::{DEFAULT_LIMIT, MAX_LIMIT, Page, PageParams};
pub use self::core::tasks::{Starts, Task, background_tasks_markdown};
pub use accounts::groups::{GroupInput, GroupPatchInput, GroupView, PermissionCategoryView};
pub use accounts::owned::OwnedItems;
pub use accounts::users::{CreateUser, DeletePreview, UpdateUser, UserView};
pub use auth::api_keys::{ApiKeyView, CreateApiKey, CreatedApiKey};
pub use auth::ldap::{
    LdapGroupMapping, LdapSettingsInput, LdapSettingsView, LdapTestOutcome, LdapTestRequest,
    LdapTestStep,
};
pub use auth::live::Revocation;
pub use auth::live::{LiveCredential, LiveUpdates, RECHECK_EVERY};
pub use auth::mfa::{
    BackupCodesView, CHALLENGE_LIFETIME_MS, ChallengeIssued, MfaMethod, OpenChallenge, SignIn,
    TotpSetupView,
};
pub use auth::oidc::{
    OidcCallback, OidcDone, OidcGroupMapping, OidcLinkView, OidcProviderButton, OidcProviderInput,
    OidcProviderView, OidcReauth, OidcStart, SIGN_IN_FAILED as OIDC_SIGN_IN_FAILED,
    STATE_TTL_MS as OIDC_STATE_TTL_MS,
};
pub use auth::passkeys::{
    AssertionCredential, AssertionResponse, AttestationResponse, MAX_PASSKEYS, PASSKEY_CEREMONY_MS,
    PasskeyCeremony, PasskeyView, RegistrationCredential,
};
pub use auth::sessions::{LoginOutcome, MeView, ProfilePatch, SessionView, SetupRequest};
pub use auth::tickets::{IssuedTicket, TICKET_LIFETIME, TicketRequest};
pub use cloud::{
    CloudCodeInput, CloudConfig, CloudDeviceView, CloudDevicesQuery, CloudDevicesView,
    CloudLinkInput, CloudLinkView, CloudTaskView, CloudTasksView,
};
pub use farm::archive::{
    ArchiveExport, ArchiveImage, ArchiveListPage, ArchiveOutcome, ArchivePatchInput,
    ArchivePhotoUpload, ArchivePhotoView, ArchivePicture, ArchiveQuery, ArchiveRights,
    ArchiveSource, ArchiveView, CreateArchive, FilamentUsed, ImageKind, OUTCOMES, PHOTO_MAX,
    PHOTOS_MAX, PurgeArchives, PurgeOutcome, StartedBy, csv_cell,
};
pub use farm::camera_tokens::{
    CameraTokenView, CreateCameraToken, CreatedCameraToken, MAX_CAMERA_TOKEN_DAYS,
};
pub use farm::cameras::{
    CameraFrame, CameraUse, CameraWatch, MAX_VIDEO_BUFFERED, MAX_VIDEO_FRAGMENT, VideoFragment,
    VideoInit, WatchEnd,
};
pub use farm::fleet::{Connection, PrinterEvent};
pub use farm::library::{ARCHIVE_WAIT, LibraryPrintStarted, PrintLibraryFile};
pub use farm::library::{
    BlobError, BlobStore, CreateLibraryFolder, FilamentView, FsBlobs, LibraryConfig,
    LibraryDownload, LibraryFileQueryParams, LibraryFileView, LibraryFolderView, LibraryOwner,
    LibraryPurge, LibraryPurged, LibraryUpload, LibraryUsageView, PlateThumbnail, PlateView,
    UpdateLibraryFile, UpdateLibraryFolder, UploadedBy,
};
pub use farm::library::{
    ByteRange, DEFAULT_MAX_UPLOAD, PrintTargetView, PurgeScope, printer_model_key,
};
pub use farm::locations::{LocationInput, LocationView};
pub use farm::printer_groups::{PrinterGroupInput, PrinterGroupView};
pub use farm::printers::{
    CapabilitiesView, CertificateView, CommandInput, CommandOutcome, CreatePrinter, Glance,
    MAX_PRINT_FILE, PrintUpload, PrinterDownload, PrinterFile, PrinterRights, PrinterView,
    StatusView, TemperatureView, TrayView, TrustCertificate, UpdatePrinter,
};
pub use farm::probe::{CheckOutcome, CheckPrinter, PrinterCheck};
pub use farm::projects::{
    CreateProject, ProjectArchiveMember, ProjectCreator, ProjectFileInput, ProjectFileMember,
    ProjectListQuery, ProjectMembersInput, ProjectMembersView, ProjectProgress, ProjectQueueMember,
    ProjectView, RemovedMember, UpdateProject,
};
#[cfg(feature = "bench")]
pub use farm::queue::bench::BenchPrinter;
pub use farm::queue::{
    AddedBy, AmsAssignment, AmsProposalInput, CreateQueueItem, LanePause, PauseInput, PrintOptions,
    PrintOptionsInput, Proposal, QUEUE_STATES, QueueItemView, QueueListQuery, QueueOwner,
    QueuePauseView, QueueRights, QueueTargetInput, QueueTargetView, ReorderQueue, ReprintInput,
    UpdateQueueItem,
};
pub use notify::email::{
    EmailSettingsInput, EmailSettingsView, MailSecurity, TemplateView, TestEmail, TestEmailOutcome,
};
pub use notify::events::{NoticeEvent, NoticeGroup, may_subscribe, notice_events_markdown};
pub use notify::print_mail::{MailPreferences, PRINT_EVENTS};
pub use notify::templates::{RenderedMail, Template, TemplateName};
pub use notify::webhooks::{
    BacklogView, CreateWebhook, DELIVERY_HEADER, DeliveryTotals, DeliveryView, EVENT_HEADER,
    SIGNATURE_HEADER, TEST_EVENT, TIMESTAMP_HEADER, TestOutcome, UpdateWebhook, WebhookKind,
    WebhookView,
};
pub use pw_credentials::SecretString;
pub use pw_credentials::token::{API_KEY_PREFIX, CAMERA_TOKEN_PREFIX};
pub use system::audit::event::AuditEvent;
pub use system::audit::{AuditPage, AuditQuery, AuditView};
pub use system::instance::{InstanceStatus, Readiness};
pub use system::keys::{
    KeySource, KeyState, KeyStatus, RotateError, RotationReport, SealedCount, key_status,
    rotate_sealed,
};
pub use system::settings::{OutboundSettings, SecuritySettings};
pub use system::tls::{CertificateError, Certificates, TlsSource, TlsStatus, UploadCertificate};
