//! A single-node room server that speaks LiveKit's protocol, plus the part of Visio's REST API
//! a client needs to join. It is Visio Desktop's embedded default: meetings on a laptop or a LAN
//! with no cloud, the demo room of `make run`, and the server every test joins.
//!
//! # What it speaks
//! - Signalling: protobuf over WebSocket at `/rtc` (LiveKit's dual peer connection mode). The
//!   token is read from `Authorization: Bearer` or the `access_token` query parameter and
//!   checked before the upgrade; a refused token gets HTTP 401 with the reason, which SDKs
//!   read back from `/rtc/validate`. `/rtc/v1` answers 404 so SDKs fall back to `/rtc`.
//! - Media: str0m peer connections, all on one UDP port per announced address (LiveKit's
//!   `rtc.udp_port`), ICE-lite. Audio and video are forwarded frame by frame, with simulcast
//!   layer choice per subscriber, keyframe requests towards publishers, NACK/RTX and TWCC per
//!   leg.
//! - Data: the `_reliable` and `_lossy` channels carry `DataPacket`s (user packets, chat,
//!   transcriptions, RPC, streams), re-stamped with the sender's identity and routed to the
//!   destination identities.
//! - Visio: `config/`, `users/me/`, a local sign-in page (`authenticate/`) and `logout/`,
//!   `rooms/` (join tokens, room creation), the lobby
//!   (`request-entry/`, `waiting-participants/`, `enter/`), `toggle-hand/`,
//!   `start-subtitle/`, `mute-participant/`, `remove-participant/` under `/api/v1.0/` (see
//!   [`visio_api`]).
//!
//! # Using it
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let server = room_server::RoomServer::start(room_server::ServerConfig::dev()).await?;
//! println!("ws://{}", server.http_addr());
//! # Ok(()) }
//! ```
//!
//! # Layout
//! `core` owns every room, participant and peer connection in one task (no locks on the
//! media path); `signal` and `visio_api` are the HTTP edges; `speakers`, `simulcast`, `sdp`
//! and `auth` are plain logic with their own tests.

pub mod auth;
pub mod config;
mod core;
#[doc(hidden)]
pub mod fuzzing;
pub mod ids;
pub mod quality;
pub mod registry;
mod sdp;
mod signal;
pub mod simulcast;
pub mod speakers;
pub mod visio_api;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use axum::routing::{get, post};
use axum::Router;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use crate::auth::{AuthError, KeyRing};
pub use crate::config::ServerConfig;
use crate::core::{Core, CoreConfig, CoreMsg, Packet};
pub use crate::core::{ServerStats, PROTOCOL_VERSION, SERVER_VERSION};

/// Shared by the HTTP handlers.
#[derive(Clone)]
pub(crate) struct AppState {
    core: mpsc::Sender<CoreMsg>,
    keys: KeyRing,
    http_addr: SocketAddr,
    public_url: String,
}

/// A running server. Dropping it stops it.
pub struct RoomServer {
    http_addr: SocketAddr,
    udp_addrs: Vec<SocketAddr>,
    core: mpsc::Sender<CoreMsg>,
    tasks: Vec<JoinHandle<()>>,
}

impl RoomServer {
    /// Binds the HTTP and UDP ports and starts serving.
    pub async fn start(cfg: ServerConfig) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(cfg.bind)
            .await
            .with_context(|| format!("binding the signalling port {}", cfg.bind))?;
        let http_addr = listener.local_addr()?;

        // One UDP socket per announced address, all on the same port.
        let mut sockets: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
        let mut port = cfg.udp_port;
        for ip in cfg.media_ips() {
            let sock = UdpSocket::bind(SocketAddr::new(ip, port))
                .await
                .with_context(|| format!("binding the media port {ip}:{port}"))?;
            let addr = sock.local_addr()?;
            port = addr.port();
            sockets.insert(addr, Arc::new(sock));
        }
        let udp_addrs: Vec<SocketAddr> = sockets.keys().copied().collect();
        // Behind a relay, str0m sees the announced address as the socket's: datagrams are
        // handed in with it as destination, and transmits from it leave through the socket.
        if let Some(announced) = cfg.announced_udp {
            if sockets.len() != 1 {
                anyhow::bail!("an announced media address needs exactly one media IP");
            }
            sockets = sockets.into_values().map(|s| (announced, s)).collect();
        }

        let (core_tx, core_rx) = mpsc::channel::<CoreMsg>(4096);
        let mut tasks = vec![];
        for (addr, sock) in &sockets {
            tasks.push(tokio::spawn(read_udp(sock.clone(), *addr, core_tx.clone())));
        }
        let core = Core::new(CoreConfig {
            candidates: sockets.keys().copied().collect(),
            sockets,
            departure_timeout: cfg.departure_timeout,
        });
        tasks.push(tokio::spawn(core.run(core_rx)));

        let state = AppState {
            core: core_tx.clone(),
            keys: cfg.keys.clone(),
            http_addr,
            public_url: cfg.public_url.clone(),
        };
        let app = router(state);
        tasks.push(tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("HTTP server stopped: {e}");
            }
        }));
        tracing::info!(%http_addr, udp = ?udp_addrs, "room server listening");
        Ok(Self {
            http_addr,
            udp_addrs,
            core: core_tx,
            tasks,
        })
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The `ws://` URL clients connect to.
    pub fn url(&self) -> String {
        format!("ws://{}", self.http_addr)
    }

    /// The media sockets' own addresses (not the announced one, if any).
    pub fn udp_addrs(&self) -> &[SocketAddr] {
        &self.udp_addrs
    }

    pub async fn stats(&self) -> Option<ServerStats> {
        let (tx, rx) = oneshot::channel();
        self.core.send(CoreMsg::Stats(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Waits until the server stops (it only stops when dropped or on a fatal error).
    pub async fn wait(mut self) {
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for RoomServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(|| async { "OK" }))
        .route("/rtc", get(signal::rtc))
        .route("/rtc/validate", get(signal::validate))
        .route("/rtc/v1", get(signal::v1_not_supported))
        .route("/rtc/v1/validate", get(signal::v1_not_supported))
        .route("/debug/stats", get(stats))
        .route("/api/v1.0/config/", get(visio_api::config))
        .route("/api/v1.0/users/me/", get(visio_api::users_me))
        .route(
            "/api/v1.0/authenticate/",
            get(visio_api::authenticate_page).post(visio_api::authenticate_submit),
        )
        .route(
            "/api/v1.0/logout/",
            get(visio_api::logout).post(visio_api::logout),
        )
        .route("/api/v1.0/rooms/", post(visio_api::create_room))
        .route("/api/v1.0/rooms/{slug}/", get(visio_api::room))
        .route(
            "/api/v1.0/rooms/{slug}/request-entry/",
            post(visio_api::request_entry),
        )
        .route(
            "/api/v1.0/rooms/{slug}/waiting-participants/",
            get(visio_api::waiting_participants),
        )
        .route("/api/v1.0/rooms/{slug}/enter/", post(visio_api::enter))
        .route(
            "/api/v1.0/rooms/{slug}/toggle-hand/",
            post(visio_api::toggle_hand),
        )
        .route(
            "/api/v1.0/rooms/{slug}/start-subtitle/",
            post(visio_api::start_subtitle),
        )
        .route(
            "/api/v1.0/rooms/{slug}/mute-participant/",
            post(visio_api::mute_participant),
        )
        .route(
            "/api/v1.0/rooms/{slug}/remove-participant/",
            post(visio_api::remove_participant),
        )
        .route(
            "/api/v1.0/{*rest}",
            axum::routing::any(visio_api::api_not_found),
        )
        // Browsers (livekit-client, Visio's web app) call /rtc/validate and the API from
        // another origin; LiveKit server allows any origin too. Tokens travel in the request,
        // never in cookies, so no credentials are allowed.
        .layer(tower_http::cors::CorsLayer::permissive())
        .with_state(state)
}

async fn stats(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (tx, rx) = oneshot::channel();
    if state.core.send(CoreMsg::Stats(tx)).await.is_err() {
        return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    match rx.await {
        Ok(s) => axum::Json(s).into_response(),
        Err(_) => axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

async fn read_udp(sock: Arc<UdpSocket>, local: SocketAddr, core: mpsc::Sender<CoreMsg>) {
    let mut buf = vec![0u8; 2048];
    loop {
        match sock.recv_from(&mut buf).await {
            Ok((n, source)) => {
                let pkt = Packet {
                    data: buf[..n].to_vec(),
                    source,
                    destination: local,
                    at: Instant::now(),
                };
                if core.send(CoreMsg::Packet(pkt)).await.is_err() {
                    return;
                }
            }
            // ICMP errors (port unreachable from a gone peer) surface here; keep reading.
            Err(e) => tracing::trace!("udp receive: {e}"),
        }
    }
}
