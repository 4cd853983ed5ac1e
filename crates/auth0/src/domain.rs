//! Validation of Auth0 tenant domains typed by users.
//!
//! This module owns the single place where a string becomes a [`Domain`]: a lowercase DNS
//! hostname with no scheme, port, path or userinfo, which is not an IP literal in any
//! notation and not an obviously internal name. It is the first (cheap, friendly) SSRF
//! layer; the authoritative check is on the resolved address at connect time (`ssrf`).
//! It does no IO.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

/// RFC 1035 limit on the textual length of a name without the trailing dot.
const MAX_DOMAIN_LEN: usize = 253;
/// RFC 1035 limit on a single label.
const MAX_LABEL_LEN: usize = 63;

/// Suffixes that never name a public Auth0 tenant: special-use names (RFC 6761, RFC 6762,
/// RFC 8375, ICANN's `.internal`) and the reverse-DNS tree.
const INTERNAL_SUFFIXES: &[&str] = &[
    "localhost",
    "local",
    "internal",
    "home.arpa",
    "arpa",
    "invalid",
];

/// A validated Auth0 tenant hostname: lowercase ASCII, at least two labels, no trailing dot.
///
/// Build one with [`Domain::parse`]; every instance upholds the rules documented there.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Domain(String);

/// Why a string is not an acceptable Auth0 tenant domain. `Display` is a sentence fit to
/// show the user who typed it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DomainError {
    #[error("must not be empty; use the tenant domain, e.g. tenant.us.auth0.com")]
    Empty,
    #[error("must be at most 253 characters long")]
    TooLong,
    #[error("must be a hostname like tenant.us.auth0.com, without a scheme such as https://")]
    Scheme,
    #[error("must be a hostname like tenant.us.auth0.com, without user info (\"user@\")")]
    Userinfo,
    #[error("must be a hostname like tenant.us.auth0.com, without a port")]
    Port,
    #[error("must be a hostname like tenant.us.auth0.com, without a path, query or fragment")]
    Path,
    #[error("must be a hostname like tenant.us.auth0.com, not an IP address")]
    IpAddress,
    #[error(
        "must contain only ASCII letters, digits, hyphens and dots (Auth0 tenant domains are ASCII)"
    )]
    NonAscii,
    #[error("must not contain empty labels (two dots in a row, or a leading dot)")]
    EmptyLabel,
    #[error("each dot-separated label must be at most 63 characters long")]
    LabelTooLong,
    #[error("contains {0:?}: only letters a-z, digits 0-9, hyphens and dots are allowed")]
    InvalidCharacter(char),
    #[error("labels must not start or end with a hyphen")]
    HyphenAtLabelEdge,
    #[error("must be a fully qualified hostname like tenant.us.auth0.com, not a single name")]
    SingleLabel,
    #[error("names under .{0} are internal and cannot be an Auth0 tenant")]
    InternalName(&'static str),
    #[error("contains an \"xn--\" label that is not valid punycode")]
    InvalidPunycode,
}

impl Domain {
    /// Validates user input as an Auth0 tenant hostname.
    ///
    /// Surrounding whitespace and one trailing dot are dropped and letters are lowercased.
    /// Rejected: empty input, more than 253 characters, any scheme, userinfo, port, path,
    /// query or fragment, IP literals in every notation (dotted, decimal, hex, octal,
    /// shortened, IPv6 with or without brackets), labels outside `[a-z0-9-]` or 1-63 long or
    /// with an edge hyphen, single-label names, non-ASCII input, and internal suffixes
    /// (`localhost`, `.local`, `.internal`, `.home.arpa`, `.arpa`, `.invalid`).
    pub fn parse(input: &str) -> Result<Domain, DomainError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(DomainError::Empty);
        }
        // Checked before any character class so an IDN gets the helpful message rather than
        // "invalid character".
        if !trimmed.is_ascii() {
            return Err(DomainError::NonAscii);
        }
        // Order matters: each check picks the message for the most likely mistake.
        if trimmed.contains("://") {
            return Err(DomainError::Scheme);
        }
        if looks_like_ipv6(trimmed) {
            return Err(DomainError::IpAddress);
        }
        if trimmed.contains('@') {
            return Err(DomainError::Userinfo);
        }
        if trimmed.contains(['/', '\\', '?', '#']) {
            return Err(DomainError::Path);
        }
        if trimmed.contains(':') {
            return Err(DomainError::Port);
        }

        let lower = trimmed.to_ascii_lowercase();
        let name = lower.strip_suffix('.').unwrap_or(&lower);
        if name.is_empty() {
            return Err(DomainError::Empty);
        }
        if name.len() > MAX_DOMAIN_LEN {
            return Err(DomainError::TooLong);
        }
        // WHATWG URL rule: a host whose last label is a number is parsed as IPv4, whatever
        // the notation ("2130706433", "0x7f000001", "0177.0.0.1", "127.1"). Resolvers and
        // HTTP stacks disagree on these forms, so none of them is a hostname here.
        let last = name.rsplit('.').next().unwrap_or(name);
        if is_numeric_label(last) {
            return Err(DomainError::IpAddress);
        }
        for label in name.split('.') {
            check_label(label)?;
        }
        if let Some(suffix) = INTERNAL_SUFFIXES
            .iter()
            .find(|suffix| name == **suffix || name.ends_with(&format!(".{suffix}")))
        {
            return Err(DomainError::InternalName(suffix));
        }
        if !name.contains('.') {
            return Err(DomainError::SingleLabel);
        }
        // Punycode labels must decode, or the URL parser the HTTP client uses refuses the host
        // later with a confusing error (found by fuzz/domain).
        if name.split('.').any(|label| label.starts_with("xn--"))
            && !matches!(url::Host::parse(name), Ok(url::Host::Domain(ref parsed)) if parsed == name)
        {
            return Err(DomainError::InvalidPunycode);
        }
        Ok(Domain(name.to_owned()))
    }

    /// The hostname, e.g. `tenant.us.auth0.com`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Auth0 Management API audience for this domain: `https://{domain}/api/v2/`.
    pub fn management_audience(&self) -> String {
        format!("https://{}/api/v2/", self.0)
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Domain {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Domain::parse(s)
    }
}

impl AsRef<str> for Domain {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// True for `::1`, `[::1]`, `[::1]:443`, `::ffff:127.0.0.1` and friends. A hostname never
/// contains two colons or a bracket, so either is enough to call it an IPv6 attempt.
fn looks_like_ipv6(s: &str) -> bool {
    if s.starts_with('[') {
        return true;
    }
    s.matches(':').count() >= 2 || Ipv6Addr::from_str(s).is_ok()
}

/// A label that an IPv4 parser would accept as a number: decimal, octal or `0x` hex.
fn is_numeric_label(label: &str) -> bool {
    if label.is_empty() {
        return false;
    }
    if let Some(hex) = label.strip_prefix("0x") {
        return hex.chars().all(|c| c.is_ascii_hexdigit());
    }
    label.chars().all(|c| c.is_ascii_digit())
}

fn check_label(label: &str) -> Result<(), DomainError> {
    if label.is_empty() {
        return Err(DomainError::EmptyLabel);
    }
    if label.len() > MAX_LABEL_LEN {
        return Err(DomainError::LabelTooLong);
    }
    if let Some(bad) = label
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(DomainError::InvalidCharacter(bad));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(DomainError::HyphenAtLabelEdge);
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    #[test]
    fn punycode_labels_must_decode() {
        assert_eq!(
            Domain::parse("xn--bcher-kva.example.com").map(|d| d.as_str().to_owned()),
            Ok("xn--bcher-kva.example.com".to_owned())
        );
        assert_eq!(
            Domain::parse("xn--bcher-kv.a.example.com"),
            Err(DomainError::InvalidPunycode)
        );
    }

    use super::*;

    #[test]
    fn accepts_tenant_hostnames() {
        let cases = [
            ("acme.auth0.com", "acme.auth0.com"),
            ("acme.us.auth0.com", "acme.us.auth0.com"),
            ("ACME.EU.Auth0.com", "acme.eu.auth0.com"),
            ("  acme.au.auth0.com \n", "acme.au.auth0.com"),
            ("acme.auth0.com.", "acme.auth0.com"),
            ("dev-abc123xyz.us.auth0.com", "dev-abc123xyz.us.auth0.com"),
            ("login.example.com", "login.example.com"),
            ("acme.auth0.test", "acme.auth0.test"),
            ("tenant.example", "tenant.example"),
            ("xn--bcher-kva.example.com", "xn--bcher-kva.example.com"),
            ("a.b", "a.b"),
            ("1acme.auth0.com", "1acme.auth0.com"),
            ("0x7f.example.com", "0x7f.example.com"),
            ("127.0.0.1.nip.io", "127.0.0.1.nip.io"),
            ("acme.c0m", "acme.c0m"),
        ];
        for (input, expected) in cases {
            let domain = Domain::parse(input);
            assert_eq!(
                domain.as_ref().map(Domain::as_str),
                Ok(expected),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn accepts_maximum_lengths() {
        let label63 = "a".repeat(63);
        let ok = format!("{label63}.example.com");
        assert!(Domain::parse(&ok).is_ok());
        // 62 + 62 + 61 + 61 + 4 dots + "com" = 253 characters.
        let long = format!("{0}.{0}.{1}.{1}.com", "a".repeat(62), "b".repeat(61));
        assert_eq!(long.len(), 253);
        assert!(Domain::parse(&long).is_ok());
        assert!(Domain::parse(&format!("{long}.")).is_ok());
    }

    #[test]
    fn rejects_with_reason() {
        use DomainError::*;
        let cases: &[(&str, DomainError)] = &[
            ("", Empty),
            ("   ", Empty),
            (".", Empty),
            ("https://acme.auth0.com", Scheme),
            ("http://acme.auth0.com/", Scheme),
            ("HTTPS://acme.auth0.com", Scheme),
            ("user@acme.auth0.com", Userinfo),
            ("user:pass@acme.auth0.com", Userinfo),
            ("acme.auth0.com:443", Port),
            ("https:acme.auth0.com", Port),
            ("acme.auth0.com/", Path),
            ("acme.auth0.com/api/v2/", Path),
            ("acme.auth0.com?x=1", Path),
            ("acme.auth0.com#frag", Path),
            ("acme.auth0.com\\evil", Path),
            // IPv4 in every notation WHATWG / inet_aton accept.
            ("127.0.0.1", IpAddress),
            ("169.254.169.254", IpAddress),
            ("10.0.0.1.", IpAddress),
            ("2130706433", IpAddress),
            ("0x7f000001", IpAddress),
            ("0X7F000001", IpAddress),
            ("0177.0.0.1", IpAddress),
            ("0x7f.0.0.1", IpAddress),
            ("127.1", IpAddress),
            ("127.0.1", IpAddress),
            ("0", IpAddress),
            ("0.0.0.0", IpAddress),
            ("999.999.999.999", IpAddress),
            ("example.123", IpAddress),
            ("example.0x1f", IpAddress),
            // IPv6, bracketed or not, including IPv4-mapped and with a port.
            ("::1", IpAddress),
            ("[::1]", IpAddress),
            ("[::1]:443", IpAddress),
            ("::ffff:127.0.0.1", IpAddress),
            ("[::ffff:7f00:1]", IpAddress),
            ("fe80::1%eth0", IpAddress),
            ("2001:db8::1", IpAddress),
            ("::", IpAddress),
            ("acme..auth0.com", EmptyLabel),
            (".acme.auth0.com", EmptyLabel),
            ("acme.auth0.com..", EmptyLabel),
            ("acme_corp.auth0.com", InvalidCharacter('_')),
            ("acme corp.auth0.com", InvalidCharacter(' ')),
            ("acme.auth0.com%00", InvalidCharacter('%')),
            ("acme*.auth0.com", InvalidCharacter('*')),
            ("-acme.auth0.com", HyphenAtLabelEdge),
            ("acme-.auth0.com", HyphenAtLabelEdge),
            ("acme.auth0.com-", HyphenAtLabelEdge),
            ("localhost", InternalName("localhost")),
            ("LOCALHOST.", InternalName("localhost")),
            ("auth0", SingleLabel),
            ("metadata", SingleLabel),
            ("app.localhost", InternalName("localhost")),
            ("printer.local", InternalName("local")),
            ("metadata.google.internal", InternalName("internal")),
            ("router.home.arpa", InternalName("home.arpa")),
            ("1.0.0.127.in-addr.arpa", InternalName("arpa")),
            ("acme.invalid", InternalName("invalid")),
            ("tenant.аuth0.com", NonAscii), // Cyrillic 'а'
            ("bücher.example", NonAscii),
            ("acme.auth0.com\u{200b}", NonAscii),
        ];
        for (input, expected) in cases {
            assert_eq!(
                Domain::parse(input).as_ref(),
                Err(expected),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn rejects_overlong_names_and_labels() {
        let label64 = "a".repeat(64);
        assert_eq!(
            Domain::parse(&format!("{label64}.example.com")),
            Err(DomainError::LabelTooLong)
        );
        let long = format!("{0}.{0}.{1}.{1}.coms", "a".repeat(62), "b".repeat(61));
        assert_eq!(long.len(), 254);
        assert_eq!(Domain::parse(&long), Err(DomainError::TooLong));
    }

    #[test]
    fn error_messages_are_human() {
        assert_eq!(
            DomainError::IpAddress.to_string(),
            "must be a hostname like tenant.us.auth0.com, not an IP address"
        );
        assert!(
            DomainError::InternalName("local")
                .to_string()
                .contains(".local")
        );
    }

    #[test]
    fn management_audience_and_display() {
        let domain = Domain::parse("Acme.US.auth0.com").expect("valid domain");
        assert_eq!(
            domain.management_audience(),
            "https://acme.us.auth0.com/api/v2/"
        );
        assert_eq!(domain.to_string(), "acme.us.auth0.com");
        assert_eq!("acme.us.auth0.com".parse::<Domain>(), Ok(domain));
    }

    #[test]
    fn never_panics_on_odd_input() {
        let odd = [
            "\0", "..", "...", "-", "a.-", "[", "]", ":", "@", "a.b.", "0x", "a.0x",
        ];
        for input in odd {
            let _ = Domain::parse(input);
        }
        assert_eq!(Domain::parse("a.0x"), Err(DomainError::IpAddress));
        assert_eq!(
            Domain::parse("0x.example.com").map(|d| d.0),
            Ok("0x.example.com".into())
        );
    }
}
