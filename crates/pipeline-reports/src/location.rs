//! Where a failure happened: a file and line from a stack trace, made
//! relative to the workspace.

use std::path::{Path, PathBuf};

/// A source location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Location {
    pub(crate) file: String,
    pub(crate) line: u32,
}

/// Finds the most useful frame in a failure's text: Python tracebacks and
/// pytest's short form, Rust panics, Java, C#, JavaScript/TypeScript and Go.
/// `classname` helps choose the test's own frame among Java frames.
pub(crate) fn from_trace(
    text: &str,
    classname: &str,
    workspace: Option<&Path>,
) -> Option<Location> {
    python(text, workspace)
        .or_else(|| rust(text))
        .or_else(|| csharp(text))
        .or_else(|| java(text, classname, workspace))
        .or_else(|| javascript(text))
        .or_else(|| go(text))
}

fn python(text: &str, workspace: Option<&Path>) -> Option<Location> {
    // Traceback frames: `  File "path/x.py", line 12, in test_x`; the
    // innermost frame that is not a library is the one to show.
    let mut best: Option<Location> = None;
    let mut best_is_library = true;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("File \"") {
            let Some(end) = rest.find('"') else { continue };
            let file = &rest[..end];
            let Some(number) = rest[end..].strip_prefix("\", line ") else {
                continue;
            };
            let Some(number) = leading_number(number) else {
                continue;
            };
            let library = is_library_path(file, workspace);
            if best.is_none() || !library || best_is_library {
                best = Some(Location {
                    file: file.to_owned(),
                    line: number,
                });
                best_is_library = library;
            }
            continue;
        }
        // pytest's short form: `tests/test_x.py:12: AssertionError`.
        if let Some(loc) = file_colon_line(trimmed, &[".py"]) {
            if best.is_none() {
                best = Some(loc);
                best_is_library = false;
            }
        }
    }
    best
}

fn is_library_path(file: &str, workspace: Option<&Path>) -> bool {
    if file.contains("site-packages") || file.contains("dist-packages") || file.starts_with('<') {
        return true;
    }
    match workspace {
        Some(ws) if Path::new(file).is_absolute() => !Path::new(file).starts_with(ws),
        _ => false,
    }
}

fn rust(text: &str) -> Option<Location> {
    // `thread 'x' panicked at tests/basic.rs:19:5:` (Rust 1.73+) or
    // `panicked at 'message', src/lib.rs:10:5` (older).
    let at = text.find("panicked at ")?;
    let rest = &text[at + "panicked at ".len()..];
    let rest = if rest.starts_with('\'') {
        let close = rest.find("', ")?;
        &rest[close + 3..]
    } else {
        rest
    };
    file_colon_line(rest, &[".rs"])
}

fn csharp(text: &str) -> Option<Location> {
    // `   at Ns.Class.Method() in /path/File.cs:line 42`
    for line in text.lines() {
        let Some(idx) = line.find(" in ") else {
            continue;
        };
        let rest = &line[idx + 4..];
        let Some(colon) = rest.rfind(":line ") else {
            continue;
        };
        let Some(number) = leading_number(&rest[colon + 6..]) else {
            continue;
        };
        return Some(Location {
            file: rest[..colon].to_owned(),
            line: number,
        });
    }
    None
}

fn java(text: &str, classname: &str, workspace: Option<&Path>) -> Option<Location> {
    // `\tat com.example.FooTest.testBar(FooTest.java:42)`
    let mut first: Option<(String, &str, u32)> = None;
    for line in text.lines() {
        let Some(frame) = line.trim_start().strip_prefix("at ") else {
            continue;
        };
        let Some(open) = frame.find('(') else {
            continue;
        };
        let method = &frame[..open];
        let inside = frame[open + 1..].trim_end_matches(')');
        let Some((file, number)) = inside.rsplit_once(':') else {
            continue;
        };
        let Some(number) = leading_number(number) else {
            continue;
        };
        if !(file.ends_with(".java")
            || file.ends_with(".kt")
            || file.ends_with(".scala")
            || file.ends_with(".groovy"))
        {
            continue;
        }
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
        let own = !classname.is_empty() && class == classname;
        if own || (first.is_none() && !library) {
            first = Some((class.to_owned(), file, number));
            if own {
                break;
            }
        }
    }
    let (class, file, line) = first?;
    // The package gives the directories; the workspace gives the source root.
    let package_dir = class.rsplit_once('.').map(|(p, _)| p.replace('.', "/"));
    let relative = match package_dir {
        Some(dir) => format!("{dir}/{file}"),
        None => file.to_owned(),
    };
    let resolved = workspace.and_then(|ws| {
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
    Some(Location {
        file: resolved.unwrap_or(relative),
        line,
    })
}

fn javascript(text: &str) -> Option<Location> {
    // `    at Object.<anonymous> (/repo/src/a.test.ts:12:5)` or `    at /repo/a.js:3:9`
    for line in text.lines() {
        let Some(frame) = line.trim_start().strip_prefix("at ") else {
            continue;
        };
        let location = match (frame.rfind('('), frame.ends_with(')')) {
            (Some(open), true) => &frame[open + 1..frame.len() - 1],
            _ => frame,
        };
        if location.contains("node_modules")
            || location.starts_with("node:")
            || location.starts_with("internal/")
        {
            continue;
        }
        // path:line:column
        let Some((before_col, col)) = location.rsplit_once(':') else {
            continue;
        };
        let Some((file, number)) = before_col.rsplit_once(':') else {
            continue;
        };
        if leading_number(col).is_none() {
            continue;
        }
        let Some(number) = leading_number(number) else {
            continue;
        };
        let is_js = [
            ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".mts", ".cts", ".vue",
        ]
        .iter()
        .any(|ext| file.ends_with(ext));
        if is_js {
            let file = file.strip_prefix("file://").unwrap_or(file);
            return Some(Location {
                file: file.to_owned(),
                line: number,
            });
        }
    }
    None
}

fn go(text: &str) -> Option<Location> {
    // `    foo_test.go:12: got 1, want 2`
    text.lines()
        .find_map(|line| file_colon_line(line.trim_start(), &[".go"]))
}

/// `path.ext:LINE` at the start of `text`, for one of the extensions.
fn file_colon_line(text: &str, extensions: &[&str]) -> Option<Location> {
    for ext in extensions {
        let Some(idx) = text.find(&format!("{ext}:")) else {
            continue;
        };
        let file = &text[..idx + ext.len()];
        if file.is_empty() || file.contains(char::is_whitespace) {
            continue;
        }
        let number = leading_number(&text[idx + ext.len() + 1..])?;
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
