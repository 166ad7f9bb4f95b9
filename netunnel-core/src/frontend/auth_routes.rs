//! Authentication on the server: a middleware that asks the plugin about every
//! request but `POST /authenticate`, and that route itself.

use http_types::StatusCode;
use tide::{Next, Request, Response};

use super::http_server::{OverTls, State};
use crate::auth::AuthRequest;
use crate::instance::{record, TARGET_SERVER};

/// Largest `/authenticate` body read.
const MAX_BODY: u64 = 64 * 1024;

fn describe(req: &Request<State>, body: Vec<u8>) -> AuthRequest {
    let headers = req
        .iter()
        .flat_map(|(name, values)| {
            values
                .iter()
                .map(|value| (name.as_str().to_string(), value.as_str().to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    AuthRequest {
        method: req.method().to_string(),
        path: req.url().path().to_string(),
        query: req.url().query().unwrap_or_default().to_string(),
        headers,
        remote_addr: req.peer_addr().map(str::to_string),
        scheme: match req.ext::<OverTls>() {
            Some(OverTls(true)) => "https",
            _ => "http",
        },
        body,
    }
}

/// Refuses (403, not JSON) what the plugin does not authenticate.
pub(super) struct RequireAuth;

#[tide::utils::async_trait]
impl tide::Middleware<State> for RequireAuth {
    async fn handle(&self, req: Request<State>, next: Next<'_, State>) -> tide::Result {
        if req.url().path() == "/authenticate" {
            return Ok(next.run(req).await);
        }
        let request = describe(&req, Vec::new());
        if req.state().auth().is_authenticated(&request).await {
            return Ok(next.run(req).await);
        }
        req.state()
            .count_refusal(crate::metrics::Refusal::Unauthorized);
        record!(
            debug,
            TARGET_SERVER,
            "unauthenticated {} {} refused",
            request.method,
            request.path
        );
        let mut res = Response::new(StatusCode::Forbidden);
        res.set_body("403: Forbidden");
        Ok(res)
    }
}

/// `POST /authenticate`, answered by the plugin.
pub(super) async fn authenticate(mut req: Request<State>) -> tide::Result {
    let body = match super::http_server::read_body(&mut req, MAX_BODY).await {
        Ok(body) => body,
        Err(err) => return Ok(super::http_server::error_response(&err)),
    };
    let request = describe(&req, body);
    let answer = req.state().auth().authenticate(&request).await;
    if matches!(answer.status, 401 | 403) {
        req.state()
            .count_refusal(crate::metrics::Refusal::Unauthorized);
    }
    let mut res = Response::new(
        StatusCode::try_from(answer.status).unwrap_or(StatusCode::InternalServerError),
    );
    for (name, value) in &answer.headers {
        res.insert_header(name.as_str(), value.as_str());
    }
    res.set_body(answer.body);
    if let Some((_, value)) = answer
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        res.insert_header("Content-Type", value.as_str());
    }
    Ok(res)
}
