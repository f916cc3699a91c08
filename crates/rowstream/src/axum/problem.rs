//! [`Problem`](crate::http::Problem) as an axum response.

use axum::body::Body;
use axum::response::{IntoResponse, Response};

use crate::http::Problem;

impl IntoResponse for Problem {
    /// [`Problem::to_response`] with axum's body.
    fn into_response(self) -> Response {
        self.to_response::<Body>()
    }
}
