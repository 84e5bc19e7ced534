//! The console's files, compiled into the binary so that it needs no network and no files
//! beside it at run time.

use axum::extract::Path;
use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};

use crate::http::HttpError;

const INDEX: &str = include_str!("../assets/index.html");
const FILES: &[(&str, &str, &str)] = &[
    ("app.js", "text/javascript; charset=utf-8", include_str!("../assets/app.js")),
    ("style.css", "text/css; charset=utf-8", include_str!("../assets/style.css")),
];

pub(crate) async fn index() -> Html<&'static str> {
    Html(INDEX)
}

pub(crate) async fn file(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(file, ..)| *file == name) {
        Some((_, content_type, body)) => {
            ([("content-type", *content_type), ("cache-control", "no-cache")], *body).into_response()
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// Unknown API paths answer JSON; anything else is a page the console does not have.
pub(crate) async fn not_found(uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        HttpError::not_found(format!("no API at {}", uri.path())).into_response()
    } else {
        (StatusCode::NOT_FOUND, Html("<h1>Not found</h1><p><a href=\"/\">Brook console</a></p>")).into_response()
    }
}

pub(crate) async fn method_not_allowed(uri: Uri) -> Response {
    HttpError::new(StatusCode::METHOD_NOT_ALLOWED, format!("method not allowed on {}", uri.path())).into_response()
}
