//! `brook configs --entity-type users`: SCRAM credentials, as kafka-configs manages them
//! (AlterUserScramCredentials and DescribeUserScramCredentials). The password is salted
//! here; only the salt and the salted password travel.

use brook_security::scram::{MIN_ITERATIONS, ScramMechanism, random_bytes};
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, ApiKey, DescribeUserScramCredentialsRequest, ResponseKind,
};
use kafka_protocol::protocol::StrBytes;

use crate::ToolError;
use crate::args::Parsed;
use crate::client_quotas::is_quota_key;
use crate::wire::{Wire, error_text};

/// One credential change named on the command line.
enum Change {
    Set { mechanism: ScramMechanism, iterations: i32, password: String },
    Delete(ScramMechanism),
}

pub(crate) fn run(parsed: &Parsed, user: Option<&str>) -> Result<(), ToolError> {
    let mut wire = Wire::connect(parsed)?;
    if parsed.has("describe") {
        return describe(&mut wire, user);
    }
    let user = user.ok_or_else(|| ToolError::usage("--alter needs --entity-name (the user)"))?;
    let changes = changes(parsed)?;
    // One request per change: Kafka refuses a user named twice in one request, so this way
    // both mechanisms can be set in one command.
    for change in changes {
        let name = StrBytes::from_string(user.to_string());
        let request = match change {
            Change::Set { mechanism, iterations, password } => {
                let salt = random_bytes(24);
                let salted = mechanism.salted_password(&password, &salt, iterations.unsigned_abs());
                AlterUserScramCredentialsRequest::default().with_upsertions(vec![
                    ScramCredentialUpsertion::default()
                        .with_name(name)
                        .with_mechanism(mechanism.wire_type())
                        .with_iterations(iterations)
                        .with_salt(salt.into())
                        .with_salted_password(salted.into()),
                ])
            }
            Change::Delete(mechanism) => AlterUserScramCredentialsRequest::default().with_deletions(vec![
                ScramCredentialDeletion::default().with_name(name).with_mechanism(mechanism.wire_type()),
            ]),
        };
        let ResponseKind::AlterUserScramCredentials(response) =
            wire.call(ApiKey::AlterUserScramCredentials, 0, &request)?
        else {
            return Err(ToolError::failed("unexpected response"));
        };
        if let Some(r) = response.results.iter().find(|r| r.error_code != 0) {
            return Err(ToolError::failed(format!(
                "user {user}: {}",
                error_text(r.error_code, r.error_message.as_ref())
            )));
        }
    }
    println!("Completed updating config for user {user}.");
    Ok(())
}

/// Kafka's lines: `SCRAM credential configs for user-principal 'alice' are
/// SCRAM-SHA-256=iterations=4096, SCRAM-SHA-512=iterations=8192`.
fn describe(wire: &mut Wire, user: Option<&str>) -> Result<(), ToolError> {
    let users = user.map(|u| vec![UserName::default().with_name(StrBytes::from_string(u.to_string()))]);
    let request = DescribeUserScramCredentialsRequest::default().with_users(users);
    let ResponseKind::DescribeUserScramCredentials(response) =
        wire.call(ApiKey::DescribeUserScramCredentials, 0, &request)?
    else {
        return Err(ToolError::failed("unexpected response"));
    };
    if response.error_code != 0 {
        return Err(ToolError::failed(error_text(response.error_code, response.error_message.as_ref())));
    }
    for result in &response.results {
        if result.error_code != 0 {
            // Kafka's tool says nothing for a user without credentials.
            continue;
        }
        let configs: Vec<String> = result
            .credential_infos
            .iter()
            .map(|c| {
                let name = ScramMechanism::from_type(c.mechanism).map_or("UNKNOWN", ScramMechanism::name);
                format!("{name}=iterations={}", c.iterations)
            })
            .collect();
        println!("SCRAM credential configs for user-principal '{}' are {}", result.user, configs.join(", "));
    }
    Ok(())
}

/// `--add-config 'SCRAM-SHA-256=[iterations=8192,password=secret],SCRAM-SHA-512=[password=x]'`
/// and `--delete-config SCRAM-SHA-512`.
fn changes(parsed: &Parsed) -> Result<Vec<Change>, ToolError> {
    let mut changes = Vec::new();
    for entry in split_outside_brackets(parsed.get("add-config").unwrap_or_default()) {
        let (name, value) = entry.split_once('=').ok_or_else(|| usage(&entry))?;
        if is_quota_key(name) {
            continue;
        }
        let mechanism = mechanism(name)?;
        let inner = value.trim().strip_prefix('[').and_then(|v| v.strip_suffix(']')).ok_or_else(|| usage(&entry))?;
        let (mut iterations, mut password) = (MIN_ITERATIONS, None);
        for setting in inner.split(',') {
            match setting.split_once('=') {
                Some(("iterations", n)) => iterations = n.trim().parse().map_err(|_| usage(&entry))?,
                Some(("password", p)) => password = Some(p.to_string()),
                _ => return Err(usage(&entry)),
            }
        }
        let password = password.ok_or_else(|| usage(&entry))?;
        changes.push(Change::Set { mechanism, iterations, password });
    }
    let deleted = parsed.get("delete-config").unwrap_or_default().split(',').map(str::trim);
    for name in deleted.filter(|n| !n.is_empty() && !is_quota_key(n)) {
        changes.push(Change::Delete(mechanism(name)?));
    }
    if changes.is_empty() {
        return Err(ToolError::usage("--alter needs --add-config or --delete-config"));
    }
    Ok(changes)
}

/// Whether the command line names SCRAM credentials to change (not only quotas).
pub(crate) fn has_changes(parsed: &Parsed) -> bool {
    changes(parsed).is_ok_and(|c| !c.is_empty())
}

fn mechanism(name: &str) -> Result<ScramMechanism, ToolError> {
    ScramMechanism::parse(name.trim())
        .ok_or_else(|| ToolError::usage(format!("{name}: users take SCRAM-SHA-256 or SCRAM-SHA-512 credentials")))
}

fn usage(entry: &str) -> ToolError {
    ToolError::usage(format!("--add-config: '{entry}' is not MECHANISM=[iterations=N,password=P]"))
}

/// Splits at commas that are not inside `[...]`.
pub(crate) fn split_outside_brackets(text: &str) -> Vec<String> {
    let (mut parts, mut current, mut depth) = (Vec::new(), String::new(), 0usize);
    for c in text.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts.into_iter().map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect()
}
