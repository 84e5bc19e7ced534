//! A broker's way to the active controller (Kafka's `NodeToControllerChannelManager`): in
//! this process when the local voter leads, else over Brook's RPC to the voter that leads,
//! found from the local quorum or by asking the voters in turn. NOT_CONTROLLER answers and
//! unreachable voters are retried until the deadline. A change is answered only once this
//! node's own image has applied it, so a client that changed something and asks this broker
//! again sees its change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brook_quorum::{AppHandler, Client};
use futures::future::BoxFuture;
use kafka_protocol::error::ResponseError;
use tracing::debug;

use crate::ApiError;
use crate::controller::{Controller, ControllerAddresses};
use crate::requests::{ControllerReply, ControllerRequest, ControllerResponse};
use crate::store::MetadataStore;

/// How long one RPC to a voter may take.
const RPC_TIMEOUT: Duration = Duration::from_secs(10);

pub struct ControllerChannel {
    /// This node's controller, if it is a voter.
    local: Option<Arc<Controller>>,
    local_id: i32,
    voters: ControllerAddresses,
    store: Arc<MetadataStore>,
    /// The voter that answered last, tried first next time.
    hint: Mutex<Option<i32>>,
    clients: Mutex<HashMap<i32, Client>>,
}

impl ControllerChannel {
    pub fn new(
        local_id: i32,
        local: Option<Arc<Controller>>,
        voters: ControllerAddresses,
        store: Arc<MetadataStore>,
    ) -> ControllerChannel {
        ControllerChannel {
            local,
            local_id,
            voters,
            store,
            hint: Mutex::new(None),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Sends `request` to the active controller, retrying for up to `timeout`; then waits for
    /// the change in this node's image.
    pub async fn call(&self, request: ControllerRequest, timeout: Duration) -> Result<ControllerReply, ApiError> {
        let deadline = Instant::now() + timeout;
        let mut backoff = Duration::from_millis(20);
        let mut turn = 0usize;
        loop {
            let target = self.target(turn);
            turn += 1;
            // Each attempt within the caller's time: a paused or partitioned former controller
            // must not hold a heartbeat past the broker's session.
            let remaining = deadline.saturating_duration_since(Instant::now());
            let answer = match target {
                Some(id) => {
                    tokio::time::timeout(remaining, self.send(id, request.clone())).await.unwrap_or_else(|_| {
                        Err(ApiError::new(
                            ResponseError::NotController,
                            format!("Controller {id} did not answer in time."),
                        ))
                    })
                }
                None => Err(ApiError::new(ResponseError::NotController, "No controller is known yet.")),
            };
            let last_error = match answer {
                Ok(ControllerResponse { index, result }) => {
                    *self.hint.lock().expect("hint lock") = target;
                    let reply = result.map_err(ApiError::from);
                    let retry = matches!(&reply, Err(e) if e.code == ResponseError::NotController);
                    if !retry {
                        let remaining = deadline.saturating_duration_since(Instant::now());
                        if tokio::time::timeout(remaining, self.store.wait_for(index)).await.is_err() {
                            return Err(ApiError::new(
                                ResponseError::RequestTimedOut,
                                "The change was made but has not reached this broker yet.",
                            ));
                        }
                        return reply;
                    }
                    reply.expect_err("checked above")
                }
                Err(e) => e,
            };
            *self.hint.lock().expect("hint lock") = None;
            if Instant::now() + backoff >= deadline {
                return Err(ApiError::new(ResponseError::RequestTimedOut, last_error.message));
            }
            debug!(error = %last_error.message, "retrying a controller request");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(100));
        }
    }

    /// The voter to ask: the last that answered, else the leader the local voter knows, else
    /// each voter in turn.
    fn target(&self, turn: usize) -> Option<i32> {
        if let Some(id) = *self.hint.lock().expect("hint lock") {
            return Some(id);
        }
        if let Some(local) = &self.local
            && let Some(leader) = local.quorum().leader()
        {
            return i32::try_from(leader).ok();
        }
        if self.local.is_some() {
            return None;
        }
        let ids: Vec<i32> = self.voters.keys().copied().collect();
        ids.get(turn % ids.len().max(1)).copied()
    }

    async fn send(&self, id: i32, request: ControllerRequest) -> Result<ControllerResponse, ApiError> {
        if id == self.local_id
            && let Some(local) = &self.local
        {
            return Ok(local.handle(request).await);
        }
        let addr = self.voters.get(&id).ok_or_else(|| {
            ApiError::new(ResponseError::NotController, format!("Node {id} is not in controller.quorum.voters."))
        })?;
        let payload = bincode::serialize(&request).expect("controller requests serialize");
        // The connection is taken out for the call, so calls to one voter do not queue
        // behind each other (a second concurrent call opens its own).
        let taken = self.clients.lock().expect("clients lock").remove(&id);
        let mut client = taken.unwrap_or_else(|| Client::new(addr.clone()));
        let answer = client.call_app(payload, RPC_TIMEOUT).await;
        self.clients.lock().expect("clients lock").insert(id, client);
        let bytes = answer.map_err(|e| ApiError::new(ResponseError::NotController, e.to_string()))?;
        bincode::deserialize(&bytes).map_err(|e| ApiError::new(ResponseError::UnknownServerError, e.to_string()))
    }
}

/// The quorum's handler for broker requests arriving over RPC: decided by `controller`.
pub fn rpc_handler(controller: Arc<std::sync::OnceLock<Arc<Controller>>>) -> AppHandler {
    Arc::new(move |bytes: Vec<u8>| -> BoxFuture<'static, Result<Vec<u8>, String>> {
        let controller = controller.clone();
        Box::pin(async move {
            let request: ControllerRequest = bincode::deserialize(&bytes).map_err(|e| e.to_string())?;
            let controller = controller.get().ok_or("the controller is still starting")?;
            let response = controller.handle(request).await;
            Ok(bincode::serialize(&response).expect("controller responses serialize"))
        })
    })
}
