//! Reading what the user typed or clicked: a Visio link, a `visio://` deep link or a bare
//! room code, into the server and normalised room code (`abc-defg-hij`, as Visio does).

use crate::bridge::{AppError, ErrorCode, RoomRef};

/// The Visio instance a bare room code belongs to when nothing else says.
pub const DEFAULT_SERVER: &str = "https://visio.numerique.gouv.fr";

/// `https://HOST/abc-defg-hij`, `visio://HOST/abc-defg-hij` (http for a loopback host, where
/// the local room server runs, https otherwise), or a bare code on `default_server`.
pub fn resolve(input: &str, default_server: &str) -> Result<RoomRef, AppError> {
    let input = input.trim();
    let invalid = |why: &str| {
        AppError::new(
            ErrorCode::InvalidLink,
            format!("{why}: {:?}", input.chars().take(200).collect::<String>()),
        )
    };
    if input.is_empty() {
        return Err(invalid("empty link"));
    }
    if !input.contains("://") {
        let code = room_code::normalize(input)
            .filter(|c| room_code::is_valid(c))
            .ok_or_else(|| invalid("not a room code (abc-defg-hij)"))?;
        let server = default_server.trim_end_matches('/').to_owned();
        return Ok(RoomRef {
            link: format!("{server}/{code}"),
            server,
            room_code: code,
        });
    }
    let url = url::Url::parse(input).map_err(|e| invalid(&format!("not a link ({e})")))?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid("the link has no server"))?;
    let scheme = match url.scheme() {
        "http" | "https" => url.scheme(),
        "visio" if is_loopback(host) => "http",
        "visio" => "https",
        _ => return Err(invalid("a Visio link starts with https:// or visio://")),
    };
    let last = url
        .path_segments()
        .and_then(|mut s| s.rfind(|p| !p.is_empty()))
        .ok_or_else(|| invalid("the link names no room"))?;
    let code = room_code::normalize(last)
        .filter(|c| room_code::is_valid(c))
        .ok_or_else(|| invalid("the link names no room (…/abc-defg-hij)"))?;
    let server = match url.port() {
        Some(p) => format!("{scheme}://{host}:{p}"),
        None => format!("{scheme}://{host}"),
    };
    Ok(RoomRef {
        link: format!("{server}/{code}"),
        server,
        room_code: code,
    })
}

fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h == "localhost"
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The first argument that looks like a link or a room code (what a deep link or a second
/// launch passes).
pub fn link_in_args<I: IntoIterator<Item = String>>(args: I) -> Option<String> {
    args.into_iter()
        .skip(1)
        .find(|a| !a.starts_with('-') && (a.contains("://") || room_code::normalize(a).is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_codes_and_deep_links() {
        let r = resolve("https://visio.numerique.gouv.fr/ABCDEFGHIJ", DEFAULT_SERVER).unwrap();
        assert_eq!(r.room_code, "abc-defg-hij");
        assert_eq!(r.server, "https://visio.numerique.gouv.fr");
        assert_eq!(r.link, "https://visio.numerique.gouv.fr/abc-defg-hij");

        let r = resolve(" abc-defg-hij ", "http://127.0.0.1:7880/").unwrap();
        assert_eq!(r.link, "http://127.0.0.1:7880/abc-defg-hij");

        let r = resolve("visio://127.0.0.1:7880/abc-defg-hij", DEFAULT_SERVER).unwrap();
        assert_eq!(r.link, "http://127.0.0.1:7880/abc-defg-hij");
        let r = resolve("visio://visio.example.fr/abc-defg-hij/", DEFAULT_SERVER).unwrap();
        assert_eq!(r.link, "https://visio.example.fr/abc-defg-hij");
    }

    #[test]
    fn bad_input_is_invalid_link() {
        for bad in [
            "",
            "hello",
            "https://visio.numerique.gouv.fr/",
            "https://visio.numerique.gouv.fr/ab-cdefg-hij",
            "ftp://h/abc-defg-hij",
            "https:///abc-defg-hij",
        ] {
            let e = resolve(bad, DEFAULT_SERVER).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidLink, "{bad:?}");
        }
    }

    #[test]
    fn link_from_argv() {
        let args = ["visio-desktop", "--name", "x", "visio://h/abc-defg-hij"];
        assert_eq!(
            link_in_args(args.map(String::from)).as_deref(),
            Some("visio://h/abc-defg-hij")
        );
        assert_eq!(link_in_args(["a", "--join"].map(String::from)), None);
    }
}
