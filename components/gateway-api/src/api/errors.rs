//! Errors answered to clients: `{"error": {"code", "message"}}` with their status.

use super::*;

/// An error answered to the client as `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub headers: Vec<(String, String)>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), headers: Vec::new() }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "bad_request", message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, "not_found", message)
    }
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(500, "internal", message)
    }
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(503, "unavailable", message)
    }
    pub(crate) fn unauthorized(message: &str) -> ApiError {
        let mut e = ApiError::new(401, "unauthorized", message);
        e.headers.push(("www-authenticate".into(), "Bearer".into()));
        e
    }

    pub fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorDetail { code: self.code, message: &self.message } };
        let mut r = Response::json(self.status, &body);
        r.headers.extend(self.headers);
        r
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        if e.transient { ApiError::unavailable(e.message) } else { ApiError::internal(e.message) }
    }
}

pub(crate) type Result<T> = std::result::Result<T, ApiError>;
