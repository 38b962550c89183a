//! JSON Schema descriptions of the domain's value types for the OpenAPI document (feature
//! `openapi`). Each one says what the type's own `Deserialize` accepts, so a client built from
//! the document sends what the server parses: ids are positive integers, permissions are the
//! catalogue's names.

use std::borrow::Cow;

use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::{
    ApiKeyId, AuditEventId, GroupId, LibraryFileId, LibraryFolderId, LocationId, Permission,
    PrinterId, SessionId, UserId, WebhookId,
};

macro_rules! id_schema {
    ($($name:ident),* $(,)?) => {$(
        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                    .minimum(Some(1))
                    .into()
            }
        }
        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    )*};
}

id_schema!(
    UserId,
    GroupId,
    SessionId,
    ApiKeyId,
    AuditEventId,
    PrinterId,
    LocationId,
    WebhookId,
    LibraryFileId,
    LibraryFolderId
);

impl PartialSchema for Permission {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Permission::ALL.iter().map(|p| p.as_str())))
            .description(Some(
                "A `resource:action` right from the permission catalogue.",
            ))
            .into()
    }
}

impl ToSchema for Permission {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Permission")
    }
}
