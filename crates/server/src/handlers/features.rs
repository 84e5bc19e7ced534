//! UpdateFeatures (`kafka-features upgrade|downgrade|disable`): the controller checks and
//! sets the finalized levels (`brook_controller::features`), all or none. Needs ALTER on the
//! cluster, as in Kafka.

use brook_controller::ControllerRequest;
use brook_controller::features::UpgradeType;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::update_features_response::UpdatableFeatureResult;
use kafka_protocol::messages::{UpdateFeaturesRequest, UpdateFeaturesResponse};

use super::text;
use crate::broker::{ApiError, Broker};

pub(super) async fn update(
    broker: &Broker,
    request: UpdateFeaturesRequest,
    version: i16,
    allowed: bool,
) -> UpdateFeaturesResponse {
    let outcome = match allowed {
        false => Err(ApiError::new(
            ResponseError::ClusterAuthorizationFailed,
            ResponseError::ClusterAuthorizationFailed.to_string(),
        )),
        true => apply(broker, &request, version).await,
    };
    let (code, message) = match &outcome {
        Ok(()) => (0, None),
        Err(e) => (e.code.code(), Some(text(e.message.clone()))),
    };
    // v0-1 list each feature when all were applied (Kafka's message for no error is "NONE");
    // a refusal is the request's alone.
    let results = match outcome {
        Ok(()) => request
            .feature_updates
            .iter()
            .map(|u| {
                UpdatableFeatureResult::default().with_feature(u.feature.clone()).with_error_message(Some(text("NONE")))
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    UpdateFeaturesResponse::default().with_error_code(code).with_error_message(message).with_results(results)
}

async fn apply(broker: &Broker, request: &UpdateFeaturesRequest, version: i16) -> Result<(), ApiError> {
    let mut updates = Vec::with_capacity(request.feature_updates.len());
    for u in &request.feature_updates {
        let kind = match version {
            0 if u.allow_downgrade => Some(UpgradeType::SafeDowngrade),
            0 => Some(UpgradeType::Upgrade),
            _ => UpgradeType::from_wire(u.upgrade_type),
        };
        let kind = kind.ok_or_else(|| {
            ApiError::new(ResponseError::InvalidRequest, format!("Unknown upgrade type {}.", u.upgrade_type))
        })?;
        updates.push((u.feature.to_string(), u.max_version_level, kind));
    }
    let validate_only = version >= 1 && request.validate_only;
    broker.ask_controller(ControllerRequest::UpdateFeatures { updates, validate_only }).await?;
    Ok(())
}
