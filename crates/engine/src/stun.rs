//! Server-reflexive candidates: a STUN Binding request (RFC 8489) to the `stun:` servers of
//! the JoinResponse, from the peer connection's own socket, tells the address a NAT maps it
//! to. str0m has no STUN client and a binding is two small messages, so it is written here.
//! Only the socket's first bytes are read before str0m takes over: it runs before ICE.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use livekit_protocol as proto;
use tokio::net::UdpSocket;

const MAGIC: u32 = 0x2112_A442;
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const MAPPED_ADDRESS: u16 = 0x0001;
const XOR_MAPPED_ADDRESS: u16 = 0x0020;

/// `stun:host[:port]` URLs of the ICE servers (TURN ones are not used yet), resolved.
pub(crate) async fn servers(ice: &[proto::IceServer]) -> Vec<SocketAddr> {
    let mut out = vec![];
    for url in ice.iter().flat_map(|s| s.urls.iter()) {
        let Some(rest) = url.strip_prefix("stun:") else {
            continue;
        };
        let rest = rest.split('?').next().unwrap_or(rest);
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(':') => match p.parse::<u16>() {
                Ok(p) => (h.to_owned(), p),
                Err(_) => {
                    tracing::debug!(%url, "STUN URL with a bad port ignored");
                    continue;
                }
            },
            _ => (rest.to_owned(), 3478),
        };
        let host = host.trim_matches(['[', ']']).to_owned();
        let found = tokio::net::lookup_host((host.as_str(), port)).await;
        match found {
            Ok(mut addrs) => out.extend(addrs.next()),
            Err(e) => tracing::debug!(%url, "STUN server not resolved: {e}"),
        }
    }
    out
}

/// A Binding request with this transaction id.
pub(crate) fn request(txid: [u8; 12]) -> Vec<u8> {
    let mut m = Vec::with_capacity(20);
    m.extend_from_slice(&BINDING_REQUEST.to_be_bytes());
    m.extend_from_slice(&0u16.to_be_bytes());
    m.extend_from_slice(&MAGIC.to_be_bytes());
    m.extend_from_slice(&txid);
    m
}

/// The mapped address of a Binding success response to `txid`; `None` for anything else.
pub(crate) fn parse_response(msg: &[u8], txid: [u8; 12]) -> Option<SocketAddr> {
    if msg.len() < 20
        || u16::from_be_bytes([msg[0], msg[1]]) != BINDING_SUCCESS
        || msg[4..8] != MAGIC.to_be_bytes()
        || msg[8..20] != txid
    {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([msg[2], msg[3]]));
    let body = msg.get(20..20 + len)?;
    let mut plain = None;
    let mut at = 0;
    while at + 4 <= body.len() {
        let kind = u16::from_be_bytes([body[at], body[at + 1]]);
        let alen = usize::from(u16::from_be_bytes([body[at + 2], body[at + 3]]));
        let value = body.get(at + 4..at + 4 + alen)?;
        match kind {
            XOR_MAPPED_ADDRESS => return address(value, Some(txid)),
            MAPPED_ADDRESS => plain = address(value, None),
            _ => {}
        }
        at += 4 + alen.div_ceil(4) * 4;
    }
    plain
}

/// (XOR-)MAPPED-ADDRESS value: reserved, family, port, address.
fn address(v: &[u8], xor: Option<[u8; 12]>) -> Option<SocketAddr> {
    let cookie = MAGIC.to_be_bytes();
    let mut port = u16::from_be_bytes([*v.get(2)?, *v.get(3)?]);
    if xor.is_some() {
        port ^= (MAGIC >> 16) as u16;
    }
    let ip = match v.get(1)? {
        1 => {
            let mut b: [u8; 4] = v.get(4..8)?.try_into().ok()?;
            if xor.is_some() {
                for (x, c) in b.iter_mut().zip(cookie) {
                    *x ^= c;
                }
            }
            IpAddr::V4(Ipv4Addr::from(b))
        }
        2 => {
            let mut b: [u8; 16] = v.get(4..20)?.try_into().ok()?;
            if let Some(txid) = xor {
                let key: Vec<u8> = cookie.iter().chain(txid.iter()).copied().collect();
                for (x, c) in b.iter_mut().zip(key) {
                    *x ^= c;
                }
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Asks `server` which address it sees `socket` from: three tries, `per_try` each.
pub(crate) async fn binding(
    socket: &UdpSocket,
    server: SocketAddr,
    per_try: Duration,
) -> Option<SocketAddr> {
    let txid: [u8; 12] = rand::random();
    let req = request(txid);
    let mut buf = [0u8; 576];
    for _ in 0..3 {
        socket.send_to(&req, server).await.ok()?;
        let deadline = tokio::time::Instant::now() + per_try;
        while let Ok(Ok((n, from))) =
            tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await
        {
            if from == server {
                if let Some(mapped) = parse_response(&buf[..n], txid) {
                    return Some(mapped);
                }
            }
        }
    }
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A Binding success response carrying `mapped` as XOR-MAPPED-ADDRESS (what a STUN
    /// server sends), preceded by an unknown attribute to exercise the padding walk.
    pub(crate) fn response(txid: [u8; 12], mapped: SocketAddr) -> Vec<u8> {
        let mut attrs = vec![];
        attrs.extend_from_slice(&0x8022u16.to_be_bytes()); // SOFTWARE
        attrs.extend_from_slice(&5u16.to_be_bytes());
        attrs.extend_from_slice(b"visio\0\0\0");
        let port = mapped.port() ^ (MAGIC >> 16) as u16;
        let (family, ip): (u8, Vec<u8>) = match mapped.ip() {
            IpAddr::V4(v4) => (
                1,
                v4.octets()
                    .iter()
                    .zip(MAGIC.to_be_bytes())
                    .map(|(a, b)| a ^ b)
                    .collect(),
            ),
            IpAddr::V6(v6) => {
                let key: Vec<u8> = MAGIC
                    .to_be_bytes()
                    .iter()
                    .chain(txid.iter())
                    .copied()
                    .collect();
                (2, v6.octets().iter().zip(key).map(|(a, b)| a ^ b).collect())
            }
        };
        attrs.extend_from_slice(&XOR_MAPPED_ADDRESS.to_be_bytes());
        attrs.extend_from_slice(&((4 + ip.len()) as u16).to_be_bytes());
        attrs.extend_from_slice(&[0, family]);
        attrs.extend_from_slice(&port.to_be_bytes());
        attrs.extend_from_slice(&ip);
        let mut m = vec![];
        m.extend_from_slice(&BINDING_SUCCESS.to_be_bytes());
        m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        m.extend_from_slice(&MAGIC.to_be_bytes());
        m.extend_from_slice(&txid);
        m.extend_from_slice(&attrs);
        m
    }

    #[test]
    fn xor_mapped_addresses_both_families() {
        let txid = [7u8; 12];
        for mapped in ["203.0.113.9:54321", "[2001:db8::42]:3478"] {
            let mapped: SocketAddr = mapped.parse().unwrap();
            assert_eq!(parse_response(&response(txid, mapped), txid), Some(mapped));
        }
        let r = response(txid, "203.0.113.9:1".parse().unwrap());
        assert_eq!(parse_response(&r, [8u8; 12]), None, "another transaction");
        assert_eq!(parse_response(&r[..25], txid), None, "truncated");
        assert_eq!(parse_response(&request(txid), txid), None, "a request");
    }

    #[tokio::test]
    async fn binding_against_a_server_that_sees_a_nat() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let server_addr = server.local_addr().unwrap();
        let nat: SocketAddr = "198.51.100.7:40000".parse().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 576];
            let mut first = true;
            while let Ok((n, from)) = server.recv_from(&mut buf).await {
                if first {
                    first = false; // lose the first request: the client must retry
                    continue;
                }
                let txid: [u8; 12] = buf[8..20].try_into().unwrap();
                assert_eq!(&buf[..4], &[0, 1, 0, 0]);
                assert_eq!(n, 20);
                let _ = server.send_to(&response(txid, nat), from).await;
            }
        });
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let got = binding(&client, server_addr, Duration::from_millis(200)).await;
        assert_eq!(got, Some(nat));
        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let t = std::time::Instant::now();
        let none = binding(
            &client,
            silent.local_addr().unwrap(),
            Duration::from_millis(100),
        )
        .await;
        assert_eq!(none, None);
        assert!(t.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn stun_urls_from_the_join_response() {
        let ice = vec![proto::IceServer {
            urls: vec![
                "stun:127.0.0.1:19302".into(),
                "stun:127.0.0.1".into(),
                "turn:127.0.0.1:3478?transport=udp".into(),
                "stun:127.0.0.1:notaport".into(),
            ],
            ..Default::default()
        }];
        let got = servers(&ice).await;
        assert_eq!(
            got,
            vec![
                "127.0.0.1:19302".parse::<SocketAddr>().unwrap(),
                "127.0.0.1:3478".parse().unwrap()
            ]
        );
    }
}
