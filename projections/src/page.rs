//! `Page<T>`: one page of a list answer, `{data, page, limit, total, hasMore}`.
//!
//! Pages start at 1; the limit defaults to 20 and is capped at 100 (see API.md). Callers pass
//! what the client sent; [`Paging::new`] normalises it (0 means the default, as the SalesOS
//! dialect expects).

use serde::Serialize;

/// The default page size.
pub const DEFAULT_LIMIT: u32 = 20;
/// The largest page size.
pub const MAX_LIMIT: u32 = 100;

/// One page of rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub data: Vec<T>,
    pub page: u32,
    pub limit: u32,
    /// Rows matching the filter on every page.
    pub total: i64,
    pub has_more: bool,
}

impl<T> Page<T> {
    /// Applies `f` to every row, keeping the paging fields.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            data: self.data.into_iter().map(f).collect(),
            page: self.page,
            limit: self.limit,
            total: self.total,
            has_more: self.has_more,
        }
    }
}

/// A normalised page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Paging {
    pub(crate) page: u32,
    pub(crate) limit: u32,
}

impl Paging {
    pub(crate) fn new(page: u32, limit: u32) -> Self {
        let limit = if limit == 0 {
            DEFAULT_LIMIT
        } else {
            limit.min(MAX_LIMIT)
        };
        Self {
            page: page.max(1),
            limit,
        }
    }

    pub(crate) fn offset(self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.limit)
    }

    pub(crate) fn limit(self) -> i64 {
        i64::from(self.limit)
    }

    /// Wraps the rows of this page with the total count.
    pub(crate) fn page<T>(self, data: Vec<T>, total: i64) -> Page<T> {
        let has_more = self.offset() + (data.len() as i64) < total;
        Page {
            data,
            page: self.page,
            limit: self.limit,
            total,
            has_more,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_means_the_default_and_limits_are_capped() {
        assert_eq!(
            Paging::new(0, 0),
            Paging {
                page: 1,
                limit: DEFAULT_LIMIT
            }
        );
        assert_eq!(
            Paging::new(3, 1000),
            Paging {
                page: 3,
                limit: MAX_LIMIT
            }
        );
        assert_eq!(Paging::new(3, 10).offset(), 20);
    }

    #[test]
    fn has_more_is_true_only_when_rows_remain_after_this_page() {
        let p = Paging::new(1, 2);
        assert!(p.page(vec![1, 2], 3).has_more);
        assert!(!p.page(vec![1, 2], 2).has_more);
        assert!(!Paging::new(5, 2).page(Vec::<u8>::new(), 3).has_more);
    }
}
