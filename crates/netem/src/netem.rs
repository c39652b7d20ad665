//! # netem: a bad network, in process, without root
//!
//! Tests of the client engine need loss, delay and reordering between a client and the room
//! server, and a signalling connection that can be cut, on a machine where `tc netem` and
//! network namespaces need root. This crate gives both as plain tokio tasks on loopback:
//!
//! - [`UdpRelay`]: listens on one UDP address (give it to the room server to announce as its
//!   candidate) and forwards every datagram to the real server port through one socket per
//!   client address (so the server still tells clients and peer connections apart), answering
//!   back through the listening socket. Each direction has its own [`Impairment`]: loss
//!   probability, fixed delay and random jitter (jitter reorders: packets leave by release
//!   time). The randomness comes from a seeded RNG, so a run is repeatable as far as the
//!   packet arrival order is.
//! - [`TcpProxy`]: forwards TCP connections (the signalling WebSocket) untouched;
//!   [`TcpProxy::cut`] closes every open connection at once, as a dropped Wi-Fi would.
//!
//! The decision logic is the sans-I/O [`Link`] (str0m style: packets and time in, release
//! order out), unit-tested without sockets.
//!
//! ```no_run
//! # async fn demo(server_udp: std::net::SocketAddr) -> std::io::Result<()> {
//! use netem::{Impairment, UdpRelay};
//! use std::time::Duration;
//! let bad = Impairment { loss: 0.10, delay: Duration::from_millis(50), jitter: Duration::ZERO };
//! let relay = UdpRelay::start("127.0.0.1:0".parse().unwrap(), server_udp, bad, bad, 7).await?;
//! println!("announce {} instead of {server_udp}", relay.addr());
//! # Ok(()) }
//! ```

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// What one direction of a link does to packets.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Impairment {
    /// Probability that a packet is dropped, 0..=1.
    pub loss: f64,
    /// Added to every packet.
    pub delay: Duration,
    /// A uniformly random extra delay in `0..jitter`; packets may overtake each other.
    pub jitter: Duration,
}

impl Impairment {
    /// Loss and a fixed delay, no reordering.
    pub fn lossy(loss: f64, delay: Duration) -> Self {
        Self {
            loss,
            delay,
            jitter: Duration::ZERO,
        }
    }
}

/// Packets through one direction of a link, counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DirectionStats {
    pub forwarded: u64,
    pub dropped: u64,
}

/// Both directions: `up` is client to server, `down` server to client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RelayStats {
    pub up: DirectionStats,
    pub down: DirectionStats,
    /// Distinct client addresses seen.
    pub clients: u64,
}

struct Held<T> {
    at: Instant,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Held<T> {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl<T> Eq for Held<T> {}
impl<T> PartialOrd for Held<T> {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<T> Ord for Held<T> {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// One direction's decisions, without I/O: [`Link::push`] a packet at a time, then
/// [`Link::pop_due`] what is due; [`Link::next_release`] says when to look again.
pub struct Link<T> {
    rng: StdRng,
    held: BinaryHeap<Reverse<Held<T>>>,
    seq: u64,
    pub stats: DirectionStats,
}

impl<T> Link<T> {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            held: BinaryHeap::new(),
            seq: 0,
            stats: DirectionStats::default(),
        }
    }

    /// Takes a packet that arrived at `now`; returns false when it was dropped.
    pub fn push(&mut self, now: Instant, imp: &Impairment, item: T) -> bool {
        if imp.loss > 0.0 && self.rng.random::<f64>() < imp.loss {
            self.stats.dropped += 1;
            return false;
        }
        let jitter = if imp.jitter.is_zero() {
            Duration::ZERO
        } else {
            imp.jitter.mul_f64(self.rng.random::<f64>())
        };
        self.seq += 1;
        self.held.push(Reverse(Held {
            at: now + imp.delay + jitter,
            seq: self.seq,
            item,
        }));
        true
    }

    /// The next packet due at `now`, earliest release first.
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        if self.held.peek().is_some_and(|Reverse(h)| h.at <= now) {
            self.stats.forwarded += 1;
            return self.held.pop().map(|Reverse(h)| h.item);
        }
        None
    }

    pub fn next_release(&self) -> Option<Instant> {
        self.held.peek().map(|Reverse(h)| h.at)
    }
}

struct Shared {
    target: SocketAddr,
    up: Impairment,
    down: Impairment,
    stats: RelayStats,
}

/// A UDP relay with impairments; dropping it stops it.
pub struct UdpRelay {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    task: JoinHandle<()>,
}

impl UdpRelay {
    /// Listens on `bind` and forwards to `target`. `seed` fixes the random choices.
    pub async fn start(
        bind: SocketAddr,
        target: SocketAddr,
        up: Impairment,
        down: Impairment,
        seed: u64,
    ) -> std::io::Result<Self> {
        let front = Arc::new(UdpSocket::bind(bind).await?);
        let addr = front.local_addr()?;
        let shared = Arc::new(Mutex::new(Shared {
            target,
            up,
            down,
            stats: RelayStats::default(),
        }));
        let task = tokio::spawn(relay(front, shared.clone(), seed));
        Ok(Self { addr, shared, task })
    }

    /// The address clients send to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Forwards to another server address from now on (a server restarted elsewhere, or one
    /// started after the relay so that it could announce the relay's address).
    pub fn retarget(&self, target: SocketAddr) {
        if let Ok(mut s) = self.shared.lock() {
            s.target = target;
        }
    }

    /// Changes both directions' impairments from now on.
    pub fn set(&self, up: Impairment, down: Impairment) {
        if let Ok(mut s) = self.shared.lock() {
            s.up = up;
            s.down = down;
        }
    }

    pub fn stats(&self) -> RelayStats {
        self.shared.lock().map(|s| s.stats).unwrap_or_default()
    }
}

impl Drop for UdpRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Where a held datagram goes: to the server from this client's back socket, or to a client.
enum Out {
    Up(SocketAddr, Vec<u8>),
    Down(SocketAddr, Vec<u8>),
}

struct BackSocket {
    socket: Arc<UdpSocket>,
    reader: JoinHandle<()>,
}

impl Drop for BackSocket {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

async fn relay(front: Arc<UdpSocket>, shared: Arc<Mutex<Shared>>, seed: u64) {
    let mut up: Link<Out> = Link::new(seed);
    let mut down: Link<Out> = Link::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 1);
    let mut backs: HashMap<SocketAddr, BackSocket> = HashMap::new();
    let (down_tx, mut down_rx) = mpsc::unbounded_channel::<(SocketAddr, Vec<u8>)>();
    let mut buf = vec![0u8; 65_536];
    let Ok(target) = shared.lock().map(|s| s.target) else {
        return;
    };
    let back_bind: SocketAddr = if target.is_ipv4() {
        (std::net::Ipv4Addr::LOCALHOST, 0).into()
    } else {
        (std::net::Ipv6Addr::LOCALHOST, 0).into()
    };
    loop {
        let next = up
            .next_release()
            .into_iter()
            .chain(down.next_release())
            .min();
        tokio::select! {
            r = front.recv_from(&mut buf) => {
                let Ok((n, client)) = r else { continue };
                if let std::collections::hash_map::Entry::Vacant(slot) = backs.entry(client) {
                    let bind = if target.ip().is_loopback() { back_bind } else if target.is_ipv4() {
                        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
                    } else {
                        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                    };
                    let Ok(socket) = UdpSocket::bind(bind).await else { continue };
                    let socket = Arc::new(socket);
                    let reader = tokio::spawn(read_back(socket.clone(), client, down_tx.clone()));
                    slot.insert(BackSocket { socket, reader });
                    if let Ok(mut s) = shared.lock() {
                        s.stats.clients += 1;
                    }
                }
                let imp = shared.lock().map(|s| s.up).unwrap_or_default();
                up.push(Instant::now(), &imp, Out::Up(client, buf[..n].to_vec()));
            }
            Some((client, bytes)) = down_rx.recv() => {
                let imp = shared.lock().map(|s| s.down).unwrap_or_default();
                down.push(Instant::now(), &imp, Out::Down(client, bytes));
            }
            _ = tokio::time::sleep_until(next.unwrap_or_else(Instant::now).into()), if next.is_some() => {}
        }
        let now = Instant::now();
        while let Some(out) = up.pop_due(now).or_else(|| down.pop_due(now)) {
            match out {
                Out::Up(client, bytes) => {
                    let target = shared.lock().map(|s| s.target).unwrap_or(target);
                    if let Some(b) = backs.get(&client) {
                        let _ = b.socket.try_send_to(&bytes, target);
                    }
                }
                Out::Down(client, bytes) => {
                    let _ = front.try_send_to(&bytes, client);
                }
            }
        }
        if let Ok(mut s) = shared.lock() {
            s.stats.up = up.stats;
            s.stats.down = down.stats;
        }
    }
}

async fn read_back(
    socket: Arc<UdpSocket>,
    client: SocketAddr,
    to: mpsc::UnboundedSender<(SocketAddr, Vec<u8>)>,
) {
    let mut buf = vec![0u8; 65_536];
    loop {
        match socket.recv(&mut buf).await {
            Ok(n) => {
                if to.send((client, buf[..n].to_vec())).is_err() {
                    return;
                }
            }
            // ICMP port unreachable from a restarting server: keep reading.
            Err(e) => tracing::trace!("relay back socket: {e}"),
        }
    }
}

/// A TCP forwarder whose open connections can be cut; dropping it stops it.
pub struct TcpProxy {
    addr: SocketAddr,
    cut: watch::Sender<u64>,
    accepted: Arc<Mutex<u64>>,
    task: JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on `bind` and forwards every connection to `target`.
    pub async fn start(bind: SocketAddr, target: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let (cut, cut_rx) = watch::channel(0u64);
        let accepted = Arc::new(Mutex::new(0u64));
        let counter = accepted.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                if let Ok(mut n) = counter.lock() {
                    *n += 1;
                }
                let mut cut_rx = cut_rx.clone();
                cut_rx.mark_unchanged();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let mut client = client;
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut_rx.changed() => {}
                    }
                });
            }
        });
        Ok(Self {
            addr,
            cut,
            accepted,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every connection open now (new ones are still accepted).
    pub fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.lock().map(|n| *n).unwrap_or(0)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_rate_follows_the_setting_and_is_repeatable() {
        let imp = Impairment::lossy(0.10, Duration::ZERO);
        let now = Instant::now();
        let run = |seed| {
            let mut l: Link<u32> = Link::new(seed);
            let kept: Vec<bool> = (0..10_000).map(|i| l.push(now, &imp, i)).collect();
            (l.stats.dropped, kept)
        };
        let (dropped, a) = run(42);
        assert!((850..1150).contains(&dropped), "dropped {dropped} of 10000");
        assert_eq!(a, run(42).1, "same seed, same drops");
        assert_ne!(a, run(43).1, "another seed, other drops");
    }

    #[test]
    fn delay_holds_packets_until_due() {
        let imp = Impairment::lossy(0.0, Duration::from_millis(100));
        let t0 = Instant::now();
        let mut l: Link<&str> = Link::new(1);
        l.push(t0, &imp, "a");
        l.push(t0 + Duration::from_millis(10), &imp, "b");
        assert_eq!(l.pop_due(t0 + Duration::from_millis(99)), None);
        assert_eq!(l.next_release(), Some(t0 + Duration::from_millis(100)));
        assert_eq!(l.pop_due(t0 + Duration::from_millis(100)), Some("a"));
        assert_eq!(l.pop_due(t0 + Duration::from_millis(100)), None);
        assert_eq!(l.pop_due(t0 + Duration::from_millis(110)), Some("b"));
        assert_eq!(l.stats.forwarded, 2);
    }

    #[test]
    fn jitter_reorders_but_loses_nothing() {
        let imp = Impairment {
            loss: 0.0,
            delay: Duration::from_millis(20),
            jitter: Duration::from_millis(30),
        };
        let t0 = Instant::now();
        let mut l: Link<u32> = Link::new(5);
        for i in 0..200u32 {
            l.push(t0 + Duration::from_millis(u64::from(i)), &imp, i);
        }
        let mut out = vec![];
        while let Some(v) = l.pop_due(t0 + Duration::from_secs(1)) {
            out.push(v);
        }
        assert_eq!(out.len(), 200);
        let inversions = out.windows(2).filter(|w| w[0] > w[1]).count();
        assert!(inversions > 20, "only {inversions} reorderings");
        let mut sorted = out.clone();
        sorted.sort();
        assert_eq!(sorted, (0..200).collect::<Vec<_>>());
    }
}
