//! DescribeUserScramCredentials and AlterUserScramCredentials (KIP-554), with Kafka's checks
//! and errors: the broker validates and turns each salted password into StoredKey and ServerKey
//! (the password itself never reaches the metadata), the controller writes them all or none.

use std::collections::BTreeSet;
use std::sync::Arc;

use brook_controller::records::ScramCredential;
use brook_controller::requests::ControllerRequest;
use brook_security::scram::{MAX_ITERATIONS, MIN_ITERATIONS, ScramMechanism};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, DescribeUserScramCredentialsRequest,
    DescribeUserScramCredentialsResponse,
};

use super::text;
use crate::broker::Broker;

pub(super) fn describe(
    broker: &Broker,
    request: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    let image = broker.image();
    let all = &image.scram_credentials;
    let wanted: Vec<String> = match request.users.filter(|u| !u.is_empty()) {
        None => all.keys().cloned().collect(),
        Some(users) => users.into_iter().map(|u| u.name.to_string()).collect(),
    };
    let mut seen = BTreeSet::new();
    let duplicates: BTreeSet<&String> = wanted.iter().filter(|u| !seen.insert(*u)).collect();
    let mut described = BTreeSet::new();
    let results = wanted
        .iter()
        .filter(|user| described.insert(*user))
        .map(|user| {
            let result = DescribeUserScramCredentialsResult::default().with_user(text(user.clone()));
            let failed = |code: ResponseError, message: String| {
                result.clone().with_error_code(code.code()).with_error_message(Some(text(message)))
            };
            if duplicates.contains(user) {
                return failed(
                    ResponseError::DuplicateResource,
                    format!("Cannot describe SCRAM credentials for the same user twice in a single request: {user}"),
                );
            }
            match all.get(user) {
                None => failed(
                    ResponseError::ResourceNotFound,
                    format!("Attempt to describe a user credential that does not exist: {user}"),
                ),
                Some(credentials) => result.clone().with_credential_infos(
                    credentials
                        .iter()
                        .map(|(mechanism, c)| {
                            CredentialInfo::default().with_mechanism(*mechanism).with_iterations(c.iterations)
                        })
                        .collect(),
                ),
            }
        })
        .collect();
    DescribeUserScramCredentialsResponse::default().with_results(results)
}

/// One user's change (a mechanism type, and its new credential or `None` to delete), or why
/// it is refused.
type Outcome = Result<(i8, Option<ScramCredential>), (ResponseError, &'static str)>;

pub(super) async fn alter(
    broker: &Arc<Broker>,
    request: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    let exists = |name: &str, m: ScramMechanism| {
        broker.image().scram_credentials.get(name).is_some_and(|c| c.contains_key(&m.wire_type()))
    };
    // (user, mechanism, credential or deletion), or the user's error; a user named twice in
    // one request is an error for every mention (Kafka's DUPLICATE_RESOURCE).
    let mut outcomes: Vec<(String, Outcome)> = Vec::new();
    let duplicate = (ResponseError::DuplicateResource, "A user credential cannot be altered twice in the same request");
    let mut note = |name: String, outcome| {
        match outcomes.iter_mut().find(|(n, _)| *n == name) {
            Some((_, previous)) => *previous = Err(duplicate),
            None => outcomes.push((name, outcome)),
        };
    };
    for deletion in request.deletions {
        let name = deletion.name.to_string();
        let outcome = check_name_and_mechanism(&name, deletion.mechanism).and_then(|m| match exists(&name, m) {
            true => Ok((m.wire_type(), None)),
            false => Err((ResponseError::ResourceNotFound, "Attempt to delete a user credential that does not exist")),
        });
        note(name, outcome);
    }
    for upsertion in request.upsertions {
        let name = upsertion.name.to_string();
        let outcome = check_name_and_mechanism(&name, upsertion.mechanism).and_then(|m| {
            if upsertion.iterations < MIN_ITERATIONS {
                return Err((ResponseError::UnacceptableCredential, "Too few iterations"));
            }
            if upsertion.iterations > MAX_ITERATIONS {
                return Err((ResponseError::UnacceptableCredential, "Too many iterations"));
            }
            let (stored_key, server_key) = m.keys(&upsertion.salted_password);
            let credential = ScramCredential {
                salt: upsertion.salt.to_vec(),
                stored_key,
                server_key,
                iterations: upsertion.iterations,
            };
            Ok((m.wire_type(), Some(credential)))
        });
        note(name, outcome);
    }
    let changes: Vec<_> = outcomes
        .iter()
        .filter_map(|(name, outcome)| outcome.as_ref().ok().map(|(m, c)| (name.clone(), *m, c.clone())))
        .collect();
    let committed = match changes.is_empty() {
        true => Ok(()),
        false => broker.ask_controller(ControllerRequest::SetScramCredentials { changes }).await.map(|_| ()),
    };
    let results = outcomes
        .into_iter()
        .map(|(name, outcome)| {
            let result = AlterUserScramCredentialsResult::default().with_user(text(name));
            match (outcome, &committed) {
                (Err((code, message)), _) => {
                    result.with_error_code(code.code()).with_error_message(Some(text(message)))
                }
                (Ok(_), Err(e)) => {
                    result.with_error_code(e.code.code()).with_error_message(Some(text(e.message.clone())))
                }
                (Ok(_), Ok(())) => result.with_error_message(None),
            }
        })
        .collect();
    AlterUserScramCredentialsResponse::default().with_results(results)
}

/// Every user of the request refused with `code` (a client that may not alter the cluster).
pub(super) fn refuse_all(
    request: AlterUserScramCredentialsRequest,
    code: ResponseError,
) -> AlterUserScramCredentialsResponse {
    let mut users: Vec<_> = request.deletions.iter().map(|d| d.name.clone()).collect();
    users.extend(request.upsertions.iter().map(|u| u.name.clone()));
    users.sort();
    users.dedup();
    let results = users
        .into_iter()
        .map(|user| AlterUserScramCredentialsResult::default().with_user(user).with_error_code(code.code()))
        .collect();
    AlterUserScramCredentialsResponse::default().with_results(results)
}

fn check_name_and_mechanism(name: &str, mechanism: i8) -> Result<ScramMechanism, (ResponseError, &'static str)> {
    if name.is_empty() {
        return Err((ResponseError::UnacceptableCredential, "Username must not be empty"));
    }
    ScramMechanism::from_type(mechanism).ok_or((ResponseError::UnsupportedSaslMechanism, "Unknown SCRAM mechanism"))
}
