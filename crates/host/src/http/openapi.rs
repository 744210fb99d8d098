//! The OpenAPI 3.0 document, kept by hand in `crates/host/openapi.json`; a test checks
//! that it parses and lists exactly the router's routes.

use axum::http::header;
use axum::response::IntoResponse;

pub const DOCUMENT: &str = include_str!("../../openapi.json");

pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_lists_exactly_the_routes() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).expect("openapi.json parses");
        assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
        let paths = doc["paths"].as_object().expect("paths");
        let routes = super::super::routes();
        for (method, path) in &routes {
            let op = &paths.get(*path).unwrap_or_else(|| panic!("{path} missing"))
                [method.to_ascii_lowercase()];
            assert!(op.is_object(), "{method} {path} missing");
        }
        for (path, item) in paths {
            for method in item.as_object().expect("path item").keys() {
                if method == "parameters" {
                    continue;
                }
                let listed = routes
                    .iter()
                    .any(|(m, p)| p == path && m.eq_ignore_ascii_case(method));
                assert!(listed, "{method} {path} is documented but not routed");
            }
        }
    }
}
