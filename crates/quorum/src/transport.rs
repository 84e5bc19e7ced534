//! Node-to-node RPC: Brook's own framing on the controller listener, never seen by Kafka
//! clients. A frame is a 4-byte big-endian length and that many bytes of bincode; a connection
//! carries one request at a time, each answered before the next is sent.
//!
//! Raft's three messages go to the local Raft node; `App` requests (a broker registering or
//! heartbeating, a forwarded admin request) go to the application's handler.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use openraft::error::{Infallible, InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::{BasicNode, Raft};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::debug;

use crate::{NodeId, TypeConfig};

/// The largest frame accepted: snapshot chunks are a few MiB, entry batches rarely more.
const FRAME_BYTES_MAX: usize = 256 << 20;
/// How long connecting to a peer may take before it counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The application's side of the RPC: bytes in, bytes (or an error message) out.
pub type AppHandler = Arc<dyn Fn(Vec<u8>) -> BoxFuture<'static, Result<Vec<u8>, String>> + Send + Sync>;

#[derive(Serialize, Deserialize)]
enum Request {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    App(Vec<u8>),
}

#[derive(Serialize, Deserialize)]
enum Response {
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    InstallSnapshot(Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>),
    App(Result<Vec<u8>, String>),
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("cannot connect to {addr}: {source}")]
    Unreachable { addr: String, source: io::Error },
    #[error("connection to {addr} failed: {source}")]
    Network { addr: String, source: io::Error },
    /// The remote application refused the request.
    #[error("{0}")]
    Remote(String),
}

async fn read_frame(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match stream.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > FRAME_BYTES_MAX {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("a {len}-byte frame is too large")));
    }
    let mut buf = vec![0u8; len];
    stream.read_exact(&mut buf).await?;
    Ok(Some(buf))
}

async fn write_frame(stream: &mut TcpStream, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len()).map_err(io::Error::other)?;
    stream.write_all(&len.to_be_bytes()).await?;
    stream.write_all(payload).await?;
    stream.flush().await
}

/// A connection to one peer, opened on first use and again after any failure.
pub struct Client {
    addr: String,
    stream: Option<TcpStream>,
}

impl Client {
    pub fn new(addr: impl Into<String>) -> Client {
        Client { addr: addr.into(), stream: None }
    }

    /// Sends an application request and waits up to `timeout` for its answer.
    pub async fn call_app(&mut self, request: Vec<u8>, timeout: Duration) -> Result<Vec<u8>, CallError> {
        match self.call(&Request::App(request), timeout).await? {
            Response::App(Ok(bytes)) => Ok(bytes),
            Response::App(Err(message)) => Err(CallError::Remote(message)),
            _ => Err(self.network(io::Error::other("an answer of the wrong kind"))),
        }
    }

    async fn call(&mut self, request: &Request, timeout: Duration) -> Result<Response, CallError> {
        let payload = bincode::serialize(request).map_err(|e| self.network(io::Error::other(e)))?;
        let result = tokio::time::timeout(timeout, self.exchange(&payload)).await;
        let result = match result {
            Ok(r) => r,
            Err(_) => Err(CallError::Network {
                addr: self.addr.clone(),
                source: io::Error::new(io::ErrorKind::TimedOut, format!("no answer within {timeout:?}")),
            }),
        };
        if result.is_err() {
            // The stream may hold half a frame: never reuse it.
            self.stream = None;
        }
        result
    }

    async fn exchange(&mut self, payload: &[u8]) -> Result<Response, CallError> {
        if self.stream.is_none() {
            let connect = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&self.addr)).await;
            let stream = match connect {
                Ok(Ok(s)) => s,
                Ok(Err(source)) => return Err(CallError::Unreachable { addr: self.addr.clone(), source }),
                Err(_) => {
                    let source = io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
                    return Err(CallError::Unreachable { addr: self.addr.clone(), source });
                }
            };
            let _ = stream.set_nodelay(true);
            self.stream = Some(stream);
        }
        let stream = self.stream.as_mut().expect("connected above");
        let sent = write_frame(stream, payload).await;
        let received = match sent {
            Ok(()) => read_frame(stream).await,
            Err(e) => Err(e),
        };
        let frame = match received {
            Ok(Some(frame)) => frame,
            Ok(None) => return Err(self.network(io::Error::new(io::ErrorKind::UnexpectedEof, "peer closed"))),
            Err(e) => return Err(self.network(e)),
        };
        bincode::deserialize(&frame).map_err(|e| self.network(io::Error::other(e)))
    }

    fn network(&self, source: io::Error) -> CallError {
        CallError::Network { addr: self.addr.clone(), source }
    }
}

/// When each peer last answered an AppendEntries (wall-clock ms): what DescribeQuorum reports
/// as a voter's last fetch.
pub(crate) type Contacts = Arc<std::sync::Mutex<BTreeMap<NodeId, i64>>>;

/// Opens a `Peer` for each node Raft talks to, at the address the configuration gives it
/// (`controller.quorum.voters`), so a voter that moved is found where it is now.
pub(crate) struct PeerFactory {
    pub(crate) addresses: Arc<BTreeMap<NodeId, String>>,
    pub(crate) contacts: Contacts,
}

/// Raft's connection to one other node.
pub(crate) struct Peer {
    target: NodeId,
    node: BasicNode,
    client: Client,
    contacts: Contacts,
}

impl RaftNetworkFactory<TypeConfig> for PeerFactory {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Peer {
        let addr = self.addresses.get(&target).cloned().unwrap_or_else(|| node.addr.clone());
        Peer { target, node: node.clone(), client: Client::new(addr), contacts: self.contacts.clone() }
    }
}

/// What Raft's side of a call turns into.
type RpcResult<T, E> = Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;
/// Picks the answer a call expects out of a response (`None`: a response of another kind).
type Pick<T, E> = fn(Response) -> Option<Result<T, RaftError<NodeId, E>>>;

impl Peer {
    /// Sends `request` and unpacks the answer `pick` expects: the peer's own Raft error comes
    /// back as a remote error, a failed connection as unreachable or a network error.
    async fn rpc<T, E: std::error::Error>(
        &mut self,
        request: Request,
        option: RPCOption,
        pick: Pick<T, E>,
    ) -> RpcResult<T, E> {
        let response = self.client.call(&request, option.hard_ttl()).await.map_err(|e| match e {
            CallError::Unreachable { .. } => RPCError::Unreachable(Unreachable::new(&e)),
            _ => RPCError::Network(NetworkError::new(&e)),
        })?;
        match pick(response) {
            Some(Ok(answer)) => Ok(answer),
            Some(Err(e)) => Err(RPCError::RemoteError(RemoteError::new_with_node(self.target, self.node.clone(), e))),
            None => Err(RPCError::Network(NetworkError::new(&io::Error::other("an answer of the wrong kind")))),
        }
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>, Infallible> {
        let answer = self
            .rpc(Request::AppendEntries(rpc), option, |r| match r {
                Response::AppendEntries(a) => Some(a),
                _ => None,
            })
            .await?;
        self.contacts.lock().expect("contacts lock").insert(self.target, now_ms());
        Ok(answer)
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        self.rpc(Request::InstallSnapshot(rpc), option, |r| match r {
            Response::InstallSnapshot(a) => Some(a),
            _ => None,
        })
        .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>, Infallible> {
        self.rpc(Request::Vote(rpc), option, |r| match r {
            Response::Vote(a) => Some(a),
            _ => None,
        })
        .await
    }
}

/// Serves the controller listener until `stop` turns true: Raft's messages to `raft`, the
/// rest to `app`.
pub(crate) async fn serve(
    listener: TcpListener,
    raft: Raft<TypeConfig>,
    app: Option<AppHandler>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    let conn_stop = stop.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let (raft, app, stop) = (raft.clone(), app.clone(), conn_stop.clone());
                    connections.spawn(async move {
                        if let Err(e) = serve_connection(stream, raft, app, stop).await {
                            debug!(%peer, error = %e, "controller connection closed");
                        }
                    });
                }
                Err(e) => {
                    debug!(error = %e, "accept on the controller listener failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = stopped(&mut stop) => break,
        }
        while connections.try_join_next().is_some() {}
    }
    connections.abort_all();
}

async fn serve_connection(
    mut stream: TcpStream,
    raft: Raft<TypeConfig>,
    app: Option<AppHandler>,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    loop {
        let frame = tokio::select! {
            frame = read_frame(&mut stream) => frame?,
            _ = stopped(&mut stop) => return Ok(()),
        };
        let Some(frame) = frame else { return Ok(()) };
        let request: Request = bincode::deserialize(&frame).map_err(io::Error::other)?;
        let response = match request {
            Request::AppendEntries(rpc) => Response::AppendEntries(raft.append_entries(rpc).await),
            Request::Vote(rpc) => Response::Vote(raft.vote(rpc).await),
            Request::InstallSnapshot(rpc) => Response::InstallSnapshot(raft.install_snapshot(rpc).await),
            Request::App(bytes) => Response::App(match &app {
                Some(handler) => handler(bytes).await,
                None => Err("this node serves no application requests".to_string()),
            }),
        };
        let payload = bincode::serialize(&response).map_err(io::Error::other)?;
        write_frame(&mut stream, &payload).await?;
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

/// Wall-clock milliseconds, as Kafka reports timestamps.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
