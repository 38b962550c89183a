//! The application error: a public kind (mapped to an HTTP status and a safe message by the
//! HTTP layer) and, for server-side failures, a private cause that only the log sees.

use pw_store::StoreError;

/// What went wrong in a use case.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Input was invalid; the message is safe to show and says what to fix.
    #[error("{0}")]
    BadRequest(String),
    /// No credentials, or invalid ones.
    #[error("authentication required")]
    Unauthenticated,
    /// A password or code the caller typed is wrong; the message is safe to show. The edge
    /// counts it against the throttle of that check (reserve before verify), so a use case
    /// says "wrong secret" with this variant and nothing else.
    #[error("{0}")]
    WrongSecret(String),
    /// The SSRF guard refuses this URL; the message says why and is safe to show.
    #[error("{0}")]
    UrlNotAllowed(String),
    /// The request is larger than allowed; the message is safe to show and says the limit.
    #[error("{0}")]
    TooLarge(String),
    /// Authenticated but not allowed.
    #[error("not allowed")]
    Forbidden,
    /// The caller's group requires a sign-in factor this credential has not shown; the only
    /// way on is to set it up (issue 19).
    #[error("second factor required first")]
    EnrolFirst(pw_domain::SignInRequirement),
    /// Does not exist, or the caller may not know it exists.
    #[error("not found")]
    NotFound,
    /// The request conflicts with the current state; the message is safe to show.
    #[error("{0}")]
    Conflict(String),
    /// A dependency (the database) is unavailable right now.
    #[error("service unavailable")]
    Unavailable(#[source] StoreError),
    /// A service outside printwarden that this request needs (the sign-in directory) cannot
    /// be used right now; the message is safe to show and says what still works.
    #[error("{0}")]
    ServiceUnavailable(String),
    /// Too many attempts of something limited in the database (emailed codes); the message
    /// is safe to show.
    #[error("rate limited: {0}")]
    RateLimited(String),
    /// A bug or an unexpected failure; details only in the log.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        if let StoreError::LastAdministrator = e {
            return AppError::Conflict(
                "This would leave no active administrator. Make another user an administrator first."
                    .into(),
            );
        }
        if e.is_unavailable() {
            AppError::Unavailable(e)
        } else {
            AppError::Internal(Box::new(e))
        }
    }
}
