//! Who may ask: the page is read-only, but logs hold what they hold.
//!
//! On loopback without a token, only requests naming this server in their
//! `Host` header are answered: a web page elsewhere that rebinds its own
//! name to 127.0.0.1 (DNS rebinding) sends its own name and is refused.
//! On any other address (or with `--require-token`), every request must
//! carry the token made at start: `?token=` (the address printed, which
//! also sets a cookie for the page's own requests), the cookie, or
//! `Authorization: Bearer`. Tokens are compared in constant time.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

/// How requests are let in.
pub(crate) struct Access {
    token: Option<String>,
    port: u16,
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Access")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("port", &self.port)
            .finish()
    }
}

/// Whether listening on `address` needs a token: anything but loopback.
pub(crate) fn needs_token(address: SocketAddr) -> bool {
    !address.ip().is_loopback()
}

impl Access {
    /// The access for a server on `address`: a new token unless it is
    /// loopback and none was asked for.
    pub(crate) fn for_address(
        address: SocketAddr,
        require_token: bool,
    ) -> Result<Access, getrandom::Error> {
        let token = match require_token || needs_token(address) {
            true => Some(new_token()?),
            false => None,
        };
        Ok(Access {
            token,
            port: address.port(),
        })
    }

    /// The same access for the port actually bound (`:0` picks one).
    pub(crate) fn on_port(self, port: u16) -> Access {
        Access { port, ..self }
    }

    pub(crate) fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// The address that opens the page, with the token if there is one.
    pub(crate) fn page_url(&self, bound: SocketAddr) -> String {
        match &self.token {
            Some(token) => format!("http://{bound}/?token={token}"),
            None => format!("http://{bound}/"),
        }
    }

    fn cookie_name(&self) -> String {
        // One per port: two servers on one host must not take each other's.
        format!("chlog_ui_{}", self.port)
    }

    /// The token the request carries, if it carries the right one; and
    /// whether it came in the address (then the answer sets the cookie).
    fn verdict(&self, headers: &HeaderMap, query: Option<&str>) -> Verdict {
        let Some(token) = &self.token else {
            return match host_is_loopback(headers, self.port) {
                true => Verdict::Allowed,
                false => Verdict::WrongHost,
            };
        };
        let right = |given: &str| bool::from(given.as_bytes().ct_eq(token.as_bytes()));
        let in_query = query.and_then(|query| {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(key, _)| key == "token")
                .map(|(_, value)| value.into_owned())
        });
        if in_query.as_deref().is_some_and(right) {
            return Verdict::AllowedSetCookie;
        }
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let name = self.cookie_name();
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value);
        // Every candidate is compared, so the time does not say which one was there.
        let matches = [bearer, cookie]
            .into_iter()
            .flatten()
            .fold(false, |any, given| any | right(given));
        match matches {
            true => Verdict::Allowed,
            false => Verdict::NoToken,
        }
    }
}

enum Verdict {
    Allowed,
    AllowedSetCookie,
    NoToken,
    WrongHost,
}

/// Whether `Host` names this server on loopback, with this port: an
/// address of 127.0.0.0/8 (`--listen 127.0.0.2:8080` is loopback too),
/// `[::1]`, or `localhost` (in any case). Without a port, the port is 80.
fn host_is_loopback(headers: &HeaderMap, port: u16) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    // `[::1]:8080`, `[::1]`, `127.0.0.2:8080`, `localhost`.
    let (name, given) = match host.rsplit_once(':') {
        Some((name, given)) if !given.ends_with(']') => (name, Some(given)),
        _ => (host, None),
    };
    let port_matches = match given {
        Some(given) => given.parse::<u16>() == Ok(port),
        None => port == 80,
    };
    let loopback = match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(v6) => v6
            .parse::<std::net::Ipv6Addr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .parse::<std::net::Ipv4Addr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
    };
    port_matches && loopback
}

/// 32 random bytes as hex.
fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The middleware: answers 401 without the token, 403 for a foreign `Host`.
pub(crate) async fn check(
    State(access): State<Arc<Access>>,
    request: Request,
    next: Next,
) -> Response {
    match access.verdict(request.headers(), request.uri().query()) {
        Verdict::Allowed => next.run(request).await,
        Verdict::AllowedSetCookie => {
            let mut response = next.run(request).await;
            let token = access.token.as_deref().unwrap_or_default();
            let cookie = format!(
                "{}={token}; HttpOnly; SameSite=Strict; Path=/",
                access.cookie_name()
            );
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
            response
        }
        Verdict::NoToken => (
            StatusCode::UNAUTHORIZED,
            "this chlog ui needs its token: open the address it printed at start\n",
        )
            .into_response(),
        Verdict::WrongHost => (
            StatusCode::FORBIDDEN,
            "this chlog ui answers only requests for a loopback address (127.0.0.0/8, [::1]) or localhost\n",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn only_loopback_goes_without_a_token() {
        for (address, needs) in [
            ("127.0.0.1:8080", false),
            ("[::1]:8080", false),
            ("0.0.0.0:8080", true),
            ("[::]:8080", true),
            ("192.168.1.5:8080", true),
        ] {
            assert_eq!(needs_token(address.parse().unwrap()), needs, "{address}");
            let access = Access::for_address(address.parse().unwrap(), false).unwrap();
            assert_eq!(access.has_token(), needs, "{address}");
        }
        let forced = Access::for_address("127.0.0.1:1".parse().unwrap(), true).unwrap();
        assert!(forced.has_token());
    }

    #[test]
    fn tokens_are_random_and_never_printed_by_debug() {
        let a = Access::for_address("0.0.0.0:1".parse().unwrap(), false).unwrap();
        let b = Access::for_address("0.0.0.0:1".parse().unwrap(), false).unwrap();
        let (ta, tb) = (a.token.clone().unwrap(), b.token.clone().unwrap());
        assert_eq!(ta.len(), 64);
        assert_ne!(ta, tb);
        assert!(!format!("{a:?}").contains(&ta));
    }

    #[test]
    fn the_token_is_taken_from_the_query_a_cookie_or_a_bearer_header() {
        let access = Access {
            token: Some("abc".into()),
            port: 9,
        };
        let none = HeaderMap::new();
        assert!(matches!(access.verdict(&none, None), Verdict::NoToken));
        assert!(matches!(
            access.verdict(&none, Some("token=abc")),
            Verdict::AllowedSetCookie
        ));
        assert!(matches!(
            access.verdict(&none, Some("token=abd")),
            Verdict::NoToken
        ));
        assert!(matches!(
            access.verdict(&none, Some("token=ab")),
            Verdict::NoToken
        ));
        let cookie = headers(&[(header::COOKIE, "a=b; chlog_ui_9=abc")]);
        assert!(matches!(access.verdict(&cookie, None), Verdict::Allowed));
        let other_port = headers(&[(header::COOKIE, "chlog_ui_10=abc")]);
        assert!(matches!(
            access.verdict(&other_port, None),
            Verdict::NoToken
        ));
        let bearer = headers(&[(header::AUTHORIZATION, "Bearer abc")]);
        assert!(matches!(access.verdict(&bearer, None), Verdict::Allowed));
        let wrong = headers(&[(header::AUTHORIZATION, "Bearer abcd")]);
        assert!(matches!(access.verdict(&wrong, None), Verdict::NoToken));
    }

    #[test]
    fn without_a_token_only_loopback_hosts_are_answered() {
        let access = Access {
            token: None,
            port: 8080,
        };
        for (host, allowed) in [
            ("127.0.0.1:8080", true),
            ("localhost:8080", true),
            ("[::1]:8080", true),
            ("127.0.0.1:8081", false),
            ("evil.example:8080", false),
            ("localhost", false),
            // All of 127/8 is loopback (403 for `--listen 127.0.0.2`, before).
            ("127.0.0.2:8080", true),
            ("127.255.255.254:8080", true),
            ("LocalHost:8080", true),
            ("[::1]", false),
            ("[0:0:0:0:0:0:0:1]:8080", true),
            ("128.0.0.1:8080", false),
            ("127.0.0.1.evil.example:8080", false),
            ("[::2]:8080", false),
            ("127.0.0.1:08080", true),
            ("127.0.0.1:", false),
            ("[::1:8080", false),
        ] {
            let verdict = access.verdict(&headers(&[(header::HOST, host)]), None);
            assert_eq!(matches!(verdict, Verdict::Allowed), allowed, "{host}");
        }
        assert!(matches!(
            access.verdict(&HeaderMap::new(), None),
            Verdict::WrongHost
        ));
        let on_80 = Access {
            token: None,
            port: 80,
        };
        for (host, allowed) in [("localhost", true), ("[::1]", true), ("127.0.0.9", true)] {
            let verdict = on_80.verdict(&headers(&[(header::HOST, host)]), None);
            assert_eq!(matches!(verdict, Verdict::Allowed), allowed, "{host}");
        }
    }

    proptest::proptest! {
        /// Any `Host` header: an answer, never a panic; and only a loopback
        /// name with this port lets a request in.
        #[test]
        fn any_host_header_is_judged_without_panicking(host in "\\PC{0,40}") {
            let access = Access { token: None, port: 8080 };
            let Ok(value) = HeaderValue::from_str(&host) else { return Ok(()) };
            let mut map = HeaderMap::new();
            map.insert(header::HOST, value);
            if matches!(access.verdict(&map, None), Verdict::Allowed) {
                proptest::prop_assert!(host.ends_with(":8080") || host.ends_with(":08080"), "{}", host);
            }
        }
    }
}
