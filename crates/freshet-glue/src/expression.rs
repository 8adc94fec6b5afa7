//! GetTables' `Expression`: "a regular expression pattern; only tables whose names match it are
//! returned" (AWS's API reference). As in Hive's metastore, whose patterns Glue takes over, a `*`
//! is a wildcard (`sales*`) as well as a regex quantifier (`sales.*`), the whole name must
//! match, and case does not matter (names are stored in lowercase).

use regex::Regex;

use crate::error::{Result, invalid};

pub(crate) struct NameFilter(Regex);

impl NameFilter {
    pub(crate) fn parse(expression: &str) -> Result<NameFilter> {
        let mut pattern = String::with_capacity(expression.len() + 8);
        let mut previous = None;
        for c in expression.chars() {
            // A `*` after anything but `.` (or an escape) is a wildcard: `.*`.
            if c == '*' && !matches!(previous, Some('.') | Some('\\')) {
                pattern.push_str(".*");
            } else {
                pattern.push(c);
            }
            previous = Some(c);
        }
        Regex::new(&format!("(?i)^(?:{pattern})$"))
            .map(NameFilter)
            .map_err(|_| invalid(format!("Invalid Expression: {expression}")))
    }

    pub(crate) fn matches(&self, name: &str) -> bool {
        self.0.is_match(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_regexes_and_alternatives_match_whole_names() {
        let f = NameFilter::parse("sales*").unwrap();
        assert!(f.matches("sales") && f.matches("sales_2024") && !f.matches("old_sales"));
        let f = NameFilter::parse("sales.*|orders").unwrap();
        assert!(f.matches("sales_x") && f.matches("orders") && !f.matches("orders2"));
        assert!(NameFilter::parse("ORDERS").unwrap().matches("orders"));
        assert!(NameFilter::parse("a(").is_err());
    }
}
