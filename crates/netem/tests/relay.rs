//! The relay and the proxy on real loopback sockets.

use std::time::{Duration, Instant};

use netem::{Impairment, TcpProxy, UdpRelay};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// An echo server behind a relay with 20 % loss each way and 50 ms delay each way: about
/// 64 % of pings come back, each after at least 100 ms, and the server sees the relay's
/// per-client socket, not the client.
#[tokio::test]
async fn udp_relay_loses_and_delays_both_ways() {
    let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let server_addr = server.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(vec![]));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = server.recv_from(&mut buf).await {
            seen2.lock().unwrap().push(from);
            let _ = server.send_to(&buf[..n], from).await;
        }
    });
    let imp = Impairment::lossy(0.2, Duration::from_millis(50));
    let relay = UdpRelay::start("127.0.0.1:0".parse().unwrap(), server_addr, imp, imp, 3)
        .await
        .unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let sent_at = Instant::now();
    for i in 0u32..500 {
        client
            .send_to(&i.to_be_bytes(), relay.addr())
            .await
            .unwrap();
    }
    let mut got = vec![];
    let mut buf = [0u8; 16];
    let mut first = None;
    while let Ok(Ok((n, from))) =
        tokio::time::timeout(Duration::from_millis(1500), client.recv_from(&mut buf)).await
    {
        assert_eq!(from, relay.addr());
        assert_eq!(n, 4);
        first.get_or_insert(sent_at.elapsed());
        got.push(u32::from_be_bytes(buf[..4].try_into().unwrap()));
    }
    let first = first.expect("nothing came back");
    assert!(first >= Duration::from_millis(100), "round trip {first:?}");
    assert!(
        (250..390).contains(&got.len()),
        "{} of 500 came back",
        got.len()
    );
    let stats = relay.stats();
    assert_eq!(stats.clients, 1);
    assert_eq!(stats.up.forwarded + stats.up.dropped, 500);
    assert_eq!(stats.down.forwarded, got.len() as u64);
    let seen = seen.lock().unwrap();
    assert!(seen
        .iter()
        .all(|a| *a != client.local_addr().unwrap() && *a == seen[0]));
}

/// Bytes go through untouched; `cut` closes the open connection, and a new one works.
#[tokio::test]
async fn tcp_proxy_forwards_and_cuts() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let proxy = TcpProxy::start("127.0.0.1:0".parse().unwrap(), target)
        .await
        .unwrap();
    let mut c = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    c.write_all(b"bonjour").await.unwrap();
    let mut buf = [0u8; 7];
    c.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"bonjour");
    proxy.cut();
    let n = tokio::time::timeout(Duration::from_secs(2), c.read(&mut buf))
        .await
        .expect("the cut connection stays open")
        .unwrap_or(0);
    assert_eq!(n, 0, "the cut connection must read EOF");
    let mut c2 = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    c2.write_all(b"encore!").await.unwrap();
    c2.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"encore!");
    assert_eq!(proxy.accepted(), 2);
}
