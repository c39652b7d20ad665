//! `visio`: Visio Desktop's headless command line. No WebKit is linked here; the desktop app
//! is the separate `visio-desktop` binary.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use room_server::{KeyRing, RoomServer, ServerConfig};

mod account_cmd;
mod captions_cmd;
mod devices_cmd;
mod join;
mod speech_cmd;

#[derive(Parser)]
#[command(name = "visio", version, about = "Visio Desktop command line")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the local LiveKit-compatible room server (LAN meetings, demo, tests).
    Serve(ServeArgs),
    /// Mint a LiveKit access token for a room on a server whose key you hold.
    Token(TokenArgs),
    /// Join a room headless: publish (camera and microphone, or fake devices), receive, report.
    Join(Box<join::JoinArgs>),
    /// List cameras, microphones and speakers (ids for `join --camera/--microphone/--speaker`).
    Devices(devices_cmd::DevicesArgs),
    /// List, install (from a file, converting CTranslate2 models) and verify speech models.
    Models(speech_cmd::ModelsArgs),
    /// Transcribe a recorded WAV file on this machine.
    Transcribe(speech_cmd::TranscribeArgs),
    /// Transcripts kept encrypted on this machine (`visio transcribe --save`): list, search,
    /// export.
    Transcripts(speech_cmd::TranscriptsArgs),
    /// Sign in to a server (OIDC in the browser, session cookie, LiveKit key, local server).
    Login(account_cmd::LoginArgs),
    /// Sign out: revoke at the provider, remove every secret of the profile.
    Logout(account_cmd::ServerArg),
    /// Set the offline PIN (read from stdin) after an online login.
    Pin(account_cmd::ServerArg),
    /// Unlock offline with the PIN (read from stdin).
    Unlock(account_cmd::ServerArg),
    /// Who is signed in; refreshes the session when online.
    Whoami(account_cmd::ServerArg),
    /// The effective settings with IT policy applied, and which are locked.
    Policy,
}

#[derive(Parser)]
struct ServeArgs {
    /// Like `livekit-server --dev`: 127.0.0.1:7880, API key `devkey`, secret `secret`.
    #[arg(long)]
    dev: bool,
    /// Signalling and REST address.
    #[arg(long, value_name = "ADDR:PORT")]
    bind: Option<SocketAddr>,
    /// UDP port for all media (0 picks a free port).
    #[arg(long, default_value_t = room_server::config::DEFAULT_UDP_PORT)]
    udp_port: u16,
    /// Address to announce for media; repeat for several. Default: every interface address,
    /// or loopback when binding to loopback.
    #[arg(long = "node-ip", value_name = "IP")]
    node_ips: Vec<IpAddr>,
    /// Announce this address for media instead of the UDP socket's own (a relay or port
    /// mapping in front of it, such as the loss simulator in tests).
    #[arg(long, value_name = "IP:PORT")]
    announce_udp: Option<SocketAddr>,
    /// Keys file (TOML `[keys]` table); created with a fresh key and secret, mode 0600, when
    /// missing. Ignored with `--dev` or when LIVEKIT_KEYS / LIVEKIT_API_KEY+SECRET are set.
    #[arg(long, value_name = "PATH")]
    keys_file: Option<PathBuf>,
    /// URL clients should use to reach this server (given out by the Visio API).
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// Print how to join this room (a Visio room code such as `abc-defg-hij`).
    #[arg(long, value_name = "SLUG")]
    demo_room: Option<String>,
}

#[derive(Parser)]
struct TokenArgs {
    #[arg(long, env = "LIVEKIT_API_KEY", default_value = "devkey")]
    api_key: String,
    #[arg(
        long,
        env = "LIVEKIT_API_SECRET",
        default_value = "secret",
        hide_env_values = true
    )]
    api_secret: String,
    #[arg(long)]
    room: String,
    #[arg(long)]
    identity: String,
    #[arg(long)]
    name: Option<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 6 * 3600)]
    ttl: u64,
}

fn main() -> std::process::ExitCode {
    let started = std::time::Instant::now();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VISIO_LOG")
                .unwrap_or_else(|_| "info,str0m=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Token(args) => token(args),
        Command::Join(args) => join::run(*args, started),
        Command::Devices(args) => devices_cmd::run(args),
        Command::Models(args) => speech_cmd::models(args),
        Command::Transcribe(args) => speech_cmd::transcribe(args),
        Command::Transcripts(args) => speech_cmd::transcripts(args),
        Command::Login(args) => account_cmd::login(args),
        Command::Logout(args) => account_cmd::logout(args),
        Command::Pin(args) => account_cmd::set_pin(args),
        Command::Unlock(args) => account_cmd::unlock(args),
        Command::Whoami(args) => account_cmd::whoami(args),
        Command::Policy => account_cmd::policy(),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("visio: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut cfg = if args.dev {
        ServerConfig::dev()
    } else {
        let path = args
            .keys_file
            .clone()
            .unwrap_or_else(|| room_server::config::default_keys_path(dirs::config_dir()));
        let keys: KeyRing = room_server::config::load_or_create_keys(&path)?;
        ServerConfig {
            keys,
            bind: SocketAddr::from(([0, 0, 0, 0], room_server::config::DEFAULT_HTTP_PORT)),
            ..ServerConfig::dev()
        }
    };
    if let Some(bind) = args.bind {
        cfg.bind = bind;
    }
    cfg.udp_port = args.udp_port;
    cfg.rtc_ips = args.node_ips;
    cfg.announced_udp = args.announce_udp;
    if let Some(url) = args.public_url {
        cfg.public_url = url;
    }
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async move {
        let server = RoomServer::start(cfg.clone()).await?;
        println!("Visio room server ready");
        println!("  LiveKit URL : {}", server.url());
        println!("  media (UDP) : {:?}", server.udp_addrs());
        println!(
            "  Visio API   : http://{}/api/v1.0/config/",
            server.http_addr()
        );
        if let Some(room) = args.demo_room {
            let slug = room_code::normalize(&room)
                .with_context(|| format!("{room:?} is not a Visio room code (abc-defg-hij)"))?;
            println!("  demo room   : http://{}/{slug}", server.http_addr());
            println!(
                "  join token  : curl 'http://{}/api/v1.0/rooms/{slug}/?username=Agent'",
                server.http_addr()
            );
        }
        tokio::select! {
            _ = server.wait() => {}
            _ = tokio::signal::ctrl_c() => println!("stopping"),
        }
        anyhow::Ok(())
    })
}

fn token(args: TokenArgs) -> anyhow::Result<()> {
    let token = livekit_token::AccessToken::with_api_key(&args.api_key, &args.api_secret)
        .with_identity(&args.identity)
        .with_name(args.name.as_deref().unwrap_or(&args.identity))
        .with_ttl(Duration::from_secs(args.ttl))
        .with_grants(livekit_token::VideoGrants {
            room_join: true,
            room: args.room,
            ..Default::default()
        })
        .to_jwt()
        .context("minting the token")?;
    println!("{token}");
    Ok(())
}
