//! FAST_REGEX_LOG_PARSE's patterns: the automaton syntax its page tabulates, cut into
//! expressions matched in turn without backtracking.

use std::borrow::Cow;

use regex::Regex;

/// FAST_REGEX_LOG_PARSE's pattern, as its page describes it: the pattern (in the automaton
/// syntax the page tabulates: `@`, `#`, `"text"`, `<Digit>`, ...) is cut into one expression per
/// top-level group and one per run outside groups; a fixed-length start of each expression is
/// moved to the end of the one before (an expression that is all fixed length is merged into
/// it); the expressions are then matched in turn without backtracking. One that ends in such a
/// moved delimiter stops at its first match ("lazy"); one that does not takes what it can; the
/// last must reach the line's end.
///
/// The page's examples A, B and C come out as printed. Its first example prints
/// `a_little_lamb` for COLUMN2 of `(.*)_(._.*)_.*`, which the `_` the pattern needs after the
/// group rules out; this gives `a_little`, as any regular-expression reading of it does.
#[derive(Debug)]
pub(super) struct FastRegex {
    pub(super) groups: usize,
    segments: Vec<Segment>,
}

/// The top-level group a piece of a line belongs to (its column), if any.
type Owner = Option<usize>;

/// A segment being assembled: its core nodes, then the fixed-length nodes moved onto its end.
struct Pending {
    core: Vec<Node>,
    owner: Owner,
    tail: Vec<(Node, Owner)>,
}

/// One expression to match: a core owned by a group (or none), then fixed-length pieces moved
/// from the expressions after it, each with its owner and length in characters.
#[derive(Debug)]
struct Segment {
    regex: Regex,
    lazy: bool,
    core_owner: Owner,
    tail: Vec<(usize, Owner)>,
}

/// A node of the automaton syntax.
#[derive(Debug, Clone)]
enum Node {
    /// Literal characters.
    Text(String),
    /// One character: a class, `.`, or a named pattern.
    Char(String),
    /// `@`: any string.
    AnyString,
    /// `#`: the empty language.
    Nothing,
    /// `( ... )` below the top level: precedence only.
    Paren(Box<Node>),
    Concat(Vec<Node>),
    Union(Vec<Node>),
    Repeat(Box<Node>, u32, Option<u32>),
}

impl Node {
    fn fixed_len(&self) -> Option<usize> {
        match self {
            Node::Text(text) => Some(text.chars().count()),
            Node::Char(_) => Some(1),
            Node::AnyString => None,
            Node::Nothing => Some(0),
            Node::Paren(inner) => inner.fixed_len(),
            Node::Concat(nodes) => nodes.iter().map(Node::fixed_len).sum(),
            Node::Union(nodes) => {
                let first = nodes.first()?.fixed_len()?;
                nodes
                    .iter()
                    .all(|n| n.fixed_len() == Some(first))
                    .then_some(first)
            }
            Node::Repeat(inner, min, max) => {
                (Some(*min) == *max).then_some(inner.fixed_len()? * *min as usize)
            }
        }
    }

    fn regex(&self, out: &mut String) {
        match self {
            Node::Text(text) => out.push_str(&regex::escape(text)),
            Node::Char(class) => out.push_str(class),
            Node::AnyString => out.push_str("(?s:.*)"),
            // Never matches: a word boundary and a non-boundary at once.
            Node::Nothing => out.push_str(r"(?:\b\B)"),
            Node::Paren(inner) => {
                out.push_str("(?:");
                inner.regex(out);
                out.push(')');
            }
            Node::Concat(nodes) => nodes.iter().for_each(|n| n.regex(out)),
            Node::Union(nodes) => {
                out.push_str("(?:");
                for (i, node) in nodes.iter().enumerate() {
                    if i > 0 {
                        out.push('|');
                    }
                    node.regex(out);
                }
                out.push(')');
            }
            Node::Repeat(inner, min, max) => {
                out.push_str("(?:");
                inner.regex(out);
                out.push(')');
                match max {
                    Some(max) => out.push_str(&format!("{{{min},{max}}}")),
                    None => out.push_str(&format!("{{{min},}}")),
                }
            }
        }
    }
}

impl FastRegex {
    pub(super) fn compile(pattern: &str) -> Result<FastRegex, String> {
        let mut parser = FastParser {
            chars: pattern.chars().collect(),
            at: 0,
        };
        let top = parser.union()?;
        if parser.at < parser.chars.len() {
            return Err(format!(
                "unexpected '{}' at position {}",
                parser.chars[parser.at], parser.at
            ));
        }
        let items = match top {
            Node::Concat(nodes) => nodes,
            node => vec![node],
        };
        // Expressions: each top-level group alone, each run between groups together.
        let mut expressions: Vec<(Owner, Vec<Node>)> = Vec::new();
        let mut groups = 0;
        for item in items {
            match item {
                Node::Paren(inner) => {
                    let nodes = match *inner {
                        Node::Concat(nodes) => nodes,
                        node => vec![node],
                    };
                    expressions.push((Some(groups), nodes));
                    groups += 1;
                }
                Node::Repeat(inner, ..) if matches!(*inner, Node::Paren(_)) => {
                    return Err("a top-level group cannot be repeated: it is a column".into());
                }
                node => match expressions.last_mut() {
                    Some((None, nodes)) => nodes.push(node),
                    _ => expressions.push((None, vec![node])),
                },
            }
        }
        if groups == 0 {
            return Err("it has no top-level groups, so there are no columns to return".into());
        }
        let mut pending: Vec<Pending> = Vec::new();
        for (owner, nodes) in expressions {
            let (prefix, rest) = fixed_prefix(nodes);
            match pending.last_mut() {
                Some(before) => {
                    before.tail.extend(prefix.into_iter().map(|n| (n, owner)));
                    if !rest.is_empty() {
                        pending.push(Pending {
                            core: rest,
                            owner,
                            tail: Vec::new(),
                        });
                    }
                }
                None => {
                    let mut core = prefix;
                    core.extend(rest);
                    pending.push(Pending {
                        core,
                        owner,
                        tail: Vec::new(),
                    });
                }
            }
        }
        let last = pending.len() - 1;
        let mut segments = Vec::with_capacity(pending.len());
        for (i, Pending { core, owner, tail }) in pending.into_iter().enumerate() {
            let mut regex = String::from(r"\A(?:");
            core.iter().for_each(|n| n.regex(&mut regex));
            tail.iter().for_each(|(n, _)| n.regex(&mut regex));
            regex.push(')');
            if i == last {
                regex.push_str(r"\z");
            }
            let regex = Regex::new(&regex).map_err(|e| e.to_string())?;
            let tail: Vec<(usize, Owner)> = tail
                .iter()
                .map(|(n, owner)| (n.fixed_len().unwrap_or(0), *owner))
                .collect();
            segments.push(Segment {
                regex,
                lazy: !tail.is_empty(),
                core_owner: owner,
                tail,
            });
        }
        Ok(FastRegex { groups, segments })
    }

    pub(super) fn split<'a>(&self, line: &'a str, fields: &mut Vec<Option<Cow<'a, str>>>) -> bool {
        let mut spans: Vec<Option<(usize, usize)>> = vec![None; self.groups];
        let mut own = |owner: Owner, from: usize, to: usize| {
            if let Some(span) = owner.and_then(|g| spans.get_mut(g)) {
                *span = Some(span.map_or((from, to), |(start, _)| (start, to)));
            }
        };
        let mut at = 0;
        let last = self.segments.len().saturating_sub(1);
        for (i, segment) in self.segments.iter().enumerate() {
            let rest = &line[at..];
            let end = if i == last || !segment.lazy {
                segment.regex.find(rest).map(|m| m.end())
            } else {
                segment.regex.shortest_match(rest)
            };
            let Some(end) = end else {
                return false;
            };
            let tail_chars: usize = segment.tail.iter().map(|(n, _)| n).sum();
            let matched = &rest[..end];
            let core_end = if tail_chars == 0 {
                end
            } else {
                match matched.char_indices().rev().nth(tail_chars - 1) {
                    Some((byte, _)) => byte,
                    None => 0,
                }
            };
            own(segment.core_owner, at, at + core_end);
            let mut piece = at + core_end;
            for (chars, owner) in &segment.tail {
                let len: usize = line[piece..].chars().take(*chars).map(char::len_utf8).sum();
                own(*owner, piece, piece + len);
                piece += len;
            }
            at += end;
        }
        fields.extend(
            spans
                .into_iter()
                .map(|span| Some(Cow::Borrowed(span.map_or("", |(from, to)| &line[from..to])))),
        );
        true
    }
}

/// An expression's fixed-length start and the rest; `x+` counts as `x x*` and `x{n,m}` as n
/// x's then `x{0,m-n}`, as the page treats `_+`.
fn fixed_prefix(nodes: Vec<Node>) -> (Vec<Node>, Vec<Node>) {
    let mut prefix = Vec::new();
    let mut rest = Vec::new();
    let mut nodes = nodes.into_iter();
    for node in nodes.by_ref() {
        if node.fixed_len().is_some() {
            prefix.push(node);
            continue;
        }
        match node {
            Node::Repeat(inner, min, max) if min > 0 && inner.fixed_len().is_some() => {
                prefix.extend(std::iter::repeat_n((*inner).clone(), min as usize));
                rest.push(Node::Repeat(inner, 0, max.map(|m| m - min)));
            }
            node => rest.push(node),
        }
        break;
    }
    rest.extend(nodes);
    (prefix, rest)
}

/// A recursive-descent reader of the automaton syntax FAST_REGEX_LOG_PARSE's page tabulates.
struct FastParser {
    chars: Vec<char>,
    at: usize,
}

impl FastParser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        let found = self.peek() == Some(c);
        if found {
            self.at += 1;
        }
        found
    }

    fn union(&mut self) -> Result<Node, String> {
        let mut alternatives = vec![self.concat()?];
        while self.eat('|') {
            alternatives.push(self.concat()?);
        }
        Ok(if alternatives.len() == 1 {
            alternatives.remove(0)
        } else {
            Node::Union(alternatives)
        })
    }

    fn concat(&mut self) -> Result<Node, String> {
        let mut nodes = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                '|' | ')' => break,
                '&' => return Err("intersection (&) is not supported".into()),
                _ => nodes.push(self.repeat()?),
            }
        }
        Ok(if nodes.len() == 1 {
            nodes.remove(0)
        } else {
            Node::Concat(nodes)
        })
    }

    fn repeat(&mut self) -> Result<Node, String> {
        let mut node = self.simple()?;
        loop {
            let (min, max) = match self.peek() {
                Some('?') => (0, Some(1)),
                Some('*') => (0, None),
                Some('+') => (1, None),
                Some('{') => {
                    self.at += 1;
                    let min = self.number()?;
                    let max = if self.eat(',') {
                        if self.peek() == Some('}') {
                            None
                        } else {
                            Some(self.number()?)
                        }
                    } else {
                        Some(min)
                    };
                    if !self.eat('}') {
                        return Err(format!("an unclosed {{ before position {}", self.at));
                    }
                    if max.is_some_and(|max| max < min) {
                        return Err(format!("{{{min},...}} has a maximum below its minimum"));
                    }
                    node = Node::Repeat(Box::new(node), min, max);
                    continue;
                }
                _ => return Ok(node),
            };
            self.at += 1;
            node = Node::Repeat(Box::new(node), min, max);
        }
    }

    fn number(&mut self) -> Result<u32, String> {
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        let digits: String = self.chars[start..self.at].iter().collect();
        digits
            .parse()
            .map_err(|_| format!("a number was expected at position {start}"))
    }

    fn simple(&mut self) -> Result<Node, String> {
        let at = self.at;
        let Some(c) = self.peek() else {
            return Err("the pattern ends where an expression was expected".into());
        };
        self.at += 1;
        Ok(match c {
            '.' => Node::Char("(?s:.)".into()),
            '@' => Node::AnyString,
            '#' => Node::Nothing,
            '"' => {
                let mut text = String::new();
                loop {
                    match self.peek() {
                        Some('"') => {
                            self.at += 1;
                            break;
                        }
                        Some(c) => {
                            text.push(c);
                            self.at += 1;
                        }
                        None => return Err(format!("an unclosed \" at position {at}")),
                    }
                }
                Node::Text(text)
            }
            '(' => {
                if self.eat(')') {
                    Node::Paren(Box::new(Node::Concat(Vec::new())))
                } else {
                    let inner = self.union()?;
                    if !self.eat(')') {
                        return Err(format!("an unclosed ( at position {at}"));
                    }
                    Node::Paren(Box::new(inner))
                }
            }
            '[' => self.class(at)?,
            '<' => {
                let mut name = String::new();
                loop {
                    match self.peek() {
                        Some('>') => {
                            self.at += 1;
                            break;
                        }
                        Some(c) => {
                            name.push(c);
                            self.at += 1;
                        }
                        None => return Err(format!("an unclosed < at position {at}")),
                    }
                }
                named(&name)?
            }
            '~' => return Err("complement (~) is not supported".into()),
            '\\' => match self.peek() {
                Some(c) => {
                    self.at += 1;
                    Node::Text(c.to_string())
                }
                None => return Err("the pattern ends with a lone \\".into()),
            },
            '*' | '+' | '?' | '{' => {
                return Err(format!("'{c}' at position {at} repeats nothing"));
            }
            c => Node::Text(c.to_string()),
        })
    }

    /// `[...]` or `[^...]` of characters and ranges (`a-z`), `\` escaping one.
    fn class(&mut self, at: usize) -> Result<Node, String> {
        let mut class = String::from("[");
        if self.eat('^') {
            class.push('^');
        }
        let mut empty = true;
        loop {
            let c = match self.peek() {
                None => return Err(format!("an unclosed [ at position {at}")),
                Some(']') if !empty => {
                    self.at += 1;
                    break;
                }
                Some('\\') => {
                    self.at += 1;
                    self.peek()
                        .ok_or_else(|| format!("an unclosed [ at position {at}"))?
                }
                Some(c) => c,
            };
            self.at += 1;
            empty = false;
            class.push_str(&regex::escape(&c.to_string()));
            if self.peek() == Some('-') && self.chars.get(self.at + 1).is_some_and(|c| *c != ']') {
                self.at += 1;
                class.push('-');
                let mut end = self.peek().unwrap_or(']');
                if end == '\\' {
                    self.at += 1;
                    end = self.peek().unwrap_or(']');
                }
                self.at += 1;
                class.push_str(&regex::escape(&end.to_string()));
            }
        }
        class.push(']');
        Ok(Node::Char(class))
    }
}

/// The POSIX named patterns the page lists.
fn named(name: &str) -> Result<Node, String> {
    let class = match name {
        "Digit" => "[[:digit:]]",
        "Upper" => "[[:upper:]]",
        "Lower" => "[[:lower:]]",
        "ASCII" => "[[:ascii:]]",
        "Alpha" => "[[:alpha:]]",
        "Alnum" => "[[:alnum:]]",
        "Punct" => "[[:punct:]]",
        "Blank" => "[[:blank:]]",
        "Space" => "[[:space:]]",
        "Cntrl" => "[[:cntrl:]]",
        "XDigit" => "[[:xdigit:]]",
        "Print" | "Graph" => "[[:alnum:][:punct:]]",
        other if other.contains('-') && other.chars().all(|c| c.is_ascii_digit() || c == '-') => {
            return Err(format!("numerical intervals (<{other}>) are not supported"));
        }
        other => return Err(format!("<{other}> is not a named pattern")),
    };
    Ok(Node::Char(class.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast(pattern: &str, line: &str) -> Option<Vec<Option<String>>> {
        let fast = FastRegex::compile(pattern).expect("compiles");
        let mut fields = Vec::new();
        fast.split(line, &mut fields)
            .then(|| fields.into_iter().map(|f| f.map(Cow::into_owned)).collect())
    }

    fn some(values: &[&str]) -> Option<Vec<Option<String>>> {
        Some(values.iter().map(|v| Some(v.to_string())).collect())
    }

    #[test]
    fn fast_regex_follows_the_pages_examples() {
        // Examples B and C: the underscores between the groups belong to neither.
        assert_eq!(
            fast("(.*)_+(.*)", "Mary____had_a_little_lamb"),
            some(&["Mary", "had_a_little_lamb"])
        );
        assert_eq!(
            fast("(.*)_+(<Alpha>.*)", "Mary____had_a_little_lamb"),
            some(&["Mary", "had_a_little_lamb"])
        );
        // Example A: without backtracking the first underscore is spent, so no row.
        assert_eq!(fast("(.*)_+(._.*)", "Mary_had_a_little_lamb"), None);
        // The first example: group 1 runs to the first "_X_".
        assert_eq!(
            fast("(.*)_(._.*)_.*", "Mary_had_a_little_lamb"),
            some(&["Mary_had", "a_little"])
        );
        // Without the final asterisk nothing is left for the last "_.".
        assert_eq!(fast("(.*)_(._.*)_.", "Mary_had_a_little_lamb"), None);
        // Every character must be accounted for.
        assert_eq!(fast("(<Digit>+)-(<Digit>+)", "12-34x"), None);
        assert_eq!(fast("(<Digit>+)-(<Digit>+)", "12-34"), some(&["12", "34"]));
        assert_eq!(
            fast(r#"(@)" -> "([a-z]+)"#, "from -> to"),
            some(&["from", "to"])
        );
    }

    #[test]
    fn fast_regex_refuses_what_it_cannot_run() {
        for (pattern, message) in [
            ("abc", "no top-level groups"),
            ("(a)&(b)", "intersection"),
            ("(<0-255>)", "numerical intervals"),
            ("(a", "unclosed ("),
            ("(a)+", "cannot be repeated"),
            ("(<Nope>)", "not a named pattern"),
        ] {
            let e = FastRegex::compile(pattern).expect_err(pattern);
            assert!(e.contains(message), "{pattern}: {e}");
        }
    }
}
