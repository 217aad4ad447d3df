//! The `current_datetime` tool: the local and UTC date and time, in ISO 8601, with the weekday
//! spelt out in Spanish and English so the model can answer "¿qué día es hoy?" directly.

use super::registry::{Tool, ToolContext, ToolOutput};
use super::spec::ToolSpec;
use crate::error::Result;
use chrono::{DateTime, Datelike, Local, TimeZone, Utc, Weekday};
use serde_json::{json, Value};

/// The `current_datetime` built-in (reads the system clock).
#[derive(Debug, Default)]
pub struct CurrentDatetime;

fn weekday(w: Weekday) -> (&'static str, &'static str) {
    match w {
        Weekday::Mon => ("lunes", "Monday"),
        Weekday::Tue => ("martes", "Tuesday"),
        Weekday::Wed => ("miércoles", "Wednesday"),
        Weekday::Thu => ("jueves", "Thursday"),
        Weekday::Fri => ("viernes", "Friday"),
        Weekday::Sat => ("sábado", "Saturday"),
        Weekday::Sun => ("domingo", "Sunday"),
    }
}

/// The tool's answer for the instant `now`, seen in `now`'s zone.
pub fn describe<Tz: TimeZone>(now: &DateTime<Tz>) -> ToolOutput
where
    Tz::Offset: std::fmt::Display,
{
    let local = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    let utc = now.with_timezone(&Utc).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (es, en) = weekday(now.weekday());
    // Date and time first, as the tool-calling training data has them, then the details.
    let text = format!("{} ({es} / {en}); {local}; UTC {utc}", now.format("%Y-%m-%d %H:%M"));
    let data = json!({
        "local": local,
        "utc": utc,
        "weekday_es": es,
        "weekday_en": en,
        "unix": now.timestamp(),
    });
    ToolOutput { text, data: Some(data), files: Vec::new() }
}

impl Tool for CurrentDatetime {
    fn spec(&self) -> ToolSpec {
        super::builtin_spec("current_datetime")
    }

    fn call(&self, _args: &Value, _ctx: &ToolContext) -> Result<ToolOutput> {
        Ok(describe(&Local::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    #[test]
    fn local_and_utc_in_iso_8601() {
        let zone = FixedOffset::west_opt(3 * 3600).unwrap();
        let now = zone.with_ymd_and_hms(2025, 3, 5, 21, 30, 0).unwrap();
        let out = describe(&now);
        assert_eq!(
            out.text,
            "2025-03-05 21:30 (miércoles / Wednesday); 2025-03-05T21:30:00-03:00; UTC 2025-03-06T00:30:00Z"
        );
        assert_eq!(out.data.unwrap()["unix"], 1741221000);
    }
}
