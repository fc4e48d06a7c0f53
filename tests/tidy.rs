//! Tidy: the English message catalogue (`extension/_locales/en/messages.json`) and the code
//! that uses it agree.
//!
//! - Every key the code asks for exists: `msg("KEY"` in `src/**/*.rs` and `extension/crates/` (also with the key on
//!   the next line), `data-i18n="KEY"` and any `data-i18n-*="KEY"` in `extension/**/*.html`,
//!   `getMessage('KEY'` in `extension/**/*.js`, `__MSG_KEY__` in the manifests (and any other
//!   file of `extension/`).
//! - Every message is used: as one of the above, or as a string literal `"KEY"` in the code of
//!   `src/**/*.rs` outside `#[cfg(test)]` items (keys returned by functions such as
//!   `Signal::message_key` or read from tables are literals). A key only a test names is unused.
//! - The catalogue parses, has the shape the browsers accept (an object of objects with a
//!   `"message"` string and optional `"description"` and `"placeholders"`), and has no key twice
//!   (names are case-insensitive for the browsers, so no two keys may differ only in case).
//!
//! Plain std: a small JSON reader that keeps duplicate keys, and a Rust lexer that knows
//! comments, strings, raw strings and char literals, so that neither a comment nor a test
//! counts as a use.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const CATALOGUE: &str = "extension/_locales/en/messages.json";

#[test]
fn every_message_key_exists_and_every_message_is_used() {
    let root = Path::new(ROOT);
    let text = fs::read_to_string(root.join(CATALOGUE)).expect("messages.json is readable");
    let catalogue = match parse_catalogue(&text) {
        Ok(c) => c,
        Err(problems) => panic!(
            "{CATALOGUE} is not a valid catalogue:\n  {}",
            problems.join("\n  ")
        ),
    };
    let keys: BTreeSet<&str> = catalogue.iter().map(String::as_str).collect();

    // Where each key is asked for: key -> ["file:line (how)"].
    let mut asked: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // String literals of non-test Rust code.
    let mut literals: BTreeSet<String> = BTreeSet::new();
    let mut counts = Counts::default();

    let mut rust = Vec::new();
    // The pure core and the wasm-side crates (the bindings, the background, the pages).
    files_under(&root.join("src"), &mut rust);
    files_under(&root.join("extension").join("crates"), &mut rust);
    for path in rust.iter().filter(|p| has_ext(p, "rs")) {
        let source = read(path);
        let tokens = lex(&source).unwrap_or_else(|e| panic!("{}: {e}", rel(path)));
        for (key, line) in msg_calls(&tokens) {
            counts.msg += 1;
            note(&mut asked, key, path, line, "msg(\"…\")");
        }
        for t in without_test_items(&tokens) {
            if let Tok::Str(s) = &t.tok {
                literals.insert(s.clone());
            }
        }
    }

    let mut ext = Vec::new();
    files_under(&root.join("extension"), &mut ext);
    let locales = root.join("extension/_locales");
    for path in ext.iter().filter(|p| !p.starts_with(&locales)) {
        let Ok(source) = fs::read_to_string(path) else {
            continue; // icons
        };
        if has_ext(path, "html") {
            for (key, line, attr) in data_i18n(&source) {
                counts.html += 1;
                note(&mut asked, key, path, line, &attr);
            }
        }
        if has_ext(path, "js") {
            for (key, line) in get_message_calls(&source) {
                counts.js += 1;
                note(&mut asked, key, path, line, "getMessage('…')");
            }
        }
        for (key, line) in msg_placeholders(&source) {
            counts.manifest += 1;
            note(&mut asked, key, path, line, "__MSG_…__");
        }
    }

    // The scans must find something, or a renamed helper would make this test pass vacuously.
    assert!(
        counts.msg > 0,
        "no msg(\"KEY\") call found in src/: was `msg` renamed? Update tests/tidy.rs."
    );
    assert!(
        counts.html > 0,
        "no data-i18n attribute found in extension/*.html"
    );
    assert!(
        counts.js > 0,
        "no getMessage('KEY') call found in extension/*.js"
    );
    assert!(
        counts.manifest > 0,
        "no __MSG_KEY__ found in extension/manifest.base.json"
    );

    // `@@ui_locale`, `@@bidi_dir`… are the browser's own.
    let missing: Vec<(&String, &Vec<String>)> = asked
        .iter()
        .filter(|(k, _)| !k.starts_with("@@") && !keys.contains(k.as_str()))
        .collect();
    let unused: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| !asked.contains_key(*k) && !literals.contains(*k))
        .collect();

    let mut report = String::new();
    if !missing.is_empty() {
        let _ = writeln!(
            report,
            "{} key(s) used but missing from {CATALOGUE}:",
            missing.len()
        );
        for (key, wheres) in &missing {
            let _ = writeln!(report, "  {key}  (used at {})", wheres.join(", "));
        }
    }
    if !unused.is_empty() {
        let _ = writeln!(
            report,
            "{} message(s) in {CATALOGUE} used nowhere (no msg/data-i18n/getMessage/__MSG__ use, \
             no string literal \"KEY\" in non-test code of src/):",
            unused.len()
        );
        for key in &unused {
            let _ = writeln!(report, "  {key}");
        }
    }
    assert!(report.is_empty(), "\n{report}");
}

#[derive(Default)]
struct Counts {
    msg: usize,
    html: usize,
    js: usize,
    manifest: usize,
}

fn note(
    asked: &mut BTreeMap<String, Vec<String>>,
    key: String,
    path: &Path,
    line: usize,
    how: &str,
) {
    asked
        .entry(key)
        .or_default()
        .push(format!("{}:{line} {how}", rel(path)));
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", rel(path)))
}

fn rel(path: &Path) -> String {
    path.strip_prefix(ROOT)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn has_ext(path: &Path, ext: &str) -> bool {
    path.extension().is_some_and(|e| e == ext)
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "node_modules") {
                continue;
            }
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn line_of(source: &str, offset: usize) -> usize {
    source[..offset].bytes().filter(|&b| b == b'\n').count() + 1
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '@'
}

// ---------------------------------------------------------------------------------------------
// Rust: a lexer just good enough to tell code from comments and strings.

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// A string literal's text between its quotes (escapes left as written: keys have none).
    Str(String),
    Punct(char),
    /// A char or byte literal, or a lifetime: nothing to look at.
    Other,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
}

fn lex(source: &str) -> Result<Vec<Token>, String> {
    let s: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let count_lines = |from: usize, to: usize, line: &mut usize| {
        *line += s[from..to].iter().filter(|&&c| c == '\n').count();
    };
    while i < s.len() {
        let c = s[i];
        let start = i;
        let at = line;
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && s.get(i + 1) == Some(&'/') {
            while i < s.len() && s[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && s.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            loop {
                if i + 1 >= s.len() {
                    return Err(format!("line {at}: unterminated block comment"));
                }
                if s[i] == '/' && s[i + 1] == '*' {
                    depth += 1;
                    i += 2;
                } else if s[i] == '*' && s[i + 1] == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if let Some((text, end)) = raw_string(&s, i) {
            out.push(Token {
                tok: Tok::Str(text),
                line: at,
            });
            i = end;
        } else if c == '"' || (c == 'b' && s.get(i + 1) == Some(&'"')) {
            i += if c == 'b' { 2 } else { 1 };
            let from = i;
            while i < s.len() && s[i] != '"' {
                i += if s[i] == '\\' { 2 } else { 1 };
            }
            if i >= s.len() {
                return Err(format!("line {at}: unterminated string"));
            }
            out.push(Token {
                tok: Tok::Str(s[from..i].iter().collect()),
                line: at,
            });
            i += 1;
        } else if c == '\'' || (c == 'b' && s.get(i + 1) == Some(&'\'')) {
            let q = if c == 'b' { i + 1 } else { i };
            if s.get(q + 1) == Some(&'\\') {
                // '\n', '\'', '\u{..}'
                i = q + 3;
                while i < s.len() && s[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if s.get(q + 2) == Some(&'\'') {
                i = q + 3; // 'x'
            } else {
                i = q + 1; // a lifetime: its name follows as an identifier
            }
            out.push(Token {
                tok: Tok::Other,
                line: at,
            });
        } else if c.is_alphabetic() || c == '_' {
            while i < s.len() && (s[i].is_alphanumeric() || s[i] == '_') {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Ident(s[start..i].iter().collect()),
                line: at,
            });
        } else {
            out.push(Token {
                tok: Tok::Punct(c),
                line: at,
            });
            i += 1;
        }
        count_lines(start, i.min(s.len()), &mut line);
    }
    Ok(out)
}

/// `r"…"`, `r#"…"#`, `br#"…"#` starting at `i` (not preceded by an identifier character):
/// the text and the index after the literal.
fn raw_string(s: &[char], i: usize) -> Option<(String, usize)> {
    if i > 0 && (s[i - 1].is_alphanumeric() || s[i - 1] == '_') {
        return None;
    }
    let mut j = i;
    if s.get(j) == Some(&'b') {
        j += 1;
    }
    if s.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = s[j..].iter().take_while(|&&c| c == '#').count();
    j += hashes;
    if s.get(j) != Some(&'"') {
        return None; // an identifier, or a raw identifier `r#name`
    }
    j += 1;
    let from = j;
    while j < s.len() {
        if s[j] == '"'
            && s[j + 1..]
                .iter()
                .take(hashes)
                .filter(|&&c| c == '#')
                .count()
                == hashes
        {
            return Some((s[from..j].iter().collect(), j + 1 + hashes));
        }
        j += 1;
    }
    None
}

/// `msg ( "KEY"`: every call with a literal key, wherever the line breaks fall.
fn msg_calls(tokens: &[Token]) -> Vec<(String, usize)> {
    tokens
        .windows(3)
        .filter_map(|w| match (&w[0].tok, &w[1].tok, &w[2].tok) {
            (Tok::Ident(f), Tok::Punct('('), Tok::Str(key)) if f == "msg" => {
                Some((key.clone(), w[2].line))
            }
            _ => None,
        })
        .collect()
}

/// The tokens outside items marked `#[cfg(test)]` (a `mod { … }`, a `fn { … }`, or anything
/// up to its `;`).
fn without_test_items(tokens: &[Token]) -> Vec<&Token> {
    let is = |i: usize, t: Tok| tokens.get(i).is_some_and(|x| x.tok == t);
    let ident = |i: usize, name: &str| is(i, Tok::Ident(name.into()));
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let cfg_test = is(i, Tok::Punct('#'))
            && is(i + 1, Tok::Punct('['))
            && ident(i + 2, "cfg")
            && is(i + 3, Tok::Punct('('))
            && ident(i + 4, "test")
            && is(i + 5, Tok::Punct(')'))
            && is(i + 6, Tok::Punct(']'));
        if !cfg_test {
            out.push(&tokens[i]);
            i += 1;
            continue;
        }
        // Skip the item: to the `}` closing its first `{`, or to a `;` before any `{`.
        i += 7;
        let mut depth = 0usize;
        while i < tokens.len() {
            match tokens[i].tok {
                Tok::Punct('{') => depth += 1,
                Tok::Punct('}') if depth == 0 => break, // the enclosing block ends
                Tok::Punct('}') => {
                    depth -= 1;
                    if depth == 0 {
                        i += 1;
                        break;
                    }
                }
                Tok::Punct(';') if depth == 0 => {
                    i += 1;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// HTML, JS and manifests.

/// `data-i18n="KEY"` and `data-i18n-<attr>="KEY"` (either quote), outside `<!-- -->`.
fn data_i18n(source: &str) -> Vec<(String, usize, String)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = source[from..].find("data-i18n") {
        let start = from + pos;
        from = start + "data-i18n".len();
        if in_html_comment(source, start) {
            continue;
        }
        let rest = &source[from..];
        let name_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(rest.len());
        let attr = format!("data-i18n{}", &rest[..name_len]);
        let after = rest[name_len..].trim_start();
        let Some(after) = after.strip_prefix('=') else {
            continue; // `[data-i18n]` in a selector or prose
        };
        let after = after.trim_start();
        let Some(quote) = after.chars().next().filter(|&q| q == '"' || q == '\'') else {
            continue;
        };
        if let Some(end) = after[1..].find(quote) {
            out.push((after[1..1 + end].to_string(), line_of(source, start), attr));
        }
    }
    out
}

fn in_html_comment(source: &str, offset: usize) -> bool {
    let before = &source[..offset];
    match (before.rfind("<!--"), before.rfind("-->")) {
        (Some(open), Some(close)) => open > close,
        (Some(_), None) => true,
        _ => false,
    }
}

/// `getMessage('KEY'`, `getMessage("KEY"` or `` getMessage(`KEY` ``.
fn get_message_calls(source: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = source[from..].find("getMessage(") {
        let start = from + pos;
        from = start + "getMessage(".len();
        let after = source[from..].trim_start();
        let Some(quote) = after.chars().next().filter(|q| "'\"`".contains(*q)) else {
            continue; // a computed key
        };
        if let Some(end) = after[1..].find(quote) {
            out.push((after[1..1 + end].to_string(), line_of(source, start)));
        }
    }
    out
}

/// `__MSG_KEY__`.
fn msg_placeholders(source: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = source[from..].find("__MSG_") {
        let start = from + pos;
        from = start + "__MSG_".len();
        let rest = &source[from..];
        let Some(end) = rest.find("__") else { break };
        let key = &rest[..end];
        if !key.is_empty() && key.chars().all(is_key_char) {
            out.push((key.to_string(), line_of(source, start)));
            from += end + 2;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// messages.json: a JSON reader that keeps every key it meets, then the catalogue's shape.

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    /// Members in order, duplicates kept.
    Obj(Vec<(String, Json)>),
}

struct Reader<'a> {
    s: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn fail<T>(&self, what: &str) -> Result<T, String> {
        let line = self.s[..self.i.min(self.s.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        Err(format!("line {line}: {what}"))
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && b" \t\r\n".contains(&self.s[self.i]) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        self.ws();
        if self.s.get(self.i) == Some(&b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.s.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut members = Vec::new();
                if self.eat(b'}') {
                    return Ok(Json::Obj(members));
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    if !self.eat(b':') {
                        return self.fail("expected ':'");
                    }
                    members.push((key, self.value()?));
                    if self.eat(b'}') {
                        return Ok(Json::Obj(members));
                    }
                    if !self.eat(b',') {
                        return self.fail("expected ',' or '}'");
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                if self.eat(b']') {
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value()?);
                    if self.eat(b']') {
                        return Ok(Json::Arr(items));
                    }
                    if !self.eat(b',') {
                        return self.fail("expected ',' or ']'");
                    }
                }
            }
            Some(b'"') => self.string().map(Json::Str),
            Some(b't') => self.word("true", Json::Bool(true)),
            Some(b'f') => self.word("false", Json::Bool(false)),
            Some(b'n') => self.word("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => {
                let from = self.i;
                while self.i < self.s.len() && b"+-.eE0123456789".contains(&self.s[self.i]) {
                    self.i += 1;
                }
                let n = String::from_utf8_lossy(&self.s[from..self.i]).into_owned();
                if n.parse::<f64>().is_err() {
                    return self.fail("bad number");
                }
                Ok(Json::Num(n))
            }
            _ => self.fail("expected a value"),
        }
    }

    fn word(&mut self, w: &str, v: Json) -> Result<Json, String> {
        if self.s[self.i..].starts_with(w.as_bytes()) {
            self.i += w.len();
            Ok(v)
        } else {
            self.fail("expected a value")
        }
    }

    fn string(&mut self) -> Result<String, String> {
        if self.s.get(self.i) != Some(&b'"') {
            return self.fail("expected a string");
        }
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.s.get(self.i) {
                None => return self.fail("unterminated string"),
                Some(b'"') => {
                    self.i += 1;
                    return String::from_utf8(out).or_else(|_| self.fail("invalid UTF-8"));
                }
                Some(b'\\') => {
                    let e = self.s.get(self.i + 1).copied();
                    self.i += 2;
                    let c = match e {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            let hex = self
                                .s
                                .get(self.i..self.i + 4)
                                .and_then(|h| std::str::from_utf8(h).ok());
                            let Some(code) = hex.and_then(|h| u32::from_str_radix(h, 16).ok())
                            else {
                                return self.fail("bad \\u escape");
                            };
                            self.i += 4;
                            // Surrogates are not expected in this file; refuse them plainly.
                            match char::from_u32(code) {
                                Some(c) => c,
                                None => return self.fail("\\u escape of a surrogate"),
                            }
                        }
                        _ => return self.fail("bad escape"),
                    };
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                Some(&b) if b < 0x20 => return self.fail("control character in a string"),
                Some(&b) => {
                    out.push(b);
                    self.i += 1;
                }
            }
        }
    }
}

fn parse_json(text: &str) -> Result<Json, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut r = Reader {
        s: text.as_bytes(),
        i: 0,
    };
    let v = r.value()?;
    r.ws();
    if r.i != r.s.len() {
        return r.fail("trailing characters");
    }
    Ok(v)
}

/// The catalogue's keys, in order, or every problem found.
fn parse_catalogue(text: &str) -> Result<Vec<String>, Vec<String>> {
    let Json::Obj(entries) = parse_json(text).map_err(|e| vec![e])? else {
        return Err(vec!["the top level is not an object".into()]);
    };
    let mut problems = Vec::new();
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for (key, value) in &entries {
        if key.is_empty()
            || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || key.starts_with("@@")
        {
            problems.push(format!(
                "{key:?}: a message name is [A-Za-z0-9_] and does not start with @@"
            ));
        }
        if let Some(first) = seen.insert(key.to_ascii_lowercase(), key) {
            problems.push(format!(
                "{key:?}: defined twice (names are case-insensitive; first as {first:?})"
            ));
        }
        let Json::Obj(fields) = value else {
            problems.push(format!("{key}: not an object"));
            continue;
        };
        let mut names = BTreeSet::new();
        for (name, v) in fields {
            if !names.insert(name.as_str()) {
                problems.push(format!("{key}.{name}: defined twice"));
            }
            match (name.as_str(), v) {
                ("message" | "description", Json::Str(_)) => {}
                ("placeholders", Json::Obj(ps)) => {
                    for (p, pv) in ps {
                        let ok = matches!(pv, Json::Obj(f) if f.iter().all(|(n, v)| matches!((n.as_str(), v), ("content" | "example", Json::Str(_))))
                            && f.iter().any(|(n, _)| n == "content"));
                        if !ok {
                            problems.push(format!("{key}.placeholders.{p}: not {{\"content\": string, \"example\"?: string}}"));
                        }
                    }
                }
                _ => problems.push(format!("{key}.{name}: unexpected (only \"message\", \"description\" and \"placeholders\")")),
            }
        }
        if !fields
            .iter()
            .any(|(n, v)| n == "message" && matches!(v, Json::Str(_)))
        {
            problems.push(format!("{key}: no \"message\" string"));
        }
    }
    if problems.is_empty() {
        Ok(entries.into_iter().map(|(k, _)| k).collect())
    } else {
        Err(problems)
    }
}

// ---------------------------------------------------------------------------------------------
// The scanners' own tests: each would otherwise only ever see today's tree.

#[test]
fn the_lexer_tells_code_from_comments_strings_and_tests() {
    let src = r####"
        // msg("inLineComment")
        /* msg("inBlock") /* nested */ msg("stillInBlock") */
        let a = msg(
            "multiLine",
            &[],
        );
        let b = r#"msg("inRawString")"#;
        let c = '"'; let d = '\''; fn f<'a>(x: &'a str) {}
        let e = browser::msg("qualified", &[]);
        let f = msg(key, &[]);
        fn k() -> &'static str { "fromTable" }
        #[cfg(test)]
        mod tests { fn t() { let _ = "onlyInTest"; let _ = msg("calledInTest", &[]); } }
        let g = "afterTests";
    "####;
    let tokens = lex(src).unwrap();
    let calls: Vec<String> = msg_calls(&tokens).into_iter().map(|(k, _)| k).collect();
    assert_eq!(calls, ["multiLine", "qualified", "calledInTest"]);
    assert_eq!(msg_calls(&tokens)[0].1, 5, "the line of the key");
    let lits: Vec<String> = without_test_items(&tokens)
        .into_iter()
        .filter_map(|t| match &t.tok {
            Tok::Str(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        lits,
        [
            "multiLine",
            "msg(\"inRawString\")",
            "qualified",
            "fromTable",
            "afterTests"
        ]
    );
}

#[test]
fn the_page_scanners_find_their_keys() {
    let html = "<p data-i18n=\"a\">x</p>\n<!-- <p data-i18n=\"commented\"> -->\n\
                <input data-i18n-placeholder='b' data-i18n-aria-label=\"c\">\n<style>[data-i18n] {}</style>";
    let found: Vec<(String, String)> = data_i18n(html)
        .into_iter()
        .map(|(k, _, a)| (k, a))
        .collect();
    assert_eq!(
        found,
        [
            ("a".into(), "data-i18n".into()),
            ("b".into(), "data-i18n-placeholder".into()),
            ("c".into(), "data-i18n-aria-label".into())
        ]
    );
    let js = "ext.i18n.getMessage('one', []);\ngetMessage( \"two\");\ngetMessage(name);";
    let keys: Vec<String> = get_message_calls(js).into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["one", "two"]);
    let manifest = r#"{"name": "__MSG_extName__", "x": "__MSG_@@ui_locale__ __init__"}"#;
    let keys: Vec<String> = msg_placeholders(manifest)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["extName", "@@ui_locale"]);
}

#[test]
fn the_catalogue_reader_refuses_what_browsers_refuse() {
    assert_eq!(
        parse_catalogue(
            r#"{"a": {"message": "A \"quoted\" \u00e9", "description": "d"}, "b_2": {"message": "$1 of $who$", "placeholders": {"who": {"content": "$1", "example": "x"}}}}"#
        ),
        Ok(vec!["a".to_string(), "b_2".to_string()])
    );
    for (bad, why) in [
        (
            r#"{"a": {"message": "x"}, "a": {"message": "y"}}"#,
            "defined twice",
        ),
        (
            r#"{"Ab": {"message": "x"}, "aB": {"message": "y"}}"#,
            "case-insensitive",
        ),
        (r#"{"a": {"description": "x"}}"#, "no \"message\""),
        (r#"{"a": {"message": 1}}"#, "unexpected"),
        (r#"{"a": {"message": "x", "extra": "y"}}"#, "unexpected"),
        (r#"{"a-b": {"message": "x"}}"#, "message name"),
        (r#"{"a": {"message": "x"},}"#, "expected a string"),
        (r#"{"a": {"message": "x"}} x"#, "trailing"),
    ] {
        let problems = parse_catalogue(bad).expect_err(bad);
        assert!(
            problems.iter().any(|p| p.contains(why)),
            "{bad}: {problems:?}"
        );
    }
}
