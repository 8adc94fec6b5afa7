//! The console's files, compiled in. They are what the browser runs as they are: our own ES
//! modules and the vendored libraries' release builds (licenses in `vendor/LICENSES.txt`).

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

macro_rules! files {
    ($($path:literal => $kind:literal,)*) => {
        const FILES: &[(&str, &str, &[u8])] = &[
            $(($path, $kind, include_bytes!(concat!("../assets/", $path))),)*
        ];
    };
}

files! {
    "index.html" => "text/html; charset=utf-8",
    "app.js" => "text/javascript; charset=utf-8",
    "api.js" => "text/javascript; charset=utf-8",
    "charts.js" => "text/javascript; charset=utf-8",
    "pages/overview.js" => "text/javascript; charset=utf-8",
    "pages/stream.js" => "text/javascript; charset=utf-8",
    "pages/delivery.js" => "text/javascript; charset=utf-8",
    "pages/application.js" => "text/javascript; charset=utf-8",
    "pages/video.js" => "text/javascript; charset=utf-8",
    "ui.js" => "text/javascript; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
    "vendor/htm-preact-standalone.mjs" => "text/javascript; charset=utf-8",
    "vendor/uPlot.esm.js" => "text/javascript; charset=utf-8",
    "vendor/uPlot.min.css" => "text/css; charset=utf-8",
    "vendor/aws4fetch.mjs" => "text/javascript; charset=utf-8",
    "vendor/LICENSES.txt" => "text/plain; charset=utf-8",
}

/// A console file, or a 404.
pub fn serve(path: &str) -> Response {
    match FILES.iter().find(|(p, _, _)| *p == path) {
        Some((_, kind, body)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
                // Revalidated on every load: a new binary's pages show at once.
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such console file").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_each_file_with_its_type_and_refuses_others() {
        let page = serve("index.html");
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(
            page.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let body = axum::body::to_bytes(page.into_body(), usize::MAX)
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&body).contains("app.js"));
        assert_eq!(serve("../Cargo.toml").status(), StatusCode::NOT_FOUND);
        assert_eq!(serve("vendor/").status(), StatusCode::NOT_FOUND);
    }
}
