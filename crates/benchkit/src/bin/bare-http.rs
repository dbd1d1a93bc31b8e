//! `bare-http [port]`: serves [`benchkit::FIXED_BODY`] on every path at 127.0.0.1:port
//! (default 18080) until killed.

use axum::{Router, http::header, response::IntoResponse};

async fn fixed() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/hal+json")],
        benchkit::FIXED_BODY,
    )
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(18080);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, Router::new().fallback(fixed)).await
}
