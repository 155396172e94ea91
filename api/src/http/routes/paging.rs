//! Paging of every list: `?page=` from 1, `?limit=` 1..=100 (default 20), and the answer
//! envelope `{data, page, limit, total, hasMore}`.

use hookledger_projections::Page;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::http::error::{ApiError, FieldProblem};

/// Paging parameters shared by every list.
#[derive(Debug, Clone, Copy, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// The page, from 1.
    #[param(minimum = 1, maximum = 1_000_000, default = 1)]
    pub page: Option<i64>,
    /// Items per page.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<i64>,
}

impl Paging {
    /// `(page, limit)`, or 422 naming what is out of range.
    pub fn resolve(self) -> Result<(u32, u32), ApiError> {
        let page = self.page.unwrap_or(1);
        let limit = self.limit.unwrap_or(20);
        let mut errors = Vec::new();
        if !(1..=1_000_000).contains(&page) {
            errors.push(FieldProblem::new("page", "must be between 1 and 1000000"));
        }
        if !(1..=100).contains(&limit) {
            errors.push(FieldProblem::new("limit", "must be between 1 and 100"));
        }
        if errors.is_empty() {
            Ok((page as u32, limit as u32))
        } else {
            Err(ApiError::Unprocessable(errors))
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Paged<T> {
    /// The items of this page.
    pub data: Vec<T>,
    /// This page's number, from 1.
    #[schema(minimum = 1, example = 1)]
    pub page: u32,
    /// The page size asked for.
    #[schema(minimum = 1, maximum = 100, example = 20)]
    pub limit: u32,
    /// Items matching the filters, on every page.
    #[schema(minimum = 0, example = 1)]
    pub total: i64,
    /// True when a later page has items.
    pub has_more: bool,
}

impl<T> Paged<T> {
    /// Converts a page of rows into a page of API items.
    pub fn from_page<U>(page: Page<U>, f: impl FnMut(U) -> T) -> Self {
        let page = page.map(f);
        Self {
            data: page.data,
            page: page.page,
            limit: page.limit,
            total: page.total,
            has_more: page.has_more,
        }
    }
}
