//! CSRF tokens: one random token per session (and one per login form), compared in constant time.
//! Console forms carry it in the `csrf_token` field, API calls with a session in `X-CSRF-Token`.

use aws_lc_rs::constant_time::verify_slices_are_equal;

/// Header carrying the token on unsafe `/api/v1` requests made with a session.
pub(crate) const HEADER: &str = "x-csrf-token";

/// True when `given` is the expected token. An empty expected token never matches.
pub(crate) fn tokens_match(expected: &str, given: Option<&str>) -> bool {
    match given {
        Some(given) if !expected.is_empty() => {
            verify_slices_are_equal(expected.as_bytes(), given.as_bytes()).is_ok()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_the_same_token() {
        assert!(tokens_match("abc", Some("abc")));
        assert!(!tokens_match("abc", Some("abd")));
        assert!(!tokens_match("abc", Some("ab")));
        assert!(!tokens_match("abc", None));
        assert!(!tokens_match("", Some("")));
    }
}
