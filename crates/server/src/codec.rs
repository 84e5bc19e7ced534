//! Pure functions between frames and typed messages: no I/O, so they can be fuzzed and tested
//! alone. A frame is one request without its 4-byte size prefix.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::handlers::api_versions;

/// A decoded request.
#[derive(Debug)]
pub struct Request {
    pub api_key: ApiKey,
    pub header: RequestHeader,
    pub body: RequestKind,
}

impl Request {
    pub fn version(&self) -> i16 {
        self.header.request_api_version
    }
}

/// Why a frame is not a request Brook can serve.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("frame shorter than a request header")]
    Truncated,
    #[error("unknown API key {api_key}")]
    UnknownApiKey { api_key: i16 },
    /// Kafka answers an ApiVersions request of an unknown version with its supported ranges;
    /// any other API at an unsupported version closes the connection.
    #[error("{api_key:?} version {version} is not supported")]
    UnsupportedVersion { api_key: ApiKey, version: i16, correlation_id: i32 },
    #[error("malformed {api_key:?} v{version} request: {reason}")]
    Malformed { api_key: ApiKey, version: i16, reason: String },
}

/// Decodes one request frame.
pub fn decode_request(mut frame: Bytes) -> Result<Request, DecodeError> {
    if frame.len() < 8 {
        return Err(DecodeError::Truncated);
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api_key = ApiKey::try_from(key).map_err(|_| DecodeError::UnknownApiKey { api_key: key })?;
    if !api_versions::supports(api_key, version) {
        return Err(DecodeError::UnsupportedVersion { api_key, version, correlation_id });
    }
    let malformed = |e: anyhow::Error| DecodeError::Malformed { api_key, version, reason: e.to_string() };
    let header = RequestHeader::decode(&mut frame, api_key.request_header_version(version)).map_err(malformed)?;
    let body = RequestKind::decode(api_key, &mut frame, version).map_err(malformed)?;
    if crate::handlers::acls::has_unknown_elements(&body) {
        return Err(malformed(anyhow::anyhow!("an ACL request with UNKNOWN elements")));
    }
    Ok(Request { api_key, header, body })
}

/// Encodes a response with its size prefix, correlation id and the header version the API
/// and version call for.
pub fn encode_response(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> anyhow::Result<Bytes> {
    let mut out = BytesMut::with_capacity(64);
    out.put_i32(0); // size, filled in below
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    header.encode(&mut out, api_key.response_header_version(version))?;
    body.encode(&mut out, version)?;
    let size = i32::try_from(out.len() - 4)?;
    out[..4].copy_from_slice(&size.to_be_bytes());
    Ok(out.freeze())
}

/// Splits the next whole frame off `buf`: `Ok(None)` until one is complete, `Err` for a size
/// no request may have (negative or above `max_bytes`), after which Kafka closes the connection.
pub fn take_frame(buf: &mut BytesMut, max_bytes: u32) -> Result<Option<Bytes>, i32> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if size < 0 || size as u32 > max_bytes {
        return Err(size);
    }
    let size = size as usize;
    if buf.len() < 4 + size {
        buf.reserve(4 + size - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(size).freeze()))
}

/// Fuzzing entry point (also replayed over the committed corpus by the test suite): splits
/// `data` into frames as a connection would and decodes each, then decodes `data` as one frame.
pub fn fuzz_one(data: &[u8]) {
    let mut buf = BytesMut::from(data);
    while let Ok(Some(frame)) = take_frame(&mut buf, 1 << 20) {
        let _ = decode_request(frame);
    }
    let _ = decode_request(Bytes::copy_from_slice(data));
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::ApiVersionsRequest;
    use kafka_protocol::protocol::StrBytes;

    fn frame(api_key: ApiKey, version: i16, body: &impl Encodable) -> Bytes {
        let mut out = BytesMut::new();
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(7)
            .with_client_id(Some(StrBytes::from_static_str("test")));
        header.encode(&mut out, api_key.request_header_version(version)).expect("header");
        body.encode(&mut out, version).expect("body");
        out.freeze()
    }

    /// A real ApiVersions v3 frame decodes; unknown keys and versions are told apart.
    #[test]
    fn decode_requests() {
        let request = decode_request(frame(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())).expect("decodes");
        assert_eq!(request.api_key, ApiKey::ApiVersions);
        assert_eq!(request.header.correlation_id, 7);
        let mut bad = frame(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()).to_vec();
        bad[1] = 200;
        assert_eq!(decode_request(Bytes::from(bad)).err(), Some(DecodeError::UnknownApiKey { api_key: 200 }));
        let mut future = frame(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()).to_vec();
        future[3] = 99;
        assert!(matches!(decode_request(Bytes::from(future)), Err(DecodeError::UnsupportedVersion { .. })));
        assert_eq!(decode_request(Bytes::from_static(b"\0\x12")).err(), Some(DecodeError::Truncated));
    }

    /// Regression (found by fuzzing): a tiny Metadata request declaring two billion topics is
    /// refused as malformed instead of aborting the broker on a huge allocation.
    #[test]
    fn huge_declared_array_is_malformed() {
        let mut frame = vec![0, 3, 0, 0, 0, 0, 0, 1, 0, 0]; // Metadata v0, correlation 1, no client id
        frame.extend_from_slice(&0x7fff_ffffi32.to_be_bytes()); // topics: i32::MAX of them
        frame.extend_from_slice(&[0, 1, b'a']);
        let err = decode_request(Bytes::from(frame)).expect_err("malformed");
        assert!(matches!(err, DecodeError::Malformed { api_key: ApiKey::Metadata, .. }), "{err}");
    }

    /// Frames split at size prefixes; bad sizes are refused.
    #[test]
    fn frames() {
        let mut buf = BytesMut::from(&[0u8, 0, 0, 3, 1, 2][..]);
        assert_eq!(take_frame(&mut buf, 100), Ok(None));
        buf.extend_from_slice(&[3, 0, 0]);
        assert_eq!(take_frame(&mut buf, 100), Ok(Some(Bytes::from_static(&[1, 2, 3]))));
        assert_eq!(take_frame(&mut buf, 100), Ok(None));
        let mut huge = BytesMut::from(&[0x7fu8, 0xff, 0xff, 0xff][..]);
        assert!(take_frame(&mut huge, 100).is_err());
        let mut negative = BytesMut::from(&[0xffu8, 0xff, 0xff, 0xff][..]);
        assert!(take_frame(&mut negative, 100).is_err());
    }
}
