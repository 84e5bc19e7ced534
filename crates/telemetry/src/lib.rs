//! Client metrics (KIP-714), without I/O or a clock: the operator's subscriptions (which metrics,
//! how often, from which clients), each client instance's push schedule with Kafka 4.4's
//! refusals, and the OpenTelemetry (OTLP) metrics a client pushes, decoded.
//!
//! - `subscription`: a CLIENT_METRICS config resource validated and matched against a client.
//! - `clients`: GetTelemetrySubscriptions and PushTelemetry's decisions per client instance.
//! - `otlp`: the `MetricsData` protobuf, read into samples.

pub mod clients;
pub mod otlp;
pub mod subscription;

pub use clients::{Clients, Refusal, Subscribed};
pub use subscription::{ClientInfo, Subscription};
