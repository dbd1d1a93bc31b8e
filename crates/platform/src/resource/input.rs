//! Request bodies: content-type checks, JSON parsing, PATCH semantics and validation.
//!
//! Validation happens here and nowhere else: a JSON object either becomes one [`Value`] per field
//! of the spec, or a list of [`FieldError`]s naming every bad property (Spring Data REST's 400
//! body). Unknown properties, `id` and `_links` are ignored, as Jackson is configured to do there.

use axum::http::{HeaderMap, header};
use serde_json::{Map, Value as Json};

use super::{Kind, ResourceSpec, Value};
use crate::{
    error::{ApiError, FieldError},
    money::{Money, Rate},
};

/// The JSON media types a body may be sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/json`, `application/hal+json` or another `+json` type: a whole entity.
    Entity,
    /// `application/merge-patch+json` (RFC 7386).
    MergePatch,
    /// `application/json-patch+json` (RFC 6902).
    JsonPatch,
}

/// The media type of the request body, checked against what the method accepts. A body without
/// `Content-Type` is read as JSON, as Spring MVC does; a type that is not JSON is a 400, as
/// Spring Data REST answers it.
pub fn body_format(headers: &HeaderMap, patch: bool) -> Result<BodyFormat, ApiError> {
    let supported = if patch {
        "application/json, application/merge-patch+json or application/json-patch+json"
    } else {
        "application/json or application/hal+json"
    };
    let Some(raw) = headers.get(header::CONTENT_TYPE) else {
        return Ok(BodyFormat::Entity);
    };
    let essence = raw
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/merge-patch+json" if patch => Ok(BodyFormat::MergePatch),
        "application/json-patch+json" if patch => Ok(BodyFormat::JsonPatch),
        "application/merge-patch+json" | "application/json-patch+json" => {
            Err(ApiError::bad_request(format!(
                "{essence} is only accepted by PATCH; send {supported}"
            )))
        }
        "application/json" | "application/hal+json" => Ok(BodyFormat::Entity),
        other if other.starts_with("application/") && other.ends_with("+json") => {
            Ok(BodyFormat::Entity)
        }
        other => Err(ApiError::bad_request(format!(
            "Content-Type '{other}' is not supported; send {supported}"
        ))),
    }
}

/// Parses a body that must be a JSON document.
pub fn parse_json(body: &[u8]) -> Result<Json, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("Required request body is missing"));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("JSON parse error: {e}")))
}

/// Parses a body that must be one JSON object.
pub fn parse_object(body: &[u8]) -> Result<Map<String, Json>, ApiError> {
    match parse_json(body)? {
        Json::Object(map) => Ok(map),
        _ => Err(ApiError::bad_request(
            "JSON parse error: the body must be a JSON object",
        )),
    }
}

/// RFC 7386: `null` removes (sets null), objects merge recursively, anything else replaces.
pub fn merge_patch(target: &mut Map<String, Json>, patch: &Map<String, Json>) {
    for (key, value) in patch {
        match (target.get_mut(key), value) {
            (Some(Json::Object(existing)), Json::Object(inner)) => merge_patch(existing, inner),
            (_, value) => {
                target.insert(key.clone(), value.clone());
            }
        }
    }
}

/// RFC 6902 over the entity's top-level properties (`/name`).
pub fn json_patch(target: &mut Map<String, Json>, operations: &Json) -> Result<(), ApiError> {
    let Json::Array(operations) = operations else {
        return Err(ApiError::bad_request(
            "a JSON Patch body must be an array of operations",
        ));
    };
    for (i, op) in operations.iter().enumerate() {
        let bad = |what: &str| ApiError::bad_request(format!("JSON Patch operation {i}: {what}"));
        let name = op
            .get("op")
            .and_then(Json::as_str)
            .ok_or_else(|| bad("missing \"op\""))?;
        let path = pointer_key(op.get("path"), "path").map_err(|e| bad(&e))?;
        match name {
            "add" | "replace" => {
                let value = op.get("value").ok_or_else(|| bad("missing \"value\""))?;
                if name == "replace" && !target.contains_key(&path) {
                    return Err(bad(&format!("no property \"{path}\" to replace")));
                }
                target.insert(path, value.clone());
            }
            "remove" => {
                target.insert(path, Json::Null);
            }
            "test" => {
                let value = op.get("value").ok_or_else(|| bad("missing \"value\""))?;
                if target.get(&path).unwrap_or(&Json::Null) != value {
                    return Err(ApiError::bad_request(format!(
                        "JSON Patch test failed: \"{path}\" does not hold the expected value"
                    )));
                }
            }
            "copy" | "move" => {
                let from = pointer_key(op.get("from"), "from").map_err(|e| bad(&e))?;
                let value = target.get(&from).cloned().unwrap_or(Json::Null);
                if name == "move" {
                    target.insert(from, Json::Null);
                }
                target.insert(path, value);
            }
            other => return Err(bad(&format!("unknown op \"{other}\""))),
        }
    }
    Ok(())
}

fn pointer_key(pointer: Option<&Json>, what: &str) -> Result<String, String> {
    let pointer = pointer
        .and_then(Json::as_str)
        .ok_or(format!("missing \"{what}\""))?;
    let key = pointer
        .strip_prefix('/')
        .ok_or(format!("\"{what}\" must be a JSON pointer such as /name"))?;
    if key.contains('/') {
        return Err(format!(
            "\"{pointer}\": only top-level properties can be patched"
        ));
    }
    Ok(key.replace("~1", "/").replace("~0", "~"))
}

/// Checks a JSON object against the spec and returns one value per field. A value of a JSON
/// type the field cannot be read from (an object for a name, text for a number) is a 400
/// `JSON parse error`, as Jackson refuses it before validation; a readable value that breaks
/// a rule is a validation error naming the property.
pub fn validate(spec: &ResourceSpec, object: &Map<String, Json>) -> Result<Vec<Value>, ApiError> {
    let mut values = Vec::with_capacity(spec.fields.len());
    let mut errors = Vec::new();
    for field in spec.fields {
        let raw = object.get(field.name).unwrap_or(&Json::Null);
        if let Err(why) = readable(field.kind, raw) {
            return Err(ApiError::bad_request(format!(
                "JSON parse error: cannot read {} of {} from {raw}: {why}",
                field.name, spec.entity
            )));
        }
        let error = |message: String| FieldError {
            entity: spec.entity.to_owned(),
            property: field.name.to_owned(),
            invalid_value: as_read(field.kind, raw),
            message,
        };
        match convert(field.kind, raw) {
            Ok(Value::Null) if field.required => errors.push(error(match field.kind {
                Kind::Text { .. } | Kind::Email => "must not be blank".into(),
                _ => "must not be null".into(),
            })),
            Ok(Value::Text(text)) if field.required && text.trim().is_empty() => {
                errors.push(error("must not be blank".into()));
            }
            Ok(value) => values.push(value),
            Err(message) => errors.push(error(message)),
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// The rejected value as Jackson read it into the entity, which is what Spring Data REST's
/// `invalidValue` shows: numbers and booleans read as text are strings, money and rates are
/// doubles (`-1` shows as `-1.0`).
fn as_read(kind: Kind, raw: &Json) -> Json {
    match (kind, raw) {
        (Kind::Text { .. } | Kind::Email, Json::Number(_) | Json::Bool(_)) => {
            Json::String(raw.to_string())
        }
        (Kind::Money { .. } | Kind::Rate { .. }, Json::Number(n)) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| raw.clone(), Json::Number),
        (Kind::Money { .. } | Kind::Rate { .. }, Json::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| raw.clone(), Json::Number),
        _ => raw.clone(),
    }
}

/// Whether Jackson could read a value of `kind` from `raw` at all (before any rule): text
/// takes strings, numbers and booleans; numbers take numbers and numeric strings; dates take
/// strings and epoch numbers; associations take URIs. `Err` says what was expected.
pub fn readable(kind: Kind, raw: &Json) -> Result<(), &'static str> {
    let numeric_text = |s: &str| s.trim().parse::<f64>().is_ok_and(f64::is_finite);
    let ok = match (kind, raw) {
        (_, Json::Null) => true,
        (Kind::Text { .. } | Kind::Email, json) => {
            matches!(json, Json::String(_) | Json::Number(_) | Json::Bool(_))
        }
        (Kind::Money { .. } | Kind::Rate { .. }, Json::Number(_)) => true,
        (Kind::Money { .. } | Kind::Rate { .. }, Json::String(s)) => numeric_text(s),
        (Kind::Integer { .. }, Json::Number(n)) => n.as_f64().is_some_and(|f| f.abs() < 9.3e18),
        (Kind::Integer { .. }, Json::String(s)) => s.trim().parse::<i64>().is_ok(),
        (Kind::Timestamp, Json::Number(n)) => n.is_i64(),
        (Kind::Timestamp, Json::String(s)) => parse_timestamp(s).is_some(),
        (Kind::Reference { collection, .. }, Json::String(s)) => {
            reference_id(collection, s).is_some()
        }
        _ => false,
    };
    if ok {
        return Ok(());
    }
    Err(match kind {
        Kind::Text { .. } | Kind::Email => "expected text",
        Kind::Money { .. } | Kind::Rate { .. } | Kind::Integer { .. } => "expected a number",
        Kind::Timestamp => "expected an ISO-8601 date-time or epoch milliseconds",
        Kind::Reference { .. } => "expected the URI of an item",
    })
}

/// The id in `uri` when it names an item of `collection` (`http://host/bills/1`, `/bills/1`).
pub fn reference_id(collection: &str, uri: &str) -> Option<i64> {
    let uri = uri.trim();
    let path = match uri.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |i| &rest[i..]),
        None => uri,
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    let mut segments = path.trim_end_matches('/').rsplit('/');
    let id = segments.next()?.parse::<i64>().ok()?;
    (segments.next()? == collection).then_some(id)
}

/// Converts one JSON value to a field value, or says why it cannot be one.
pub fn convert(kind: Kind, raw: &Json) -> Result<Value, String> {
    if raw.is_null() {
        return Ok(Value::Null);
    }
    match kind {
        Kind::Text { max_len } => {
            // Jackson reads numbers and booleans into a String as their JSON text.
            let coerced;
            let text = match raw {
                Json::Number(_) | Json::Bool(_) => {
                    coerced = raw.to_string();
                    coerced.as_str()
                }
                _ => raw.as_str().ok_or("must be a string")?,
            };
            storable(text)?;
            if text.chars().count() > max_len {
                return Err(format!("size must be between 0 and {max_len}"));
            }
            Ok(Value::Text(text.to_owned()))
        }
        Kind::Email => {
            let coerced;
            let text = match raw {
                Json::Number(_) | Json::Bool(_) => {
                    coerced = raw.to_string();
                    coerced.as_str()
                }
                _ => raw.as_str().ok_or("must be a string")?,
            };
            storable(text)?;
            if text.is_empty() {
                return Ok(Value::Text(String::new()));
            }
            if !is_well_formed_email(text) {
                return Err("must be a well-formed email address".into());
            }
            Ok(Value::Text(text.to_owned()))
        }
        Kind::Money { min } => {
            let money = match raw {
                Json::Number(n) => Money::parse(&n.to_string()),
                Json::String(s) => Money::parse(s),
                _ => return Err("must be a number".into()),
            }
            .map_err(|e| e.to_string())?;
            if money < min {
                // Bean Validation's wording, with the bound as a plain number (`0`, `0.5`).
                let bound = min.cents() as f64 / 100.0;
                return Err(format!("must be greater than or equal to {bound}"));
            }
            Ok(Value::Money(money))
        }
        Kind::Integer { min, max } => {
            let number = match raw {
                // `2.0` is a whole number; `2.5` is refused rather than truncated.
                Json::Number(n) => n
                    .as_i64()
                    .or_else(|| {
                        n.as_f64()
                            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
                            .map(|f| f as i64)
                    })
                    .ok_or("must be a whole number")?,
                Json::String(s) => s
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| "must be a whole number")?,
                _ => return Err("must be a whole number".into()),
            };
            if number < min {
                return Err(format!("must be greater than or equal to {min}"));
            }
            if number > max {
                return Err(format!("must be less than or equal to {max}"));
            }
            Ok(Value::Integer(number))
        }
        Kind::Rate { max } => {
            let rate = match raw {
                Json::Number(n) => Rate::parse(&n.to_string()),
                Json::String(s) => Rate::parse(s),
                _ => return Err("must be a number".into()),
            }
            .map_err(|e| e.to_string())?;
            if rate.units() < 0 || rate > max {
                return Err(format!("must be between 0 and {max}"));
            }
            Ok(Value::Rate(rate))
        }
        Kind::Timestamp => match raw {
            Json::Number(n) => n
                .as_i64()
                .map(Value::Timestamp)
                .ok_or_else(|| "must be epoch milliseconds or an ISO-8601 date-time".into()),
            Json::String(s) => parse_timestamp(s).map(Value::Timestamp).ok_or_else(|| {
                "must be an ISO-8601 date-time such as 2024-11-10T14:23:45.123+00:00".into()
            }),
            _ => Err("must be an ISO-8601 date-time".into()),
        },
        Kind::Reference { collection, .. } => raw
            .as_str()
            .and_then(|uri| reference_id(collection, uri))
            .map(Value::Integer)
            .ok_or_else(|| format!("must be the URI of an item of {collection}")),
    }
}

/// Refuses text a database cannot keep as it was sent: PostgreSQL's `text` has no NUL
/// character (it fails the statement), so the same text is refused on every database rather
/// than stored on SQLite and a server error on PostgreSQL.
fn storable(text: &str) -> Result<(), String> {
    if text.contains('\0') {
        return Err("must not contain the NUL character (U+0000)".into());
    }
    Ok(())
}

/// Accepts ISO-8601 with or without an offset (UTC assumed), or a bare date.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.timestamp_millis());
    }
    if let Ok(at) = DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(at.timestamp_millis());
    }
    if let Ok(at) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(at.and_utc().timestamp_millis());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp_millis())
}

/// A pragmatic check in the spirit of Hibernate Validator's `@Email`: one `@`, a non-empty local
/// part of printable characters, and a domain of dot-separated labels.
pub fn is_well_formed_email(text: &str) -> bool {
    let Some((local, domain)) = text.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let domain_ok = !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    local_ok && domain_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn emails() {
        for good in ["hassan@mail.com", "a.b+c@x-y.org", "a@b"] {
            assert!(is_well_formed_email(good), "{good}");
        }
        for bad in [
            "",
            "nope",
            "@mail.com",
            "a@",
            "a@@b.com",
            "a@b..com",
            "a b@c.com",
            "<a>@b.com",
        ] {
            assert!(!is_well_formed_email(bad), "{bad}");
        }
    }

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut target = json!({"a": 1, "b": {"c": 2, "d": 3}})
            .as_object()
            .unwrap()
            .clone();
        let patch = json!({"a": null, "b": {"c": 5}, "e": "x"});
        merge_patch(&mut target, patch.as_object().unwrap());
        assert_eq!(
            Json::Object(target),
            json!({"a": null, "b": {"c": 5, "d": 3}, "e": "x"})
        );
    }

    #[test]
    fn json_patch_operations() {
        let mut target = json!({"name": "a", "email": "e@x.com"})
            .as_object()
            .unwrap()
            .clone();
        json_patch(
            &mut target,
            &json!([
                {"op": "test", "path": "/name", "value": "a"},
                {"op": "replace", "path": "/name", "value": "b"},
                {"op": "copy", "from": "/name", "path": "/other"},
                {"op": "remove", "path": "/email"}
            ]),
        )
        .unwrap();
        assert_eq!(target["name"], "b");
        assert_eq!(target["other"], "b");
        assert_eq!(target["email"], Json::Null);
        assert!(
            json_patch(
                &mut target,
                &json!([{"op": "test", "path": "/name", "value": "zz"}])
            )
            .is_err()
        );
        assert!(
            json_patch(
                &mut target,
                &json!([{"op": "add", "path": "/a/b", "value": 1}])
            )
            .is_err()
        );
        assert!(json_patch(&mut target, &json!({"op": "add"})).is_err());
    }

    #[test]
    fn conversions_refuse_wrong_shapes() {
        let money = Kind::Money {
            min: Money::from_cents(0),
        };
        assert_eq!(
            convert(money, &json!(420.5)),
            Ok(Value::Money(Money::from_cents(42_050)))
        );
        assert!(convert(money, &json!(-1)).is_err());
        assert!(convert(money, &json!(0.001)).is_err());
        assert!(convert(money, &json!("abc")).is_err());
        let qty = Kind::Integer {
            min: 0,
            max: 1_000_000,
        };
        assert_eq!(convert(qty, &json!(3)), Ok(Value::Integer(3)));
        assert!(convert(qty, &json!(1.5)).is_err());
        assert!(convert(qty, &json!(-1)).is_err());
        assert!(convert(Kind::Text { max_len: 3 }, &json!("abcd")).is_err());
        assert_eq!(
            convert(Kind::Text { max_len: 3 }, &json!(5)),
            Ok(Value::Text("5".into()))
        );
        assert!(readable(Kind::Text { max_len: 3 }, &json!({"a": 1})).is_err());
        assert!(readable(qty, &json!("abc")).is_err());
        assert!(readable(money, &json!("12.5")).is_ok());
        let bill = Kind::Reference {
            collection: "bills",
            table: "bills",
        };
        assert_eq!(
            convert(bill, &json!("http://localhost:8083/bills/7")),
            Ok(Value::Integer(7))
        );
        assert_eq!(convert(bill, &json!("/bills/7")), Ok(Value::Integer(7)));
        assert!(readable(bill, &json!("/customers/7")).is_err());
        assert!(readable(bill, &json!(7)).is_err());
        assert_eq!(
            convert(Kind::Timestamp, &json!("2024-11-10T14:23:45.123+00:00")),
            Ok(Value::Timestamp(1_731_248_625_123))
        );
    }
}
