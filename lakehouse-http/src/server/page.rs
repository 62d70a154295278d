//! Pages of a listing: `?limit=` (default [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]) and
//! `?cursor=` (the `next_cursor` of the page before), over items in name order. A cursor is
//! the last name of the previous page, so a listing that changes between pages neither
//! repeats nor skips the names that stayed.

use serde::Deserialize;

use super::error::{ApiError, ApiResult};

/// Items in a page when the client names no limit.
pub const DEFAULT_LIMIT: usize = 1000;
/// The largest page.
pub const MAX_LIMIT: usize = lakehouse_core::MAX_PAGE;

/// The query of a paged listing: `?limit=&cursor=`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
pub struct PageQuery {
    /// Items in the page (1000 by default, at most 10000).
    #[schemars(range(min = 1, max = MAX_LIMIT))]
    pub limit: Option<usize>,
    /// Where the page starts: the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// One page of `items` (sorted here by `key`) and the cursor of the next page, if any.
pub fn page<T>(
    mut items: Vec<T>,
    key: impl Fn(&T) -> &str,
    q: &PageQuery,
) -> ApiResult<(Vec<T>, Option<String>)> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT}, not {limit}"
        )));
    }
    items.sort_by(|a, b| key(a).cmp(key(b)));
    if let Some(cursor) = &q.cursor {
        items.retain(|item| key(item) > cursor.as_str());
    }
    let next = (items.len() > limit).then(|| key(&items[limit - 1]).to_string());
    items.truncate(limit);
    Ok((items, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_walk_every_name_once_in_order() {
        let names: Vec<String> = (0..25).rev().map(|i| format!("n{i:02}")).collect();
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let q = PageQuery {
                limit: Some(10),
                cursor: cursor.clone(),
            };
            let (items, next) = page(names.clone(), |s| s.as_str(), &q).unwrap();
            seen.extend(items);
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(seen, sorted);
        for bad in [0, MAX_LIMIT + 1] {
            let q = PageQuery {
                limit: Some(bad),
                cursor: None,
            };
            assert!(page(names.clone(), |s| s.as_str(), &q).is_err());
        }
    }
}
