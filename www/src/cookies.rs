//! The request `Cookie` header as an ordered list of pairs (duplicates kept, in order).

#[derive(Clone, Debug, Default)]
pub struct CookieJar {
    pairs: Vec<(String, String)>,
}

impl CookieJar {
    /// Parses every `Cookie` header value given, in order (HTTP/2 may split the header).
    pub fn parse<'a>(headers: impl IntoIterator<Item = &'a str>) -> Self {
        let mut pairs = Vec::new();
        for header in headers {
            for part in header.split(';') {
                let part = part.trim();
                if part.is_empty() {
                    continue;
                }
                let (name, value) = match part.split_once('=') {
                    Some((n, v)) => (n.trim(), v.trim()),
                    None => (part, ""),
                };
                if name.is_empty() {
                    continue;
                }
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                pairs.push((name.to_string(), value.to_string()));
            }
        }
        Self { pairs }
    }

    /// Cookie names in the order sent, duplicates included. Never values.
    pub fn names(&self) -> Vec<String> {
        self.pairs.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Every value of one cookie, in the order sent.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn first(&self, name: &str) -> Option<&str> {
        self.values(name).first().copied()
    }

    /// The last occurrence: what HAProxy's `req.cook(name)` returns.
    pub fn last(&self, name: &str) -> Option<&str> {
        self.values(name).last().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_duplicates_in_order() {
        let jar = CookieJar::parse([
            "gitlab_canary=true; _gitlab_session=abc; gitlab_canary=false",
            "x=1",
        ]);
        assert_eq!(
            jar.names(),
            ["gitlab_canary", "_gitlab_session", "gitlab_canary", "x"]
        );
        assert_eq!(jar.values("gitlab_canary"), ["true", "false"]);
        assert_eq!(jar.first("gitlab_canary"), Some("true"));
        assert_eq!(jar.last("gitlab_canary"), Some("false"));
        assert_eq!(jar.last("missing"), None);
    }

    #[test]
    fn tolerates_junk() {
        let jar = CookieJar::parse([";;  ; =v; flag; a=\"q\"; b = 2 "]);
        assert_eq!(jar.names(), ["flag", "a", "b"]);
        assert_eq!(jar.first("a"), Some("q"));
        assert_eq!(jar.first("b"), Some("2"));
        assert_eq!(jar.first("flag"), Some(""));
    }
}
