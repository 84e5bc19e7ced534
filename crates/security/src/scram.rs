//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) on the server side, as Kafka runs
//! them: credentials stored as salt, StoredKey and ServerKey (never the password), a
//! two-message exchange, and Kafka's limits on iterations (4096 to 16384).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::rand::SecureRandom;
use ring::{digest, hmac};

/// Kafka's bounds on a credential's PBKDF2 iterations.
pub const MIN_ITERATIONS: i32 = 4096;
pub const MAX_ITERATIONS: i32 = 16384;

/// A SCRAM mechanism, with Kafka's wire type (AlterUserScramCredentials: 1 and 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

impl ScramMechanism {
    pub const ALL: [ScramMechanism; 2] = [ScramMechanism::Sha256, ScramMechanism::Sha512];

    pub fn from_type(t: i8) -> Option<ScramMechanism> {
        match t {
            1 => Some(ScramMechanism::Sha256),
            2 => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    pub fn wire_type(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    pub fn parse(name: &str) -> Option<ScramMechanism> {
        ScramMechanism::ALL.into_iter().find(|m| m.name() == name)
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            ScramMechanism::Sha256 => hmac::HMAC_SHA256,
            ScramMechanism::Sha512 => hmac::HMAC_SHA512,
        }
    }

    fn digest(self) -> &'static digest::Algorithm {
        match self {
            ScramMechanism::Sha256 => &digest::SHA256,
            ScramMechanism::Sha512 => &digest::SHA512,
        }
    }

    fn mac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        hmac::sign(&hmac::Key::new(self.hmac(), key), data).as_ref().to_vec()
    }

    /// StoredKey and ServerKey from a salted password (what AlterUserScramCredentials sends).
    pub fn keys(self, salted_password: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let client_key = self.mac(salted_password, b"Client Key");
        let stored_key = digest::digest(self.digest(), &client_key).as_ref().to_vec();
        (stored_key, self.mac(salted_password, b"Server Key"))
    }

    /// A client's proof for `auth_message` (RFC 5802's ClientKey XOR ClientSignature), for
    /// tools and benchmarks that log in.
    pub fn client_proof(self, salted_password: &[u8], auth_message: &str) -> Vec<u8> {
        let client_key = self.mac(salted_password, b"Client Key");
        let stored_key = digest::digest(self.digest(), &client_key);
        let signature = self.mac(stored_key.as_ref(), auth_message.as_bytes());
        client_key.iter().zip(&signature).map(|(a, b)| a ^ b).collect()
    }

    /// PBKDF2 of a password, as a client (or `brook configs`) salts it.
    pub fn salted_password(self, password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
        let algorithm = match self {
            ScramMechanism::Sha256 => ring::pbkdf2::PBKDF2_HMAC_SHA256,
            ScramMechanism::Sha512 => ring::pbkdf2::PBKDF2_HMAC_SHA512,
        };
        let mut out = vec![0u8; self.digest().output_len()];
        let iterations = std::num::NonZeroU32::new(iterations.max(1)).expect("at least one");
        ring::pbkdf2::derive(algorithm, iterations, salt, password.as_bytes(), &mut out);
        out
    }
}

/// What the broker keeps of a user's password for one mechanism (a metadata record's
/// content): never the password itself.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Credential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

impl Credential {
    /// Whether `password` is the one this credential was made from (for a login that sends
    /// the password itself, such as the web console's): salted as the client would, then its
    /// StoredKey compared.
    pub fn matches(&self, mechanism: ScramMechanism, password: &str) -> bool {
        let Ok(iterations) = u32::try_from(self.iterations) else { return false };
        let (stored_key, _) = mechanism.keys(&mechanism.salted_password(password, &self.salt, iterations));
        crate::constant_time_eq(&stored_key, &self.stored_key)
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential([hidden])")
    }
}

/// Random bytes from the system's generator (salts, nonces).
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    ring::rand::SystemRandom::new().fill(&mut out).expect("the system random generator works");
    out
}

/// Kafka's answer to any failed SCRAM authentication: it does not say what was wrong.
fn invalid(mechanism: ScramMechanism) -> String {
    format!(
        "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
        mechanism.name()
    )
}

/// One SCRAM exchange on the server: the client's first message, then its final one.
pub struct ScramServer {
    mechanism: ScramMechanism,
    state: State,
    /// Whether the client logs in with a delegation token (`tokenauth=true`): its user name
    /// is then a token id.
    token: bool,
}

/// What the client's final message is checked against.
struct Challenge {
    user: String,
    credential: Credential,
    nonce: String,
    first: ClientFirst,
    server_first: String,
}

enum State {
    Initial,
    /// After the server's first message.
    Challenged(Box<Challenge>),
    Done,
}

impl ScramServer {
    pub fn new(mechanism: ScramMechanism) -> ScramServer {
        ScramServer { mechanism, state: State::Initial, token: false }
    }

    /// Whether the client asked to log in with a delegation token.
    pub fn token_auth(&self) -> bool {
        self.token
    }

    /// Handles the next client message: the server's reply, and the authenticated user once
    /// the exchange completes. `lookup(user, token)` finds the credential: a user's, or with
    /// `token` a delegation token's by its id. Any error ends the exchange.
    pub fn step(
        &mut self,
        message: &[u8],
        lookup: impl FnOnce(&str, bool) -> Option<Credential>,
    ) -> Result<(Vec<u8>, Option<String>), String> {
        let text = std::str::from_utf8(message).map_err(|_| "Invalid SCRAM message: not UTF-8".to_string())?;
        match std::mem::replace(&mut self.state, State::Done) {
            State::Initial => {
                let first = parse_client_first(text)?;
                let user = first.user.clone();
                self.token = first.token;
                let credential = lookup(&user, first.token).ok_or_else(|| invalid(self.mechanism))?;
                let nonce = format!("{}{}", first.nonce, BASE64.encode(random_bytes(18)));
                let server_first =
                    format!("r={nonce},s={},i={}", BASE64.encode(&credential.salt), credential.iterations);
                let reply = server_first.clone().into_bytes();
                self.state = State::Challenged(Box::new(Challenge { user, credential, nonce, first, server_first }));
                Ok((reply, None))
            }
            State::Challenged(challenge) => {
                let Challenge { user, credential, nonce, first, server_first } = *challenge;
                let (without_proof, proof) = text.rsplit_once(",p=").ok_or("Invalid SCRAM final message: no proof")?;
                let attributes: Vec<&str> = without_proof.split(',').collect();
                if attributes.first() != Some(&format!("c={}", BASE64.encode(&first.gs2_header)).as_str()) {
                    return Err(
                        "Invalid SCRAM final message: its channel binding is not the first message's header".into()
                    );
                }
                if attributes.get(1) != Some(&format!("r={nonce}").as_str()) {
                    return Err("Invalid SCRAM nonce".into());
                }
                let proof = BASE64.decode(proof).map_err(|_| "Invalid SCRAM proof".to_string())?;
                let auth_message = format!("{},{server_first},{without_proof}", first.bare);
                let signature = self.mechanism.mac(&credential.stored_key, auth_message.as_bytes());
                if proof.len() != signature.len() {
                    return Err(invalid(self.mechanism));
                }
                let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
                let stored = digest::digest(self.mechanism.digest(), &client_key);
                if !crate::constant_time_eq(stored.as_ref(), &credential.stored_key) {
                    return Err(invalid(self.mechanism));
                }
                let server_signature = self.mechanism.mac(&credential.server_key, auth_message.as_bytes());
                Ok((format!("v={}", BASE64.encode(server_signature)).into_bytes(), Some(user)))
            }
            State::Done => Err("The SCRAM exchange is already over".into()),
        }
    }
}

/// The client side of one exchange, for Brook's tools and benchmarks.
pub struct ScramClient {
    mechanism: ScramMechanism,
    password: String,
    first_bare: String,
    /// After the final message: the signature the server must answer with.
    expected: Option<Vec<u8>>,
}

impl ScramClient {
    pub fn new(mechanism: ScramMechanism, user: &str, password: &str) -> ScramClient {
        let escaped = user.replace('=', "=3D").replace(',', "=2C");
        let first_bare = format!("n={escaped},r={}", BASE64.encode(random_bytes(18)));
        ScramClient { mechanism, password: password.to_string(), first_bare, expected: None }
    }

    /// Logs in with a delegation token: the user is the token id, the password its HMAC in
    /// base64 (the `tokenauth=true` extension).
    pub fn with_token(mut self) -> ScramClient {
        self.first_bare.push_str(",tokenauth=true");
        self
    }

    /// The first message.
    pub fn first(&self) -> Vec<u8> {
        format!("n,,{}", self.first_bare).into_bytes()
    }

    /// The final message, answering the server's first.
    pub fn final_message(&mut self, server_first: &[u8]) -> Result<Vec<u8>, String> {
        let (mechanism, password) = (self.mechanism, self.password.clone());
        self.final_message_with(server_first, |salt, iterations| mechanism.salted_password(&password, salt, iterations))
    }

    /// The final message, with the salted password from `salted(salt, iterations)` (a client
    /// that logs in again and again may keep it, as a benchmark of the server does).
    pub fn final_message_with(
        &mut self,
        server_first: &[u8],
        salted: impl FnOnce(&[u8], u32) -> Vec<u8>,
    ) -> Result<Vec<u8>, String> {
        let server_first = std::str::from_utf8(server_first).map_err(|_| "the server's first message is not UTF-8")?;
        let field = |key: &str| server_first.split(',').find_map(|a| a.strip_prefix(key)).map(str::to_string);
        let bad = || format!("unexpected server message {server_first:?}");
        let nonce = field("r=").ok_or_else(bad)?;
        let salt = BASE64.decode(field("s=").ok_or_else(bad)?).map_err(|_| bad())?;
        let iterations: u32 = field("i=").and_then(|i| i.parse().ok()).ok_or_else(bad)?;
        let client_nonce = self.first_bare.split(',').find_map(|a| a.strip_prefix("r=")).unwrap_or_default();
        if !nonce.starts_with(client_nonce) || iterations < MIN_ITERATIONS.unsigned_abs() {
            return Err(bad());
        }
        let salted = salted(&salt, iterations);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.first_bare);
        let proof = self.mechanism.client_proof(&salted, &auth_message);
        let (_, server_key) = self.mechanism.keys(&salted);
        self.expected = Some(self.mechanism.mac(&server_key, auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", BASE64.encode(proof)).into_bytes())
    }

    /// Checks the server's final message: it must prove the server holds the credential.
    pub fn verify(&self, server_final: &[u8]) -> Result<(), String> {
        let signature = std::str::from_utf8(server_final)
            .ok()
            .and_then(|m| m.strip_prefix("v="))
            .and_then(|v| BASE64.decode(v).ok())
            .ok_or("the server did not sign the exchange")?;
        match &self.expected {
            Some(expected) if crate::constant_time_eq(expected, &signature) => Ok(()),
            _ => Err("the server's signature is wrong: it does not hold this user's credential".into()),
        }
    }
}

/// The client's first message: `gs2-header client-first-message-bare`.
struct ClientFirst {
    gs2_header: String,
    bare: String,
    user: String,
    nonce: String,
    /// The `tokenauth=true` extension.
    token: bool,
}

fn parse_client_first(text: &str) -> Result<ClientFirst, String> {
    let bad = || format!("Invalid SCRAM first message {text:?}");
    let (cbind, rest) = text.split_once(',').ok_or_else(bad)?;
    if cbind != "n" && cbind != "y" {
        return Err("SCRAM channel binding is not supported".into());
    }
    let (authzid, bare) = rest.split_once(',').ok_or_else(bad)?;
    let mut user = None;
    let mut nonce = None;
    let mut token = false;
    for attribute in bare.split(',') {
        if let Some(v) = attribute.strip_prefix("n=") {
            user = Some(unescape(v).ok_or_else(bad)?);
        } else if let Some(v) = attribute.strip_prefix("r=") {
            nonce = Some(v.to_string());
        } else if attribute == "tokenauth=true" {
            token = true;
        }
    }
    let (user, nonce) = (user.ok_or_else(bad)?, nonce.filter(|n| !n.is_empty()).ok_or_else(bad)?);
    if let Some(authzid) = authzid.strip_prefix("a=")
        && unescape(authzid).as_deref() != Some(user.as_str())
    {
        return Err(
            "Authentication failed: Client requested an authorization id that is different from username".into()
        );
    }
    Ok(ClientFirst { gs2_header: format!("{cbind},{authzid},"), bare: bare.to_string(), user, nonce, token })
}

/// RFC 5802's `saslname`: `=2C` is a comma, `=3D` an equals sign, nothing else may follow `=`.
fn unescape(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match &rest[i..] {
            r if r.starts_with("=2C") => out.push(','),
            r if r.starts_with("=3D") => out.push('='),
            _ => return None,
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677's SCRAM-SHA-256 example: user, password, salt, iterations and both nonces are
    /// the RFC's, so the client's proof and the server's signature must be the RFC's.
    #[test]
    fn rfc7677_example() {
        let m = ScramMechanism::Sha256;
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").expect("salt");
        let salted = m.salted_password("pencil", &salt, 4096);
        let (stored_key, server_key) = m.keys(&salted);
        let credential = Credential { salt, stored_key, server_key, iterations: 4096 };
        assert!(credential.matches(m, "pencil"));
        assert!(!credential.matches(m, "pencil "), "another password");
        assert!(!credential.matches(ScramMechanism::Sha512, "pencil"), "another mechanism");
        let client_first_bare = "n=user,r=rOprNGfwEbeRWgbNEkqO";
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let final_message = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        let without_proof = &final_message[..final_message.find(",p=").unwrap()];
        let proof = m.client_proof(&salted, &format!("{client_first_bare},{server_first},{without_proof}"));
        assert_eq!(
            BASE64.encode(proof),
            "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            "the client's side of the RFC"
        );
        // The server's own nonce is random; put the RFC's in place to replay its exchange.
        let mut server = ScramServer {
            mechanism: m,
            token: false,
            state: State::Challenged(Box::new(Challenge {
                user: "user".into(),
                credential: credential.clone(),
                nonce: "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".into(),
                first: parse_client_first(&format!("n,,{client_first_bare}")).expect("first"),
                server_first: server_first.into(),
            })),
        };
        let (reply, user) = server.step(final_message.as_bytes(), |_, _| None).expect("the RFC's proof");
        assert_eq!(String::from_utf8(reply).unwrap(), "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
        assert_eq!(user.as_deref(), Some("user"));

        // A real first message: the reply extends the client's nonce and gives salt and count.
        let mut server = ScramServer::new(m);
        let (reply, user) = server
            .step(b"n,,n=user,r=abc", |u, token| (u == "user" && !token).then(|| credential.clone()))
            .expect("first");
        let reply = String::from_utf8(reply).unwrap();
        assert!(reply.starts_with("r=abc") && reply.ends_with(",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"), "{reply}");
        assert_eq!(user, None);
        // A wrong proof fails without saying why.
        let wrong =
            format!("c=biws,{},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", &reply[..reply.find(",s=").unwrap()]);
        assert_eq!(server.step(wrong.as_bytes(), |_, _| None).unwrap_err(), invalid(m));
    }

    /// Brook's client and server sides agree, and the client checks the server's signature.
    #[test]
    fn client_and_server() {
        for m in ScramMechanism::ALL {
            let salt = random_bytes(16);
            let (stored_key, server_key) = m.keys(&m.salted_password("secret, =really", &salt, 4096));
            let credential = Credential { salt, stored_key, server_key, iterations: 4096 };
            let mut client = ScramClient::new(m, "us,er=", "secret, =really");
            let mut server = ScramServer::new(m);
            let lookup = |u: &str, _| (u == "us,er=").then(|| credential.clone());
            let (server_first, _) = server.step(&client.first(), lookup).expect("first");
            let last = client.final_message(&server_first).expect("final");
            let (server_final, user) = server.step(&last, |_, _| None).expect("authenticated");
            assert_eq!(user.as_deref(), Some("us,er="));
            client.verify(&server_final).expect("the server's signature");
            assert!(client.verify(b"v=AAAA").is_err());
            assert!(!server.token_auth());

            // A delegation token's login: the extension reaches the lookup and stays known.
            let mut client = ScramClient::new(m, "token-id", "secret, =really").with_token();
            let mut server = ScramServer::new(m);
            let lookup = |u: &str, token| (u == "token-id" && token).then(|| credential.clone());
            let (server_first, _) = server.step(&client.first(), lookup).expect("first");
            let last = client.final_message(&server_first).expect("final");
            let (_, user) = server.step(&last, |_, _| None).expect("authenticated");
            assert_eq!(user.as_deref(), Some("token-id"));
            assert!(server.token_auth());
        }
    }

    #[test]
    fn refusals() {
        let mut server = ScramServer::new(ScramMechanism::Sha512);
        assert_eq!(server.step(b"n,,n=nobody,r=x", |_, _| None).unwrap_err(), invalid(ScramMechanism::Sha512));
        for bad in [&b"p=tls-unique,,n=u,r=x"[..], b"n,,r=x", b"n,,n=u", b"n,a=other,n=u,r=x", b"n,,n=u=1,r=x", b"\xff"]
        {
            let mut server = ScramServer::new(ScramMechanism::Sha512);
            let credential = Credential { salt: vec![1], stored_key: vec![], server_key: vec![], iterations: 4096 };
            assert!(server.step(bad, |_, _| Some(credential)).is_err(), "{bad:?}");
        }
        assert_eq!(unescape("a=2Cb=3Dc").as_deref(), Some("a,b=c"));
        assert_eq!(ScramMechanism::from_type(2).map(ScramMechanism::name), Some("SCRAM-SHA-512"));
        assert_eq!(ScramMechanism::from_type(3), None);
    }
}
