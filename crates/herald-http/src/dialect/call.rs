//! One call of a dialect, whatever the vendor: authenticate the caller, parse the body, let the handler call the
//! service, write the answer. The steps run in that order for every dialect, so which error wins when several
//! things are wrong is the same everywhere: the caller's before the body's, the body's before the service's.

use std::future::Future;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request, State};
use axum::http::Method;
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter, on};
use serde::de::DeserializeOwned;

use crate::AppState;

/// How one dialect carries a call. `R` is what differs between its routes: a code family, or whether the caller
/// must present a token. A dialect whose routes differ in whom they admit implements it once per kind of route,
/// so that each handler receives exactly the caller its route proves.
pub trait Wire<R>: Clone + Send + Sync + 'static {
    /// Who the request proved to be: an app, or a user of an app.
    type Caller: Send + 'static;
    /// What a handler answers on success, before the dialect's envelope is put around it.
    type Reply: Send + 'static;
    /// Why a call failed; [`Wire::answer`] turns it into the dialect's error codes.
    type Fault: Send + 'static;

    /// Check the request's credentials (and the app's rate limit, where the vendor has one) from its head.
    fn authenticate(
        &self,
        route: R,
        state: &AppState,
        request: &Parts,
    ) -> impl Future<Output = Result<Self::Caller, Self::Fault>> + Send;

    /// Read the body, or say why it cannot be read (too large, cut off), into the handler's type.
    fn parse<T: DeserializeOwned>(&self, route: R, body: Result<Bytes, BytesRejection>) -> Result<T, Self::Fault>;

    /// The vendor's envelope around the reply, or its error answer.
    fn answer(&self, route: R, result: Result<Self::Reply, Self::Fault>) -> Response;

    /// Why a request with a method the route does not take (every route takes POST only) fails, in the vendor's
    /// nearest code. Its answer carries the `Allow` header too.
    fn wrong_method(&self, route: R, method: &Method) -> Self::Fault;
}

/// A POST route of `wire`, served by `handler`. The handler receives the authenticated caller and the parsed body
/// and only translates them into a service call.
pub fn route<R, W, T, F, Fut>(wire: &W, route: R, handler: F) -> MethodRouter<AppState>
where
    R: Copy + Send + Sync + 'static,
    W: Wire<R>,
    T: DeserializeOwned + Send + 'static,
    F: Fn(AppState, W::Caller, T) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<W::Reply, W::Fault>> + Send + 'static,
{
    route_on(MethodFilter::POST, wire, route, handler)
}

/// Like [`route`], for a call that clients of the vendor also send as GET (with the same body).
pub fn route_get_or_post<R, W, T, F, Fut>(wire: &W, route: R, handler: F) -> MethodRouter<AppState>
where
    R: Copy + Send + Sync + 'static,
    W: Wire<R>,
    T: DeserializeOwned + Send + 'static,
    F: Fn(AppState, W::Caller, T) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<W::Reply, W::Fault>> + Send + 'static,
{
    route_on(MethodFilter::GET.or(MethodFilter::POST), wire, route, handler)
}

/// The route on `methods`; any other method gets the dialect's wrong-method answer.
fn route_on<R, W, T, F, Fut>(methods: MethodFilter, wire: &W, route: R, handler: F) -> MethodRouter<AppState>
where
    R: Copy + Send + Sync + 'static,
    W: Wire<R>,
    T: DeserializeOwned + Send + 'static,
    F: Fn(AppState, W::Caller, T) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<W::Reply, W::Fault>> + Send + 'static,
{
    let (wire, other_methods) = (wire.clone(), wire.clone());
    on(methods, move |State(state): State<AppState>, request: Request| {
        let (wire, handler) = (wire.clone(), handler.clone());
        async move {
            let result = serve(&wire, route, state, request, handler).await;
            wire.answer(route, result)
        }
    })
    .fallback(move |method: Method| {
        let wire = other_methods.clone();
        async move { wire.answer(route, Err(wire.wrong_method(route, &method))) }
    })
}

async fn serve<R, W, T, F, Fut>(
    wire: &W,
    route: R,
    state: AppState,
    request: Request,
    handler: F,
) -> Result<W::Reply, W::Fault>
where
    R: Copy,
    W: Wire<R>,
    T: DeserializeOwned,
    F: Fn(AppState, W::Caller, T) -> Fut,
    Fut: Future<Output = Result<W::Reply, W::Fault>>,
{
    let (head, body) = request.into_parts();
    let caller = wire.authenticate(route, &state, &head).await?;
    // Parsed only once the caller is known, so a caller's error wins over its body's. Reading through the request
    // keeps the node's body size limit.
    let body = Bytes::from_request(Request::from_parts(head, body), &state).await;
    let body = wire.parse(route, body)?;
    handler(state, caller, body).await
}
