use crate::error::StoreError;
use std::path::PathBuf;

/// Longest PostgreSQL identifier (NAMEDATALEN - 1).
const PG_IDENT_LEN_MAX: usize = 63;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Sqlite(PathBuf),
    /// `conninfo` is the URL without our own `schema` parameter.
    Postgres {
        conninfo: String,
        schema: Option<String>,
    },
}

pub(crate) fn parse(url: &str) -> Result<Target, StoreError> {
    if let Some(rest) = url.strip_prefix("sqlite:") {
        // "sqlite:///abs" keeps its leading slash; "sqlite:rel.db" is relative.
        let path = rest.strip_prefix("//").unwrap_or(rest);
        if path.is_empty() {
            return Err(StoreError::invalid("sqlite url has no path"));
        }
        return Ok(Target::Sqlite(PathBuf::from(path)));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return postgres(url);
    }
    Err(StoreError::invalid(
        "store url must start with sqlite: or postgres://",
    ))
}

fn postgres(url: &str) -> Result<Target, StoreError> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok(Target::Postgres {
            conninfo: url.to_owned(),
            schema: None,
        });
    };
    let mut schema = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.strip_prefix("schema=") {
            Some(name) => schema = Some(check_schema(name)?),
            None => kept.push(pair),
        }
    }
    let conninfo = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok(Target::Postgres { conninfo, schema })
}

/// Schema names are restricted to lowercase identifiers so they never need escaping.
fn check_schema(name: &str) -> Result<String, StoreError> {
    let ok = !name.is_empty()
        && name.len() <= PG_IDENT_LEN_MAX
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(name.to_owned())
    } else {
        Err(StoreError::invalid("schema must match [a-z_][a-z0-9_]*"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_backend() {
        let pg = |conninfo: &str, schema: Option<&str>| Target::Postgres {
            conninfo: conninfo.into(),
            schema: schema.map(Into::into),
        };
        let cases = [
            (
                "sqlite:///var/lib/p.db",
                Target::Sqlite("/var/lib/p.db".into()),
            ),
            ("sqlite:data/p.db", Target::Sqlite("data/p.db".into())),
            ("postgres://u@h/db", pg("postgres://u@h/db", None)),
            (
                "postgresql://u@h/db?schema=t_1",
                pg("postgresql://u@h/db", Some("t_1")),
            ),
            (
                "postgres://u@h/db?sslmode=disable&schema=s&connect_timeout=3",
                pg(
                    "postgres://u@h/db?sslmode=disable&connect_timeout=3",
                    Some("s"),
                ),
            ),
        ];
        for (url, want) in cases {
            assert_eq!(parse(url).ok(), Some(want), "{url}");
        }
        for bad in [
            "sqlite:",
            "mysql://x",
            "postgres://h/db?schema=Bad",
            "postgres://h/d?schema=1a",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
