//! `netunnel peers`: manage a server's peers and static tunnels from a shell.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use netunnel_core::client::{Client, ClientSettings};
use netunnel_core::AsyncStdRuntime;

/// Flags of `netunnel peers`.
#[derive(Debug, Args)]
pub struct PeersArgs {
    #[command(flatten)]
    connection: crate::connect_args::ConnectArgs,
    #[command(subcommand)]
    command: PeersCommand,
}

#[derive(Debug, Subcommand)]
enum PeersCommand {
    /// List the peers.
    List,
    /// Register a peer (the server checks it can reach it).
    Add {
        /// Unique name.
        name: String,
        /// URL of the peer's server.
        url: String,
        /// The peer's authentication data, a JSON object of strings.
        #[arg(long, default_value = "{}")]
        peer_auth_data: String,
    },
    /// Show one peer.
    Show {
        /// The peer's name.
        name: String,
    },
    /// Change a peer's name, URL or authentication data.
    Update {
        /// The peer's name.
        name: String,
        /// New name.
        #[arg(long)]
        new_name: Option<String>,
        /// New URL.
        #[arg(long)]
        url: Option<String>,
        /// New authentication data for the peer, a JSON object of strings.
        #[arg(long)]
        peer_auth_data: Option<String>,
    },
    /// Delete a peer and its static tunnels.
    Delete {
        /// The peer's name.
        name: String,
    },
    /// List a peer's static tunnels.
    Tunnels {
        /// The peer's name.
        name: String,
    },
    /// Create a static tunnel to a port on the peer's side.
    AddTunnel {
        /// The peer's name.
        name: String,
        /// Destination port, as seen from the peer.
        #[arg(long)]
        remote_port: u16,
        /// Destination address, as seen from the peer.
        #[arg(long, default_value = "127.0.0.1")]
        remote_address: String,
        /// Address the tunnel listens on, on this server's host (IPv4 or IPv6).
        #[arg(long, default_value = "127.0.0.1")]
        local_address: String,
    },
    /// Delete a static tunnel.
    DeleteTunnel {
        /// The peer's name.
        name: String,
        /// The static tunnel's id.
        id: u64,
    },
}

fn auth(text: &str) -> anyhow::Result<BTreeMap<String, String>> {
    serde_json::from_str(text).context("--peer-auth-data must be a JSON object of strings")
}

fn print<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub async fn run(args: PeersArgs) -> anyhow::Result<()> {
    let rt = AsyncStdRuntime::shared();
    let transport = args.connection.transport(Arc::clone(&rt))?;
    let client = Client::connected(rt, transport, ClientSettings::default())
        .await
        .with_context(|| format!("cannot connect to {}", args.connection.server))?;
    let result = command(&client, args.command).await;
    client.close().await;
    result
}

async fn command(client: &Client, command: PeersCommand) -> anyhow::Result<()> {
    match command {
        PeersCommand::List => print(&client.list_peers().await?),
        PeersCommand::Add {
            name,
            url,
            peer_auth_data,
        } => print(
            &client
                .register_peer(&name, &url, auth(&peer_auth_data)?)
                .await?,
        ),
        PeersCommand::Show { name } => print(&client.get_peer_by_name(&name).await?),
        PeersCommand::Update {
            name,
            new_name,
            url,
            peer_auth_data,
        } => {
            let peer = client.get_peer_by_name(&name).await?;
            let auth_data = peer_auth_data.as_deref().map(auth).transpose()?;
            let updated = client
                .update_peer(peer.id, new_name.as_deref(), url.as_deref(), auth_data)
                .await?;
            print(&updated)
        }
        PeersCommand::Delete { name } => Ok(client.delete_peer_by_name(&name).await?),
        PeersCommand::Tunnels { name } => print(&client.list_peer_static_tunnels(&name).await?),
        PeersCommand::AddTunnel {
            name,
            remote_port,
            remote_address,
            local_address,
        } => print(
            &client
                .create_peer_static_tunnel_at(&name, remote_port, &remote_address, &local_address)
                .await?,
        ),
        PeersCommand::DeleteTunnel { name, id } => {
            Ok(client.delete_peer_static_tunnel(&name, id).await?)
        }
    }
}
