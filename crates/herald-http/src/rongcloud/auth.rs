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
    let window = Window { skew_secs: rc.settings.signature_skew_secs, reject_old: rc.settings.reject_old_signatures };
    check_timestamp(timestamp, herald_service::now_millis(), window)?;
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

/// Which timestamps a request may carry, around the server's clock.
#[derive(Clone, Copy)]
struct Window {
    /// Most seconds ahead of the clock (and behind it, with `reject_old`).
    skew_secs: u32,
    reject_old: bool,
}

/// Accept seconds or milliseconds up to `skew_secs` ahead of `now_ms`, and any age unless `reject_old`.
fn check_timestamp(raw: &str, now_ms: i64, window: Window) -> Result<(), RcError> {
    let Window { skew_secs, reject_old } = window;
    let value: i64 = raw.parse().map_err(|_| RcError::bad_signature("Timestamp must be an integer"))?;
    // One spelling per timestamp: `+T` and `000T` would sign as other strings for the same instant.
    if !raw.bytes().all(|b| b.is_ascii_digit()) || raw.starts_with('0') {
        return Err(RcError::bad_signature("Timestamp must be written without a sign or leading zeros"));
    }
    let at_ms = if value > MILLIS_THRESHOLD { value } else { value.saturating_mul(1000) };
    let skew_ms = i64::from(skew_secs) * 1000;
    if at_ms > now_ms.saturating_add(skew_ms) {
        return Err(RcError::bad_signature(format!(
            "Timestamp is more than {skew_secs} seconds ahead of the server's clock"
        )));
    }
    if reject_old && at_ms < now_ms.saturating_sub(skew_ms) {
        return Err(RcError::bad_signature(format!(
            "Timestamp is more than {skew_secs} seconds behind the server's clock"
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
        let strict = Window { skew_secs: 600, reject_old: true };
        assert!(check_timestamp("1700000000", now, strict).is_ok());
        assert!(check_timestamp("1700000000000", now, strict).is_ok());
        assert!(check_timestamp("1700000599", now, strict).is_ok());
        assert!(check_timestamp("1700000601", now, strict).is_err());
        assert!(check_timestamp("1699999399000", now, strict).is_err());
        for bad in ["soon", "+1700000000", "0001700000000", "0", "-99999999999999999"] {
            assert!(check_timestamp(bad, now, strict).is_err(), "{bad}");
        }
    }

    #[test]
    fn old_signatures_pass_unless_refused_and_future_ones_never_do() {
        let now = 1_700_000_000_000;
        let lenient = Window { skew_secs: 600, reject_old: false };
        // Eleven minutes old, and a day old: a signature the official Node SDK made when it loaded.
        assert!(check_timestamp("1699999340", now, lenient).is_ok());
        assert!(check_timestamp("1699913600000", now, lenient).is_ok());
        assert!(check_timestamp("1700000601", now, lenient).is_err());
        assert!(check_timestamp("0", now, lenient).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_timestamp_text_is_checked_without_a_panic(
            raw in ".{0,30}",
            now in proptest::num::i64::ANY,
            skew_secs in proptest::num::u32::ANY,
            reject_old in proptest::bool::ANY,
        ) {
            let _ = check_timestamp(&raw, now, Window { skew_secs, reject_old });
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
            let window = Window { skew_secs: 600, reject_old: true };
            proptest::prop_assert!(check_timestamp(&plain, now, window).is_ok());
            let spelled = format!("{prefix}{plain}{suffix}");
            if spelled != plain {
                proptest::prop_assert!(check_timestamp(&spelled, now, window).is_err(), "{spelled:?} accepted");
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
