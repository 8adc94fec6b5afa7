//! CloudWatch Logs subscription records: GZIP-compressed JSON envelopes
//! (`{messageType, owner, logGroup, logStream, subscriptionFilters, logEvents: [{id, timestamp,
//! message}]}`). Decompression yields the envelope; message extraction yields each log event's
//! message as its own record and drops CONTROL_MESSAGE envelopes (CloudWatch Logs' reachability
//! checks), as AWS does.

use std::io::Read;

use bytes::Bytes;
use serde::Deserialize;

/// Decompressed records larger than this are refused rather than inflated without bound.
const MAX_DECOMPRESSED: u64 = 64 << 20;

pub fn decompress(data: &[u8]) -> Result<Bytes, String> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .take(MAX_DECOMPRESSED + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("The record is not GZIP-compressed: {e}"))?;
    if out.len() as u64 > MAX_DECOMPRESSED {
        return Err(format!(
            "The record decompresses to more than {MAX_DECOMPRESSED} bytes."
        ));
    }
    Ok(out.into())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    message_type: String,
    #[serde(default)]
    log_events: Vec<LogEvent>,
}

#[derive(Deserialize)]
struct LogEvent {
    message: String,
}

pub fn messages(envelope: &[u8]) -> Result<Vec<Bytes>, String> {
    let envelope: Envelope = serde_json::from_slice(envelope)
        .map_err(|e| format!("The record is not a CloudWatch Logs envelope: {e}"))?;
    Ok(match envelope.message_type.as_str() {
        "DATA_MESSAGE" => envelope
            .log_events
            .into_iter()
            .map(|e| Bytes::from(e.message))
            .collect(),
        _ => Vec::new(),
    })
}
