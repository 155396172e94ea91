//! The console in a real headless Chromium (see `harness::browser`): the whole tenant flow,
//! a read-only link, an expired link, tenant isolation and the operator pages. Each test
//! writes screenshots of the pages it visits to `target/console-screenshots/`.

use std::time::Duration;

use serde_json::Value;

use crate::api_support::{tenant_with_catalog, webhook};
use crate::console_support::{mint_link, publish};
use crate::harness::app::{OPERATOR_TOKEN, test_config};
use crate::harness::browser::Browser;
use crate::harness::receiver::TestReceiver;
use crate::harness::{TestApp, eventually};

async fn sign_in(browser: &Browser, app: &TestApp, key: &str) {
    browser.goto(&app.url("/console")).await;
    browser.fill("#api-key", key).await;
    browser.click("#sign-in").await;
    browser.find("#signed-in-tenant").await;
}

#[tokio::test]
async fn in_a_browser_a_tenant_signs_in_creates_a_webhook_sees_its_delivery_travels_its_history_and_signs_out()
 {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    let receiver = TestReceiver::start().await;
    let (first_url, second_url) = (receiver.url("/first"), receiver.url("/second"));

    browser.goto(&app.url("/console")).await;
    assert_eq!(browser.current_path().await, "/console/sign-in");
    browser.fill("#api-key", &key).await;
    browser.screenshot("sign-in").await;
    browser.click("#sign-in").await;
    assert_eq!(browser.text("#signed-in-tenant").await, "acme");

    browser.click("#new-webhook").await;
    browser.fill("#name", "CRM sync").await;
    browser.fill("#url", &first_url).await;
    browser
        .click(r#"#event-picker input[value="lead.created"]"#)
        .await;
    browser.screenshot("webhook-new").await;
    browser.click("#save").await;
    let secret = browser.text("#webhook-secret").await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    browser.click("#open-webhook").await;
    assert_eq!(
        browser
            .text(r#"#webhook-fields dd[data-field="url"]"#)
            .await,
        first_url
    );
    let id = browser.text(r#"#webhook-fields dd[data-field="id"]"#).await;
    assert!(
        !browser
            .run("return document.body.innerText")
            .await
            .as_str()
            .unwrap()
            .contains(&secret),
        "the secret is shown once"
    );

    publish(&app, &key, "lead-1").await;
    receiver.wait_for(1, Duration::from_secs(20)).await;
    browser.click("#deliveries-link").await;
    let deliveries = format!("/console/webhooks/{id}/deliveries");
    eventually(Duration::from_secs(20), || async {
        browser.goto(&app.url(&deliveries)).await;
        let found = browser.has("#deliveries tbody tr .state.succeeded").await;
        if found {
            Ok(())
        } else {
            Err("no succeeded delivery listed yet")
        }
    })
    .await;
    browser.screenshot("deliveries").await;
    browser.click("#deliveries tbody tr a").await;
    assert_eq!(browser.text("#delivery-status").await, "succeeded");
    assert_eq!(
        browser.text("#attempts tr.attempt td.outcome").await,
        "success"
    );
    assert_eq!(browser.text("#attempts tr.attempt td.status").await, "200");
    browser.click("#attempts details.sent summary").await;
    let sent = browser.text("#attempts pre.sent-body").await;
    assert!(
        sent.contains(r#""leadId":"lead-1""#),
        "the request, reconstructed: {sent}"
    );
    browser.screenshot("delivery").await;
    browser
        .goto(&app.url(&format!("/console/webhooks/{id}/stats")))
        .await;
    assert!(browser.has("#chart-deliveries-over-time rect").await);
    browser.screenshot("stats-over-time").await;

    browser
        .goto(&app.url(&format!("/console/webhooks/{id}")))
        .await;
    browser.click("#edit-webhook").await;
    browser.fill("#url", &second_url).await;
    browser.click("#save").await;
    eventually(Duration::from_secs(5), || async {
        let shown = browser
            .text(r#"#webhook-fields dd[data-field="url"]"#)
            .await;
        if shown == second_url {
            Ok(())
        } else {
            Err(shown)
        }
    })
    .await;
    browser.screenshot("webhook").await;

    browser.click("#history-link").await;
    assert!(browser.text("#timeline").await.contains("webhook.updated"));
    // Move the slider back to the first version; console.js loads that instant.
    browser
        .run("const s = document.getElementById('asof-slider'); s.value = '0'; s.dispatchEvent(new Event('input')); s.dispatchEvent(new Event('change'));")
        .await;
    let then = browser
        .text(r#"#asof-diff tr[data-field="url"] td.then"#)
        .await;
    assert_eq!(then, first_url, "the webhook as it was");
    assert_eq!(
        browser
            .text(r#"#asof-diff tr[data-field="url"] td.now"#)
            .await,
        second_url
    );
    assert!(browser.current_path().await.contains("asOf="));
    assert!(
        browser
            .has(r#"#asof-diff tr.changed[data-field="url"]"#)
            .await
    );
    browser.screenshot("history").await;

    browser.goto(&app.url("/console/stats")).await;
    browser.find("#chart-outcomes").await;
    browser.screenshot("stats").await;
    browser.goto(&app.url("/console/webhooks")).await;
    assert!(browser.text("#webhooks").await.contains("CRM sync"));
    browser.screenshot("webhooks").await;

    browser.click("#sign-out").await;
    browser.find("#notice").await;
    browser.goto(&app.url("/console/webhooks")).await;
    assert_eq!(browser.current_path().await, "/console/sign-in");
    browser.close().await;
}

#[tokio::test]
async fn in_a_browser_a_read_only_link_cannot_submit_a_form_and_an_expired_link_says_so() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    let id = webhook(&app, &key, "crm").await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let config = test_config(&app.env);
    let expired = hookledger_api::http::console::links::mint(&config, "acme", -60, false);
    browser.goto(&app.url(&expired.path)).await;
    assert!(browser.text("#link-expired").await.contains("expired at"));
    browser.screenshot("link-expired").await;

    browser
        .goto(&app.url(&mint_link(&app, "acme", true).await))
        .await;
    browser.find("#read-only-badge").await;
    browser
        .goto(&app.url(&format!("/console/webhooks/{id}")))
        .await;
    let pause = browser.find("#pause").await;
    assert!(!pause.is_enabled().await.unwrap(), "the button is disabled");
    assert!(!browser.has("#new-webhook").await);
    // Force the form through anyway: the server refuses it.
    browser
        .run("const b = document.getElementById('pause'); b.disabled = false; b.form.submit();")
        .await;
    let refused = browser.text("#forbidden").await;
    assert!(refused.contains("read-only"), "{refused}");
    let now: Value = app
        .http
        .get(app.url(&format!("/v1/webhooks/{id}")))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(now["status"], "active");
    browser.close().await;
}

#[tokio::test]
async fn in_a_browser_another_tenants_key_cannot_open_this_tenants_webhook_and_the_operator_sees_tenants()
 {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let acme = tenant_with_catalog(&app, "acme").await;
    let globex = tenant_with_catalog(&app, "globex").await;
    let id = webhook(&app, &acme, "acme-only").await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    sign_in(&browser, &app, &globex).await;
    browser
        .goto(&app.url(&format!("/console/webhooks/{id}")))
        .await;
    assert_eq!(browser.text("h1").await, "Not found");
    let source = browser.client.source().await.unwrap();
    assert!(
        !source.contains("acme-only") && !source.contains("127.0.0.1:9"),
        "{source}"
    );
    browser
        .goto(&app.url(&format!("/console/webhooks/{id}/history")))
        .await;
    assert_eq!(browser.text("h1").await, "Not found");
    browser.click("#sign-out").await;
    // Wait for the sign-out's own navigation to land: a goto issued while that form
    // submission is in flight can be overtaken by its redirect to the tenant sign-in.
    browser.find("#notice").await;

    browser.goto(&app.url("/console/operator/sign-in")).await;
    browser.fill("#operator-token", OPERATOR_TOKEN).await;
    browser.click("#operator-sign-in").await;
    let tenants = browser.text("#tenants").await;
    assert!(
        tenants.contains("acme") && tenants.contains("globex"),
        "{tenants}"
    );
    assert!(browser.text("#projections").await.contains("Ledger"));
    browser.screenshot("operator").await;
    browser.close().await;
}
