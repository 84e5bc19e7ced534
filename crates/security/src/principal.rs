//! Who a client is. Kafka names principals `User:<name>`; a TLS client's name is its
//! certificate's subject, written as Java's `X500Principal.getName()` writes it (RFC 2253),
//! then passed through `ssl.principal.mapping.rules`.

use regex_lite::Regex;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The principal of a client that did not authenticate (Kafka's `User:ANONYMOUS`).
pub const ANONYMOUS: &str = "ANONYMOUS";

/// Attribute types Java's RFC 2253 form writes by keyword; others are written as an OID.
const KEYWORDS: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.9", "STREET"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.1", "UID"),
];

/// The subject of a DER certificate as RFC 2253 text: the last RDN first, `,` between RDNs,
/// `+` inside one, special characters escaped; `None` if the certificate cannot be parsed.
pub fn subject_name(certificate_der: &[u8]) -> Option<String> {
    let (_, certificate) = X509Certificate::from_der(certificate_der).ok()?;
    let subject: Vec<_> = certificate.subject().iter_rdn().collect();
    let rdns: Vec<String> = subject
        .iter()
        .rev()
        .map(|rdn| {
            rdn.iter()
                .map(|attribute| {
                    let oid = attribute.attr_type().to_id_string();
                    let keyword = KEYWORDS.iter().find(|(o, _)| *o == oid).map(|(_, k)| *k);
                    match (keyword, attribute.as_str()) {
                        (Some(keyword), Ok(value)) => format!("{keyword}={}", escape(value)),
                        _ => format!("{}=#{}", keyword.unwrap_or(&oid), hex_der(attribute.attr_value())),
                    }
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    Some(rdns.join(","))
}

/// RFC 2253 escaping of an attribute value.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let edge = (i == 0 && (c == ' ' || c == '#')) || (i == last && c == ' ');
        if edge || matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A value's DER encoding (tag, length, content) in hex, as Java writes values it has no
/// string form for.
fn hex_der(value: &x509_parser::der_parser::asn1_rs::Any<'_>) -> String {
    let data = value.as_bytes();
    let mut der = vec![u8::try_from(value.tag().0).unwrap_or(0x04)];
    match u8::try_from(data.len()) {
        Ok(n) if n < 0x80 => der.push(n),
        _ => {
            let len = data.len().to_be_bytes();
            let skip = len.iter().take_while(|b| **b == 0).count();
            der.push(0x80 | u8::try_from(len.len() - skip).unwrap_or(0));
            der.extend_from_slice(&len[skip..]);
        }
    }
    der.extend_from_slice(data);
    der.iter().map(|b| format!("{b:02x}")).collect()
}

/// `ssl.principal.mapping.rules`: `DEFAULT` (the name unchanged) or
/// `RULE:pattern/replacement/[LU]` entries, comma separated, tried in order.
#[derive(Debug, Clone)]
pub struct PrincipalMapper {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
enum Rule {
    Default,
    Replace { pattern: Regex, replacement: String, case: Option<char> },
}

impl PartialEq for PrincipalMapper {
    fn eq(&self, other: &PrincipalMapper) -> bool {
        format!("{self:?}") == format!("{other:?}")
    }
}

impl Default for PrincipalMapper {
    fn default() -> PrincipalMapper {
        PrincipalMapper { rules: vec![Rule::Default] }
    }
}

impl PrincipalMapper {
    pub fn parse(text: &str) -> Result<PrincipalMapper, String> {
        let mut rules = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("DEFAULT") {
                rules.push(Rule::Default);
                rest = after;
            } else if let Some(after) = rest.strip_prefix("RULE:") {
                let (pattern, after) = until_slash(after).ok_or_else(|| format!("unterminated rule in {text:?}"))?;
                let (replacement, after) =
                    until_slash(after).ok_or_else(|| format!("unterminated rule in {text:?}"))?;
                let case = after.chars().next().filter(|c| *c == 'L' || *c == 'U');
                rest = &after[case.map_or(0, char::len_utf8)..];
                let pattern = Regex::new(&pattern).map_err(|e| format!("bad pattern {pattern:?}: {e}"))?;
                rules.push(Rule::Replace { pattern, replacement, case });
            } else {
                return Err(format!("expected DEFAULT or RULE:pattern/replacement/[LU] at {rest:?}"));
            }
            rest = rest.trim_start();
            rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
        }
        if rules.is_empty() {
            return Err("no rules".into());
        }
        Ok(PrincipalMapper { rules })
    }

    /// The principal name for a certificate subject, or an error when no rule applies
    /// (Kafka then fails the authentication).
    pub fn name(&self, subject: &str) -> Result<String, String> {
        for rule in &self.rules {
            match rule {
                Rule::Default => return Ok(subject.to_string()),
                Rule::Replace { pattern, replacement, case } => {
                    if !pattern.is_match(subject) {
                        continue;
                    }
                    let name = pattern.replace(subject, replacement.as_str()).into_owned();
                    return Ok(match case {
                        Some('L') => name.to_lowercase(),
                        Some('U') => name.to_uppercase(),
                        _ => name,
                    });
                }
            }
        }
        Err(format!("no ssl.principal.mapping.rules apply to {subject}"))
    }
}

/// The text up to the next unescaped `/` (with `\/` unescaped), and what follows it.
fn until_slash(text: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if text[i + 1..].starts_with('/') => {
                out.push('/');
                chars.next();
            }
            '/' => return Some((out, &text[i + 1..])),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_rules_as_kafka_documents_them() {
        let rules = PrincipalMapper::parse(
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=(.*?),OU=(.*?),O=(.*?)$/$1@$2/L, RULE:^cn=(.*?),ou=(.*?)$/$1\\/x/U,DEFAULT",
        )
        .expect("valid");
        assert_eq!(rules.name("CN=kafka-server,OU=ServiceUsers,O=Org").unwrap(), "kafka-server");
        assert_eq!(rules.name("CN=Alice,OU=Sales,O=Org").unwrap(), "alice@sales");
        assert_eq!(rules.name("cn=bob,ou=x").unwrap(), "BOB/X");
        assert_eq!(rules.name("C=US").unwrap(), "C=US");
        let strict = PrincipalMapper::parse("RULE:^CN=(.*)$/$1/").expect("valid");
        assert!(strict.name("O=Org").is_err(), "no rule applies: authentication fails as in Kafka");
        assert!(PrincipalMapper::parse("RULE:^CN=(.*)$").is_err());
        assert!(PrincipalMapper::parse("nonsense").is_err());
        assert_eq!(PrincipalMapper::default().name("CN=a").unwrap(), "CN=a");
        // The README's example.
        let readme = PrincipalMapper::parse("RULE:^CN=([^,]+),O=Example.*$/$1/L,DEFAULT").expect("valid");
        assert_eq!(readme.name("CN=Alice,O=Example Corp,C=US").unwrap(), "alice");
        assert_eq!(readme.name("CN=bob,O=Other").unwrap(), "CN=bob,O=Other");
    }

    #[test]
    fn subject_in_java_order_and_escaping() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CountryName, "US");
        dn.push(rcgen::DnType::OrganizationName, "Brook, Inc");
        dn.push(rcgen::DnType::CommonName, "alice");
        params.distinguished_name = dn;
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("cert");
        assert_eq!(subject_name(cert.der()).as_deref(), Some("CN=alice,O=Brook\\, Inc,C=US"));
        assert_eq!(subject_name(b"not a certificate"), None);
    }
}
