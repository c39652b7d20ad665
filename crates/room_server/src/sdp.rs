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
