//! The GitHub Actions expression language.
//!
//! Evaluates the text inside `${{ }}`, interpolates strings that contain such
//! expressions, and decides `if:` conditions, following GitHub's documented
//! semantics: literals, property dereference (case-insensitive), object
//! filters (`a.*.b`), loose equality with number coercion, case-insensitive
//! string comparison, `&&`/`||` returning the deciding operand, and the
//! built-in functions (`contains`, `startsWith`, `endsWith`, `format`, `join`,
//! `toJSON`, `fromJSON`, `hashFiles`, `case` and the status functions).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

/// Why an expression cannot be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum ExprError {
    /// The expression is not well formed.
    #[error("cannot parse expression `{expr}` at offset {at}: {reason}")]
    Parse {
        /// The expression text.
        expr: String,
        /// Byte offset of the problem within `expr`.
        at: usize,
        /// What is wrong there.
        reason: String,
    },
    /// A function the language does not define.
    #[error("unknown function `{name}` in expression `{expr}`")]
    UnknownFunction {
        /// The expression text.
        expr: String,
        /// The function name as written.
        name: String,
    },
    /// A name that is neither a known context nor present in the evaluation context.
    #[error("unrecognized named-value `{name}` in expression `{expr}`")]
    UnknownContext {
        /// The expression text.
        expr: String,
        /// The name as written.
        name: String,
    },
    /// A function was called with the wrong number of arguments.
    #[error("wrong arguments to `{name}` in expression `{expr}`: {reason}")]
    WrongArguments {
        /// The expression text.
        expr: String,
        /// The function name.
        name: String,
        /// What is wrong with the arguments.
        reason: String,
    },
    /// `format()` was given an invalid format string or a missing argument.
    #[error("invalid format in expression `{expr}`: {reason}")]
    Format {
        /// The expression text.
        expr: String,
        /// What is wrong with the format string.
        reason: String,
    },
    /// `fromJSON()` was given text that is not JSON.
    #[error("fromjson cannot parse its argument in expression `{expr}`: {reason}")]
    FromJson {
        /// The expression text.
        expr: String,
        /// The JSON parser's complaint.
        reason: String,
    },
    /// `hashFiles()` could not read a matched file or directory.
    #[error("hashfiles failed in expression `{expr}`: {reason}")]
    HashFiles {
        /// The expression text.
        expr: String,
        /// What went wrong.
        reason: String,
    },
    /// A `${{` without its closing `}}`.
    #[error("unterminated `${{{{` in `{text}`")]
    Unterminated {
        /// The whole text that was being interpolated.
        text: String,
    },
}

/// The status of the job so far, for success()/failure()/always()/cancelled().
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// Every previous step succeeded.
    Success,
    /// A previous step failed.
    Failure,
    /// The run was cancelled.
    Cancelled,
}

/// What an expression can see.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The contexts by name, lowercase keys: github, env, vars, secrets, inputs, steps, needs, runner, job, matrix, strategy.
    pub contexts: &'a Map<String, Value>,
    /// The job's status so far.
    pub status: JobStatus,
    /// The directory hashFiles() patterns are relative to (GITHUB_WORKSPACE).
    pub workspace: &'a Path,
}

/// Evaluates one expression: the text inside `${{ }}`.
///
/// # Errors
/// Parse errors, unknown functions or named-values, wrong arguments, and
/// failures of `format`, `fromJSON` and `hashFiles`.
pub fn evaluate(expr: &str, cx: &Context<'_>) -> Result<Value, ExprError> {
    Ok(eval_str(expr, cx)?.to_value())
}

/// Replaces every `${{ expr }}` in `text` by [`to_text`] of its value.
/// Text without `${{` is returned unchanged.
///
/// # Errors
/// An unterminated `${{`, or any error of [`evaluate`].
pub fn interpolate(text: &str, cx: &Context<'_>) -> Result<String, ExprError> {
    if !text.contains("${{") {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    for seg in split_template(text)? {
        match seg {
            Seg::Lit(s) => out.push_str(s),
            Seg::Expr(e) => out.push_str(&eval_str(e, cx)?.text()),
        }
    }
    Ok(out)
}

/// Decides an `if:` value, with or without a surrounding `${{ }}`.
///
/// When no status function (`success`, `failure`, `always`, `cancelled`)
/// appears in it, it means `success() && (expr)`. A value that mixes text
/// and `${{ }}` is a string, true when not empty. An empty value is
/// `success()`.
///
/// # Errors
/// Any error of [`evaluate`] or [`interpolate`].
pub fn condition(text: &str, cx: &Context<'_>) -> Result<bool, ExprError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(cx.status == JobStatus::Success);
    }
    if !t.contains("${{") {
        return eval_condition(t, cx);
    }
    let segs = split_template(t)?;
    if let [Seg::Expr(inner)] = segs.as_slice() {
        return eval_condition(inner, cx);
    }
    let mut parsed = Vec::with_capacity(segs.len());
    let mut has_status = false;
    for seg in &segs {
        match seg {
            Seg::Lit(s) => parsed.push((*s, None)),
            Seg::Expr(e) => {
                let ast = parse(e, cx.contexts)?;
                has_status |= ast.has_status();
                parsed.push((*e, Some(ast)));
            }
        }
    }
    if !has_status && cx.status != JobStatus::Success {
        return Ok(false);
    }
    let mut out = String::new();
    for (text, ast) in &parsed {
        match ast {
            None => out.push_str(text),
            Some(ast) => out.push_str(&Evaluator { cx, expr: text }.eval(ast)?.text()),
        }
    }
    Ok(!out.is_empty())
}

/// GitHub's string conversion: null is `""`, booleans `true`/`false`,
/// numbers as GitHub prints them (integers without `.0`), strings as they
/// are, arrays and objects as pretty JSON.
#[must_use]
pub fn to_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else if let Some(u) = n.as_u64() {
                u.to_string()
            } else {
                num_text(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => s.clone(),
        Value::Array(_) | Value::Object(_) => serde_json::to_string_pretty(v).unwrap_or_default(),
    }
}

/// GitHub's truthiness: `false`, `0`, `-0`, NaN, `""` and `null` are falsy;
/// everything else (including empty arrays and objects) is truthy.
#[must_use]
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0 && !x.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

// ---------------------------------------------------------------------------
// Helpers shared by the public entry points.

fn eval_str<'a>(expr: &str, cx: &Context<'a>) -> Result<Val<'a>, ExprError> {
    let ast = parse(expr, cx.contexts)?;
    Evaluator { cx, expr }.eval(&ast)
}

fn eval_condition(expr: &str, cx: &Context<'_>) -> Result<bool, ExprError> {
    let ast = parse(expr, cx.contexts)?;
    if !ast.has_status() && cx.status != JobStatus::Success {
        return Ok(false);
    }
    Ok(Evaluator { cx, expr }.eval(&ast)?.truthy())
}

/// A piece of a template: literal text or the inside of a `${{ }}`.
enum Seg<'t> {
    Lit(&'t str),
    Expr(&'t str),
}

/// Splits `text` at its `${{ ... }}` markers. A `}}` inside a single-quoted
/// string literal does not end the expression.
fn split_template(text: &str) -> Result<Vec<Seg<'_>>, ExprError> {
    let mut segs = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("${{") {
        if open > 0 {
            segs.push(Seg::Lit(&rest[..open]));
        }
        let body = &rest[open + 3..];
        let mut in_str = false;
        let mut close = None;
        for (i, c) in body.char_indices() {
            if c == '\'' {
                in_str = !in_str;
            } else if !in_str && body[i..].starts_with("}}") {
                close = Some(i);
                break;
            }
        }
        let Some(close) = close else {
            return Err(ExprError::Unterminated {
                text: text.to_string(),
            });
        };
        segs.push(Seg::Expr(&body[..close]));
        rest = &body[close + 2..];
    }
    if !rest.is_empty() {
        segs.push(Seg::Lit(rest));
    }
    Ok(segs)
}

/// Formats a number the way GitHub (JavaScript) prints it.
fn num_text(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    if x == 0.0 {
        return "0".to_string();
    }
    let abs = x.abs();
    if !(1e-6..1e21).contains(&abs) {
        let s = format!("{x:e}");
        return match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
            _ => s,
        };
    }
    if x.fract() == 0.0 {
        return format!("{x:.0}");
    }
    format!("{x}")
}

/// Converts a string to a number like JavaScript's `Number()`: empty is 0,
/// decimal, exponent, hex/octal/binary prefixes and `Infinity`; anything
/// else is NaN.
fn parse_number(s: &str) -> f64 {
    let s = s.trim();
    if s.is_empty() {
        return 0.0;
    }
    let (sign, unsigned) = match s.as_bytes().first() {
        Some(b'-') => (-1.0, &s[1..]),
        Some(b'+') => (1.0, &s[1..]),
        _ => (1.0, s),
    };
    if unsigned == "Infinity" {
        return sign * f64::INFINITY;
    }
    for (prefix, radix) in [
        ("0x", 16),
        ("0X", 16),
        ("0o", 8),
        ("0O", 8),
        ("0b", 2),
        ("0B", 2),
    ] {
        if let Some(digits) = s.strip_prefix(prefix) {
            if digits.is_empty() {
                return f64::NAN;
            }
            let mut acc = 0.0_f64;
            for c in digits.chars() {
                match c.to_digit(radix) {
                    Some(d) => acc = acc * f64::from(radix) + f64::from(d),
                    None => return f64::NAN,
                }
            }
            return acc;
        }
    }
    // Decimal: digits, optional fraction, optional exponent.
    let b = unsigned.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let mut mantissa = digits(&mut i);
    if b.get(i) == Some(&b'.') {
        i += 1;
        mantissa += digits(&mut i);
    }
    if mantissa == 0 {
        return f64::NAN;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return f64::NAN;
        }
    }
    if i != b.len() {
        return f64::NAN;
    }
    s.parse::<f64>().unwrap_or(f64::NAN)
}

/// Case-insensitive comparison of strings (ordinal, on upper-cased text).
fn cmp_ci(a: &str, b: &str) -> Ordering {
    a.chars()
        .flat_map(char::to_uppercase)
        .cmp(b.chars().flat_map(char::to_uppercase))
}

/// Object lookup: exact key first, then case-insensitive.
fn get_ci<'v>(m: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    m.get(key).or_else(|| {
        m.iter()
            .find(|(k, _)| cmp_ci(k, key) == Ordering::Equal)
            .map(|(_, v)| v)
    })
}

// ---------------------------------------------------------------------------
// Values.

/// A value during evaluation. Arrays and objects keep their identity, since
/// GitHub considers them equal only to the same instance.
#[derive(Debug, Clone)]
enum Val<'a> {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    /// An array or object borrowed from the contexts.
    Ref(&'a Value),
    /// An array or object made during evaluation (fromJSON).
    Own(Rc<Value>),
    /// The result of an object filter (`*`).
    Filtered(Rc<Vec<Val<'a>>>),
}

impl<'a> Val<'a> {
    fn from_ref(v: &'a Value) -> Self {
        match v {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => Val::Num(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => Val::Str(s.clone()),
            Value::Array(_) | Value::Object(_) => Val::Ref(v),
        }
    }

    fn from_owned(v: Value) -> Self {
        match v {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(b),
            Value::Number(n) => Val::Num(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => Val::Str(s),
            Value::Array(_) | Value::Object(_) => Val::Own(Rc::new(v)),
        }
    }

    fn to_value(&self) -> Value {
        match self {
            Val::Null => Value::Null,
            Val::Bool(b) => Value::Bool(*b),
            Val::Num(x) => num_value(*x),
            Val::Str(s) => Value::String(s.clone()),
            Val::Ref(v) => (*v).clone(),
            Val::Own(v) => (**v).clone(),
            Val::Filtered(items) => Value::Array(items.iter().map(Val::to_value).collect()),
        }
    }

    fn is_composite(&self) -> bool {
        matches!(self, Val::Ref(_) | Val::Own(_) | Val::Filtered(_))
    }

    fn truthy(&self) -> bool {
        match self {
            Val::Null => false,
            Val::Bool(b) => *b,
            Val::Num(x) => *x != 0.0 && !x.is_nan(),
            Val::Str(s) => !s.is_empty(),
            Val::Ref(_) | Val::Own(_) | Val::Filtered(_) => true,
        }
    }

    fn text(&self) -> String {
        match self {
            Val::Null => String::new(),
            Val::Bool(b) => b.to_string(),
            Val::Num(x) => num_text(*x),
            Val::Str(s) => s.clone(),
            Val::Ref(_) | Val::Own(_) | Val::Filtered(_) => to_text(&self.to_value()),
        }
    }

    fn to_num(&self) -> f64 {
        match self {
            Val::Null => 0.0,
            Val::Bool(b) => f64::from(u8::from(*b)),
            Val::Num(x) => *x,
            Val::Str(s) => parse_number(s),
            Val::Ref(_) | Val::Own(_) | Val::Filtered(_) => f64::NAN,
        }
    }

    /// The elements of an array, or the values of an object.
    fn children(&self) -> Vec<Val<'a>> {
        match self {
            Val::Ref(v) => {
                let v: &'a Value = v;
                match v {
                    Value::Array(a) => a.iter().map(Val::from_ref).collect(),
                    Value::Object(o) => o.values().map(Val::from_ref).collect(),
                    _ => Vec::new(),
                }
            }
            Val::Own(v) => match &**v {
                Value::Array(a) => a.iter().cloned().map(Val::from_owned).collect(),
                Value::Object(o) => o.values().cloned().map(Val::from_owned).collect(),
                _ => Vec::new(),
            },
            Val::Filtered(items) => items.as_ref().clone(),
            _ => Vec::new(),
        }
    }

    /// `self[key]` when present.
    fn member(&self, key: &Val<'a>) -> Option<Val<'a>> {
        fn pick<'v>(v: &'v Value, key: &Val<'_>) -> Option<&'v Value> {
            match (v, key) {
                (Value::Array(a), Val::Num(x)) if *x >= 0.0 && x.is_finite() => {
                    // Truncation towards zero is the intended index conversion.
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    a.get(x.floor() as usize)
                }
                (Value::Object(o), Val::Str(_) | Val::Num(_)) => get_ci(o, &key.text()),
                _ => None,
            }
        }
        match self {
            Val::Ref(v) => {
                let v: &'a Value = v;
                pick(v, key).map(Val::from_ref)
            }
            Val::Own(v) => pick(v, key).cloned().map(Val::from_owned),
            _ => None,
        }
    }

    /// `self[key]`, applied to each item of a filtered array.
    fn index(&self, key: &Val<'a>) -> Val<'a> {
        match self {
            Val::Filtered(items) => Val::Filtered(Rc::new(
                items.iter().filter_map(|i| i.member(key)).collect(),
            )),
            _ => self.member(key).unwrap_or(Val::Null),
        }
    }

    /// `self.*`: the children, flattened one level for a filtered array.
    fn star(&self) -> Val<'a> {
        match self {
            Val::Filtered(items) => {
                Val::Filtered(Rc::new(items.iter().flat_map(Val::children).collect()))
            }
            _ => Val::Filtered(Rc::new(self.children())),
        }
    }

    fn is_array(&self) -> bool {
        match self {
            Val::Ref(v) => v.is_array(),
            Val::Own(v) => v.is_array(),
            Val::Filtered(_) => true,
            _ => false,
        }
    }

    fn same_instance(&self, other: &Val<'a>) -> bool {
        match (self, other) {
            (Val::Ref(a), Val::Ref(b)) => std::ptr::eq(*a, *b),
            (Val::Own(a), Val::Own(b)) => Rc::ptr_eq(a, b),
            (Val::Filtered(a), Val::Filtered(b)) => Rc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// GitHub's loose equality.
    fn loose_eq(&self, other: &Val<'a>) -> bool {
        match (self, other) {
            (Val::Null, Val::Null) => true,
            (Val::Bool(a), Val::Bool(b)) => a == b,
            (Val::Num(a), Val::Num(b)) => a == b,
            (Val::Str(a), Val::Str(b)) => cmp_ci(a, b) == Ordering::Equal,
            _ if self.is_composite() && other.is_composite() => self.same_instance(other),
            _ => self.to_num() == other.to_num(),
        }
    }

    /// GitHub's ordering; `None` when incomparable (NaN, arrays, objects).
    fn compare(&self, other: &Val<'a>) -> Option<Ordering> {
        match (self, other) {
            (Val::Null, Val::Null) => Some(Ordering::Equal),
            (Val::Bool(a), Val::Bool(b)) => Some(a.cmp(b)),
            (Val::Num(a), Val::Num(b)) => a.partial_cmp(b),
            (Val::Str(a), Val::Str(b)) => Some(cmp_ci(a, b)),
            _ => self.to_num().partial_cmp(&other.to_num()),
        }
    }
}

/// A number as JSON: integers without a fraction, non-finite as null.
fn num_value(x: f64) -> Value {
    const MAX_SAFE: f64 = 9_007_199_254_740_992.0;
    if x.fract() == 0.0 && x.abs() <= MAX_SAFE {
        // Exact: |x| <= 2^53 and integral.
        #[allow(clippy::cast_possible_truncation)]
        return Value::from(x as i64);
    }
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

// ---------------------------------------------------------------------------
// Lexer.

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Str(String),
    Ident(String),
    Null,
    True,
    False,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Dot,
    Comma,
    Star,
    Not,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
    End,
}

static END: Tok = Tok::End;

fn lex(src: &str) -> Result<Vec<(Tok, usize)>, (usize, String)> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let start = i;
        let next = b.get(i + 1).copied();
        let two = |t: Tok, i: &mut usize| {
            *i += 2;
            t
        };
        let tok = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'(' | b')' | b'[' | b']' | b'.' | b',' | b'*' => {
                i += 1;
                match c {
                    b'(' => Tok::LParen,
                    b')' => Tok::RParen,
                    b'[' => Tok::LBracket,
                    b']' => Tok::RBracket,
                    b'.' => Tok::Dot,
                    b',' => Tok::Comma,
                    _ => Tok::Star,
                }
            }
            b'!' if next == Some(b'=') => two(Tok::Ne, &mut i),
            b'!' => {
                i += 1;
                Tok::Not
            }
            b'<' if next == Some(b'=') => two(Tok::Le, &mut i),
            b'<' => {
                i += 1;
                Tok::Lt
            }
            b'>' if next == Some(b'=') => two(Tok::Ge, &mut i),
            b'>' => {
                i += 1;
                Tok::Gt
            }
            b'=' if next == Some(b'=') => two(Tok::Eq, &mut i),
            b'&' if next == Some(b'&') => two(Tok::And, &mut i),
            b'|' if next == Some(b'|') => two(Tok::Or, &mut i),
            b'=' | b'&' | b'|' => {
                return Err((i, format!("unexpected symbol `{}`", c as char)));
            }
            b'\'' => {
                let mut s = String::new();
                i += 1;
                let mut seg = i;
                loop {
                    match b.get(i) {
                        None => return Err((start, "unterminated string literal".to_string())),
                        Some(b'\'') => {
                            s.push_str(&src[seg..i]);
                            if b.get(i + 1) == Some(&b'\'') {
                                s.push('\'');
                                i += 2;
                                seg = i;
                            } else {
                                i += 1;
                                break;
                            }
                        }
                        Some(_) => i += 1,
                    }
                }
                Tok::Str(s)
            }
            b'0'..=b'9' | b'-' | b'+' => {
                i += 1;
                let hex = matches!(
                    src[start..].trim_start_matches(['-', '+']).get(..2),
                    Some("0x" | "0X")
                );
                while let Some(&d) = b.get(i) {
                    let exp_sign = (d == b'+' || d == b'-')
                        && !hex
                        && matches!(b.get(i - 1), Some(b'e' | b'E'));
                    if d.is_ascii_alphanumeric() || d == b'.' || d == b'_' || exp_sign {
                        i += 1;
                    } else {
                        break;
                    }
                }
                let text = &src[start..i];
                let n = parse_number(text);
                if n.is_nan() {
                    return Err((start, format!("unexpected symbol `{text}`")));
                }
                Tok::Num(n)
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while b
                    .get(i)
                    .is_some_and(|&d| d.is_ascii_alphanumeric() || d == b'_' || d == b'-')
                {
                    i += 1;
                }
                match &src[start..i] {
                    "true" => Tok::True,
                    "false" => Tok::False,
                    "null" => Tok::Null,
                    "NaN" => Tok::Num(f64::NAN),
                    "Infinity" => Tok::Num(f64::INFINITY),
                    w => Tok::Ident(w.to_string()),
                }
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err((i, format!("unexpected character `{ch}`")));
            }
        };
        out.push((tok, start));
    }
    out.push((Tok::End, src.len()));
    Ok(out)
}

// ---------------------------------------------------------------------------
// Parser.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Contains,
    StartsWith,
    EndsWith,
    Format,
    Join,
    ToJson,
    FromJson,
    HashFiles,
    Case,
    Success,
    Failure,
    Always,
    Cancelled,
}

impl Func {
    fn lookup(name: &str) -> Option<Func> {
        Some(match name.to_ascii_lowercase().as_str() {
            "contains" => Func::Contains,
            "startswith" => Func::StartsWith,
            "endswith" => Func::EndsWith,
            "format" => Func::Format,
            "join" => Func::Join,
            "tojson" => Func::ToJson,
            "fromjson" => Func::FromJson,
            "hashfiles" => Func::HashFiles,
            "case" => Func::Case,
            "success" => Func::Success,
            "failure" => Func::Failure,
            "always" => Func::Always,
            "cancelled" => Func::Cancelled,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Func::Contains => "contains",
            Func::StartsWith => "startsWith",
            Func::EndsWith => "endsWith",
            Func::Format => "format",
            Func::Join => "join",
            Func::ToJson => "toJSON",
            Func::FromJson => "fromJSON",
            Func::HashFiles => "hashFiles",
            Func::Case => "case",
            Func::Success => "success",
            Func::Failure => "failure",
            Func::Always => "always",
            Func::Cancelled => "cancelled",
        }
    }

    /// Minimum and maximum argument counts.
    fn arity(self) -> (usize, usize) {
        match self {
            Func::Contains | Func::StartsWith | Func::EndsWith => (2, 2),
            Func::Format | Func::HashFiles => (1, usize::MAX),
            Func::Join => (1, 2),
            Func::ToJson | Func::FromJson => (1, 1),
            Func::Case => (3, usize::MAX),
            Func::Success | Func::Failure | Func::Always | Func::Cancelled => (0, 0),
        }
    }

    fn is_status(self) -> bool {
        matches!(
            self,
            Func::Success | Func::Failure | Func::Always | Func::Cancelled
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone)]
enum Ast {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Context(String),
    Index(Box<Ast>, Box<Ast>),
    Star(Box<Ast>),
    Not(Box<Ast>),
    Cmp(CmpOp, Box<Ast>, Box<Ast>),
    And(Box<Ast>, Box<Ast>),
    Or(Box<Ast>, Box<Ast>),
    Call(Func, Vec<Ast>),
}

impl Ast {
    fn has_status(&self) -> bool {
        match self {
            Ast::Null | Ast::Bool(_) | Ast::Num(_) | Ast::Str(_) | Ast::Context(_) => false,
            Ast::Star(a) | Ast::Not(a) => a.has_status(),
            Ast::Index(a, b) | Ast::Cmp(_, a, b) | Ast::And(a, b) | Ast::Or(a, b) => {
                a.has_status() || b.has_status()
            }
            Ast::Call(f, args) => f.is_status() || args.iter().any(Ast::has_status),
        }
    }
}

/// Context names GitHub knows; others must be present in the contexts map.
const KNOWN_CONTEXTS: &[&str] = &[
    "github", "env", "vars", "secrets", "inputs", "steps", "needs", "runner", "job", "jobs",
    "matrix", "strategy",
];

/// Deepest nesting accepted, to keep recursion bounded.
const MAX_DEPTH: usize = 100;

enum PErr {
    Syntax(usize, String),
    UnknownFunction(String),
    UnknownContext(String),
    Arity(Func, String),
}

struct Parser<'m> {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    depth: usize,
    contexts: &'m Map<String, Value>,
}

fn parse(expr: &str, contexts: &Map<String, Value>) -> Result<Ast, ExprError> {
    let toks = lex(expr).map_err(|(at, reason)| ExprError::Parse {
        expr: expr.to_string(),
        at,
        reason,
    })?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
        contexts,
    };
    let result = p.or().and_then(|ast| {
        if *p.peek() == Tok::End {
            Ok(ast)
        } else {
            Err(PErr::Syntax(p.at(), "unexpected token".to_string()))
        }
    });
    result.map_err(|e| match e {
        PErr::Syntax(at, reason) => ExprError::Parse {
            expr: expr.to_string(),
            at,
            reason,
        },
        PErr::UnknownFunction(name) => ExprError::UnknownFunction {
            expr: expr.to_string(),
            name,
        },
        PErr::UnknownContext(name) => ExprError::UnknownContext {
            expr: expr.to_string(),
            name,
        },
        PErr::Arity(f, reason) => ExprError::WrongArguments {
            expr: expr.to_string(),
            name: f.name().to_string(),
            reason,
        },
    })
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        self.toks.get(self.pos).map_or(&END, |t| &t.0)
    }

    fn at(&self) -> usize {
        self.toks
            .get(self.pos)
            .or(self.toks.last())
            .map_or(0, |t| t.1)
    }

    fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        if t != Tok::End {
            self.pos += 1;
        }
        t
    }

    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == t {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, t: &Tok, what: &str) -> Result<(), PErr> {
        if self.eat(t) {
            Ok(())
        } else {
            Err(PErr::Syntax(self.at(), format!("expected {what}")))
        }
    }

    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, PErr>) -> Result<T, PErr> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(PErr::Syntax(
                self.at(),
                "expression nested too deeply".to_string(),
            ));
        }
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn or(&mut self) -> Result<Ast, PErr> {
        self.nested(|p| {
            let mut left = p.and()?;
            while p.eat(&Tok::Or) {
                let right = p.and()?;
                left = Ast::Or(Box::new(left), Box::new(right));
            }
            Ok(left)
        })
    }

    fn and(&mut self) -> Result<Ast, PErr> {
        let mut left = self.equality()?;
        while self.eat(&Tok::And) {
            let right = self.equality()?;
            left = Ast::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn equality(&mut self) -> Result<Ast, PErr> {
        let mut left = self.comparison()?;
        loop {
            let op = match self.peek() {
                Tok::Eq => CmpOp::Eq,
                Tok::Ne => CmpOp::Ne,
                _ => return Ok(left),
            };
            self.pos += 1;
            let right = self.comparison()?;
            left = Ast::Cmp(op, Box::new(left), Box::new(right));
        }
    }

    fn comparison(&mut self) -> Result<Ast, PErr> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Lt => CmpOp::Lt,
                Tok::Le => CmpOp::Le,
                Tok::Gt => CmpOp::Gt,
                Tok::Ge => CmpOp::Ge,
                _ => return Ok(left),
            };
            self.pos += 1;
            let right = self.unary()?;
            left = Ast::Cmp(op, Box::new(left), Box::new(right));
        }
    }

    fn unary(&mut self) -> Result<Ast, PErr> {
        if self.eat(&Tok::Not) {
            self.nested(|p| Ok(Ast::Not(Box::new(p.unary()?))))
        } else {
            self.postfix()
        }
    }

    fn postfix(&mut self) -> Result<Ast, PErr> {
        let mut e = self.primary()?;
        loop {
            if self.eat(&Tok::Dot) {
                let at = self.at();
                e = match self.bump() {
                    Tok::Star => Ast::Star(Box::new(e)),
                    Tok::Ident(name) => Ast::Index(Box::new(e), Box::new(Ast::Str(name))),
                    Tok::True => Ast::Index(Box::new(e), Box::new(Ast::Str("true".into()))),
                    Tok::False => Ast::Index(Box::new(e), Box::new(Ast::Str("false".into()))),
                    Tok::Null => Ast::Index(Box::new(e), Box::new(Ast::Str("null".into()))),
                    _ => return Err(PErr::Syntax(at, "expected a property name".to_string())),
                };
            } else if self.eat(&Tok::LBracket) {
                if self.peek() == &Tok::Star
                    && self.toks.get(self.pos + 1).map(|t| &t.0) == Some(&Tok::RBracket)
                {
                    self.pos += 2;
                    e = Ast::Star(Box::new(e));
                } else {
                    let key = self.or()?;
                    self.expect(&Tok::RBracket, "`]`")?;
                    e = Ast::Index(Box::new(e), Box::new(key));
                }
            } else {
                return Ok(e);
            }
        }
    }

    fn primary(&mut self) -> Result<Ast, PErr> {
        let at = self.at();
        match self.bump() {
            Tok::Null => Ok(Ast::Null),
            Tok::True => Ok(Ast::Bool(true)),
            Tok::False => Ok(Ast::Bool(false)),
            Tok::Num(x) => Ok(Ast::Num(x)),
            Tok::Str(s) => Ok(Ast::Str(s)),
            Tok::LParen => {
                let e = self.or()?;
                self.expect(&Tok::RParen, "`)`")?;
                Ok(e)
            }
            Tok::Ident(name) if self.peek() == &Tok::LParen => {
                self.pos += 1;
                let func = Func::lookup(&name).ok_or(PErr::UnknownFunction(name))?;
                let mut args = Vec::new();
                if !self.eat(&Tok::RParen) {
                    loop {
                        args.push(self.or()?);
                        if self.eat(&Tok::Comma) {
                            continue;
                        }
                        self.expect(&Tok::RParen, "`,` or `)`")?;
                        break;
                    }
                }
                let (min, max) = func.arity();
                if args.len() < min || args.len() > max {
                    let want = if min == max {
                        format!("{min}")
                    } else if max == usize::MAX {
                        format!("at least {min}")
                    } else {
                        format!("{min} to {max}")
                    };
                    return Err(PErr::Arity(
                        func,
                        format!("expected {want} arguments, got {}", args.len()),
                    ));
                }
                if func == Func::Case && args.len() % 2 == 0 {
                    return Err(PErr::Arity(
                        func,
                        "expected predicate/value pairs and a default (an odd count)".to_string(),
                    ));
                }
                Ok(Ast::Call(func, args))
            }
            Tok::Ident(name) => {
                let known = KNOWN_CONTEXTS.iter().any(|k| k.eq_ignore_ascii_case(&name));
                if known || get_ci(self.contexts, &name).is_some() {
                    Ok(Ast::Context(name))
                } else {
                    Err(PErr::UnknownContext(name))
                }
            }
            Tok::End => Err(PErr::Syntax(at, "expected an expression".to_string())),
            _ => Err(PErr::Syntax(at, "unexpected token".to_string())),
        }
    }
}

// ---------------------------------------------------------------------------
// Evaluator.

struct Evaluator<'a, 'c> {
    cx: &'c Context<'a>,
    expr: &'c str,
}

impl<'a> Evaluator<'a, '_> {
    fn eval(&self, ast: &Ast) -> Result<Val<'a>, ExprError> {
        Ok(match ast {
            Ast::Null => Val::Null,
            Ast::Bool(b) => Val::Bool(*b),
            Ast::Num(x) => Val::Num(*x),
            Ast::Str(s) => Val::Str(s.clone()),
            Ast::Context(name) => {
                let contexts: &'a Map<String, Value> = self.cx.contexts;
                get_ci(contexts, name).map_or(Val::Null, Val::from_ref)
            }
            Ast::Index(obj, key) => {
                let obj = self.eval(obj)?;
                let key = self.eval(key)?;
                obj.index(&key)
            }
            Ast::Star(obj) => self.eval(obj)?.star(),
            Ast::Not(a) => Val::Bool(!self.eval(a)?.truthy()),
            Ast::And(a, b) => {
                let left = self.eval(a)?;
                if left.truthy() { self.eval(b)? } else { left }
            }
            Ast::Or(a, b) => {
                let left = self.eval(a)?;
                if left.truthy() { left } else { self.eval(b)? }
            }
            Ast::Cmp(op, a, b) => {
                let l = self.eval(a)?;
                let r = self.eval(b)?;
                Val::Bool(match op {
                    CmpOp::Eq => l.loose_eq(&r),
                    CmpOp::Ne => !l.loose_eq(&r),
                    CmpOp::Lt => l.compare(&r) == Some(Ordering::Less),
                    CmpOp::Le => matches!(l.compare(&r), Some(Ordering::Less | Ordering::Equal)),
                    CmpOp::Gt => l.compare(&r) == Some(Ordering::Greater),
                    CmpOp::Ge => {
                        matches!(l.compare(&r), Some(Ordering::Greater | Ordering::Equal))
                    }
                })
            }
            Ast::Call(f, args) => self.call(*f, args)?,
        })
    }

    fn call(&self, f: Func, args: &[Ast]) -> Result<Val<'a>, ExprError> {
        let status = self.cx.status;
        match f {
            Func::Success => return Ok(Val::Bool(status == JobStatus::Success)),
            Func::Failure => return Ok(Val::Bool(status == JobStatus::Failure)),
            Func::Cancelled => return Ok(Val::Bool(status == JobStatus::Cancelled)),
            Func::Always => return Ok(Val::Bool(true)),
            Func::Case => {
                let Some((default, pairs)) = args.split_last() else {
                    return Err(self.wrong(f, "missing default"));
                };
                for pair in pairs.chunks(2) {
                    if let [pred, val] = pair
                        && self.eval(pred)?.truthy()
                    {
                        return self.eval(val);
                    }
                }
                return self.eval(default);
            }
            _ => {}
        }
        let vals = args
            .iter()
            .map(|a| self.eval(a))
            .collect::<Result<Vec<_>, _>>()?;
        match (f, vals.as_slice()) {
            (Func::Contains, [search, item]) => Ok(Val::Bool(if search.is_array() {
                search.children().iter().any(|e| e.loose_eq(item))
            } else if search.is_composite() || item.is_composite() {
                false
            } else {
                search
                    .text()
                    .to_uppercase()
                    .contains(&item.text().to_uppercase())
            })),
            (Func::StartsWith | Func::EndsWith, [s, v]) => {
                if s.is_composite() || v.is_composite() {
                    return Ok(Val::Bool(false));
                }
                let (s, v) = (s.text().to_uppercase(), v.text().to_uppercase());
                Ok(Val::Bool(if f == Func::StartsWith {
                    s.starts_with(&v)
                } else {
                    s.ends_with(&v)
                }))
            }
            (Func::Format, [fmt, rest @ ..]) => Ok(Val::Str(self.format(&fmt.text(), rest)?)),
            (Func::Join, [array, rest @ ..]) => {
                let sep = rest.first().map_or_else(|| ",".to_string(), Val::text);
                Ok(Val::Str(if array.is_array() {
                    array
                        .children()
                        .iter()
                        .map(Val::text)
                        .collect::<Vec<_>>()
                        .join(&sep)
                } else if array.is_composite() {
                    String::new()
                } else {
                    array.text()
                }))
            }
            (Func::ToJson, [v]) => Ok(Val::Str(
                serde_json::to_string_pretty(&v.to_value()).unwrap_or_default(),
            )),
            (Func::FromJson, [v]) => serde_json::from_str::<Value>(v.text().trim())
                .map(Val::from_owned)
                .map_err(|e| ExprError::FromJson {
                    expr: self.expr.to_string(),
                    reason: e.to_string(),
                }),
            (Func::HashFiles, patterns) => {
                let patterns: Vec<String> = patterns.iter().map(Val::text).collect();
                hash_files(self.cx.workspace, &patterns)
                    .map(Val::Str)
                    .map_err(|reason| ExprError::HashFiles {
                        expr: self.expr.to_string(),
                        reason,
                    })
            }
            _ => Err(self.wrong(f, "wrong number of arguments")),
        }
    }

    fn wrong(&self, f: Func, reason: &str) -> ExprError {
        ExprError::WrongArguments {
            expr: self.expr.to_string(),
            name: f.name().to_string(),
            reason: reason.to_string(),
        }
    }

    fn format(&self, fmt: &str, args: &[Val<'a>]) -> Result<String, ExprError> {
        let err = |reason: String| ExprError::Format {
            expr: self.expr.to_string(),
            reason,
        };
        let mut out = String::with_capacity(fmt.len());
        let mut chars = fmt.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|p| p.1) == Some('{') => {
                    chars.next();
                    out.push('{');
                }
                '}' if chars.peek().map(|p| p.1) == Some('}') => {
                    chars.next();
                    out.push('}');
                }
                '{' => {
                    let mut index = String::new();
                    let mut closed = false;
                    for (_, d) in chars.by_ref() {
                        if d == '}' {
                            closed = true;
                            break;
                        }
                        index.push(d);
                    }
                    if !closed {
                        return Err(err(format!("unclosed `{{` at offset {at}")));
                    }
                    if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(err(format!("invalid placeholder `{{{index}}}`")));
                    }
                    let arg = index.parse::<usize>().ok().and_then(|n| args.get(n));
                    let Some(arg) = arg else {
                        return Err(err(format!(
                            "placeholder `{{{index}}}` has no argument ({} given)",
                            args.len()
                        )));
                    };
                    out.push_str(&arg.text());
                }
                '}' => return Err(err(format!("unmatched `}}` at offset {at}"))),
                _ => out.push(c),
            }
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------
// hashFiles().

/// One glob pattern, as path segments relative to the workspace.
struct Pattern {
    negate: bool,
    segs: Vec<String>,
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '[', '\\'])
}

impl Pattern {
    /// Parses one pattern line; `None` when it points outside the workspace.
    fn parse(line: &str, workspace: &Path) -> Option<Pattern> {
        let mut s = line;
        let mut negate = false;
        while let Some(rest) = s.strip_prefix('!') {
            negate = !negate;
            s = rest;
        }
        let ws = workspace.to_string_lossy();
        let ws = ws.trim_end_matches('/');
        if !ws.is_empty()
            && let Some(rest) = s.strip_prefix(ws)
            && (rest.is_empty() || rest.starts_with('/'))
        {
            s = rest;
        }
        let mut segs: Vec<String> = Vec::new();
        for seg in s.split('/') {
            match seg {
                "" | "." => {}
                ".." => match segs.last() {
                    Some(last) if !has_glob(last) => {
                        segs.pop();
                    }
                    _ => return None,
                },
                "**" if segs.last().is_some_and(|l| l == "**") => {}
                _ => segs.push(seg.to_string()),
            }
        }
        Some(Pattern { negate, segs })
    }

    /// Whether the path or one of its ancestors matches (a matched directory
    /// takes in everything under it).
    fn matches(&self, comps: &[String]) -> bool {
        (0..=comps.len()).any(|k| match_segs(&self.segs, &comps[..k]))
    }
}

fn match_segs(pat: &[String], comps: &[String]) -> bool {
    match pat.split_first() {
        None => comps.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=comps.len()).any(|k| match_segs(rest, &comps[k..]))
        }
        Some((first, rest)) => comps.split_first().is_some_and(|(c, cr)| {
            let p: Vec<char> = first.chars().collect();
            let n: Vec<char> = c.chars().collect();
            match_chars(&p, &n) && match_segs(rest, cr)
        }),
    }
}

/// Glob matching within one path segment: `*`, `?`, `[...]`, `\` escapes.
fn match_chars(p: &[char], n: &[char]) -> bool {
    match p.split_first() {
        None => n.is_empty(),
        Some(('*', rest)) => (0..=n.len()).any(|k| match_chars(rest, &n[k..])),
        Some(('?', rest)) => n.split_first().is_some_and(|(_, nr)| match_chars(rest, nr)),
        Some(('[', rest)) => match parse_class(rest) {
            Some((negated, ranges, used)) => n.split_first().is_some_and(|(c, nr)| {
                let inside = ranges.iter().any(|&(lo, hi)| lo <= *c && *c <= hi);
                inside != negated && match_chars(&rest[used..], nr)
            }),
            None => n
                .split_first()
                .is_some_and(|(c, nr)| *c == '[' && match_chars(rest, nr)),
        },
        Some(('\\', rest)) if !rest.is_empty() => match (rest.split_first(), n.split_first()) {
            (Some((pc, pr)), Some((c, nr))) => pc == c && match_chars(pr, nr),
            _ => false,
        },
        Some((pc, rest)) => n
            .split_first()
            .is_some_and(|(c, nr)| c == pc && match_chars(rest, nr)),
    }
}

/// Parses a character class after `[`: (negated, ranges, chars used incl. `]`).
type Class = (bool, Vec<(char, char)>, usize);

fn parse_class(p: &[char]) -> Option<Class> {
    let negated = matches!(p.first(), Some('!' | '^'));
    let mut i = usize::from(negated);
    let mut ranges = Vec::new();
    let mut first = true;
    while let Some(&c) = p.get(i) {
        if c == ']' && !first {
            return Some((negated, ranges, i + 1));
        }
        first = false;
        match (p.get(i + 1), p.get(i + 2)) {
            (Some('-'), Some(&hi)) if hi != ']' => {
                ranges.push((c, hi));
                i += 3;
            }
            _ => {
                ranges.push((c, c));
                i += 1;
            }
        }
    }
    None
}

fn walk(
    dir: &Path,
    rel: &mut Vec<String>,
    out: &mut BTreeMap<Vec<String>, PathBuf>,
) -> Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        let path = entry.path();
        let ft = entry
            .file_type()
            .map_err(|e| format!("cannot stat {}: {e}", path.display()))?;
        rel.push(entry.file_name().to_string_lossy().into_owned());
        if ft.is_dir() {
            walk(&path, rel, out)?;
        } else {
            out.insert(rel.clone(), path);
        }
        rel.pop();
    }
    Ok(())
}

/// GitHub's hashFiles(): the SHA-256 of the concatenated SHA-256 digests of
/// every matched file, in path order; `""` when nothing matches.
fn hash_files(workspace: &Path, args: &[String]) -> Result<String, String> {
    let patterns: Vec<Pattern> = args
        .iter()
        .flat_map(|a| a.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| Pattern::parse(l, workspace))
        .collect();
    // Walk only below the literal leading directories of the include patterns.
    let mut roots: BTreeSet<Vec<String>> = BTreeSet::new();
    for p in patterns.iter().filter(|p| !p.negate) {
        let dirs = p.segs.len().saturating_sub(1);
        let root: Vec<String> = p
            .segs
            .iter()
            .take(dirs)
            .take_while(|s| !has_glob(s))
            .cloned()
            .collect();
        roots.insert(root);
    }
    let mut files = BTreeMap::new();
    for root in &roots {
        if (1..root.len()).any(|k| roots.contains(&root[..k]))
            || (!root.is_empty() && roots.contains(&Vec::new()))
        {
            continue;
        }
        let dir = root.iter().fold(workspace.to_path_buf(), |d, s| d.join(s));
        if fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
            walk(&dir, &mut root.clone(), &mut files)?;
        }
    }
    let mut outer = Sha256::new();
    let mut count = 0usize;
    for (comps, path) in &files {
        let mut included = false;
        for p in &patterns {
            if p.matches(comps) {
                included = !p.negate;
            }
        }
        if !included {
            continue;
        }
        let meta =
            fs::metadata(path).map_err(|e| format!("cannot stat {}: {e}", path.display()))?;
        if meta.is_dir() {
            continue;
        }
        let mut file =
            fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let mut inner = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            if n == 0 {
                break;
            }
            inner.update(&buf[..n]);
        }
        outer.update(inner.finalize());
        count += 1;
    }
    if count == 0 {
        return Ok(String::new());
    }
    Ok(hex(&outer.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn contexts() -> Map<String, Value> {
        let v = json!({
            "github": {
                "event_name": "push",
                "ref": "refs/heads/main",
                "event": {"issue": {"labels": [{"name": "bug"}, {"name": "help wanted"}]}}
            },
            "env": {"Greeting": "Hello", "NUM": "42", "EMPTY": ""},
            "matrix": {"os": "ubuntu-latest", "node": 18, "list": [1, 2, 3], "nested": [[1, 2], [3]]},
            "steps": {"build": {"outputs": {"result": "ok"}, "conclusion": "success"}},
            "vars": {"fruits": [
                {"name": "apple", "quantity": 1},
                {"name": "orange", "quantity": 2},
                {"name": "pear", "quantity": 1}
            ]}
        });
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn with<T>(status: JobStatus, ws: &Path, f: impl FnOnce(&Context<'_>) -> T) -> T {
        let m = contexts();
        let cx = Context {
            contexts: &m,
            status,
            workspace: ws,
        };
        f(&cx)
    }

    /// Random text made of the language's own pieces (and some that are
    /// not), multi-byte characters included: every entry point answers,
    /// none panics, however broken the input.
    #[test]
    fn random_input_never_panics() {
        const PIECES: &[&str] = &[
            "${{",
            "}}",
            "(",
            ")",
            "[",
            "]",
            ".",
            "*",
            "!",
            "==",
            "!=",
            "<",
            "<=",
            ">",
            ">=",
            "&&",
            "||",
            ",",
            "'",
            "''",
            "'é'",
            "0x1F",
            "1e3",
            "-2.5",
            "null",
            "true",
            "false",
            "github",
            "env",
            "matrix",
            "steps",
            "vars",
            "Greeting",
            "contains(",
            "format(",
            "'{0}{{'",
            "fromJSON(",
            "toJSON(",
            "join(",
            "hashFiles(",
            "success()",
            "always()",
            "case(",
            " ",
            "ü",
            "日本",
            "\n",
            "{",
            "}",
            "$",
            "NaN",
            "Infinity",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let ws = Path::new("/nonexistent");
        for _ in 0..20_000 {
            let len = next() % 12;
            let text: String = (0..len)
                .map(|_| PIECES[usize::try_from(next() % PIECES.len() as u64).unwrap_or(0)])
                .collect();
            with(JobStatus::Success, ws, |cx| {
                let _ = evaluate(&text, cx);
                let _ = interpolate(&text, cx);
                let _ = condition(&text, cx);
            });
        }
    }

    fn ev(e: &str) -> Value {
        with(JobStatus::Success, Path::new("/nonexistent"), |cx| {
            evaluate(e, cx).unwrap_or_else(|err| panic!("{e}: {err}"))
        })
    }

    fn ev_err(e: &str) -> ExprError {
        with(JobStatus::Success, Path::new("/nonexistent"), |cx| {
            evaluate(e, cx).expect_err(e)
        })
    }

    fn cond(e: &str, status: JobStatus) -> bool {
        with(status, Path::new("/nonexistent"), |cx| {
            condition(e, cx).unwrap()
        })
    }

    #[test]
    fn literals() {
        assert_eq!(ev("null"), Value::Null);
        assert_eq!(ev("true"), json!(true));
        assert_eq!(ev("false"), json!(false));
        assert_eq!(ev("711"), json!(711));
        assert_eq!(ev("-9.2"), json!(-9.2));
        assert_eq!(ev("0xff"), json!(255));
        assert_eq!(ev("-2.99e-2"), json!(-0.0299));
        assert_eq!(ev("1e3"), json!(1000));
        assert_eq!(ev("'It''s open source!'"), json!("It's open source!"));
        assert_eq!(ev("''"), json!(""));
    }

    #[test]
    fn precedence_and_logic() {
        assert_eq!(ev("true || false && false"), json!(true));
        assert_eq!(ev("(true || false) && false"), json!(false));
        assert_eq!(ev("!false == true"), json!(true));
        assert_eq!(ev("1 < 2 == 2 > 1"), json!(true));
        assert_eq!(ev("!(1 == 1)"), json!(false));
        // && and || return the deciding operand.
        assert_eq!(ev("'a' && 'b'"), json!("b"));
        assert_eq!(ev("'' && 'b'"), json!(""));
        assert_eq!(ev("null || 'fallback'"), json!("fallback"));
        assert_eq!(ev("0 || 5"), json!(5));
        assert_eq!(
            ev("github.ref == 'refs/heads/main' && 'prod' || 'dev'"),
            json!("prod")
        );
    }

    #[test]
    fn coercions() {
        assert_eq!(ev("1 == '1'"), json!(true));
        assert_eq!(ev("null == 0"), json!(true));
        assert_eq!(ev("'abc' == 'ABC'"), json!(true));
        assert_eq!(ev("'' == 0"), json!(true));
        assert_eq!(ev("true == 1"), json!(true));
        assert_eq!(ev("false == ''"), json!(true));
        assert_eq!(ev("'0x10' == 16"), json!(true));
        assert_eq!(ev("'abc' == 0"), json!(false));
        assert_eq!(ev("NaN == NaN"), json!(false));
        assert_eq!(ev("'abc' < 1"), json!(false));
        assert_eq!(ev("'abc' >= 1"), json!(false));
        assert_eq!(ev("'a' < 'B'"), json!(true));
        assert_eq!(ev("'B' > 'a'"), json!(true));
        assert_eq!(ev("'2' > 10"), json!(false));
        assert_eq!(ev("null <= null"), json!(true));
        assert_eq!(ev("matrix.list == matrix.list"), json!(true));
        assert_eq!(ev("matrix.list == fromJSON('[1,2,3]')"), json!(false));
        assert_eq!(ev("matrix.list != 0"), json!(true));
        assert_eq!(ev("env.NUM == 42"), json!(true));
    }

    #[test]
    fn properties() {
        assert_eq!(ev("github.event_name"), json!("push"));
        assert_eq!(ev("GITHUB.Event_Name"), json!("push"));
        assert_eq!(ev("env.greeting"), json!("Hello"));
        assert_eq!(ev("env['GREETING']"), json!("Hello"));
        assert_eq!(ev("matrix.list[1]"), json!(2));
        assert_eq!(ev("matrix.list[7]"), Value::Null);
        assert_eq!(ev("github.nope.deeper"), Value::Null);
        assert_eq!(ev("inputs.missing"), Value::Null);
        assert_eq!(ev("steps.build.outputs.result"), json!("ok"));
        assert_eq!(ev("matrix.node"), json!(18));
        assert!(matches!(
            ev_err("bogus.x"),
            ExprError::UnknownContext { .. }
        ));
    }

    #[test]
    fn object_filters() {
        assert_eq!(ev("vars.fruits.*.name"), json!(["apple", "orange", "pear"]));
        assert_eq!(
            ev("github.event.issue.labels.*.name"),
            json!(["bug", "help wanted"])
        );
        assert_eq!(ev("matrix.nested.*.*"), json!([1, 2, 3]));
        assert_eq!(ev("vars.fruits[*].quantity"), json!([1, 2, 1]));
        assert_eq!(ev("contains(vars.fruits.*.name, 'PEAR')"), json!(true));
    }

    #[test]
    fn functions() {
        assert_eq!(ev("contains('Hello world', 'LLO')"), json!(true));
        assert_eq!(ev("contains('Hello world', 'xyz')"), json!(false));
        assert_eq!(
            ev("contains(fromJSON('[\"push\", \"pull_request\"]'), github.event_name)"),
            json!(true)
        );
        assert_eq!(ev("contains(matrix.list, '2')"), json!(true));
        assert_eq!(ev("startsWith('Hello world', 'he')"), json!(true));
        assert_eq!(ev("STARTSWITH('Hello world', 'wo')"), json!(false));
        assert_eq!(ev("endsWith('Hello world', 'LD')"), json!(true));
        assert_eq!(
            ev("format('Hello {0} {1} {2}', 'Mona', 'the', 'Octocat')"),
            json!("Hello Mona the Octocat")
        );
        assert_eq!(
            ev("format('{{Hello {0} {1} {2}!}}', 'Mona', 'the', 'Octocat')"),
            json!("{Hello Mona the Octocat!}")
        );
        assert_eq!(ev("format('{0}{0}-{1}', 1.5, null)"), json!("1.51.5-"));
        assert_eq!(ev("join(matrix.list)"), json!("1,2,3"));
        assert_eq!(
            ev("join(github.event.issue.labels.*.name, ', ')"),
            json!("bug, help wanted")
        );
        assert_eq!(ev("join('abc', '-')"), json!("abc"));
        assert_eq!(ev("toJSON(matrix.list)"), json!("[\n  1,\n  2,\n  3\n]"));
        assert_eq!(ev("toJSON('a')"), json!("\"a\""));
        assert_eq!(ev("fromJSON('{\"a\": [1, true]}').a[1]"), json!(true));
        assert_eq!(ev("fromJSON('3') == 3"), json!(true));
        assert_eq!(ev("case(false, 'a', 1 == 1, 'b', 'c')"), json!("b"));
        assert_eq!(ev("case(false, 'a', 'c')"), json!("c"));
        assert_eq!(
            ev("success() && !failure() && always() && !cancelled()"),
            json!(true)
        );
    }

    #[test]
    fn function_errors() {
        assert!(matches!(
            ev_err("nope(1)"),
            ExprError::UnknownFunction { .. }
        ));
        assert!(matches!(
            ev_err("contains('a')"),
            ExprError::WrongArguments { .. }
        ));
        assert!(matches!(
            ev_err("success(1)"),
            ExprError::WrongArguments { .. }
        ));
        assert!(matches!(
            ev_err("case(true, 1)"),
            ExprError::WrongArguments { .. }
        ));
        assert!(matches!(
            ev_err("format('{1}', 'a')"),
            ExprError::Format { .. }
        ));
        assert!(matches!(
            ev_err("format('{x}', 'a')"),
            ExprError::Format { .. }
        ));
        assert!(matches!(ev_err("format('a}b')"), ExprError::Format { .. }));
        assert!(matches!(
            ev_err("format('{0', 'a')"),
            ExprError::Format { .. }
        ));
        assert!(matches!(
            ev_err("fromJSON('{')"),
            ExprError::FromJson { .. }
        ));
        let msg = ev_err("format('{3}', 'a')").to_string();
        assert!(msg.contains("format('{3}', 'a')"), "{msg}");
    }

    #[test]
    fn parse_errors() {
        for bad in [
            "",
            "1 ==",
            "(1",
            "'open",
            "a = b",
            "\"double\"",
            "1 2",
            "github.",
            "matrix.list[0",
            "&& true",
            "-",
            "1 & 2",
        ] {
            assert!(
                matches!(ev_err(bad), ExprError::Parse { .. }),
                "{bad:?} should not parse"
            );
        }
        let deep = format!("{}1{}", "(".repeat(500), ")".repeat(500));
        assert!(matches!(ev_err(&deep), ExprError::Parse { .. }));
    }

    #[test]
    fn text_and_truthiness() {
        assert_eq!(to_text(&Value::Null), "");
        assert_eq!(to_text(&json!(true)), "true");
        assert_eq!(to_text(&json!(3.0)), "3");
        assert_eq!(to_text(&json!(0.5)), "0.5");
        assert_eq!(to_text(&json!(1e21)), "1e+21");
        assert_eq!(to_text(&json!("s")), "s");
        assert_eq!(to_text(&json!({"a": 1})), "{\n  \"a\": 1\n}");
        assert!(!truthy(&json!(0)));
        assert!(!truthy(&json!(-0.0)));
        assert!(!truthy(&json!("")));
        assert!(!truthy(&Value::Null));
        assert!(truthy(&json!("false")));
        assert!(truthy(&json!([])));
        assert!(truthy(&json!({})));
    }

    #[test]
    fn conditions() {
        use JobStatus::{Cancelled, Failure, Success};
        assert!(cond("github.event_name == 'push'", Success));
        assert!(!cond("github.event_name == 'push'", Failure));
        assert!(cond("${{ github.event_name == 'push' }}", Success));
        assert!(!cond("${{ github.event_name == 'pull_request' }}", Success));
        assert!(cond("always()", Failure));
        assert!(cond("always() && true", Cancelled));
        assert!(cond("${{ failure() }}", Failure));
        assert!(!cond("failure()", Success));
        assert!(cond(
            "failure() && steps.build.conclusion == 'success'",
            Failure
        ));
        assert!(cond("!cancelled()", Failure));
        assert!(!cond("!cancelled()", Cancelled));
        assert!(cond("cancelled()", Cancelled));
        assert!(cond("", Success));
        assert!(!cond("", Failure));
        assert!(!cond("env.EMPTY", Success));
        // Mixed text and ${{ }} is a non-empty string, hence true.
        assert!(cond("true && ${{ false }}", Success));
        assert!(!cond("true && ${{ false }}", Failure));
    }

    #[test]
    fn interpolation() {
        with(JobStatus::Success, Path::new("/nonexistent"), |cx| {
            assert_eq!(
                interpolate("no markers here", cx).unwrap(),
                "no markers here"
            );
            assert_eq!(
                interpolate(
                    "${{ matrix.os }}/node-${{ matrix.node }}: ${{ env.missing }}!",
                    cx
                )
                .unwrap(),
                "ubuntu-latest/node-18: !"
            );
            assert_eq!(
                interpolate("x${{ format('{{}}') }}y${{ '}}' }}", cx).unwrap(),
                "x{}y}}"
            );
            assert_eq!(interpolate("${{ 1 == 1 }}", cx).unwrap(), "true");
            let err = interpolate("a ${{ matrix.os ", cx).unwrap_err();
            assert!(matches!(err, ExprError::Unterminated { .. }));
            assert!(err.to_string().contains("a ${{ matrix.os "), "{err}");
            assert!(err.to_string().starts_with("unterminated `${{`"), "{err}");
            assert!(interpolate("${{ nope() }}", cx).is_err());
        });
    }

    #[test]
    fn hash_files_in_tempdir() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        fs::create_dir_all(ws.join("src/sub")).unwrap();
        fs::create_dir_all(ws.join("lib/foo")).unwrap();
        fs::write(ws.join("src/a.txt"), "alpha").unwrap();
        fs::write(ws.join("src/sub/b.txt"), "beta").unwrap();
        fs::write(ws.join("src/c.rs"), "fn main() {}").unwrap();
        fs::write(ws.join("lib/x.rb"), "x").unwrap();
        fs::write(ws.join("lib/foo/y.rb"), "y").unwrap();

        let digest = |data: &[u8]| {
            let mut s = Sha256::new();
            s.update(data);
            s.finalize()
        };
        let combine = |parts: &[&[u8]]| {
            let mut outer = Sha256::new();
            for p in parts {
                outer.update(digest(p));
            }
            hex(&outer.finalize())
        };
        let run = |e: &str| {
            with(JobStatus::Success, ws, |cx| {
                evaluate(e, cx).unwrap_or_else(|err| panic!("{e}: {err}"))
            })
        };

        let all_txt = run("hashFiles('**/*.txt')");
        assert_eq!(all_txt, json!(combine(&[b"alpha", b"beta"])));
        assert_eq!(run("hashFiles('**/*.txt')"), all_txt);
        assert_eq!(run("hashFiles('src/*.txt')"), json!(combine(&[b"alpha"])));
        assert_eq!(run("hashFiles('/src/*.txt')"), json!(combine(&[b"alpha"])));
        assert_eq!(
            run("hashFiles('**/*.txt', '!src/sub/**')"),
            json!(combine(&[b"alpha"]))
        );
        assert_eq!(
            run("hashFiles('/lib/**/*.rb', '!/lib/foo/*.rb')"),
            json!(combine(&[b"x"]))
        );
        // A directory takes in everything under it, in path order.
        assert_eq!(
            run("hashFiles('src')"),
            json!(combine(&[b"alpha", b"fn main() {}", b"beta"]))
        );
        assert_eq!(run("hashFiles('**/*.nothing')"), json!(""));
        assert_eq!(run("hashFiles('../**')"), json!(""));
        let abs = format!("hashFiles('{}/src/a.txt')", ws.display());
        assert_eq!(run(&abs), json!(combine(&[b"alpha"])));
    }

    #[test]
    fn glob_segments() {
        let m = |p: &str, n: &str| {
            let p: Vec<char> = p.chars().collect();
            let n: Vec<char> = n.chars().collect();
            match_chars(&p, &n)
        };
        assert!(m("*.rs", "main.rs"));
        assert!(!m("*.rs", "main.rc"));
        assert!(m("a?c", "abc"));
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[!a-c]x", "bx"));
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
    }
}
