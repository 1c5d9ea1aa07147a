//! Answers for the web frameworks: a [`Claim`] is a 200 with its marker header, an [`Error`] its
//! 503 or 500, the same on axum and actix-web.

#[cfg(feature = "axum")]
mod axum {
    use crate::{Claim, Error};
    use axum_core::response::{IntoResponse, Response};
    use http::header::CONTENT_TYPE;
    use http::{HeaderValue, StatusCode};

    impl IntoResponse for Claim {
        /// 200 with a terse JSON body, and `X-Webhook-Duplicate: true` or
        /// `X-Webhook-Stale: true` when the effects were not applied.
        fn into_response(self) -> Response {
            let mut response = (StatusCode::OK, self.response_body()).into_response();
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            if let Some((name, value)) = self.header() {
                headers.insert(name, HeaderValue::from_static(value));
            }
            response
        }
    }

    impl IntoResponse for Error {
        /// [`Error::status_code`] (503 or 500) with [`Error::body_text`].
        fn into_response(self) -> Response {
            let status = StatusCode::from_u16(self.status_code()).unwrap_or_else(|_| {
                unreachable!("every status the SDK answers with is a valid HTTP status")
            });
            let mut response = (status, self.body_text()).into_response();
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
    }
}

#[cfg(feature = "actix")]
mod actix {
    use crate::{Claim, Error};
    use actix_web::body::BoxBody;
    use actix_web::http::StatusCode;
    use actix_web::{HttpRequest, HttpResponse, Responder, ResponseError};

    impl Responder for Claim {
        type Body = BoxBody;

        /// 200 with a terse JSON body, and `X-Webhook-Duplicate: true` or
        /// `X-Webhook-Stale: true` when the effects were not applied.
        fn respond_to(self, _request: &HttpRequest) -> HttpResponse {
            let mut response = HttpResponse::Ok();
            response.content_type("application/json");
            if let Some(header) = self.header() {
                response.insert_header(header);
            }
            response.body(self.response_body())
        }
    }

    impl ResponseError for Error {
        fn status_code(&self) -> StatusCode {
            StatusCode::from_u16(Error::status_code(self)).unwrap_or_else(|_| {
                unreachable!("every status the SDK answers with is a valid HTTP status")
            })
        }

        fn error_response(&self) -> HttpResponse {
            HttpResponse::build(ResponseError::status_code(self))
                .content_type("application/json")
                .body(self.body_text())
        }
    }
}
