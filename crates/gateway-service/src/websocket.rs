//! WebSocket (and any `Upgrade`) tunnelling: once the backend answers 101, the client's and
//! the backend's upgraded connections are joined byte for byte until either side closes.

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

/// Joins the client's upgraded connection to the backend's, in the background.
pub fn tunnel<B>(client_side: OnUpgrade, backend_response: &mut axum::http::Response<B>) {
    let backend_side = hyper::upgrade::on(backend_response);
    tokio::spawn(async move {
        let (Ok(client), Ok(backend)) = tokio::join!(client_side, backend_side) else {
            return;
        };
        let _ =
            tokio::io::copy_bidirectional(&mut TokioIo::new(client), &mut TokioIo::new(backend))
                .await;
    });
}
