//! Go release versions and their order (`go1.9` < `go1.21rc2` < `go1.21.0` < `go1.27.3`).

use std::cmp::Ordering;

/// A parsed Go release version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GoVersion {
    major: u32,
    minor: u32,
    patch: u32,
    /// 0 for beta, 1 for rc, 2 for a release: betas come before rcs, which come before the release.
    stage: u8,
    pre: u32,
}

impl GoVersion {
    /// Parses `go1.27.3`, `go1.21rc2`, `go1.22beta1`, `go1.20`; `None` for anything else.
    pub fn parse(v: &str) -> Option<GoVersion> {
        let rest = v.strip_prefix("go")?;
        let (numbers, stage, pre) = match rest.find(|c: char| c.is_ascii_alphabetic()) {
            Some(i) => {
                let (nums, tail) = rest.split_at(i);
                let (stage, n) =
                    if let Some(n) = tail.strip_prefix("rc") { (1, n) } else { (0, tail.strip_prefix("beta")?) };
                (nums, stage, number(n)?)
            }
            None => (rest, 2, 0),
        };
        let mut parts = numbers.split('.');
        let major = number(parts.next()?)?;
        let minor = parts.next().map(number).unwrap_or(Some(0))?;
        let patch = parts.next().map(number).unwrap_or(Some(0))?;
        if parts.next().is_some() {
            return None;
        }
        Some(GoVersion { major, minor, patch, stage, pre })
    }
}

fn number(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

/// Orders two version strings; `None` when either is not a Go release version.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    Some(GoVersion::parse(a)?.cmp(&GoVersion::parse(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_as_go_releases_do() {
        let ordered = [
            "go1.9",
            "go1.9.7",
            "go1.20",
            "go1.20.1",
            "go1.21rc2",
            "go1.21.0",
            "go1.21.13",
            "go1.22beta1",
            "go1.22rc1",
            "go1.22.0",
            "go1.26.4",
            "go1.27.3",
            "go1.100.0",
            "go2.0.0",
        ];
        for w in ordered.windows(2) {
            assert_eq!(compare(w[0], w[1]), Some(Ordering::Less), "{} < {}", w[0], w[1]);
            assert_eq!(compare(w[1], w[0]), Some(Ordering::Greater));
        }
        assert_eq!(compare("go1.21", "go1.21.0"), Some(Ordering::Equal));
    }

    #[test]
    fn non_versions_are_not_ordered() {
        for bad in ["", "go", "1.21.0", "go1..2", "go1.21.0.1", "go1.21x1", "go1.021", "devel go1.22-abc", "go1.21rc"] {
            assert_eq!(GoVersion::parse(bad), None, "{bad}");
        }
    }
}
