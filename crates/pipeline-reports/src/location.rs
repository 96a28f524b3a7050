//! Where a failure happened: a file and line from a stack trace, made
//! relative to the workspace.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use memchr::memmem::Finder;

/// A searcher built once for a pattern sought in few lines (building one
/// per line would cost more than the search).
static QUOTE_COMMA: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("', "));

/// Where `needle` first occurs in `haystack`. Each place where the needle's
/// byte at `anchor` (one that is rare in stack frames) occurs is found with
/// memchr, and the needle is compared there: a failure's lines are short,
/// and most hold the anchor byte seldom, so this costs less than a searcher
/// built for the purpose.
fn find_short(haystack: &[u8], needle: &[u8], anchor: usize) -> Option<usize> {
    memchr::memchr_iter(needle[anchor], haystack.get(anchor..)?)
        .find(|&start| haystack[start..].starts_with(needle))
}

/// The lines of `text` exactly as [`str::lines`] gives them (split at `\n`,
/// a `\r` before it dropped), each line ending found with memchr: a
/// failure's text is read line by line, and most of its lines are short.
pub(crate) fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let line = match memchr::memchr(b'\n', rest.as_bytes()) {
            Some(i) => {
                let line = &rest[..i];
                rest = &rest[i + 1..];
                line.strip_suffix('\r').unwrap_or(line)
            }
            None => std::mem::take(&mut rest),
        };
        Some(line)
    })
}

/// A source location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Location {
    pub(crate) file: String,
    pub(crate) line: u32,
}

/// Finds the most useful frame in a failure's text: Python tracebacks and
/// pytest's short form, Rust panics, Java, C#, JavaScript/TypeScript (V8
/// frames and vitest's `❯` frames) and Go. `classname` helps choose the
/// test's own frame among Java frames.
#[cfg(test)]
pub(crate) fn from_trace(
    text: &str,
    classname: &str,
    workspace: Option<&Path>,
) -> Option<Location> {
    let mut scanner = Scanner::new(workspace.map(Path::to_path_buf));
    scanner.reset(classname, "");
    for line in lines(text) {
        scanner.feed_line(line);
    }
    scanner.finish().best
}

/// What a [`Scanner`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Found {
    /// The most useful frame of the whole text.
    pub(crate) best: Option<Location>,
    /// The line of the frame in the test's own file (the one given to
    /// [`Scanner::reset`]): the innermost such frame.
    pub(crate) own_line: Option<u32>,
}

/// Reads a failure's text line by line, any amount of it, keeping only the
/// candidate frames: the location is sought in the whole text while the
/// caller keeps as little of the text as it likes.
#[derive(Debug, Default)]
pub(crate) struct Scanner {
    workspace: Option<PathBuf>,
    classname: String,
    /// The base name of the test's own file (empty: none).
    own_base: String,
    /// The own file's innermost frame: the last one in a Python traceback,
    /// the first one in the other languages' stacks.
    own_python: Option<u32>,
    own_other: Option<u32>,
    python: Option<(Location, bool)>,
    rust: Option<Location>,
    /// A pre-1.73 Rust panic whose quoted message spans lines.
    rust_open: bool,
    csharp: Option<Location>,
    java_first: Option<(String, String, u32)>,
    java_own: Option<(String, String, u32)>,
    javascript: Option<Location>,
    vitest: Option<Location>,
    go: Option<Location>,
}

impl Scanner {
    pub(crate) fn new(workspace: Option<PathBuf>) -> Self {
        Scanner {
            workspace,
            ..Scanner::default()
        }
    }

    /// Forgets everything seen, for the failure of test `classname` whose
    /// own file (from the testcase, possibly empty) is `own_file`.
    pub(crate) fn reset(&mut self, classname: &str, own_file: &str) {
        self.classname.clear();
        self.classname.push_str(classname);
        self.own_base.clear();
        self.own_base.push_str(base_name(own_file.trim()));
        self.own_python = None;
        self.own_other = None;
        self.python = None;
        self.rust = None;
        self.rust_open = false;
        self.csharp = None;
        self.java_first = None;
        self.java_own = None;
        self.javascript = None;
        self.vitest = None;
        self.go = None;
    }

    fn own(&mut self, file: &str, line: u32, python: bool) {
        if self.own_base.is_empty() || base_name(file) != self.own_base {
            return;
        }
        if python {
            self.own_python = Some(line);
        } else if self.own_other.is_none() {
            self.own_other = Some(line);
        }
    }

    /// Reads one line of the text (without its line break).
    pub(crate) fn feed_line(&mut self, line: &str) {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let trimmed = line.trim_start();
        if trimmed.is_empty() {
            return;
        }
        // Every frame but a Python traceback's `File "…", line N` and the
        // continuation of an old Rust panic has a colon: most lines of a
        // failure's text are rejected by one search.
        let has_colon = memchr::memchr(b':', trimmed.as_bytes()).is_some();
        if !has_colon {
            if trimmed.starts_with("File \"") {
                self.python_line(trimmed);
            }
            return;
        }
        // An `at …` frame (Java, JavaScript, C#) is no Python or Go frame:
        // those start with `path.py:N` or `path.go:N`, and its first word is
        // `at`.
        let frame = trimmed.strip_prefix("at ");
        if frame.is_none() {
            self.python_line(trimmed);
        }
        if self.rust.is_none() {
            self.rust_line(line);
        }
        if (self.csharp.is_none() || !self.own_base.is_empty())
            && find_short(line.as_bytes(), b":line ", 0).is_some()
        {
            self.csharp_line(line);
        }
        let Some(frame) = frame else {
            if let Some(frame) = trimmed.strip_prefix('❯') {
                self.vitest_line(frame);
            }
            if let Some(loc) = file_colon_line(trimmed, &[".go"]) {
                self.own(&loc.file, loc.line, false);
                if self.go.is_none() {
                    self.go = Some(loc);
                }
            }
            return;
        };
        self.java_line(frame);
        self.javascript_line(frame);
    }

    fn python_line(&mut self, trimmed: &str) {
        // Traceback frames: `  File "path/x.py", line 12, in test_x`; the
        // innermost frame that is not a library is the one to show.
        if let Some(rest) = trimmed.strip_prefix("File \"") {
            let Some(end) = rest.find('"') else { return };
            let file = &rest[..end];
            let Some(number) = rest[end..].strip_prefix("\", line ") else {
                return;
            };
            let Some(number) = leading_number(number) else {
                return;
            };
            self.own(file, number, true);
            let library = is_library_path(file, self.workspace.as_deref());
            let best_is_library = self.python.as_ref().is_none_or(|(_, l)| *l);
            if self.python.is_none() || !library || best_is_library {
                self.python = Some((
                    Location {
                        file: file.to_owned(),
                        line: number,
                    },
                    library,
                ));
            }
            return;
        }
        // pytest's short form: `tests/test_x.py:12: AssertionError`; the
        // first frame that is not a library's (`--full-trace` lists
        // pytest's own frames first).
        if let Some(loc) = file_colon_line(trimmed, &[".py"]) {
            self.own(&loc.file, loc.line, true);
            let library = is_library_path(&loc.file, self.workspace.as_deref());
            match &self.python {
                None => self.python = Some((loc, library)),
                Some((_, true)) if !library => self.python = Some((loc, false)),
                Some(_) => {}
            }
        }
    }

    fn rust_line(&mut self, line: &str) {
        // `thread 'x' panicked at tests/basic.rs:19:5:` (Rust 1.73+) or
        // `panicked at 'message', src/lib.rs:10:5` (older; the message may
        // span lines).
        if self.rust.is_some() {
            return;
        }
        let rest = if let Some(at) = find_short(line.as_bytes(), b"panicked at ", 5) {
            let rest = &line[at + "panicked at ".len()..];
            match rest.strip_prefix('\'') {
                Some(quoted) => match QUOTE_COMMA.find(quoted.as_bytes()) {
                    Some(close) => &quoted[close + 3..],
                    None => {
                        self.rust_open = true;
                        return;
                    }
                },
                None => rest,
            }
        } else if self.rust_open {
            match QUOTE_COMMA.find(line.as_bytes()) {
                Some(close) => &line[close + 3..],
                None => return,
            }
        } else {
            return;
        };
        self.rust_open = false;
        if let Some(loc) = file_colon_line(rest, &[".rs"]) {
            self.own(&loc.file, loc.line, false);
            self.rust = Some(loc);
        }
    }

    fn csharp_line(&mut self, line: &str) {
        // `   at Ns.Class.Method() in /path/File.cs:line 42`
        let Some(idx) = line.find(" in ") else {
            return;
        };
        let rest = &line[idx + 4..];
        let Some(colon) = rest.rfind(":line ") else {
            return;
        };
        let Some(number) = leading_number(&rest[colon + 6..]) else {
            return;
        };
        let file = &rest[..colon];
        self.own(file, number, false);
        if self.csharp.is_none() {
            self.csharp = Some(Location {
                file: file.to_owned(),
                line: number,
            });
        }
    }

    fn java_line(&mut self, frame: &str) {
        // `\tat com.example.FooTest.testBar(FooTest.java:42)`
        if self.java_own.is_some() {
            return;
        }
        let Some(open) = frame.find('(') else {
            return;
        };
        let method = &frame[..open];
        let inside = frame[open + 1..].trim_end_matches(')');
        let Some((file, number)) = inside.rsplit_once(':') else {
            return;
        };
        let Some(number) = leading_number(number) else {
            return;
        };
        if !(file.ends_with(".java")
            || file.ends_with(".kt")
            || file.ends_with(".scala")
            || file.ends_with(".groovy"))
        {
            return;
        }
        self.own(file, number, false);
        let class = method.rsplit_once('.').map_or(method, |(class, _)| class);
        let class = class.split('$').next().unwrap_or(class);
        let library = [
            "java.",
            "javax.",
            "jdk.",
            "sun.",
            "org.junit.",
            "junit.",
            "org.testng.",
            "org.apache.maven.",
            "org.gradle.",
            "kotlin.",
        ]
        .iter()
        .any(|p| class.starts_with(p));
        let own = !self.classname.is_empty() && class == self.classname;
        if own {
            self.java_own = Some((class.to_owned(), file.to_owned(), number));
        } else if self.java_first.is_none() && !library {
            self.java_first = Some((class.to_owned(), file.to_owned(), number));
        }
    }

    fn javascript_line(&mut self, frame: &str) {
        // `    at Object.<anonymous> (/repo/src/a.test.ts:12:5)` or `    at /repo/a.js:3:9`
        let location = match (frame.rfind('('), frame.ends_with(')')) {
            (Some(open), true) => &frame[open + 1..frame.len() - 1],
            _ => frame,
        };
        if let Some(loc) = js_location(location) {
            self.own(&loc.file, loc.line, false);
            if self.javascript.is_none() {
                self.javascript = Some(loc);
            }
        }
    }

    fn vitest_line(&mut self, frame: &str) {
        // vitest: ` ❯ test/calc.test.js:13:26` or ` ❯ Object.divide src/calc.js:7:11`
        let Some(location) = frame.split_whitespace().last() else {
            return;
        };
        if let Some(loc) = js_location(location) {
            self.own(&loc.file, loc.line, false);
            if self.vitest.is_none() {
                self.vitest = Some(loc);
            }
        }
    }

    /// What was found in the lines read.
    pub(crate) fn finish(&mut self) -> Found {
        let java = self.java_own.take().or_else(|| self.java_first.take());
        let best = self
            .python
            .take()
            .map(|(loc, _)| loc)
            .or_else(|| self.rust.take())
            .or_else(|| self.csharp.take())
            .or_else(|| java.map(|(class, file, line)| self.java_location(&class, file, line)))
            .or_else(|| self.javascript.take())
            .or_else(|| self.vitest.take())
            .or_else(|| self.go.take());
        Found {
            best,
            own_line: self.own_python.or(self.own_other),
        }
    }

    fn java_location(&self, class: &str, file: String, line: u32) -> Location {
        // The package gives the directories; the workspace gives the source root.
        let package_dir = class.rsplit_once('.').map(|(p, _)| p.replace('.', "/"));
        let relative = match package_dir {
            Some(dir) => format!("{dir}/{file}"),
            None => file,
        };
        let resolved = self.workspace.as_deref().and_then(|ws| {
            [
                "",
                "src/test/java/",
                "src/main/java/",
                "src/test/kotlin/",
                "src/main/kotlin/",
                "src/test/scala/",
                "src/main/scala/",
            ]
            .iter()
            .map(|root| format!("{root}{relative}"))
            .find(|candidate| ws.join(candidate).is_file())
        });
        Location {
            file: resolved.unwrap_or(relative),
            line,
        }
    }
}

/// The last component of a path written with `/` or `\\`.
pub(crate) fn base_name(file: &str) -> &str {
    file.rsplit(['/', '\\']).next().unwrap_or(file)
}

fn is_library_path(file: &str, workspace: Option<&Path>) -> bool {
    let bytes = file.as_bytes();
    if find_short(bytes, b"site-packages", 4).is_some()
        || find_short(bytes, b"dist-packages", 4).is_some()
        || file.starts_with('<')
        || find_short(bytes, b"/lib/python", 6).is_some()
        || find_short(bytes, b"\\Lib\\", 0).is_some()
    {
        return true;
    }
    match workspace {
        Some(ws) if Path::new(file).is_absolute() => !Path::new(file).starts_with(ws),
        _ => false,
    }
}

/// `path:line:column` of a JavaScript frame, outside `node_modules` and
/// Node's own modules.
fn js_location(location: &str) -> Option<Location> {
    // The cheap tests first: most frames that get here are Java's.
    let (before_col, col) = location.rsplit_once(':')?;
    let (file, number) = before_col.rsplit_once(':')?;
    leading_number(col)?;
    let number = leading_number(number)?;
    let is_js = [
        ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".mts", ".cts", ".vue", ".svelte",
    ]
    .iter()
    .any(|ext| file.ends_with(ext));
    if !is_js
        || find_short(location.as_bytes(), b"node_modules", 4).is_some()
        || location.starts_with("node:")
        || location.starts_with("internal/")
    {
        return None;
    }
    let file = file.strip_prefix("file://").unwrap_or(file);
    Some(Location {
        file: file.to_owned(),
        line: number,
    })
}

/// `path.ext:LINE` at the start of `text`, for one of the extensions: the
/// path is the text's first word (no whitespace in it).
fn file_colon_line(text: &str, extensions: &[&str]) -> Option<Location> {
    let bytes = text.as_bytes();
    let word_end = bytes
        .iter()
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let word = &bytes[..word_end];
    for colon in memchr::memchr_iter(b':', word) {
        let file = &text[..colon];
        if file.is_empty() || !extensions.iter().any(|ext| file.ends_with(ext)) {
            continue;
        }
        let number = leading_number(&text[colon + 1..])?;
        return Some(Location {
            file: file.to_owned(),
            line: number,
        });
    }
    None
}

fn leading_number(text: &str) -> Option<u32> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text[..end].parse().ok()
}

/// A path as it should be shown and annotated: relative to the workspace when
/// it lies inside it, with forward slashes.
pub(crate) fn relative_to(file: &str, workspace: Option<&Path>) -> String {
    let file = file.trim();
    if let Some(ws) = workspace {
        let path = Path::new(file);
        if let Ok(rest) = path.strip_prefix(ws) {
            return rest.to_string_lossy().into_owned();
        }
        if let Some(rest) = file.strip_prefix("./") {
            return rest.to_owned();
        }
    }
    if file.contains('\\') && !file.contains('/') {
        return file.replace('\\', "/");
    }
    file.to_owned()
}

/// Joins a report-relative path to a base, without touching the file system.
pub(crate) fn join(base: &str, file: &str) -> PathBuf {
    let base = base.trim();
    if base.is_empty() || Path::new(file).is_absolute() {
        return PathBuf::from(file);
    }
    Path::new(base).join(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(text: &str, classname: &str) -> Option<(String, u32)> {
        from_trace(text, classname, None).map(|l| (l.file, l.line))
    }

    #[test]
    fn finds_the_frame_in_each_language() {
        let py = "Traceback (most recent call last):\n  File \"/usr/lib/python3/site-packages/x.py\", line 3, in f\n  File \"tests/test_a.py\", line 12, in test_a\n    assert 1 == 2\n  File \"/usr/lib/python3/site-packages/y.py\", line 9, in g\nAssertionError";
        assert_eq!(loc(py, ""), Some(("tests/test_a.py".into(), 12)));
        assert_eq!(
            loc(
                "def test():\n>       assert False\nE       assert False\n\ntests/test_b.py:7: AssertionError",
                ""
            ),
            Some(("tests/test_b.py".into(), 7))
        );
        assert_eq!(
            loc(
                "thread 'x' panicked at tests/basic.rs:19:5:\nassertion failed",
                ""
            ),
            Some(("tests/basic.rs".into(), 19))
        );
        assert_eq!(
            loc("thread 'main' panicked at 'boom', src/lib.rs:10:5", ""),
            Some(("src/lib.rs".into(), 10))
        );
        let java = "java.lang.AssertionError: x\n\tat org.junit.Assert.fail(Assert.java:88)\n\tat com.acme.util.Helper.check(Helper.java:10)\n\tat com.acme.FooTest.testBar(FooTest.java:42)\n";
        assert_eq!(
            loc(java, "com.acme.FooTest"),
            Some(("com/acme/FooTest.java".into(), 42))
        );
        assert_eq!(
            loc(java, "Other"),
            Some(("com/acme/util/Helper.java".into(), 10))
        );
        let cs = "Assert.Equal() Failure\n   at Tests.CalcTests.Adds() in /src/Tests/CalcTests.cs:line 17\n";
        assert_eq!(loc(cs, ""), Some(("/src/Tests/CalcTests.cs".into(), 17)));
        let js = "Error: expect(received)\n    at Object.<anonymous> (/repo/node_modules/expect/build/index.js:1:1)\n    at Object.<anonymous> (/repo/src/sum.test.ts:8:17)\n";
        assert_eq!(loc(js, ""), Some(("/repo/src/sum.test.ts".into(), 8)));
        assert_eq!(
            loc("    calc_test.go:12: got 1, want 2", ""),
            Some(("calc_test.go".into(), 12))
        );
        assert_eq!(loc("no location in here: 12", ""), None);
    }

    proptest::proptest! {
        #[test]
        fn lines_are_what_str_lines_gives(text in "[a\r\n]{0,20}") {
            proptest::prop_assert_eq!(lines(&text).collect::<Vec<_>>(), text.lines().collect::<Vec<_>>());
        }

        #[test]
        fn short_searches_find_what_str_find_finds(
            before in "[pa nickedt:l\\\\-]{0,30}",
            after in "[pa nickedt:l\\\\-]{0,30}",
            which in 0usize..3,
            planted in proptest::bool::ANY,
        ) {
            let (needle, anchor) = [("panicked at ", 5), (":line ", 0), ("\\Lib\\", 0)][which];
            let haystack = if planted { format!("{before}{needle}{after}") } else { format!("{before}{after}") };
            proptest::prop_assert_eq!(
                find_short(haystack.as_bytes(), needle.as_bytes(), anchor),
                haystack.find(needle)
            );
        }
    }

    #[test]
    fn paths_become_workspace_relative() {
        let ws = Path::new("/home/runner/work/app");
        assert_eq!(
            relative_to("/home/runner/work/app/src/a.py", Some(ws)),
            "src/a.py"
        );
        assert_eq!(relative_to("./src/a.py", Some(ws)), "src/a.py");
        assert_eq!(relative_to("/elsewhere/a.py", Some(ws)), "/elsewhere/a.py");
        assert_eq!(relative_to("src\\a.cs", None), "src/a.cs");
    }
}
