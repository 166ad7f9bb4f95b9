//! The `/peers` routes.

use serde_json::Value;
use tide::Request;

use super::http_server::{empty_response, id_param, read_json, reply, to_json, State};

/// Adds the peer routes to `app`.
pub(super) fn add(app: &mut tide::Server<State>) {
    app.at("/peers").get(list).post(register);
    app.at("/peers/:pid").get(get).post(update).delete(delete);
    app.at("/peers/:pid/static_tunnels")
        .get(list_static)
        .post(create_static);
    app.at("/peers/:pid/static_tunnels/:sid")
        .get(get_static)
        .delete(delete_static);
}

async fn list(req: Request<State>) -> tide::Result {
    let name = req
        .url()
        .query_pairs()
        .find(|(key, _)| key == "name")
        .map(|(_, value)| value.into_owned());
    reply(to_json(&req.state().peers().list(name.as_deref())))
}

async fn get(req: Request<State>) -> tide::Result {
    reply(async { to_json(&req.state().peers().get(id_param(&req, "pid")?)?) }.await)
}

async fn register(mut req: Request<State>) -> tide::Result {
    reply(
        async {
            let body: Value = read_json(&mut req).await?;
            let new = crate::wire::NewPeer::from_json(&body)?;
            to_json(&req.state().peers().register(new).await?)
        }
        .await,
    )
}

async fn update(mut req: Request<State>) -> tide::Result {
    reply(
        async {
            let pid = id_param(&req, "pid")?;
            req.state().peers().get(pid)?;
            let body: Value = read_json(&mut req).await?;
            let changes = crate::wire::PeerChanges::from_json(&body)?;
            to_json(&req.state().peers().update(pid, changes).await?)
        }
        .await,
    )
}

async fn delete(req: Request<State>) -> tide::Result {
    reply(
        async {
            req.state().peers().delete(id_param(&req, "pid")?).await?;
            Ok(empty_response())
        }
        .await,
    )
}

async fn list_static(req: Request<State>) -> tide::Result {
    reply(async { to_json(&req.state().peers().static_tunnels(id_param(&req, "pid")?)?) }.await)
}

async fn create_static(mut req: Request<State>) -> tide::Result {
    reply(
        async {
            let pid = id_param(&req, "pid")?;
            req.state().peers().get(pid)?;
            let body: Value = read_json(&mut req).await?;
            let new = crate::wire::NewStaticTunnel::from_json(&body)?;
            to_json(&req.state().peers().create_static_tunnel(pid, new).await?)
        }
        .await,
    )
}

async fn get_static(req: Request<State>) -> tide::Result {
    reply(
        async {
            let (pid, sid) = (id_param(&req, "pid")?, id_param(&req, "sid")?);
            to_json(&req.state().peers().static_tunnel(pid, sid)?)
        }
        .await,
    )
}

async fn delete_static(req: Request<State>) -> tide::Result {
    reply(
        async {
            let (pid, sid) = (id_param(&req, "pid")?, id_param(&req, "sid")?);
            req.state().peers().delete_static_tunnel(pid, sid).await?;
            Ok(empty_response())
        }
        .await,
    )
}
