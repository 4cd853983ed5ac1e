//! Property tests: whatever bytes a client sends, the parsers answer with an error value and
//! never panic (tokens, Basic credentials, token bodies, Management bodies and queries, hosts).

use axum::http::{HeaderMap, HeaderValue, Request, header};
use proptest::prelude::*;

use crate::keys::pooled_key;
use crate::mgmt::input::{Payload, Query};

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_tokens_never_verify_or_panic(token in ".{0,300}", dots in "[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,40}") {
        let key = pooled_key(0).expect("key");
        prop_assert!(key.verify(&token).is_err());
        prop_assert!(key.verify(&dots).is_err());
    }

    #[test]
    fn token_request_parsing_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300), json in any::<bool>(), basic in ".{0,80}") {
        let mut headers = HeaderMap::new();
        let content_type = if json { "application/json" } else { "application/x-www-form-urlencoded" };
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        let _ = crate::token::parse_body(&headers, &body);
        let _ = crate::token::parse_basic(&basic);
    }

    #[test]
    fn management_input_parsing_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300), query in ".{0,120}") {
        if let Ok(payload) = Payload::parse(&body) {
            let _ = payload.string("name");
            let _ = payload.string_list("grant_types");
            let _ = payload.u64("token_lifetime");
        }
        if let Ok(query) = Query::parse(Some(&query)) {
            let _ = query.int("per_page", 0, 100);
            let _ = query.bool("include_totals");
            let _ = query.csv("fields");
        }
    }

    #[test]
    fn host_parsing_never_panics(host in "[ -~]{0,80}") {
        if let Ok(req) = Request::builder().header("host", host.as_str()).body(()) {
            let _ = crate::host::request_host(&req);
        }
    }
}
