//! Request authentication: RongCloud's `App-Key`/`Nonce`/`Timestamp`/`Signature` headers (each also accepted with
//! an `RC-` prefix), where `Signature = hex(SHA1(AppSecret + Nonce + Timestamp))`, then the app's rate limit.

use std::sync::Arc;

use axum::http::HeaderMap;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use super::error::RcError;
use super::settings::{RongCloudApp, RongCloudApps};
use crate::rate_limit::AppRateLimits;

/// Timestamps above this are milliseconds (RongCloud's docs), below it seconds (its SDKs). 10^11 seconds is
/// the year 5138, 10^11 milliseconds is 1973, so the two never meet.
const MILLIS_THRESHOLD: i64 = 100_000_000_000;

/// The app whose RongCloud secret signed the request, if the request is within the app's rate limit.
pub fn authenticate(
    apps: &RongCloudApps,
    limits: &AppRateLimits,
    headers: &HeaderMap,
) -> Result<Arc<RongCloudApp>, RcError> {
    let key = header(headers, "App-Key").ok_or_else(RcError::unknown_app_key)?;
    let rc = apps.by_key(key).ok_or_else(RcError::unknown_app_key)?;
    let secret = rc.settings.app_secret.as_str();
    let nonce = header(headers, "Nonce").ok_or_else(|| RcError::bad_signature("the Nonce header is missing"))?;
    let timestamp =
        header(headers, "Timestamp").ok_or_else(|| RcError::bad_signature("the Timestamp header is missing"))?;
    let signature =
        header(headers, "Signature").ok_or_else(|| RcError::bad_signature("the Signature header is missing"))?;
    check_timestamp(timestamp, herald_service::now_millis(), rc.settings.signature_skew_secs)?;
    if !signature_matches(secret, nonce, timestamp, signature) {
        return Err(RcError::bad_signature("signature mismatch"));
    }
    let per_second = rc.settings.requests_per_second;
    if !limits.allow(&rc.app.app_id, per_second) {
        return Err(RcError::rate_limited(per_second));
    }
    Ok(rc.clone())
}

/// A header by its name or its `RC-`-prefixed name.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .or_else(|| headers.get(format!("RC-{name}")))
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// `hex(SHA1(secret + nonce + timestamp))`, the signature of requests and of webhook calls alike.
pub fn sign(secret: &str, nonce: &str, timestamp: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(secret.as_bytes());
    sha.update(nonce.as_bytes());
    sha.update(timestamp.as_bytes());
    hex::encode(sha.finalize())
}

/// Compare in constant time; the hex case of the caller's signature does not matter.
fn signature_matches(secret: &str, nonce: &str, timestamp: &str, given: &str) -> bool {
    let expected = sign(secret, nonce, timestamp);
    let given = given.to_ascii_lowercase();
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

/// Accept seconds or milliseconds within `skew_secs` of `now_ms`.
fn check_timestamp(raw: &str, now_ms: i64, skew_secs: u32) -> Result<(), RcError> {
    let value: i64 = raw.parse().map_err(|_| RcError::bad_signature("Timestamp must be an integer"))?;
    // One spelling per timestamp: `+T` and `000T` would sign as other strings for the same instant.
    if !raw.bytes().all(|b| b.is_ascii_digit()) || raw.starts_with('0') {
        return Err(RcError::bad_signature("Timestamp must be written without a sign or leading zeros"));
    }
    let at_ms = if value > MILLIS_THRESHOLD { value } else { value.saturating_mul(1000) };
    if now_ms.abs_diff(at_ms) > u64::from(skew_secs) * 1000 {
        return Err(RcError::bad_signature(format!(
            "Timestamp is more than {skew_secs} seconds away from the server's clock"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_sha1_hex_of_the_concatenation() {
        // SHA1("secret" + "14314" + "1408710653491").
        let s = sign("secret", "14314", "1408710653491");
        assert_eq!(s.len(), 40);
        let mut sha = Sha1::new();
        sha.update(b"secret143141408710653491");
        assert_eq!(s, hex::encode(sha.finalize()));
        assert!(signature_matches("secret", "14314", "1408710653491", &s.to_uppercase()));
        assert!(!signature_matches("secret", "14315", "1408710653491", &s));
    }

    #[test]
    fn timestamps_in_seconds_or_millis_within_the_window() {
        let now = 1_700_000_000_000;
        assert!(check_timestamp("1700000000", now, 600).is_ok());
        assert!(check_timestamp("1700000000000", now, 600).is_ok());
        assert!(check_timestamp("1700000599", now, 600).is_ok());
        assert!(check_timestamp("1700000601", now, 600).is_err());
        assert!(check_timestamp("1699999399000", now, 600).is_err());
        assert!(check_timestamp("soon", now, 600).is_err());
        assert!(check_timestamp("+1700000000", now, 600).is_err());
        assert!(check_timestamp("0001700000000", now, 600).is_err());
        assert!(check_timestamp("0", now, 600).is_err());
        assert!(check_timestamp("-99999999999999999", now, 600).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_timestamp_text_is_checked_without_a_panic(raw in ".{0,30}", now in proptest::num::i64::ANY, skew in proptest::num::u32::ANY) {
            let _ = check_timestamp(&raw, now, skew);
        }

        /// The signed `Timestamp` of an instant has one accepted spelling per unit: its plain decimal digits. A sign,
        /// leading zeros or anything around the digits is refused, even inside the skew window.
        #[test]
        fn only_the_plain_digits_of_a_timestamp_are_accepted(
            secs in 1_000_000_000i64..4_000_000_000,
            millis in proptest::bool::ANY,
            prefix in "[+0 \t-]{0,3}",
            suffix in "[ .0\t]{0,2}",
        ) {
            let plain = if millis { (secs * 1000).to_string() } else { secs.to_string() };
            let now = secs * 1000;
            proptest::prop_assert!(check_timestamp(&plain, now, 600).is_ok());
            let spelled = format!("{prefix}{plain}{suffix}");
            if spelled != plain {
                proptest::prop_assert!(check_timestamp(&spelled, now, 600).is_err(), "{spelled:?} accepted");
            }
        }

        /// A signature is the SHA-1 hex of exactly the signed strings; hex case is the one documented freedom.
        #[test]
        fn a_signature_matches_only_its_own_inputs(
            secret in "[a-z0-9]{1,20}",
            nonce in "[0-9.]{1,20}",
            timestamp in "[1-9][0-9]{9,12}",
            other in "[0-9.]{1,20}",
        ) {
            let signature = sign(&secret, &nonce, &timestamp);
            proptest::prop_assert!(signature_matches(&secret, &nonce, &timestamp, &signature));
            proptest::prop_assert!(signature_matches(&secret, &nonce, &timestamp, &signature.to_uppercase()));
            if other != nonce {
                proptest::prop_assert!(!signature_matches(&secret, &other, &timestamp, &signature));
            }
            proptest::prop_assert!(!signature_matches(&secret, &nonce, &timestamp, &(signature.clone() + " ")));
            proptest::prop_assert!(!signature_matches(&secret, &nonce, &timestamp, &signature[1..]));
        }
    }
}
