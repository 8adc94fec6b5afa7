//! Database and table names as Glue keeps them: "for Hive compatibility, this name is entirely
//! lowercase" (AWS's API reference). Every name a request carries is folded before it is stored
//! or looked up, so `Orders` and `orders` are one table.

use crate::error::{Result, invalid};

/// The model's limit for a NameString.
const MAX_NAME_CHARS: usize = 255;

/// A name folded to lowercase (Java's `toLowerCase`, as Glue's service folds it).
pub(crate) fn fold(name: &str) -> Result<String> {
    // The edge checks the model's constraints first; this guards callers that come in directly.
    let count = name.chars().count();
    if count == 0 || count > MAX_NAME_CHARS {
        return Err(invalid(format!(
            "Name must be 1 to {MAX_NAME_CHARS} characters long."
        )));
    }
    Ok(name.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fold_to_lowercase_and_empty_ones_are_refused() {
        assert_eq!(fold("Sales_DB").unwrap(), "sales_db");
        assert_eq!(fold("ÉTÉ").unwrap(), "été");
        assert!(fold("").is_err());
        assert!(fold(&"x".repeat(256)).is_err());
    }
}
