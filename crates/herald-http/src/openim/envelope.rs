//! The success envelope: `{"errCode":0,"errMsg":"","errDlt":"","data":...}`, always with HTTP 200. Upstream leaves
//! `data` out when the answer has no fields (register, force logout), so [`Reply::empty`] does too.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::OpenImError;

/// What a handler returns.
pub type OpenImResult<T> = Result<Reply<T>, OpenImError>;

pub struct Reply<T>(Option<T>);

impl<T> Reply<T> {
    pub fn data(data: T) -> Self {
        Self(Some(data))
    }
}

impl Reply<()> {
    pub fn empty() -> Self {
        Self(None)
    }
}

#[derive(Serialize)]
struct Envelope<T> {
    #[serde(rename = "errCode")]
    err_code: u32,
    #[serde(rename = "errMsg")]
    err_msg: &'static str,
    #[serde(rename = "errDlt")]
    err_dlt: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<T>,
}

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        Json(Envelope { err_code: 0, err_msg: "", err_dlt: "", data: self.0 }).into_response()
    }
}
