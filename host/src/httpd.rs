//! The HTTP server loop: hyper with read timeouts (a client gets
//! `server.header_timeout_secs` to send its headers, then the connection
//! is closed; `server.body_timeout_secs` to send the whole body), serving
//! whichever router is current (the start-up router answers `/health` and
//! `/ready` while plugins load), with graceful shutdown.

use axum::Router;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// How long shutdown waits for open requests before it stops anyway.
const DRAIN: Duration = Duration::from_secs(5);

/// A request body that fails once `timeout` has passed since its headers
/// arrived (a slow-loris body cannot hold a handler past it).
pub struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timeout: Duration,
}

/// The error a [`DeadlineBody`] fails with.
#[derive(Debug, thiserror::Error)]
#[error("request body timed out: not complete within {0:?} (server.body_timeout_secs)")]
pub struct BodyTimeout(pub Duration);

impl Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|r| r.map_err(Into::into)));
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTimeout(this.timeout)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether `e` (or what caused it) is a [`BodyTimeout`].
pub fn is_body_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<BodyTimeout>() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Serve `listener` with the router `router` holds at each request, until
/// `shutdown` resolves; then let open requests finish (at most [`DRAIN`]).
pub async fn serve(
    listener: TcpListener,
    router: watch::Receiver<Router>,
    header_timeout: Duration,
    body_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Some(header_timeout));
    builder.http2().timer(TokioTimer::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let router = router.clone();
        let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let current = router.borrow().clone();
            let req = req.map(|inner| {
                axum::body::Body::new(DeadlineBody {
                    inner,
                    deadline: Box::pin(tokio::time::sleep(body_timeout)),
                    timeout: body_timeout,
                })
            });
            current.oneshot(req)
        });
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(DRAIN) => tracing::info!("shutdown: stopped waiting for open requests"),
    }
}
