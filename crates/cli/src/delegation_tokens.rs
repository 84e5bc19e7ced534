//! `brook delegation-tokens` (kafka-delegation-tokens): `--create` a token (with
//! `--renewer-principal`s, `--max-life-time-period`, `--owner-principal` for another user),
//! `--renew` or `--expire` one by its `--hmac`, `--describe` the tokens of `--owner-principal`s,
//! with Kafka's output lines. Tokens are made over an authenticated connection, so
//! `--command-config` is required, as in Kafka.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kafka_protocol::messages::create_delegation_token_request::CreatableRenewers;
use kafka_protocol::messages::describe_delegation_token_request::DescribeDelegationTokenOwner;
use kafka_protocol::messages::{
    ApiKey, CreateDelegationTokenRequest, DescribeDelegationTokenRequest, ExpireDelegationTokenRequest,
    RenewDelegationTokenRequest, ResponseKind,
};
use kafka_protocol::protocol::StrBytes;

use crate::ToolError;
use crate::args::{Opt, Parsed};
use crate::wire::{Wire, error_text};

pub const PURPOSE: &str = "Create, renew, expire or describe delegation tokens.";

pub const OPTS: &[Opt] = &[
    Opt { name: "bootstrap-server", value: true, help: "the broker(s) to connect to (host:port,...)" },
    Opt { name: "command-config", value: true, help: "a properties file of client settings (required)" },
    Opt { name: "create", value: false, help: "create a token" },
    Opt { name: "renew", value: false, help: "renew the token --hmac" },
    Opt { name: "expire", value: false, help: "expire the token --hmac" },
    Opt { name: "describe", value: false, help: "the tokens of --owner-principal (each given)" },
    Opt {
        name: "max-life-time-period",
        value: true,
        help: "create: the token's longest life in ms (-1: the broker's)",
    },
    Opt {
        name: "renewer-principal",
        value: true,
        help: "create: a principal who may renew it (User:name), repeatable",
    },
    Opt { name: "owner-principal", value: true, help: "create: the owner; describe: an owner, repeatable" },
    Opt { name: "hmac", value: true, help: "renew, expire: the token's HMAC (base64)" },
    Opt { name: "renew-time-period", value: true, help: "renew: for how long, in ms (-1: the broker's)" },
    Opt { name: "expiry-time-period", value: true, help: "expire: in how long, in ms (-1: now)" },
];

pub fn run(parsed: &Parsed) -> Result<(), ToolError> {
    let actions = ["create", "renew", "expire", "describe"];
    if actions.iter().filter(|a| parsed.has(a)).count() != 1 {
        return Err(ToolError::usage(
            "Command must include exactly one action: --create, --renew, --expire or --describe",
        ));
    }
    if !parsed.has("command-config") {
        return Err(ToolError::usage("Missing required argument \"[command-config]\""));
    }
    let mut wire = Wire::connect(parsed)?;
    if parsed.has("create") {
        create(&mut wire, parsed)
    } else if parsed.has("describe") {
        describe(&mut wire, parsed)
    } else {
        change(&mut wire, parsed, parsed.has("renew"))
    }
}

/// `Type:name` as Kafka's KafkaPrincipal parses it.
fn principal(text: &str) -> Result<(String, String), ToolError> {
    match text.split_once(':') {
        Some((kind, name)) if !kind.is_empty() => Ok((kind.to_string(), name.to_string())),
        _ => Err(ToolError::usage(format!("expected a string in format principalType:principalName but got {text}"))),
    }
}

fn period(parsed: &Parsed, name: &str) -> Result<i64, ToolError> {
    parsed.get(name).map_or(Ok(-1), |v| v.parse().map_err(|_| ToolError::usage(format!("--{name}: not a number: {v}"))))
}

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn create(wire: &mut Wire, parsed: &Parsed) -> Result<(), ToolError> {
    let renewers = parsed.all("renewer-principal").iter().map(|r| principal(r)).collect::<Result<Vec<_>, _>>()?;
    let max = period(parsed, "max-life-time-period")?;
    let listed: Vec<String> = renewers.iter().map(|(kind, name)| format!("{kind}:{name}")).collect();
    println!("Calling create token operation with renewers :[{}] , max-life-time-period :{max}", listed.join(", "));
    let owner = parsed.all("owner-principal").first().map(|o| principal(o)).transpose()?;
    let request = CreateDelegationTokenRequest::default()
        .with_owner_principal_type(owner.as_ref().map(|(kind, _)| text(kind)))
        .with_owner_principal_name(owner.as_ref().map(|(_, name)| text(name)))
        .with_renewers(
            renewers
                .iter()
                .map(|(kind, name)| {
                    CreatableRenewers::default().with_principal_type(text(kind)).with_principal_name(text(name))
                })
                .collect(),
        )
        .with_max_lifetime_ms(max);
    let ResponseKind::CreateDelegationToken(r) = wire.call(ApiKey::CreateDelegationToken, 3, &request)? else {
        return Err(ToolError::failed("not a CreateDelegationToken answer"));
    };
    if r.error_code != 0 {
        return Err(ToolError::failed(error_text(r.error_code, None)));
    }
    println!("Created delegation token with tokenId : {}", r.token_id);
    print_tokens(&[Token {
        id: r.token_id.to_string(),
        hmac: r.hmac.to_vec(),
        owner: format!("{}:{}", r.principal_type, r.principal_name),
        requester: format!("{}:{}", r.token_requester_principal_type, r.token_requester_principal_name),
        renewers: listed,
        issued: r.issue_timestamp_ms,
        expires: r.expiry_timestamp_ms,
        max: r.max_timestamp_ms,
    }]);
    Ok(())
}

/// `--renew` or `--expire` of the token `--hmac`.
fn change(wire: &mut Wire, parsed: &Parsed, renew: bool) -> Result<(), ToolError> {
    let hmac = parsed.get("hmac").ok_or_else(|| ToolError::usage("Missing required argument \"[hmac]\""))?;
    let bytes = STANDARD.decode(hmac).map_err(|e| ToolError::usage(format!("--hmac is not base64: {e}")))?;
    let (code, expires) = if renew {
        let period = period(parsed, "renew-time-period")?;
        println!("Calling renew token operation with hmac :{hmac} , renew-time-period :{period}");
        let request = RenewDelegationTokenRequest::default().with_hmac(bytes.into()).with_renew_period_ms(period);
        let ResponseKind::RenewDelegationToken(r) = wire.call(ApiKey::RenewDelegationToken, 2, &request)? else {
            return Err(ToolError::failed("not a RenewDelegationToken answer"));
        };
        (r.error_code, r.expiry_timestamp_ms)
    } else {
        let period = period(parsed, "expiry-time-period")?;
        println!("Calling expire token operation with hmac :{hmac} , expire-time-period :{period}");
        let request =
            ExpireDelegationTokenRequest::default().with_hmac(bytes.into()).with_expiry_time_period_ms(period);
        let ResponseKind::ExpireDelegationToken(r) = wire.call(ApiKey::ExpireDelegationToken, 2, &request)? else {
            return Err(ToolError::failed("not an ExpireDelegationToken answer"));
        };
        (r.error_code, r.expiry_timestamp_ms)
    };
    if code != 0 {
        return Err(ToolError::failed(error_text(code, None)));
    }
    let operation = if renew { "renew" } else { "expire" };
    println!("Completed {operation} operation. New expiry date : {}", date(expires));
    Ok(())
}

fn describe(wire: &mut Wire, parsed: &Parsed) -> Result<(), ToolError> {
    let owners = parsed.all("owner-principal").iter().map(|o| principal(o)).collect::<Result<Vec<_>, _>>()?;
    if owners.is_empty() {
        println!("Calling describe token operation for current user.");
    } else {
        let listed: Vec<String> = owners.iter().map(|(kind, name)| format!("{kind}:{name}")).collect();
        println!("Calling describe token operation for owners: [{}]", listed.join(", "));
    }
    // As Kafka's tool does, no owner sends an empty list (which brokers answer with no tokens).
    let request = DescribeDelegationTokenRequest::default().with_owners(Some(
        owners
            .iter()
            .map(|(kind, name)| {
                DescribeDelegationTokenOwner::default().with_principal_type(text(kind)).with_principal_name(text(name))
            })
            .collect(),
    ));
    let ResponseKind::DescribeDelegationToken(r) = wire.call(ApiKey::DescribeDelegationToken, 3, &request)? else {
        return Err(ToolError::failed("not a DescribeDelegationToken answer"));
    };
    if r.error_code != 0 {
        return Err(ToolError::failed(error_text(r.error_code, None)));
    }
    println!("Total number of tokens : {}", r.tokens.len());
    let tokens: Vec<Token> = r
        .tokens
        .iter()
        .map(|t| Token {
            id: t.token_id.to_string(),
            hmac: t.hmac.to_vec(),
            owner: format!("{}:{}", t.principal_type, t.principal_name),
            requester: format!("{}:{}", t.token_requester_principal_type, t.token_requester_principal_name),
            renewers: t.renewers.iter().map(|r| format!("{}:{}", r.principal_type, r.principal_name)).collect(),
            issued: t.issue_timestamp,
            expires: t.expiry_timestamp,
            max: t.max_timestamp,
        })
        .collect();
    print_tokens(&tokens);
    Ok(())
}

struct Token {
    id: String,
    hmac: Vec<u8>,
    owner: String,
    requester: String,
    renewers: Vec<String>,
    issued: i64,
    expires: i64,
    max: i64,
}

/// Kafka's table: a blank line before the header and before each token.
fn print_tokens(tokens: &[Token]) {
    println!();
    println!(
        "{:<15} {:<30} {:<15} {:<15} {:<25} {:<15} {:<15} {:<15}",
        "TOKENID", "HMAC", "OWNER", "REQUESTER", "RENEWERS", "ISSUEDATE", "EXPIRYDATE", "MAXDATE"
    );
    for t in tokens {
        println!();
        println!(
            "{:<15} {:<30} {:<15} {:<15} {:<25} {:<15} {:<15} {:<15}",
            t.id,
            STANDARD.encode(&t.hmac),
            t.owner,
            t.requester,
            format!("[{}]", t.renewers.join(", ")),
            date(t.issued),
            date(t.expires),
            date(t.max)
        );
    }
}

/// `yyyy-MM-dd'T'HH:mm` (UTC), Kafka's tool's form.
fn date(ms: i64) -> String {
    let c = crate::dates::civil(ms);
    format!("{:04}-{:02}-{:02}T{:02}:{:02}", c.year, c.month, c.day, c.hour, c.minute)
}
