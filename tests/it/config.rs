//! Configuration is refused with the failing key named.

use hookledger_api::Config;

use crate::harness::app::MASTER_KEY;

fn load(extra: &[(&str, &str)]) -> Result<Config, String> {
    let mut vars = vec![(
        "HOOKLEDGER_SECRETS__MASTER_KEY".to_owned(),
        MASTER_KEY.to_owned(),
    )];
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::load_from(None, &vars).map_err(|e| e.to_string())
}

#[track_caller]
fn assert_refused(extra: &[(&str, &str)], key: &str) {
    match load(extra) {
        Ok(_) => panic!("{extra:?} was accepted"),
        Err(message) => assert!(
            message.contains(key),
            "{extra:?}: the error {message:?} does not name {key}"
        ),
    }
}

#[test]
fn the_embedded_defaults_load_once_a_master_key_is_given() {
    let config = load(&[]).expect("defaults are valid");
    assert_eq!(config.nats.prefix, "hookledger");
    assert_eq!(config.http.listen.to_string(), "127.0.0.1:8080");
}

#[test]
fn environment_variables_override_nested_keys() {
    let config = load(&[
        ("HOOKLEDGER_HTTP__LISTEN", "0.0.0.0:9999"),
        ("HOOKLEDGER_DISPATCHER__ALLOW_PRIVATE_TARGETS", "true"),
    ])
    .unwrap();
    assert_eq!(config.http.listen.port(), 9999);
    assert!(config.dispatcher.allow_private_targets);
}

#[test]
fn database_url_is_used_when_no_postgres_url_is_set() {
    let config = load(&[("DATABASE_URL", "postgres://u@db:5432/x")]).unwrap();
    assert_eq!(config.postgres.url, "postgres://u@db:5432/x");
    let config = load(&[
        ("DATABASE_URL", "postgres://u@db:5432/x"),
        ("HOOKLEDGER_POSTGRES__URL", "postgres://v@db:5432/y"),
    ])
    .unwrap();
    assert_eq!(config.postgres.url, "postgres://v@db:5432/y");
}

#[test]
fn bad_values_are_refused_with_the_key_named() {
    assert_refused(
        &[("HOOKLEDGER_HTTP__LISTEN", "not-an-address")],
        "http.listen",
    );
    assert_refused(&[("HOOKLEDGER_NATS__URL", "http://x")], "nats.url");
    assert_refused(&[("HOOKLEDGER_NATS__PREFIX", "has.dot")], "nats.prefix");
    assert_refused(&[("HOOKLEDGER_NATS__REPLICAS", "9")], "nats.replicas");
    assert_refused(&[("HOOKLEDGER_NATS__REPLICAS", "many")], "nats.replicas");
    assert_refused(&[("HOOKLEDGER_POSTGRES__URL", "mysql://x")], "postgres.url");
    assert_refused(
        &[("HOOKLEDGER_SECRETS__MASTER_KEY", "too-short")],
        "secrets.master_key",
    );
    assert_refused(
        &[("HOOKLEDGER_SECRETS__MASTER_KEY", "")],
        "secrets.master_key",
    );
    assert_refused(
        &[("HOOKLEDGER_HTTP__OPERATOR_TOKEN", "short")],
        "http.operator_token",
    );
    assert_refused(&[("HOOKLEDGER_LOG__FORMAT", "xml")], "log.format");
}

#[test]
fn unknown_keys_are_refused_with_the_key_named() {
    assert_refused(&[("HOOKLEDGER_HTTP__LISTN", "127.0.0.1:1")], "listn");
}

#[test]
fn variables_that_are_not_section_keys_are_ignored() {
    load(&[("HOOKLEDGER_TEST_NATS_URL", "nats://elsewhere:1")]).expect("not configuration");
}

#[test]
fn only_the_streams_with_a_retention_are_archived() {
    use hookledger_domain::ledger::reader::StreamKind;
    let defaults = load(&[]).unwrap();
    assert_eq!(defaults.nats.archived_streams(), [StreamKind::Events]);
    let both = load(&[("HOOKLEDGER_NATS__DELIVERIES_MAX_AGE_DAYS", "30")]).unwrap();
    assert_eq!(
        both.nats.archived_streams(),
        [StreamKind::Events, StreamKind::Deliveries]
    );
    let off = load(&[
        ("HOOKLEDGER_NATS__DELIVERIES_MAX_AGE_DAYS", "30"),
        ("HOOKLEDGER_NATS__ARCHIVE_STREAMS", "false"),
    ])
    .unwrap();
    assert!(off.nats.archived_streams().is_empty());
}
