//! The per-key rate limit: over it, 429 with `Retry-After`, for that key only.

use reqwest::StatusCode;

use crate::api_support::{ConfiguredApp, problem, tenant};

#[tokio::test]
async fn a_key_over_its_rate_gets_a_429_with_retry_after_and_other_keys_do_not() {
    let app = ConfiguredApp::spawn(|config| {
        config.http.rate_limit_per_second = 0.5;
        config.http.rate_limit_burst = 3;
    })
    .await;
    let (busy, _) = tenant(&app.http, &app.url(""), "busy").await;
    let (calm, _) = tenant(&app.http, &app.url(""), "calm").await;
    let get = |key: &str| {
        app.http
            .get(app.url("/v1/webhooks"))
            .header("x-api-key", key)
            .send()
    };

    for _ in 0..3 {
        assert_eq!(get(&busy).await.unwrap().status(), StatusCode::OK);
    }
    let limited = get(&busy).await.unwrap();
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    problem(limited, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(get(&calm).await.unwrap().status(), StatusCode::OK);
}
