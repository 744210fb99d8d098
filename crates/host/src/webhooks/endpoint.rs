//! Checking endpoints, and reading a URL into where to connect and what to ask for.

use super::{ENDPOINTS_MAX, Endpoint, WebhookError};
use hyper::Uri;
use hyper::header::HeaderValue;
use rustls::pki_types::ServerName;
use std::net::Ipv6Addr;

/// Longest event type; event types are 1 to this many of `A-Z a-z 0-9 _ . -`.
pub const EVENT_TYPE_MAX_BYTES: usize = 64;
const ENDPOINT_ID_MAX_BYTES: usize = 64;
const EVENT_TYPES_PER_ENDPOINT_MAX: usize = 64;
const URL_MAX_BYTES: usize = 2_048;

/// Where an endpoint's requests go.
#[derive(Debug)]
pub(super) struct Target {
    /// A DNS name or an IP address (an IPv6 one without its brackets).
    pub host: String,
    pub port: u16,
    /// The `Host` header: the URL's authority as written.
    pub authority: HeaderValue,
    /// The request target: path and query.
    pub path: Uri,
    /// `https://`: the name the server's certificate must carry.
    pub tls: Option<ServerName<'static>>,
}

fn is_name(text: &str, max_bytes: usize) -> bool {
    let name_byte = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
    (1..=max_bytes).contains(&text.len()) && text.bytes().all(name_byte)
}

/// Whether `event_type` is 1 to [`EVENT_TYPE_MAX_BYTES`] of `A-Z a-z 0-9 _ . -` (it is
/// sent as a header).
pub fn is_event_type(event_type: &str) -> bool {
    is_name(event_type, EVENT_TYPE_MAX_BYTES)
}

/// Checks every endpoint and reads its URL. `tls`: whether a CA bundle is configured.
pub(super) fn check_all(endpoints: &[Endpoint], tls: bool) -> Result<Vec<Target>, WebhookError> {
    if endpoints.len() > ENDPOINTS_MAX {
        return Err(WebhookError::TooManyEndpoints);
    }
    let mut targets = Vec::with_capacity(endpoints.len());
    for (i, endpoint) in endpoints.iter().enumerate() {
        let fail = |problem| WebhookError::Endpoint {
            id: endpoint
                .id
                .chars()
                .take(ENDPOINT_ID_MAX_BYTES + 1)
                .collect(),
            problem,
        };
        if !is_name(&endpoint.id, ENDPOINT_ID_MAX_BYTES) {
            return Err(fail("the id must be 1 to 64 of A-Z a-z 0-9 _ . -"));
        }
        if endpoints[..i].iter().any(|other| other.id == endpoint.id) {
            return Err(fail("two endpoints have this id"));
        }
        let events_ok = endpoint.events.len() <= EVENT_TYPES_PER_ENDPOINT_MAX
            && endpoint.events.iter().all(|t| is_event_type(t));
        if !events_ok {
            return Err(fail(
                "events: at most 64 types, each 1 to 64 of A-Z a-z 0-9 _ . -",
            ));
        }
        let target = parse_url(&endpoint.url).map_err(fail)?;
        if target.tls.is_some() && !tls {
            return Err(fail("an https:// url needs the webhooks' ca_bundle"));
        }
        targets.push(target);
    }
    Ok(targets)
}

/// Reads `http[s]://host[:port][/path][?query]`. Problems are phrased without the URL
/// (it may carry a receiver's token).
pub(super) fn parse_url(url: &str) -> Result<Target, &'static str> {
    if url.len() > URL_MAX_BYTES || !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the url must be up to 2048 printable ASCII characters, no spaces");
    }
    let scheme = |prefix: &str| {
        let head = url.get(..prefix.len())?;
        head.eq_ignore_ascii_case(prefix)
            .then(|| &url[prefix.len()..])
    };
    let (tls, rest) = match (scheme("https://"), scheme("http://")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => return Err("the url must start with http:// or https://"),
    };
    if rest.contains('#') {
        return Err("the url must not have a fragment");
    }
    let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    if authority.contains('@') {
        return Err("the url must not carry user info (put a token in the path or query)");
    }
    let (host, port) = host_port(authority)?;
    let path = match path {
        "" => "/".to_owned(),
        query if query.starts_with('?') => format!("/{query}"),
        path => path.to_owned(),
    };
    let path: Uri = path
        .parse()
        .map_err(|_| "the url's path or query is not valid")?;
    let authority = HeaderValue::from_str(authority).map_err(|_| "the url's host is not valid")?;
    let tls = match tls {
        true => {
            Some(ServerName::try_from(host.clone()).map_err(|_| "the url's host is not valid")?)
        }
        false => None,
    };
    let port = port.unwrap_or(if tls.is_some() { 443 } else { 80 });
    Ok(Target {
        host,
        port,
        authority,
        path,
        tls,
    })
}

fn host_port(authority: &str) -> Result<(String, Option<u16>), &'static str> {
    if let Some(bracketed) = authority.strip_prefix('[') {
        let (ip, after) = bracketed
            .split_once(']')
            .ok_or("the url's [host] is not closed")?;
        ip.parse::<Ipv6Addr>()
            .map_err(|_| "the url's [host] is not an IPv6 address")?;
        let port = match after {
            "" => None,
            after => Some(port(
                after
                    .strip_prefix(':')
                    .ok_or("the url's port is not valid")?,
            )?),
        };
        return Ok((ip.to_owned(), port));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, text)) => (host, Some(port(text)?)),
        None => (authority, None),
    };
    let host_byte = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-');
    if host.is_empty() || !host.bytes().all(host_byte) {
        return Err("the url's host must be a DNS name or an IP address");
    }
    Ok((host.to_owned(), port))
}

fn port(text: &str) -> Result<u16, &'static str> {
    match text.parse::<u16>() {
        Ok(port) if port > 0 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(port),
        _ => Err("the url's port must be 1 to 65535"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_host_port_path_and_tls() {
        let cases = [
            (
                "http://127.0.0.1:8080/hook?k=v",
                "127.0.0.1",
                8080,
                "/hook?k=v",
                false,
            ),
            ("https://example.com", "example.com", 443, "/", true),
            (
                "HTTP://example.com?token=x",
                "example.com",
                80,
                "/?token=x",
                false,
            ),
            ("https://[::1]:9443/a/b", "::1", 9443, "/a/b", true),
            ("http://[::1]/", "::1", 80, "/", false),
        ];
        for (url, host, port, path, tls) in cases {
            let t = parse_url(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(
                (t.host.as_str(), t.port, t.path.to_string().as_str()),
                (host, port, path)
            );
            assert_eq!(t.tls.is_some(), tls, "{url}");
        }
        let t = parse_url("http://example.com:81/x").unwrap();
        assert_eq!(t.authority, "example.com:81");
    }

    #[test]
    fn bad_urls_are_refused_without_quoting_them() {
        let bad = [
            "ftp://example.com/",
            "example.com/hook",
            "http://",
            "http://user:secret@example.com/",
            "http://example.com/a b",
            "http://example.com/#frag",
            "http://example.com:0/",
            "http://example.com:70000/",
            "http://example.com:+80/",
            "http://[::1/",
            "http://[nothost]/",
            "http://exa_mple.com/",
            "http://example.com/é",
        ];
        for url in bad {
            let problem = parse_url(url)
                .err()
                .unwrap_or_else(|| panic!("{url} accepted"));
            assert!(
                !problem.contains("secret") && !problem.contains("example"),
                "{problem}"
            );
        }
    }

    #[test]
    fn endpoints_are_checked() {
        let endpoint = |id: &str, url: &str, events: &[&str]| Endpoint {
            id: id.into(),
            url: url.into(),
            events: events.iter().map(|e| e.to_string()).collect(),
        };
        let ok = endpoint("crm", "http://127.0.0.1:1/", &["alert.created"]);
        assert!(check_all(std::slice::from_ref(&ok), false).is_ok());
        let refused = [
            vec![endpoint("", "http://a/", &[])],
            vec![endpoint("has space", "http://a/", &[])],
            vec![ok.clone(), ok.clone()],
            vec![endpoint("x", "http://a/", &["bad type"])],
            vec![endpoint("x", "https://a/", &[])],
        ];
        for endpoints in refused {
            assert!(check_all(&endpoints, false).is_err(), "{endpoints:?}");
        }
        assert!(check_all(&[endpoint("x", "https://a/", &[])], true).is_ok());
        let many: Vec<_> = (0..=ENDPOINTS_MAX)
            .map(|i| endpoint(&format!("e{i}"), "http://a/", &[]))
            .collect();
        assert!(matches!(
            check_all(&many, false),
            Err(WebhookError::TooManyEndpoints)
        ));
    }
}
