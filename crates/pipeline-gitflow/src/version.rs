//! Semantic versions as tags: the prefix, bump levels, overrides and
//! pre-release channels.

use std::fmt;
use std::str::FromStr;

pub use semver::Version;

/// A part of the version to increment.
///
/// Ordered by size: `Patch < Minor < Major`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bump {
    /// `x.y.Z`.
    Patch,
    /// `x.Y.0`.
    Minor,
    /// `X.0.0`.
    Major,
}

impl Bump {
    /// `major`, `minor` or `patch`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Patch => "patch",
            Self::Minor => "minor",
            Self::Major => "major",
        }
    }

    /// `version` incremented by this part, pre-release and build metadata
    /// dropped: `1.2.3` → `2.0.0`, `1.3.0`, `1.2.4`.
    ///
    /// Saturates at `u64::MAX` rather than overflowing (a version that large
    /// is not a real release).
    pub fn apply(self, version: &Version) -> Version {
        match self {
            Self::Major => Version::new(version.major.saturating_add(1), 0, 0),
            Self::Minor => Version::new(version.major, version.minor.saturating_add(1), 0),
            Self::Patch => Version::new(
                version.major,
                version.minor,
                version.patch.saturating_add(1),
            ),
        }
    }
}

impl fmt::Display for Bump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `--bump` asks for: a part to increment, or the exact version.
///
/// ```
/// use pipeline_gitflow::{Bump, BumpOverride, Version};
///
/// assert_eq!("minor".parse::<BumpOverride>()?, BumpOverride::Bump(Bump::Minor));
/// assert_eq!("2.0.0".parse::<BumpOverride>()?, BumpOverride::Exact(Version::new(2, 0, 0)));
/// assert!("2.0".parse::<BumpOverride>().is_err());
/// # Ok::<(), pipeline_gitflow::InvalidVersion>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BumpOverride {
    /// Increment this part, whatever the commits say (`major` from `0.x`
    /// gives `1.0.0`).
    Bump(Bump),
    /// Release exactly this version (`X.Y.Z`, no pre-release or build part).
    Exact(Version),
}

impl FromStr for BumpOverride {
    type Err = InvalidVersion;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "major" => Ok(Self::Bump(Bump::Major)),
            "minor" => Ok(Self::Bump(Bump::Minor)),
            "patch" => Ok(Self::Bump(Bump::Patch)),
            _ => parse_release_version(text).map(Self::Exact),
        }
    }
}

impl fmt::Display for BumpOverride {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bump(bump) => bump.fmt(f),
            Self::Exact(version) => version.fmt(f),
        }
    }
}

/// A version that is not a plain `X.Y.Z` release version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a release version X.Y.Z{}", if *.override_words { " nor major, minor or patch" } else { "" })]
pub struct InvalidVersion {
    text: String,
    override_words: bool,
}

impl InvalidVersion {
    /// The text that was refused.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// Parses a plain release version `X.Y.Z` (a leading `v` is accepted; no
/// pre-release or build part, no leading zeros).
///
/// # Errors
///
/// [`InvalidVersion`] for anything else.
pub fn parse_release_version(text: &str) -> Result<Version, InvalidVersion> {
    let trimmed = text.trim();
    let bare = trimmed.strip_prefix(['v', 'V']).unwrap_or(trimmed);
    match Version::parse(bare) {
        Ok(version) if version.pre.is_empty() && version.build.is_empty() => Ok(version),
        _ => Err(InvalidVersion {
            text: text.to_owned(),
            override_words: !matches!(bare.as_bytes().first(), Some(b'0'..=b'9')),
        }),
    }
}

/// How release tags are named: a prefix (`v` by default, may be empty)
/// followed by a semantic version.
///
/// ```
/// use pipeline_gitflow::{TagFormat, Version};
///
/// let tags = TagFormat::new("v");
/// assert_eq!(tags.parse("v1.2.3"), Some(Version::new(1, 2, 3)));
/// assert_eq!(tags.parse("v1.3.0-rc.2").map(|v| v.to_string()), Some("1.3.0-rc.2".into()));
/// assert_eq!(tags.parse("1.2.3"), None);
/// assert_eq!(tags.parse("v1.2"), None);
/// assert_eq!(tags.name(&Version::new(1, 2, 3)), "v1.2.3");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TagFormat {
    prefix: String,
}

impl Default for TagFormat {
    fn default() -> Self {
        Self::new("v")
    }
}

impl TagFormat {
    /// Tags named `<prefix><version>`.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The version a tag name (without `refs/tags/`) carries, if it is the
    /// prefix followed by a valid semantic version.
    pub fn parse(&self, name: &str) -> Option<Version> {
        let rest = name.strip_prefix(self.prefix.as_str())?;
        // Cheap refusal before the parser: most tags that are not ours do
        // not start with a digit.
        if !rest.as_bytes().first().is_some_and(u8::is_ascii_digit) {
            return None;
        }
        Version::parse(rest).ok()
    }

    /// The tag name for `version`.
    pub fn name(&self, version: &Version) -> String {
        format!("{}{version}", self.prefix)
    }
}

/// A pre-release channel such as `rc`: versions `X.Y.Z-rc.N`.
///
/// ```
/// use pipeline_gitflow::PreRelease;
///
/// assert!("rc".parse::<PreRelease>().is_ok());
/// assert!("beta".parse::<PreRelease>().is_ok());
/// assert!("1".parse::<PreRelease>().is_err());
/// assert!("rc.1".parse::<PreRelease>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PreRelease {
    channel: String,
}

/// A pre-release channel that is not one identifier of letters, digits and
/// `-`, with at least one non-digit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a pre-release channel (letters, digits and '-', e.g. rc, beta)")]
pub struct InvalidChannel(String);

impl FromStr for PreRelease {
    type Err = InvalidChannel;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let valid = !text.is_empty()
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !text.bytes().all(|b| b.is_ascii_digit());
        if valid {
            Ok(Self {
                channel: text.to_owned(),
            })
        } else {
            Err(InvalidChannel(text.to_owned()))
        }
    }
}

impl PreRelease {
    /// The channel (`rc`).
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The number `N` if `version` is `<core>-<channel>.N` with this
    /// channel (compared ignoring case).
    pub fn number_of(&self, version: &Version) -> Option<u64> {
        let pre = version.pre.as_str();
        let (channel, number) = pre.split_once('.')?;
        if !channel.eq_ignore_ascii_case(&self.channel)
            || !number.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        number.parse().ok()
    }

    /// `core-<channel>.<number>`.
    pub fn version(&self, core: &Version, number: u64) -> Version {
        let mut version = Version::new(core.major, core.minor, core.patch);
        // The channel is validated as an identifier and a number follows,
        // so this always parses; keep the core alone if it somehow did not.
        if let Ok(pre) = semver::Prerelease::new(&format!("{}.{number}", self.channel)) {
            version.pre = pre;
        }
        version
    }
}

impl fmt::Display for PreRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.channel)
    }
}

/// `version` without its pre-release and build parts.
pub(crate) fn core(version: &Version) -> Version {
    Version::new(version.major, version.minor, version.patch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bumps() {
        let v = Version::new(1, 2, 3);
        assert_eq!(Bump::Major.apply(&v), Version::new(2, 0, 0));
        assert_eq!(Bump::Minor.apply(&v), Version::new(1, 3, 0));
        assert_eq!(Bump::Patch.apply(&v), Version::new(1, 2, 4));
        let rc = Version::parse("1.3.0-rc.1").unwrap();
        assert_eq!(Bump::Patch.apply(&rc), Version::new(1, 3, 1));
        assert!(Bump::Patch < Bump::Minor && Bump::Minor < Bump::Major);
    }

    #[test]
    fn overrides() {
        assert_eq!(
            "MAJOR".parse::<BumpOverride>().unwrap(),
            BumpOverride::Bump(Bump::Major)
        );
        assert_eq!(
            "v1.0.0".parse::<BumpOverride>().unwrap(),
            BumpOverride::Exact(Version::new(1, 0, 0))
        );
        for bad in [
            "",
            "huge",
            "1.0",
            "1.0.0-rc.1",
            "1.0.0+b",
            "01.0.0",
            "1.0.0.0",
        ] {
            assert!(bad.parse::<BumpOverride>().is_err(), "{bad:?}");
        }
        let e = "huge".parse::<BumpOverride>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"huge\" is not a release version X.Y.Z nor major, minor or patch"
        );
        let e = "1.0".parse::<BumpOverride>().unwrap_err();
        assert_eq!(e.to_string(), "\"1.0\" is not a release version X.Y.Z");
    }

    #[test]
    fn tag_formats() {
        let v = TagFormat::default();
        assert_eq!(v.parse("v0.0.0"), Some(Version::new(0, 0, 0)));
        assert_eq!(
            v.parse("v1.2.3+build.5").map(|v| v.build.to_string()),
            Some("build.5".into())
        );
        for bad in [
            "v",
            "va.b.c",
            "v1.2",
            "v01.2.3",
            "release-1.2.3",
            "vv1.2.3",
            "v1.2.3 ",
        ] {
            assert_eq!(v.parse(bad), None, "{bad:?}");
        }
        let bare = TagFormat::new("");
        assert_eq!(bare.parse("1.2.3"), Some(Version::new(1, 2, 3)));
        assert_eq!(bare.parse("v1.2.3"), None);
        let nested = TagFormat::new("release/");
        assert_eq!(nested.parse("release/2.0.0"), Some(Version::new(2, 0, 0)));
        assert_eq!(nested.name(&Version::new(2, 0, 0)), "release/2.0.0");
    }

    #[test]
    fn pre_release_numbers() {
        let rc: PreRelease = "rc".parse().unwrap();
        let v = rc.version(&Version::new(1, 3, 0), 2);
        assert_eq!(v.to_string(), "1.3.0-rc.2");
        assert_eq!(rc.number_of(&v), Some(2));
        assert_eq!(
            rc.number_of(&Version::parse("1.3.0-RC.4").unwrap()),
            Some(4)
        );
        assert_eq!(rc.number_of(&Version::parse("1.3.0-beta.1").unwrap()), None);
        assert_eq!(rc.number_of(&Version::parse("1.3.0-rc").unwrap()), None);
        assert_eq!(rc.number_of(&Version::parse("1.3.0-rc.1.2").unwrap()), None);
        assert_eq!(rc.number_of(&Version::new(1, 3, 0)), None);
        for bad in ["", "rc.1", "r c", "123", "rc_1"] {
            assert!(bad.parse::<PreRelease>().is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn every_bump_increases(major in 0u64..1000, minor in 0u64..1000, patch in 0u64..1000) {
            let v = Version::new(major, minor, patch);
            for bump in [Bump::Patch, Bump::Minor, Bump::Major] {
                prop_assert!(bump.apply(&v) > v);
            }
            prop_assert!(Bump::Major.apply(&v) > Bump::Minor.apply(&v));
            prop_assert!(Bump::Minor.apply(&v) > Bump::Patch.apply(&v));
        }

        #[test]
        fn pre_releases_order_below_their_release_and_by_number(
            major in 0u64..100, minor in 0u64..100, patch in 0u64..100,
            a in 1u64..1000, b in 1u64..1000,
        ) {
            let rc: PreRelease = "rc".parse().unwrap();
            let core = Version::new(major, minor, patch);
            let (va, vb) = (rc.version(&core, a), rc.version(&core, b));
            prop_assert!(va < core);
            prop_assert_eq!(va.cmp(&vb), a.cmp(&b));
            prop_assert_eq!(rc.number_of(&va), Some(a));
        }

        #[test]
        fn tag_names_round_trip(prefix in "[a-z/_-]{0,4}", major in 0u64..1000, minor in 0u64..1000, patch in 0u64..1000) {
            let format = TagFormat::new(prefix);
            let v = Version::new(major, minor, patch);
            prop_assert_eq!(format.parse(&format.name(&v)), Some(v));
        }
    }
}
