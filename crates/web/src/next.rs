//! The `?next=` return path of the sign-in page: accepted only as a same-site path, so a
//! crafted link cannot bounce a freshly signed-in user to another site (open redirect).

/// Longest return path kept; anything longer is not a link a page of ours produced.
const MAX_LEN: usize = 2048;

/// The return path if it is a same-site path, else `/`.
///
/// Accepted: starts with one `/` followed by anything but `/` or `\` (browsers read `//host`
/// and `/\host` as another host), no control characters or whitespace (some parsers strip
/// them, turning `/\t/host` into `//host`), no backslash anywhere, not longer than
/// [`MAX_LEN`], and not the sign-in or setup page itself (a signed-in visitor is sent on to
/// `next`, so `/login?next=/login` would loop).
pub(crate) fn sanitize(raw: Option<&str>) -> String {
    let Some(path) = raw else {
        return "/".to_owned();
    };
    let bytes = path.as_bytes();
    let ok = bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/' | b'\\'))
        && path.len() <= MAX_LEN
        && !path.chars().any(|c| c.is_control() || c.is_whitespace())
        && !path.contains('\\')
        && !is_page(path, "/login")
        && !is_page(path, "/setup");
    if ok { path.to_owned() } else { "/".to_owned() }
}

/// Whether `path` opens `page` (with or without a query, fragment or trailing slash).
fn is_page(path: &str, page: &str) -> bool {
    path.strip_prefix(page)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['?', '#', '/']))
}

/// Percent-encodes a value for a query parameter like JavaScript's `encodeURIComponent`, so
/// server and browser build the same `next=` (one encoder for the whole server).
pub(crate) use pw_http::percent_encode as encode;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_site_paths_are_kept() {
        for p in [
            "/",
            "/account",
            "/groups/3",
            "/audit?event=auth.login&before=9",
        ] {
            assert_eq!(sanitize(Some(p)), p);
        }
    }

    #[test]
    fn other_sites_and_odd_paths_fall_back_to_home() {
        for p in [
            "",
            "account",
            "//evil.example",
            "/\\evil.example",
            "/x\\y",
            "https://evil.example/",
            "/\t/evil.example",
            "/a b",
            "/\u{0}",
            "javascript:alert(1)",
            "/login",
            "/login?next=/login",
            "/setup",
            "/login/",
        ] {
            assert_eq!(sanitize(Some(p)), "/", "{p:?}");
        }
        assert_eq!(sanitize(None), "/");
        assert_eq!(sanitize(Some(&format!("/{}", "a".repeat(MAX_LEN)))), "/");
    }

    #[test]
    fn encode_escapes_like_encode_uri_component() {
        assert_eq!(encode("/account"), "%2Faccount");
        assert_eq!(encode("/audit?a=b&c"), "%2Faudit%3Fa%3Db%26c");
        assert_eq!(encode("/ü"), "%2F%C3%BC");
    }
}
