//! The one SDP rewrite str0m cannot do for us (see [`recvonly_to_inactive`]).

/// Rewrites `a=recvonly` media sections of a remote offer as `a=inactive`.
pub fn recvonly_to_inactive(sdp: &str) -> String {
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        if line.trim_end() == "a=recvonly" {
            out.push_str(&line.replacen("a=recvonly", "a=inactive", 1));
        } else {
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn recvonly_becomes_inactive_and_the_rest_is_untouched() {
        let sdp = "v=0\r\nm=audio 9 X 111\r\na=recvonly\r\nm=video 9 X 96\r\na=sendonly\r\n";
        let out = super::recvonly_to_inactive(sdp);
        assert_eq!(
            out,
            "v=0\r\nm=audio 9 X 111\r\na=inactive\r\nm=video 9 X 96\r\na=sendonly\r\n"
        );
    }
}

/// Narrows each video m-line of a remote offer to one codec (with its RTX), as LiveKit server
/// does: the codec the AddTrackRequest asked for (`preferred(track_id)`, e.g. "VP9"), else the
/// first one the offerer lists among those we forward. str0m answers in its own codec order,
/// so without this a browser asking for VP9 (as Visio's web app does) would send VP8.
pub fn keep_preferred_video_codec(sdp: &str, preferred: impl Fn(&str) -> Option<String>) -> String {
    const FORWARDED: [&str; 4] = ["VP8", "VP9", "H264", "AV1"];
    let lines: Vec<&str> = sdp.split_inclusive('\n').collect();
    let mut out = String::with_capacity(sdp.len());
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if !line.starts_with("m=video ") {
            out.push_str(line);
            i += 1;
            continue;
        }
        // The section runs until the next m= line.
        let end = (i + 1..lines.len())
            .find(|j| lines[*j].starts_with("m="))
            .unwrap_or(lines.len());
        let section = &lines[i..end];
        out.push_str(&narrow_video_section(section, &FORWARDED, &preferred));
        i = end;
    }
    out
}

fn narrow_video_section(
    section: &[&str],
    forwarded: &[&str],
    preferred: &dyn Fn(&str) -> Option<String>,
) -> String {
    let unchanged = || section.concat();
    let m_line = section[0].trim_end();
    let mut fields = m_line.split(' ');
    let head: Vec<&str> = fields.by_ref().take(3).collect();
    let pts: Vec<&str> = fields.collect();
    if head.len() < 3 || pts.is_empty() {
        return unchanged();
    }
    // pt -> codec name, pt -> apt (for RTX).
    let mut codec = std::collections::HashMap::new();
    let mut apt = std::collections::HashMap::new();
    let mut asked: Option<String> = None;
    for l in section {
        let l = l.trim_end();
        if let Some(rest) = l.strip_prefix("a=msid:") {
            asked = rest
                .split_whitespace()
                .nth(1)
                .and_then(preferred)
                .map(|c| c.to_ascii_uppercase());
        } else if let Some(rest) = l.strip_prefix("a=rtpmap:") {
            if let Some((pt, enc)) = rest.split_once(' ') {
                codec.insert(pt, enc.split('/').next().unwrap_or("").to_ascii_uppercase());
            }
        } else if let Some(rest) = l.strip_prefix("a=fmtp:") {
            if let Some((pt, params)) = rest.split_once(' ') {
                if let Some(a) = params
                    .split(';')
                    .find_map(|p| p.trim().strip_prefix("apt="))
                {
                    apt.insert(pt, a);
                }
            }
        }
    }
    let first_listed = || {
        pts.iter()
            .filter_map(|pt| codec.get(pt))
            .find(|c| forwarded.contains(&c.as_str()))
            .cloned()
    };
    let asked = asked.filter(|c| forwarded.contains(&c.as_str()) && codec.values().any(|v| v == c));
    let Some(preferred) = asked.or_else(first_listed) else {
        return unchanged();
    };
    let keep: Vec<&str> = pts
        .iter()
        .copied()
        .filter(|pt| {
            codec.get(pt) == Some(&preferred)
                || apt
                    .get(pt)
                    .is_some_and(|main| codec.get(main) == Some(&preferred))
        })
        .collect();
    if keep.is_empty() {
        return unchanged();
    }
    let ending = if section[0].ends_with("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let mut out = format!("{} {}{ending}", head.join(" "), keep.join(" "));
    for l in &section[1..] {
        let t = l.trim_end();
        let pt_attr = ["a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"]
            .iter()
            .find_map(|p| t.strip_prefix(p))
            .and_then(|rest| rest.split([' ', ':']).next());
        match pt_attr {
            Some(pt) if pt != "*" && !keep.contains(&pt) => {}
            _ => out.push_str(l),
        }
    }
    out
}

#[cfg(test)]
mod codec_tests {
    #[test]
    fn video_is_narrowed_to_the_first_codec_and_its_rtx() {
        let sdp = "v=0\r\nm=audio 9 X 111\r\na=rtpmap:111 opus/48000/2\r\n\
                   m=video 9 UDP/TLS/RTP/SAVPF 98 99 96 97 35\r\n\
                   a=rtpmap:98 VP9/90000\r\na=rtcp-fb:98 nack\r\na=fmtp:98 profile-id=0\r\n\
                   a=rtpmap:99 rtx/90000\r\na=fmtp:99 apt=98\r\n\
                   a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\n\
                   a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n\
                   a=rtpmap:35 red/90000\r\na=mid:1\r\n";
        let out = super::keep_preferred_video_codec(sdp, |_| None);
        assert!(
            out.contains("m=video 9 UDP/TLS/RTP/SAVPF 98 99\r\n"),
            "{out}"
        );
        assert!(out.contains("a=rtpmap:98 VP9/90000") && out.contains("a=fmtp:99 apt=98"));
        assert!(!out.contains("VP8") && !out.contains("apt=96") && !out.contains("red/"));
        assert!(out.contains("a=rtpmap:111 opus/48000/2") && out.contains("a=mid:1"));
    }

    #[test]
    fn unknown_or_malformed_sections_are_left_alone() {
        for sdp in [
            "m=video 9 X\r\n",
            "m=video 9 X 100\r\na=rtpmap:100 FOO/90000\r\n",
            "m=video",
        ] {
            assert_eq!(super::keep_preferred_video_codec(sdp, |_| None), sdp);
        }
    }

    #[test]
    fn the_codec_asked_in_add_track_wins_over_the_offer_order() {
        let sdp = "m=video 9 X 96 97 98 99\r\na=msid:- cam1\r\n\
                   a=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n\
                   a=rtpmap:98 VP9/90000\r\na=rtpmap:99 rtx/90000\r\na=fmtp:99 apt=98\r\n";
        let ask = |tid: &str| (tid == "cam1").then(|| "vp9".to_owned());
        let out = super::keep_preferred_video_codec(sdp, ask);
        assert!(out.starts_with("m=video 9 X 98 99\r\n"), "{out}");
        let other = super::keep_preferred_video_codec(sdp, |_| Some("h264".into()));
        assert!(
            other.starts_with("m=video 9 X 96 97\r\n"),
            "unknown ask falls back: {other}"
        );
    }
}
