//! Kafka requests librdkafka has no API for (DescribeQuorum, ElectLeaders, the partition
//! reassignments, the transaction APIs), sent as Kafka's own frames to the first bootstrap server that answers, at
//! versions every Kafka 3.x and 4.x broker (and Brook) serves.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use brook_security::sasl::ClientLogin;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, RequestHeader, ResponseHeader, ResponseKind, SaslAuthenticateRequest,
    SaslHandshakeRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::ToolError;
use crate::args::Parsed;
use crate::client::{self, TIMEOUT};
use crate::security::{Security, Stream};

/// Responses larger than this are refused rather than allocated (a broker never sends one).
const MAX_RESPONSE: usize = 100 << 20;

pub(crate) struct Wire {
    stream: Stream,
    correlation_id: i32,
    /// How this connection was made, for connections to the cluster's other brokers.
    security: Security,
}

impl Wire {
    /// A connection to the first of `--bootstrap-server`'s brokers that accepts one, with
    /// TLS and SASL as `--command-config` says.
    pub(crate) fn connect(parsed: &Parsed) -> Result<Wire, ToolError> {
        let servers = parsed
            .get("bootstrap-server")
            .ok_or_else(|| ToolError::usage("Missing required argument \"[bootstrap-server]\""))?;
        let security = Security::from_settings(&client::settings(parsed)?)?;
        let mut last = String::new();
        for server in servers.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match Wire::open(server, &security) {
                Ok(wire) => return Ok(wire),
                Err(e) => last = e.message,
            }
        }
        Err(ToolError::failed(format!("cannot reach the cluster: {last}")))
    }

    /// A connection to another broker of the cluster (as Metadata or FindCoordinator named
    /// it), made as this one was.
    pub(crate) fn connect_to(&self, addr: &str) -> Result<Wire, ToolError> {
        Wire::open(addr, &self.security)
    }

    fn open(addr: &str, security: &Security) -> Result<Wire, ToolError> {
        let socket = TcpStream::connect(addr).map_err(|e| ToolError::failed(format!("cannot reach {addr}: {e}")))?;
        socket.set_nodelay(true).map_err(failed)?;
        socket.set_read_timeout(Some(TIMEOUT)).map_err(failed)?;
        socket.set_write_timeout(Some(Duration::from_secs(10))).map_err(failed)?;
        let stream = security.connect(addr, socket)?;
        let mut wire = Wire { stream, correlation_id: 0, security: security.clone() };
        if let Some(login) = &security.login {
            wire.authenticate(login).map_err(|e| ToolError::failed(format!("{addr}: {}", e.message)))?;
        }
        Ok(wire)
    }

    /// SaslHandshake, then SaslAuthenticate until the broker accepts (or refuses) the login.
    fn authenticate(&mut self, login: &ClientLogin) -> Result<(), ToolError> {
        let handshake = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(login.mechanism()));
        let ResponseKind::SaslHandshake(r) = self.call(ApiKey::SaslHandshake, 1, &handshake)? else {
            return Err(ToolError::failed("unexpected answer to SaslHandshake"));
        };
        if r.error_code != 0 {
            let offered: Vec<&str> = r.mechanisms.iter().map(|m| m.as_str()).collect();
            return Err(ToolError::failed(format!(
                "{} (the broker offers {offered:?})",
                error_text(r.error_code, None)
            )));
        }
        let mut send = |token: Vec<u8>| -> Result<Vec<u8>, ToolError> {
            let request = SaslAuthenticateRequest::default().with_auth_bytes(token.into());
            let ResponseKind::SaslAuthenticate(r) = self.call(ApiKey::SaslAuthenticate, 2, &request)? else {
                return Err(ToolError::failed("unexpected answer to SaslAuthenticate"));
            };
            match r.error_code {
                0 => Ok(r.auth_bytes.to_vec()),
                code => Err(ToolError::failed(error_text(code, r.error_message.as_ref()))),
            }
        };
        let (mut token, mut exchange) = login.start();
        loop {
            let reply = send(token)?;
            match exchange.next(&reply).map_err(ToolError::failed)? {
                Some(next) => token = next,
                None => return Ok(()),
            }
        }
    }

    /// Whether the broker serves `api_key` at `version` (ApiVersions).
    pub(crate) fn supports(&mut self, api_key: ApiKey, version: i16) -> Result<bool, ToolError> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("brook-cli"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let ResponseKind::ApiVersions(r) = self.call(ApiKey::ApiVersions, 3, &request)? else {
            return Err(ToolError::failed("the broker answered ApiVersions with something else"));
        };
        let key = api_key as i16;
        Ok(r.error_code == 0
            && r.api_keys.iter().any(|a| a.api_key == key && (a.min_version..=a.max_version).contains(&version)))
    }

    /// The cluster's brokers (DescribeCluster): id and `host:port`.
    pub(crate) fn brokers(&mut self) -> Result<Vec<(i32, String)>, ToolError> {
        let request = kafka_protocol::messages::DescribeClusterRequest::default();
        let ResponseKind::DescribeCluster(cluster) = self.call(ApiKey::DescribeCluster, 0, &request)? else {
            return Err(ToolError::failed("unexpected answer to DescribeCluster"));
        };
        if cluster.error_code != 0 {
            return Err(ToolError::failed(error_text(cluster.error_code, cluster.error_message.as_ref())));
        }
        Ok(cluster.brokers.iter().map(|b| (b.broker_id.0, format!("{}:{}", b.host, b.port))).collect())
    }

    /// IncrementalAlterConfigs of one resource: `(key, operation, value)` each (Kafka's
    /// `AlterConfigOp` codes). A refusal is the broker's message, else the error's name.
    pub(crate) fn alter_configs(
        &mut self,
        resource_type: i8,
        name: &str,
        ops: &[(&str, i8, Option<String>)],
    ) -> Result<(), ToolError> {
        use kafka_protocol::messages::IncrementalAlterConfigsRequest;
        use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
        let configs = ops
            .iter()
            .map(|(key, op, value)| {
                AlterableConfig::default()
                    .with_name(StrBytes::from_string(key.to_string()))
                    .with_config_operation(*op)
                    .with_value(value.clone().map(StrBytes::from_string))
            })
            .collect();
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(StrBytes::from_string(name.to_string()))
                .with_configs(configs),
        ]);
        let ResponseKind::IncrementalAlterConfigs(response) =
            self.call(ApiKey::IncrementalAlterConfigs, 1, &request)?
        else {
            return Err(ToolError::failed("unexpected answer to IncrementalAlterConfigs"));
        };
        match response.responses.first() {
            Some(r) if r.error_code != 0 => {
                let message = r.error_message.as_ref().map(|m| m.to_string()).filter(|m| !m.is_empty());
                Err(ToolError::failed(message.unwrap_or_else(|| error_text(r.error_code, None))))
            }
            _ => Ok(()),
        }
    }

    /// One request and its response.
    pub(crate) fn call(
        &mut self,
        api_key: ApiKey,
        version: i16,
        body: &impl Encodable,
    ) -> Result<ResponseKind, ToolError> {
        self.correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("brook-cli")));
        let mut frame = bytes::BytesMut::new();
        header.encode(&mut frame, api_key.request_header_version(version)).map_err(failed)?;
        body.encode(&mut frame, version).map_err(failed)?;
        self.stream.write_all(&(frame.len() as u32).to_be_bytes()).map_err(failed)?;
        self.stream.write_all(&frame).map_err(failed)?;

        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).map_err(failed)?;
        let size = u32::from_be_bytes(size) as usize;
        if size > MAX_RESPONSE {
            return Err(ToolError::failed(format!("the broker sent a {size}-byte response")));
        }
        let mut response = vec![0u8; size];
        self.stream.read_exact(&mut response).map_err(failed)?;
        let mut response = bytes::Bytes::from(response);
        let header = ResponseHeader::decode(&mut response, api_key.response_header_version(version)).map_err(failed)?;
        if header.correlation_id != self.correlation_id {
            return Err(ToolError::failed("the broker answered another request"));
        }
        ResponseKind::decode(api_key, &mut response, version).map_err(failed)
    }
}

fn failed(e: impl std::fmt::Display) -> ToolError {
    ToolError::failed(format!("talking to the cluster failed: {e}"))
}

/// A Kafka error code as its name and message, for the tools' output.
pub(crate) fn error_text(code: i16, message: Option<&StrBytes>) -> String {
    let name = kafka_protocol::error::ResponseError::try_from_code(code)
        .map_or_else(|| format!("error {code}"), |e| format!("{e:?}"));
    match message.map(|m| m.as_str()).filter(|m| !m.is_empty()) {
        Some(m) => format!("{name}: {m}"),
        None => name,
    }
}
