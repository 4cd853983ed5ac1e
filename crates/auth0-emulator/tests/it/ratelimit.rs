//! Rate limits: headers on every Management API answer, 429 with Auth0's body past the burst,
//! refill over time, and the token endpoint's separate bucket.

use auth0_emulator::{RateLimitSeed, TenantSeed};
use serde_json::json;

use crate::common::{CLIENT_ID, DOMAIN, Env, SECRET, now_secs};

fn header_u64(response: &reqwest::Response, name: &str) -> u64 {
    response.headers()[name]
        .to_str()
        .expect("ascii header")
        .parse()
        .expect("integer header")
}

#[tokio::test]
async fn management_bucket_counts_down_then_answers_429() {
    let mut tenant = TenantSeed::with_m2m(DOMAIN, CLIENT_ID, SECRET, &["read:clients"]);
    // Slow enough refill that a loaded machine cannot refill a token between two requests.
    tenant.rate_limit = Some(RateLimitSeed {
        burst: 3,
        per_second: 2.0,
    });
    let env = Env::start(vec![tenant]).await;
    let token = env.mgmt_token().await;

    let mut remaining = Vec::new();
    for _ in 0..3 {
        let response = env
            .get(DOMAIN, "/api/v2/clients")
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(header_u64(&response, "x-ratelimit-limit"), 3);
        assert!(header_u64(&response, "x-ratelimit-reset") >= now_secs());
        remaining.push(header_u64(&response, "x-ratelimit-remaining"));
    }
    assert_eq!(remaining, [2, 1, 0]);

    let response = env
        .get(DOMAIN, "/api/v2/clients")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(header_u64(&response, "x-ratelimit-remaining"), 0);
    let reset = header_u64(&response, "x-ratelimit-reset");
    assert!(
        reset >= now_secs() && reset <= now_secs() + 3,
        "reset {reset}"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"statusCode": 429, "error": "Too Many Requests", "message": "Global limit has been reached", "errorCode": "too_many_requests"})
    );
    // Every request counts, even one refused for its token.
    let response = env.get(DOMAIN, "/api/v2/clients").send().await.unwrap();
    assert_eq!(response.status(), 429);

    // The token endpoint has its own (unlimited) bucket.
    let (status, _) = env
        .token_request(DOMAIN, json!({"grant_type": "client_credentials", "client_id": CLIENT_ID,
                                      "client_secret": SECRET, "audience": format!("https://{DOMAIN}/api/v2/")}))
        .await;
    assert_eq!(status, 200);

    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let response = env
        .get(DOMAIN, "/api/v2/clients")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "refilled at 2/s");
    assert_eq!(
        env.emulator.admin().counters(DOMAIN).unwrap().rate_limited,
        2
    );
}

#[tokio::test]
async fn unlimited_tenants_still_send_headers_and_token_endpoint_limits_separately() {
    let mut tenant = TenantSeed::with_m2m(DOMAIN, CLIENT_ID, SECRET, &["read:clients"]);
    tenant.token_rate_limit = Some(RateLimitSeed {
        burst: 2,
        per_second: 0.5,
    });
    let env = Env::start(vec![tenant]).await;
    let token = env.mgmt_token().await;
    let response = env
        .get(DOMAIN, "/api/v2/clients")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(header_u64(&response, "x-ratelimit-limit") > 0);
    assert!(header_u64(&response, "x-ratelimit-remaining") > 0);
    assert!(response.headers().contains_key("x-ratelimit-reset"));

    let body = json!({"grant_type": "client_credentials", "client_id": CLIENT_ID,
                      "client_secret": SECRET, "audience": format!("https://{DOMAIN}/api/v2/")});
    let response = env
        .post(DOMAIN, "/oauth/token")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "second token of a burst of 2");
    assert_eq!(header_u64(&response, "x-ratelimit-limit"), 2);
    let response = env
        .post(DOMAIN, "/oauth/token")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("x-ratelimit-reset"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests");
    assert_eq!(body["error_description"], "Global limit has been reached");
}
