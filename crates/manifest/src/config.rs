//! The config-file reader every front end shares: YAML or JSON text in, the map of settings
//! keys out (`rofs patch --config`, the webhook's `--config`, which adds its own keys).

use serde_json::{Map, Value};

/// Parse a config file's text: a map of keys (an empty file is an empty map). Errors say the
/// line when the YAML reader knows it.
pub fn read_map(text: &str) -> Result<Map<String, Value>, String> {
    let value = crate::yaml::from_str(text).map_err(|e| {
        format!(
            "{}{}",
            e.line.map(|l| format!("line {l}: ")).unwrap_or_default(),
            e.message
        )
    })?;
    match value {
        Value::Null => Ok(Map::new()),
        Value::Object(m) => Ok(m),
        _ => Err("expected a map of settings".to_string()),
    }
}

/// Parse a config file's text into a checked settings layer.
pub fn read_settings(text: &str) -> Result<rofs_core::Settings, String> {
    rofs_core::Settings::from_config(read_map(text)?).map_err(|e| e.to_string())
}
