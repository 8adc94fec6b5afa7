//! Offer and answer payloads shaped like the KVS WebRTC SDKs': base64 of
//! `{"type":"offer","sdp":"..."}` with a browser's audio-and-video session description, grown
//! with host candidates (as a non-trickle offer carries them) to the size asked for. The
//! server relays `messagePayload` without decoding it, so only the size and the base64 alphabet
//! matter to what is measured; the shape keeps the frames honest.
//!
//! An offer's payload starts with the bench's 16-character send stamp (`stamp.rs`); the
//! master copies it to the front of its answer, so the viewer reads offer→answer latency from
//! the answer alone.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::stamp;

/// A recvonly audio-and-video session as a browser viewer offers it.
const SESSION: &str = "v=0\r\n\
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0 1 2\r\n\
a=extmap-allow-mixed\r\n\
a=msid-semantic: WMS\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105 106 107 108 109 127 125\r\n\
c=IN IP4 0.0.0.0\r\n\
a=rtcp:9 IN IP4 0.0.0.0\r\n\
a=ice-ufrag:Vq3X\r\n\
a=ice-pwd:ZpY1m0kpXwBv8bHn3C9tPZ2u\r\n\
a=ice-options:trickle\r\n\
a=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\n\
a=setup:actpass\r\n\
a=mid:0\r\n\
a=extmap:1 urn:ietf:params:rtp-hdrext:toffset\r\n\
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n\
a=extmap:3 urn:3gpp:video-orientation\r\n\
a=extmap:4 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n\
a=extmap:9 urn:ietf:params:rtp-hdrext:sdes:mid\r\n\
a=recvonly\r\n\
a=rtcp-mux\r\n\
a=rtcp-rsize\r\n\
a=rtpmap:96 VP8/90000\r\n\
a=rtcp-fb:96 goog-remb\r\n\
a=rtcp-fb:96 transport-cc\r\n\
a=rtcp-fb:96 ccm fir\r\n\
a=rtcp-fb:96 nack\r\n\
a=rtcp-fb:96 nack pli\r\n\
a=rtpmap:97 rtx/90000\r\n\
a=fmtp:97 apt=96\r\n\
a=rtpmap:102 H264/90000\r\n\
a=rtcp-fb:102 goog-remb\r\n\
a=rtcp-fb:102 transport-cc\r\n\
a=rtcp-fb:102 ccm fir\r\n\
a=rtcp-fb:102 nack\r\n\
a=rtcp-fb:102 nack pli\r\n\
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n\
a=rtpmap:103 rtx/90000\r\n\
a=fmtp:103 apt=102\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n\
c=IN IP4 0.0.0.0\r\n\
a=rtcp:9 IN IP4 0.0.0.0\r\n\
a=ice-ufrag:Vq3X\r\n\
a=ice-pwd:ZpY1m0kpXwBv8bHn3C9tPZ2u\r\n\
a=ice-options:trickle\r\n\
a=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\n\
a=setup:actpass\r\n\
a=mid:1\r\n\
a=extmap:14 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n\
a=recvonly\r\n\
a=rtcp-mux\r\n\
a=rtpmap:111 opus/48000/2\r\n\
a=rtcp-fb:111 transport-cc\r\n\
a=fmtp:111 minptime=10;useinbandfec=1\r\n\
a=rtpmap:63 red/48000/2\r\n\
a=fmtp:63 111/111\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n\
c=IN IP4 0.0.0.0\r\n\
a=ice-ufrag:Vq3X\r\n\
a=ice-pwd:ZpY1m0kpXwBv8bHn3C9tPZ2u\r\n\
a=ice-options:trickle\r\n\
a=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\n\
a=setup:actpass\r\n\
a=mid:2\r\n\
a=sctp-port:5000\r\n\
a=max-message-size:262144\r\n";

#[derive(Clone, Copy)]
pub enum Kind {
    Offer,
    Answer,
}

/// The base64 of an offer or answer document whose SDP is about `sdp_size` bytes (cut at a line
/// below the session above, grown with candidates beyond it), encoded after a stamp's 12 bytes
/// so that a stamp's 16 characters go in front of it as they are.
pub fn payload_tail(kind: Kind, sdp_size: usize) -> String {
    let session = match kind {
        Kind::Offer => SESSION.to_owned(),
        // An answer takes the DTLS client role and sends what the offer asked to receive.
        Kind::Answer => SESSION
            .replace("a=setup:actpass", "a=setup:active")
            .replace("a=recvonly", "a=sendonly"),
    };
    let mut sdp = String::with_capacity(sdp_size + 128);
    for line in session.split_inclusive("\r\n") {
        if sdp.len() + line.len() > sdp_size && !sdp.is_empty() {
            break;
        }
        sdp.push_str(line);
    }
    let mut n = 0u32;
    while sdp.len() < sdp_size {
        sdp.push_str(&format!(
            "a=candidate:{n} 1 udp 2122260223 192.168.{}.{} {} typ host generation 0 network-id 1\r\n",
            n / 250 % 250,
            n % 250 + 2,
            50_000 + n
        ));
        n += 1;
    }
    let kind = match kind {
        Kind::Offer => "offer",
        Kind::Answer => "answer",
    };
    let doc = serde_json::json!({ "type": kind, "sdp": sdp }).to_string();
    STANDARD.encode(doc)
}

/// The base64 send stamp for `nanos`, to put in front of a payload tail.
pub fn stamp_b64(nanos: u64) -> String {
    let mut out = Vec::with_capacity(stamp::STAMP_B64_LEN);
    stamp::encode_b64(nanos, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_the_asked_size_and_carry_the_stamp() {
        for size in [300, 2_400, 6_000] {
            let tail = payload_tail(Kind::Offer, size);
            let payload = format!("{}{tail}", stamp_b64(7));
            let raw = STANDARD.decode(&payload).unwrap();
            assert_eq!(stamp::decode(&raw), Some(7));
            let doc: serde_json::Value = serde_json::from_slice(&raw[stamp::STAMP_LEN..]).unwrap();
            assert_eq!(doc["type"], "offer");
            let sdp = doc["sdp"].as_str().unwrap();
            assert!(sdp.starts_with("v=0\r\n") && sdp.ends_with("\r\n"));
            // Cut or grown by whole lines: within one line of the size asked for.
            assert!(sdp.len().abs_diff(size) < 120, "{size}: {}", sdp.len());
        }
        let answer = STANDARD.decode(payload_tail(Kind::Answer, 2_400)).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        assert!(doc["sdp"].as_str().unwrap().contains("a=setup:active"));
    }
}
