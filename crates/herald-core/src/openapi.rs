//! JSON Schemas of the domain's own value types, for the HTTP layer's OpenAPI document. Written by hand where the
//! type validates itself on construction, so the schema states the same rules from the same constants.

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::ids::USER_ID_MAX_BYTES;
use crate::{Platform, UserId};

impl PartialSchema for UserId {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(format!(
                "A user ID: 1 to {USER_ID_MAX_BYTES} bytes of UTF-8 without control characters."
            )))
            .min_length(Some(1))
            // JSON Schema counts characters; every character takes at least one byte, so this bound holds too.
            .max_length(Some(USER_ID_MAX_BYTES))
            // `char::is_control`: the C0 and C1 control characters.
            .pattern(Some("^[^\\u0000-\\u001F\\u007F-\\u009F]+$"))
            .examples(["alice"])
            .into()
    }
}

impl ToSchema for UserId {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("UserId")
    }
}

impl PartialSchema for Platform {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("A client platform, by Herald's name."))
            .enum_values(Some(Platform::ALL.map(Platform::name)))
            .into()
    }
}

impl ToSchema for Platform {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Platform")
    }
}
