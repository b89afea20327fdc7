//! Tencent's names for client platforms, used in online-status details and callbacks.
//!
//! Tencent names the platforms its SDKs run on (`iPhone`, `Android`, `Windows`, `Mac`, `Web`, `iPad`, ...). Herald
//! has a few Tencent does not name separately; they get the closest descriptive name, documented in
//! `docs/tencent.md`.

use herald_core::Platform;

pub fn name(p: Platform) -> &'static str {
    match p {
        Platform::Ios => "iPhone",
        Platform::Android => "Android",
        Platform::Windows => "Windows",
        Platform::Macos => "Mac",
        Platform::Web => "Web",
        Platform::MiniWeb => "MiniProgram",
        Platform::Linux => "Linux",
        Platform::AndroidPad => "AndroidPad",
        Platform::Ipad => "iPad",
        Platform::HarmonyOs => "HarmonyOS",
    }
}

/// `OptPlatform` of callbacks caused by the app server rather than a client.
pub const REST_API: &str = "RESTAPI";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_platform_has_a_distinct_name() {
        let mut names: Vec<_> = Platform::ALL.iter().map(|p| name(*p)).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Platform::ALL.len());
    }
}
