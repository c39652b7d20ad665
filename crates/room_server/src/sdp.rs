//! The little SDP reading str0m does not expose: which track id (`a=msid`) each `mid` carries,
//! so that a published m-line can be matched to the `cid` of its AddTrackRequest.

use std::collections::HashMap;

/// Maps each `a=mid` of an SDP to the track id of its `a=msid:<stream> <track>` line.
pub fn mid_to_track_id(sdp: &str) -> HashMap<String, String> {
    let mut map = HashMap::new();
    let mut mid: Option<&str> = None;
    let mut track: Option<&str> = None;
    let mut flush = |mid: &mut Option<&str>, track: &mut Option<&str>| {
        if let (Some(m), Some(t)) = (mid.take(), track.take()) {
            map.insert(m.to_owned(), t.to_owned());
        }
        *mid = None;
        *track = None;
    };
    for line in sdp.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with("m=") {
            flush(&mut mid, &mut track);
        } else if let Some(m) = line.strip_prefix("a=mid:") {
            mid = Some(m.trim());
        } else if let Some(rest) = line.strip_prefix("a=msid:") {
            track = rest.split_whitespace().nth(1);
        }
    }
    flush(&mut mid, &mut track);
    map
}

#[cfg(test)]
mod tests {
    #[test]
    fn maps_mids_to_msid_track_ids() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=msid:s1 TA\r\n\
                   m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=msid:s1 TV\r\na=mid:1\r\n\
                   m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:2\r\n";
        let map = super::mid_to_track_id(sdp);
        assert_eq!(map.get("0").map(String::as_str), Some("TA"));
        assert_eq!(map.get("1").map(String::as_str), Some("TV"));
        assert!(!map.contains_key("2"));
    }
}

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
mod rewrite_tests {
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
