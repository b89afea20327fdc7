//! WebSocket clients of the native gateway, optionally bound to a chosen source address, and a cheap reader of
//! the presence frames they receive.

use std::net::{IpAddr, SocketAddr};

use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub type Ws = WebSocketStream<TcpStream>;

/// How long the server may take to record a connection after the handshake.
const CONNECTED_TIMEOUT: Duration = Duration::from_secs(30);

/// Open `/v1/ws?token=&platform=` from `source` (any local address when `None`), and wait for the server's
/// `connected` frame: the server records the connection after the handshake, and only from that frame on does the
/// client go online and receive the changes of the users it watches.
pub async fn connect(ws_base: &str, token: &str, platform: &str, source: Option<IpAddr>) -> anyhow::Result<Ws> {
    let url = format!("{ws_base}/v1/ws?token={token}&platform={platform}");
    let request = url.as_str().into_client_request()?;
    let host = request.uri().host().context("no host in the server URL")?;
    let port = request.uri().port_u16().unwrap_or(80);
    let server: SocketAddr = tokio::net::lookup_host((host, port)).await?.next().context("server address")?;
    let stream = match source {
        None => TcpStream::connect(server).await?,
        Some(ip) => {
            let socket = if server.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
            socket.bind(SocketAddr::new(ip, 0))?;
            socket.connect(server).await?
        }
    };
    stream.set_nodelay(true)?;
    let (mut ws, response) = tokio_tungstenite::client_async(request, stream).await?;
    if response.status().as_u16() != 101 {
        bail!("upgrade refused: {}", response.status());
    }
    tokio::time::timeout(CONNECTED_TIMEOUT, await_connected(&mut ws))
        .await
        .context("no `connected` frame within 30 s of the handshake")??;
    Ok(ws)
}

async fn await_connected(ws: &mut Ws) -> anyhow::Result<()> {
    while let Some(message) = ws.next().await {
        if let Message::Text(text) = message? {
            let frame: serde_json::Value = serde_json::from_str(text.as_str()).context("a frame that is not JSON")?;
            match frame["type"].as_str() {
                Some("connected") => return Ok(()),
                Some("error") => bail!("the server refused the connection: {text}"),
                _ => {}
            }
        }
    }
    bail!("the server closed the connection before it was recorded")
}

/// The fields of a pushed PRESENCE frame that the scenarios look at; the rest is skipped unparsed.
#[derive(Deserialize)]
pub struct PresenceFrame<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    #[serde(default)]
    pub user_id: &'a str,
    #[serde(default)]
    pub online: bool,
    /// Server time of the change, Unix milliseconds.
    #[serde(default)]
    pub at: i64,
}

impl<'a> PresenceFrame<'a> {
    pub fn parse(text: &'a str) -> Option<Self> {
        serde_json::from_str::<PresenceFrame>(text).ok().filter(|f| f.kind == "presence")
    }
}
