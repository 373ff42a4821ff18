//! JSON errors of the API: `{"error": "<what is wrong and what to do>"}`. Internal details go to
//! the log, never to the client.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use switchboard_core::office365::ServiceError;
use utoipa::ToSchema;

/// The body of every API error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What is wrong and what to do about it.
    #[schema(example = "The Application (client) ID must be a GUID …")]
    pub error: String,
}

#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    www_authenticate: Option<&'static str>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            www_authenticate: None,
        }
    }

    pub(crate) fn unauthorized(message: impl Into<String>, challenge: &'static str) -> Self {
        Self {
            www_authenticate: Some(challenge),
            ..Self::new(StatusCode::UNAUTHORIZED, message)
        }
    }

    /// Logs `detail` and answers 500 with a message that reveals nothing.
    pub(crate) fn internal(detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal error: the server log has the details. Try again, and report it if it persists.",
        )
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::InvalidId(_) | ServiceError::Invalid(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
            }
            ServiceError::NotReady(_) => Self::new(StatusCode::CONFLICT, e.to_string()),
            ServiceError::UnknownConsentState => Self::new(StatusCode::BAD_REQUEST, e.to_string()),
            ServiceError::Certificate(_) => {
                tracing::error!(error = %e, "key pair generation failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Could not create the key pair: the server log has the details.",
                )
            }
            ServiceError::Vault(_) => {
                tracing::error!(error = %e, "key store failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Could not read or write the private key store: check the data directory's permissions and free space (the server log has the details).",
                )
            }
            ServiceError::Store(_) => Self::internal(&e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response();
        if let Some(challenge) = self.www_authenticate {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}
